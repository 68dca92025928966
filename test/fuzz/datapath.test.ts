/**
 * Datapath fuzzing against a live daemon: a raw sender in the peer namespace
 * (sender.ts) sends random and mutated EoIP, EoIPv6 and other GRE packets at
 * the highest rate the daemon takes them, while pings run through an EoIP and
 * an EoIPv6 tunnel. Asserts 0 daemon restarts, 0 ping loss, and counters
 * equal to what was sent, per category (packets.ts says where each must go).
 *
 * Short in `npm test` (GREOIP_FUZZ_SECONDS, default 6); `npm run fuzz` runs it
 * for 10 minutes.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import type { TunnelStatus } from '../../src/backend/types.ts';
import type { DaemonStatus } from '../../src/daemon/protocol.ts';
import { ip } from '../../src/demo/netns.ts';
import { REPO_DIR, requireRoot } from '../helpers.ts';
import { createLab, eoip, GREOIP, list, run, startDaemon, tunnelPair } from '../live/harness.ts';
import type { FuzzSpec, Tally } from './packets.ts';

const SECONDS = Number(process.env.GREOIP_FUZZ_SECONDS ?? 6);
const SENDER = `${REPO_DIR}test/fuzz/sender.ts`;

test.serial(
  `datapath fuzz for ${SECONDS} s: no restart, no ping lost, every packet counted where it belongs`,
  async (t) => {
    requireRoot();
    t.timeout((SECONDS + 120) * 1000);
    const lab = createLab(t, 'fz');
    const { a, b } = lab.pair;
    const spec: FuzzSpec = {
      a4: a.v4,
      a4other: '192.0.2.11',
      a6: a.v6,
      a6other: '2001:db8:e0::11',
      b4: b.v4,
      b6: b.v6,
      fuzzTid4: 4000,
      fuzzTid6: 400,
      pingTid4: 41,
      pingTid6: 61,
      unbound: [
        { family: 4, tunnelId: 9, remote: '192.0.2.99' },
        { family: 6, tunnelId: 9, remote: '2001:db8:e0::99' },
      ],
    };
    ip(['addr', 'add', `${spec.a4other}/24`, 'dev', a.dev], a.netns);
    ip(['-6', 'addr', 'add', `${spec.a6other}/64`, 'dev', a.dev, 'nodad'], a.netns);
    // Spoofed sources are ordinary unicast addresses: no reverse-path check may drop them before the daemon.
    run(lab, a.netns, [
      'sysctl',
      '-qw',
      'net.ipv4.conf.all.rp_filter=0',
      `net.ipv4.conf.${a.dev}.rp_filter=0`,
    ]);
    const daemon = await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    // First: their unbound sockets are the ones that count unmatched drops (see FuzzSpec.unbound).
    for (const [i, u] of spec.unbound.entries()) {
      const args = ['add', 'name', `unbound${i}`, 'tid', String(u.tunnelId), 'remote', u.remote];
      eoip(lab, a.netns, [...args, 'keepalive', 'none']);
    }
    tunnelPair(lab, 'ping4', spec.pingTid4, 4, ['198.51.100.1/24', '198.51.100.2/24']);
    tunnelPair(lab, 'ping6', spec.pingTid6, 6, ['198.51.101.1/24', '198.51.101.2/24']);
    for (const [name, tid, local, remote] of [
      ['fuzz4', spec.fuzzTid4, a.v4, b.v4],
      ['fuzz6', spec.fuzzTid6, a.v6, b.v6],
    ] as const) {
      eoip(lab, a.netns, [
        'add',
        'name',
        name,
        'tid',
        String(tid),
        'local',
        local,
        'remote',
        remote,
        'keepalive',
        'none',
      ]);
      ip(['link', 'set', name, 'up'], a.netns);
    }
    const pid = daemon.pid!;
    const before = counters(lab, a.netns);

    const pings = ['198.51.100.2', '198.51.101.2'].map((target) =>
      collect('/usr/sbin/ip', [
        'netns',
        'exec',
        a.netns,
        'ping',
        '-i',
        '0.05',
        '-W',
        '2',
        '-c',
        String((SECONDS + 4) * 20),
        target,
      ]),
    );
    const seed = Number(process.env.GREOIP_FUZZ_SEED ?? Date.now() % 0x7fffffff);
    t.log(`seed ${seed} (GREOIP_FUZZ_SEED to repeat)`);
    const sender = await collect('/usr/sbin/ip', [
      'netns',
      'exec',
      b.netns,
      process.execPath,
      '--import',
      'tsx',
      SENDER,
      JSON.stringify({ spec, seed, seconds: SECONDS, daemonPid: pid }),
    ]);
    t.is(sender.code, 0, sender.stderr);
    const result = JSON.parse(sender.stdout) as { sent: number; expected: Tally; drops: number };
    t.log(`${result.sent} packets in ${SECONDS} s (${Math.round(result.sent / SECONDS)} pps)`);
    t.log(JSON.stringify(result.expected));

    for (const [i, ping] of (await Promise.all(pings)).entries()) {
      t.regex(ping.stdout, / 0% packet loss/, `ping ${i}: ${ping.stdout.split('\n').slice(-3).join(' ')}`);
    }
    t.is(daemon.exitCode, null, 'the daemon is still running');
    t.is(lab.daemons.get(a.netns)!.pid, pid, 'the same daemon: no restart');
    t.is(result.drops, 0, 'the kernel dropped no packet for want of socket room');

    const after = counters(lab, a.netns);
    const got: Tally = {};
    for (const [key, value] of Object.entries(after)) {
      const delta = value - (before[key] ?? 0);
      if (delta !== 0) got[key] = delta;
    }
    const want: Tally = {};
    for (const [key, value] of Object.entries(result.expected)) {
      // The daemon counts unmatched drops per reason, whatever the family; the socket's counting
      // filter counts what it drops in the kernel under the same names.
      const merged = key.replace(/^[46]\/(drop|filter):/, 'drop:');
      want[merged] = (want[merged] ?? 0) + value;
    }
    t.deepEqual(got, want);
    t.true(result.sent > 0);
    // Every category was sent: the generator's reach cannot shrink unnoticed.
    for (const family of [4, 6]) {
      for (const fate of [
        'filter:not_eoip',
        'drop:unknown_tunnel_id',
        'drop:wrong_source',
        'drop:wrong_destination',
        // An EoIPv6 payload too short for its header is the filter's to drop, an IPv4 one the datapath's.
        family === 4 ? 'drop:truncated' : 'filter:truncated',
        'tunnel:rxPackets',
        'tunnel:rxKeepalives',
        'tunnel:rxErrors',
      ]) {
        t.true((result.expected[`${family}/${fate}`] ?? 0) > 0, `${family}/${fate} sent`);
      }
    }
  },
);

/** Unmatched drops by family and reason, and the fuzz tunnels' rx counters, keyed like packets.ts's tally. */
function counters(lab: ReturnType<typeof createLab>, netns: string): Tally {
  const status = JSON.parse(
    run(lab, netns, [process.execPath, GREOIP, 'status', '--json']).stdout,
  ) as DaemonStatus;
  const out: Tally = {};
  for (const [reason, n] of Object.entries(status.unmatchedDrops)) {
    out[`drop:${reason}`] = n;
  }
  for (const s of list(lab, netns) as TunnelStatus[]) {
    const family = s.config.name === 'fuzz4' ? 4 : s.config.name === 'fuzz6' ? 6 : null;
    if (family === null) continue;
    out[`${family}/tunnel:rxPackets`] = s.counters.rxPackets;
    out[`${family}/tunnel:rxBytes`] = s.counters.rxBytes;
    out[`${family}/tunnel:rxKeepalives`] = s.counters.rxKeepalives;
    out[`${family}/tunnel:rxErrors`] = s.counters.rxErrors;
  }
  return out;
}

function collect(
  cmd: string,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
