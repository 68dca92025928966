/**
 * Traffic from outside greoip: frames built by scapy arrive on the tap byte
 * for byte, the real RouterOS captures replayed at the daemon are delivered
 * (data) or counted (keepalives), and malformed, spoofed-source and
 * wrong-tunnel-id packets are counted and dropped while the daemon carries on.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import type { DaemonStatus } from '../../src/daemon/protocol.ts';
import { ip } from '../../src/demo/netns.ts';
import { CAPTURE_FILES, CAPTURES_DIR, REPO_DIR, requireRoot } from '../helpers.ts';
import { createLab, eoip, GREOIP, list, run, sleep, startDaemon, waitFor } from './harness.ts';

const SENDER = `${REPO_DIR}test/live/fixtures/send_eoip.py`;
const PYTHON = '/usr/bin/python3';

function status(lab: ReturnType<typeof createLab>, netns: string): DaemonStatus {
  return JSON.parse(run(lab, netns, [process.execPath, GREOIP, 'status', '--json']).stdout) as DaemonStatus;
}

test.serial('scapy-built frames arrive on the taps byte for byte (EoIP and EoIPv6)', async (t) => {
  requireRoot();
  const lab = createLab(t, 'sc');
  const { a, b } = lab.pair;
  await startDaemon(lab, b.netns);
  eoip(lab, b.netns, ['add', 'name', 'rx4', 'tid', '100', 'remote', a.v4, 'keepalive', 'none']);
  eoip(lab, b.netns, ['add', 'name', 'rx6', 'tid', '1234', 'remote', a.v6, 'keepalive', 'none']);
  for (const dev of ['rx4', 'rx6']) ip(['link', 'set', dev, 'up'], b.netns);
  const seen: Record<string, string> = { rx4: '', rx6: '' };
  for (const dev of ['rx4', 'rx6']) {
    const cap = spawn(
      '/usr/sbin/ip',
      [
        'netns',
        'exec',
        b.netns,
        'tshark',
        '-l',
        '-i',
        dev,
        '-f',
        'ether proto 0x88b5',
        '-T',
        'fields',
        '-e',
        'frame.len',
        '-e',
        'eth.src',
        '-e',
        'data.data',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let ready = '';
    cap.stderr.on('data', (c: Buffer) => (ready += c));
    cap.stdout.on('data', (c: Buffer) => {
      seen[dev] = (seen[dev] ?? '') + c;
    });
    t.teardown(() => cap.kill('SIGTERM'));
    await waitFor(`tshark on ${dev}`, () => ready.includes('Capturing on'));
  }
  await sleep(1000);
  const sent = JSON.parse(run(lab, a.netns, [PYTHON, SENDER, 'frames', a.v4, b.v4, a.v6, b.v6]).stdout) as {
    tunnel: number;
    frame: string;
  }[];
  t.is(sent.length, 10);
  await waitFor('all ten frames on the taps', () => `${seen.rx4}${seen.rx6}`.trim().split('\n').length >= 10);
  for (const { tunnel, frame } of sent) {
    const dev = tunnel === 100 ? 'rx4' : 'rx6';
    const bytes = Buffer.from(frame, 'hex');
    const src = [...bytes.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    const line = `${bytes.length}\t${src}\t${bytes.subarray(14).toString('hex')}`;
    t.true(seen[dev]!.split('\n').includes(line), `${dev} got ${src}`);
  }
  const byName = new Map(list(lab, b.netns).map((s) => [s.config.name, s.counters]));
  t.is(byName.get('rx4')!.rxPackets, 5);
  t.is(byName.get('rx6')!.rxPackets, 5);
});

test.serial(
  'RouterOS captures replayed at the daemon: data delivered, keepalives counted, per tunnel id',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'rp');
    const { a, b } = lab.pair;
    await startDaemon(lab, b.netns);
    eoip(lab, b.netns, ['add', 'name', 'mk100', 'tid', '100', 'remote', a.v4]);
    eoip(lab, b.netns, ['add', 'name', 'mk200', 'tid', '200', 'remote', a.v4]);
    for (const dev of ['mk100', 'mk200']) ip(['link', 'set', dev, 'up'], b.netns);
    const counts = JSON.parse(
      run(lab, a.netns, [PYTHON, SENDER, 'replay', a.v4, b.v4, ...CAPTURE_FILES.map((f) => CAPTURES_DIR + f)])
        .stdout,
    ) as Record<string, number>;
    t.true((counts['100/data'] ?? 0) > 20 && (counts['100/keepalive'] ?? 0) > 3, JSON.stringify(counts));
    const expected = (tid: number, kind: string) => counts[`${tid}/${kind}`] ?? 0;
    await waitFor('every replayed packet accounted for', () => {
      const s = new Map(list(lab, b.netns).map((x) => [x.config.name, x.counters]));
      return (
        s.get('mk100')!.rxPackets + s.get('mk100')!.rxKeepalives >=
        expected(100, 'data') + expected(100, 'keepalive')
      );
    });
    const s = new Map(list(lab, b.netns).map((x) => [x.config.name, x]));
    t.is(s.get('mk100')!.counters.rxPackets, expected(100, 'data'));
    t.is(s.get('mk100')!.counters.rxKeepalives, expected(100, 'keepalive'));
    t.is(s.get('mk200')!.counters.rxPackets, expected(200, 'data'));
    t.is(s.get('mk200')!.counters.rxKeepalives, expected(200, 'keepalive'));
    t.is(s.get('mk100')!.counters.rxErrors, 0);
    t.is(s.get('mk100')!.state, 'up', 'RouterOS keepalives bring the tunnel up');
  },
);

test.serial(
  'malformed, spoofed-source and wrong-tunnel-id packets are counted and dropped; the daemon carries on',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'ho');
    const { a, b } = lab.pair;
    const spoof = '192.0.2.9';
    ip(['addr', 'add', `${spoof}/24`, 'dev', a.dev], a.netns);
    await startDaemon(lab, b.netns);
    eoip(lab, b.netns, ['add', 'name', 'victim', 'tid', '100', 'remote', a.v4, 'keepalive', 'none']);
    // A second tunnel with another TTL opens a second raw socket: every packet reaches both sockets,
    // and an unmatched one must still be counted once.
    eoip(lab, b.netns, [
      'add',
      'name',
      'other',
      'tid',
      '200',
      'remote',
      '192.0.2.77',
      'ttl',
      '64',
      'keepalive',
      'none',
    ]);
    const sent = JSON.parse(
      run(lab, a.netns, [PYTHON, SENDER, 'hostile', a.v4, b.v4, spoof]).stdout,
    ) as string[];
    t.is(sent.length, 8);
    await waitFor('drops counted', () => {
      const d = status(lab, b.netns).unmatchedDrops;
      return (
        (d.unknown_tunnel_id ?? 0) >= 1 &&
        (d.wrong_source ?? 0) >= 1 &&
        (d.truncated ?? 0) >= 1 &&
        (d.not_eoip ?? 0) >= 3
      );
    });
    const drops = status(lab, b.netns).unmatchedDrops;
    t.is(drops.unknown_tunnel_id, 1);
    t.is(drops.wrong_source, 1);
    t.is(drops.truncated, 1);
    t.is(
      drops.not_eoip ?? 0,
      3,
      'plain GRE, PPTP and junk: dropped by the socket filter in the kernel, and counted there',
    );
    const victim = list(lab, b.netns).find((x) => x.config.name === 'victim');
    t.is(victim!.counters.rxErrors, 2, 'frame too short and frame beyond the data count against the tunnel');
    t.is(victim!.counters.rxPackets, 0, 'nothing was delivered to the tap');
    // Still serving: a change and a list work.
    eoip(lab, b.netns, ['set', 'name', 'victim', 'mtu', '1400']);
    t.is(list(lab, b.netns).find((x) => x.config.name === 'victim')!.config.mtu, 1400);
    t.regex(run(lab, b.netns, [process.execPath, GREOIP, 'status']).stdout, /unmatched\s+.*wrong_source 1/);
  },
);
