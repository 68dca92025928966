/**
 * The probe's userland path live, with raw sockets only (this host has no gre devices): namespace A runs
 * `gre-keepalive probe --local/--remote` for three tunnels (GRE with key 77, GRE6 MikroTik layout with
 * key 77, GRE6 plain layout), namespace B answers with `gre-keepalive run`. tshark decodes both
 * directions on A's veth; `gre-keepalive status` from other shells sees the probes in A only; stopping
 * B's reflector takes every tunnel down after retries intervals of silence, within interval x
 * (retries + 1), and runs the hooks; B coming back (probing and reflecting in one process) brings them
 * up again. The daemon probes what its config file lists.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { compileProbe } from '../../src/gre-keepalive/probe.ts';
import type { ProbeStatus } from '../../src/gre-keepalive-io/prober.ts';
import { readCaptureFile } from '../../src/pcap/index.ts';
import { REPO_DIR, requireRoot } from '../helpers.ts';
import { createLab, type Lab, run, sleep, startDaemon, stopDaemon, waitFor } from './harness.ts';

const GK = `${REPO_DIR}dist/cli/gre-keepalive.js`;
const INTERVAL = 0.5;
const RETRIES = 2;

function start(t: ExecutionContext, lab: Lab, netns: string, args: string[], ready: string) {
  const child = spawn('/usr/sbin/ip', ['netns', 'exec', netns, process.execPath, GK, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: lab.env,
  });
  const out = { text: '' };
  child.stdout.on('data', (c: Buffer) => (out.text += c));
  child.stderr.on('data', (c: Buffer) => (out.text += c));
  t.teardown(() => child.kill('SIGKILL'));
  return {
    child,
    out,
    started: waitFor(`"${ready}" from gre-keepalive ${args[0]}`, () => out.text.includes(ready)),
  };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await closed;
}

function status(lab: Lab, netns: string): ProbeStatus[] {
  const r = run(lab, netns, [process.execPath, GK, 'status', '--json']);
  if (r.status !== 0) throw new Error(`status in ${netns}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { probes: ProbeStatus[] }).probes;
}

test.serial(
  'probe --local/--remote against the userland reflector: bytes, status, down and up again',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'probe');
    const { a, b } = lab.pair;
    const hooks = join(lab.runtime, 'hooks.log');
    const timing = ['--interval', String(INTERVAL), '--retries', String(RETRIES)];
    const hook = (word: string) => `echo ${word} "$GRE_KEEPALIVE_TUNNEL" "$GRE_KEEPALIVE_REMOTE" >> ${hooks}`;

    const reflector = start(t, lab, b.netns, ['run', '--interval', '0'], 'answering keepalives');
    await reflector.started;
    const capture = join(lab.runtime, 'probe.pcapng');
    const tshark = spawn(
      '/usr/sbin/ip',
      ['netns', 'exec', a.netns, 'tshark', '-i', a.dev, '-f', 'ip proto 47 or ip6 proto 47', '-w', capture],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let tsharkErr = '';
    tshark.stderr.on('data', (c: Buffer) => (tsharkErr += c));
    t.teardown(() => tshark.kill('SIGKILL'));
    await waitFor('tshark to capture', () => tsharkErr.includes('Capturing on'));

    const keyed = start(
      t,
      lab,
      a.netns,
      [
        'probe',
        '--local',
        a.v4,
        '--local',
        a.v6,
        '--remote',
        b.v4,
        '--remote',
        b.v6,
        '--key',
        '77',
        ...timing,
        '--on-down',
        hook('down'),
        '--on-up',
        hook('up'),
      ],
      'down after',
    );
    const plain6 = start(
      t,
      lab,
      a.netns,
      [
        'probe',
        '--local',
        a.v6,
        '--remote',
        b.v6,
        '--layout',
        'gre6',
        ...timing,
        '--on-down',
        hook('down'),
        '--on-up',
        hook('up'),
      ],
      'down after',
    );
    await Promise.all([keyed.started, plain6.started]);
    await waitFor('every probe answered twice', () => {
      const s = status(lab, a.netns);
      return s.length === 3 && s.every((p) => p.answers >= 2);
    });
    await sleep(INTERVAL * 1000);
    const closed = new Promise((resolve) => tshark.once('close', resolve));
    tshark.kill('SIGINT');
    await closed;

    // Status: from another shell in A, all three up; B's namespace has none of them.
    const up = status(lab, a.netns);
    t.deepEqual(
      up.map((p) => [p.tunnel, p.layout, p.okey, p.state, p.error]).sort(),
      [
        [`${a.v4}->${b.v4}`, 'gre', 77, 'up', null],
        [`${a.v6}->${b.v6}`, 'gre6', null, 'up', null],
        [`${a.v6}->${b.v6}`, 'gre6-mikrotik', 77, 'up', null],
      ].sort(),
    );
    for (const p of up)
      t.true(p.lastAnswerAgeMs !== null && p.lastAnswerAgeMs < 3 * INTERVAL * 1000, p.tunnel);
    t.deepEqual(status(lab, b.netns), [], 'status is per network namespace');
    // Nothing is probed that is not a gre tunnel with a remote: refused before anything is sent.
    const notGre = run(lab, a.netns, [process.execPath, GK, 'probe', a.dev]);
    t.is(notGre.status, 1);
    t.regex(notGre.stderr, /veth-a: is not a gre or ip6gre device \(veth\): keepalives are GRE/);
    t.regex(
      run(lab, a.netns, [process.execPath, GK, 'probe', 'nope0']).stderr,
      /nope0: no network device named nope0/,
    );

    // The wire, both ways, as tshark decodes it, and byte for byte as the core builds it.
    const fields = ['frame.protocols', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'gre.proto', 'gre.key'];
    const decoded = execTshark(capture, fields);
    const row = (r: Record<string, string>) => fields.map((f) => r[f]).join(' ');
    const seen = new Set(decoded.map(row));
    const expected = [
      // requests: outer A->B, inner B->A, GRE 0x0800 / 0 (IPv4), 0x86DD / 0x86DD (MikroTik) or 0 (plain)
      `eth:ethertype:ip:gre:ip:gre ${a.v4},${b.v4} ${b.v4},${a.v4}   0x0800,0x0000 0x0000004d,0x0000004d`,
      `eth:ethertype:ipv6:gre:ipv6:gre   ${a.v6},${b.v6} ${b.v6},${a.v6} 0x86dd,0x86dd 0x0000004d,0x0000004d`,
      `eth:ethertype:ipv6:gre:ipv6:gre   ${a.v6},${b.v6} ${b.v6},${a.v6} 0x86dd,0x0000 `,
      // answers: the inner packets, B->A
      `eth:ethertype:ip:gre ${b.v4} ${a.v4}   0x0000 0x0000004d`,
      `eth:ethertype:ipv6:gre   ${b.v6} ${a.v6} 0x86dd 0x0000004d`,
      `eth:ethertype:ipv6:gre   ${b.v6} ${a.v6} 0x0000 `,
    ];
    for (const e of expected) t.true(seen.has(e), `tshark decoded: ${e}\nseen:\n${[...seen].join('\n')}`);
    t.is(seen.size, expected.length, 'nothing else on the wire');
    const specs = [
      { local: a.v4, remote: b.v4, okey: 77, ikey: 77 },
      { local: a.v6, remote: b.v6, okey: 77, ikey: 77 },
      { local: a.v6, remote: b.v6, layout: 'gre6' as const },
    ].map(compileProbe);
    const frames = (await readCaptureFile(capture)).map((r) =>
      withoutIpv4Id(Buffer.from(r.data.subarray(14))),
    );
    for (const p of specs) {
      t.true(
        frames.some((f) => f.equals(withoutIpv4Id(Buffer.from(p.request)))),
        `request ${p.layout} on the wire`,
      );
      t.true(
        frames.some((f) => f.equals(withoutIpv4Id(Buffer.from(p.answer)))),
        `answer ${p.layout} on the wire`,
      );
    }

    // B stops answering: every tunnel is down after retries intervals without an answer (+ half an
    // interval for the last probe's answer), within the bound of interval x (retries + 1).
    await stop(reflector.child);
    await waitFor('every probe down', () => status(lab, a.netns).every((p) => p.state === 'down'), 15_000);
    for (const p of status(lab, a.netns)) {
      const silentMs = p.lastAnswerAgeMs! - p.stateAgeMs;
      t.true(
        silentMs >= RETRIES * INTERVAL * 1000 && silentMs <= (RETRIES + 1) * INTERVAL * 1000,
        `${p.tunnel} (${p.layout}): down ${silentMs} ms after its last answer`,
      );
    }
    await waitFor('the down hooks', () => existsSync(hooks) && lines(hooks).length === 3);
    t.deepEqual(lines(hooks).sort(), [
      `down ${a.v4}->${b.v4} ${b.v4}`,
      `down ${a.v6}->${b.v6} ${b.v6}`,
      `down ${a.v6}->${b.v6} ${b.v6}`,
    ]);

    // B comes back, probing A and answering in one process: A's tunnels are up at their next answer.
    const both = start(
      t,
      lab,
      b.netns,
      ['probe', '--local', b.v4, '--remote', a.v4, ...timing, '--reflect'],
      'answering keepalives',
    );
    await both.started;
    await waitFor('every probe up again', () => status(lab, a.netns).every((p) => p.state === 'up'), 15_000);
    await waitFor('the up hooks', () => lines(hooks).length === 6).catch((e: Error) => {
      throw new Error(`${e.message}; hooks: ${lines(hooks).join(', ')}\n${keyed.out.text}${plain6.out.text}`);
    });
    t.is(lines(hooks).filter((l) => l.startsWith('up ')).length, 3);
    // A answers nothing (no reflector there): B's own probe of A goes down while B answers A.
    await waitFor("B's probe of A down", () => status(lab, b.netns)[0]?.state === 'down', 15_000);
    t.true(status(lab, a.netns).every((p) => p.state === 'up'));
    await Promise.all([stop(both.child), stop(keyed.child), stop(plain6.child)]);
    t.regex(
      keyed.out.text,
      new RegExp(
        `${a.v4}->${b.v4}: down \\(no answer to 2 keepalives, 0.5 s apart; last answer [\\d.]+ s ago\\)`,
      ),
    );
    t.regex(keyed.out.text, new RegExp(`${a.v4}->${b.v4}: up \\(answered\\)`));
  },
);

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Linux fills in the IPv4 identification (and checksum) of IP_HDRINCL packets sent with id 0. */
function withoutIpv4Id(b: Buffer): Buffer {
  if (b[0]! >> 4 === 4) b.fill(0, 4, 6).fill(0, 10, 12);
  return b;
}

/** tshark's own decoding of a capture: the requested fields per packet (repeated fields comma-joined). */
function execTshark(file: string, fields: string[]): Record<string, string>[] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(fields.map((f, i) => [f, line.split('\t')[i] ?? ''])));
}

test.serial('the daemon probes what its config file lists, and follows a reload', async (t) => {
  requireRoot();
  const lab = createLab(t, 'probed');
  const { a, b } = lab.pair;
  const reflector = start(t, lab, b.netns, ['run', '--interval', '0'], 'answering keepalives');
  await reflector.started;
  const config = join(lab.runtime, 'greoip.yaml');
  const probesOf = (remotes: string[]) =>
    `gre-keepalive:\n${remotes
      .map(
        (r) =>
          `  - local: ${r.includes(':') ? a.v6 : a.v4}\n    remote: ${r}\n    interval: 0.5\n    retries: 2\n`,
      )
      .join('')}`;
  writeFileSync(config, probesOf([b.v4, b.v6]));
  const daemon = await startDaemon(lab, a.netns, ['--config', config]);
  await waitFor('both probes answered', () => {
    const s = status(lab, a.netns);
    return s.length === 2 && s.every((p) => p.answers >= 2 && p.state === 'up');
  });
  t.regex(lab.logs.get(a.netns)!, /gre-keepalive: probing 2 tunnel\(s\)/);
  const before = status(lab, a.netns).find((p) => p.remote === b.v4)!;

  // A reload that drops the IPv6 probe keeps the IPv4 one running, state and counts included.
  writeFileSync(config, probesOf([b.v4]));
  daemon.kill('SIGHUP');
  await waitFor('the reload', () => status(lab, a.netns).length === 1);
  const after = status(lab, a.netns)[0]!;
  t.is(after.remote, b.v4);
  t.true(after.sent >= before.sent && after.stateAgeMs >= before.stateAgeMs, 'the same probe, still running');

  // A refused file changes nothing, probes included.
  writeFileSync(config, `${probesOf([b.v4, b.v6])}  - device: gre1\n    retries: 0\n`);
  daemon.kill('SIGHUP');
  await waitFor('the refusal', () => /refused.*gre-keepalive\[2\]\.retries/.test(lab.logs.get(a.netns)!));
  t.is(status(lab, a.netns).length, 1);

  await stopDaemon(lab, a.netns);
  t.deepEqual(status(lab, a.netns), [], 'the probes stop with the daemon');
});
