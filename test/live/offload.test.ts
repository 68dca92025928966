/**
 * Tap offloads through a live tunnel (issue 13): end a with offloads (TSO superframes segmented by
 * greoip on the way out, TCP segments coalesced into superframes on the way into its tap), end b
 * with them too or turned off (GREOIP_TAP_OFFLOAD=off, what a kernel that refuses them looks like).
 * A file sent over TCP each way arrives byte for byte, iperf3 TCP and UDP run, and tshark with
 * checksum validation on finds every inner IPv4, TCP and UDP checksum good and every EoIP length
 * field equal to its frame.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { requireRoot } from '../helpers.ts';
import { createLab, type Lab, list, run, startDaemon, tunnelPair, waitListening } from './harness.ts';

/** Receives one TCP connection on argv[2]:5300 into the file argv[1], then exits. */
const RECEIVER = `const fs = require('fs'); const srv = require('net').createServer((s) => { s.pipe(fs.createWriteStream(process.argv[1])).on('finish', () => process.exit(0)); srv.close(); }); srv.listen(5300, process.argv[2]);`;
/** Sends the file argv[1] to argv[2]:5300. */
const SENDER = `const s = require('net').connect(5300, process.argv[2], () => require('fs').createReadStream(process.argv[1]).pipe(s));`;

/** Resolves once the child's stdout or stderr says `pattern` (it is ready); fails the wait after 15 s. */
function readyWhen(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} not ready after 15 s: ${seen}`)), 15_000);
    const look = (chunk: Buffer) => {
      seen += chunk.toString();
      if (!pattern.test(seen)) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready: ${seen}`));
    });
  });
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const INNER = ['198.51.100.1', '198.51.100.2'] as const;

/** Captures up to `count` EoIP packets on the veth of `netns` into `file` until stopped. */
async function capture(
  t: ExecutionContext,
  netns: string,
  dev: string,
  file: string,
  count: number,
  family: 4 | 6,
) {
  const tcpdump = spawn(
    '/usr/sbin/ip',
    [
      'netns',
      'exec',
      netns,
      'tcpdump',
      '-i',
      dev,
      '-w',
      file,
      '-c',
      String(count),
      '-s',
      '0',
      family === 4 ? 'ip proto 47' : 'ip6 proto 97',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.teardown(() => tcpdump.kill('SIGKILL'));
  await readyWhen(tcpdump, /listening on/, 'tcpdump');
  return async () => {
    if (tcpdump.exitCode === null) tcpdump.kill('SIGINT');
    await new Promise((r) => (tcpdump.exitCode !== null ? r(null) : tcpdump.once('exit', r)));
  };
}

/**
 * One line per inner `l4` frame of the capture: frame length | EoIP length (the high half of
 * tshark's gre.key) | every IP header checksum status | the L4 checksum status (0 bad, 1 good,
 * 2 unverified).
 */
function decode(lab: Lab, netns: string, file: string, l4: 'tcp' | 'udp'): string[] {
  return run(lab, netns, [
    'tshark',
    '-r',
    file,
    '-o',
    'ip.check_checksum:TRUE',
    '-o',
    'tcp.check_checksum:TRUE',
    '-o',
    'udp.check_checksum:TRUE',
    '-Y',
    `${l4} && !icmp && !icmpv6`,
    '-T',
    'fields',
    '-E',
    'separator=|',
    '-E',
    'aggregator=,',
    '-e',
    'frame.len',
    '-e',
    'gre.key',
    '-e',
    'ip.checksum.status',
    '-e',
    `${l4}.checksum.status`,
  ])
    .stdout.trim()
    .split('\n')
    .filter((line) => line !== '');
}

function checkFrames(t: ExecutionContext, lines: string[], family: 4 | 6, what: string): void {
  const bad = lines.filter((line) => {
    const [, , ipStatus = '', l4Status = ''] = line.split('|');
    return [...ipStatus.split(','), l4Status].includes('0');
  });
  t.deepEqual(bad, [], `${what}: no IP or ${what} checksum marked bad`);
  t.true(
    lines.some((line) => line.split('|')[3] === '1'),
    `${what}: checksums were validated`,
  );
  if (family === 4) {
    // Outer Ethernet 14 + IPv4 20 + EoIP 8 before the frame (tunnel MTU 1458: no fragments).
    const wrong = lines.filter((line) => {
      const [frameLen = '', key = ''] = line.split('|');
      return Number(key) >>> 16 !== Number(frameLen) - 42;
    });
    t.deepEqual(wrong, [], `${what}: every EoIP length field equals its frame`);
  }
}

/** A file over a plain TCP connection (node's net module on both ends) from `from` to the other end. */
async function sendFile(t: ExecutionContext, lab: Lab, from: 0 | 1, bytes: number): Promise<void> {
  const ns = [lab.pair.a.netns, lab.pair.b.netns] as const;
  const to = from === 0 ? 1 : 0;
  const sent = join(lab.runtime, `sent${from}.bin`);
  const got = join(lab.runtime, `got${from}.bin`);
  writeFileSync(sent, randomBytes(bytes));
  const server = spawn(
    '/usr/sbin/ip',
    ['netns', 'exec', ns[to], process.execPath, '-e', RECEIVER, got, INNER[to]],
    { stdio: 'ignore' },
  );
  t.teardown(() => server.kill('SIGKILL'));
  await waitListening(lab, ns[to], 5300);
  const client = run(lab, ns[from], [process.execPath, '-e', SENDER, sent, INNER[to]]);
  t.is(client.status, 0, client.stderr);
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  t.is(sha256(got), sha256(sent), `the file from ${from === 0 ? 'a' : 'b'} arrived byte for byte`);
}

/** iperf3 from a to b (-u: UDP); returns its JSON summary. */
async function iperf(
  t: ExecutionContext,
  lab: Lab,
  args: string[],
): Promise<{ end: Record<string, unknown> }> {
  const server = spawn('/usr/sbin/ip', ['netns', 'exec', lab.pair.b.netns, 'iperf3', '-s', '-1'], {
    stdio: 'ignore',
  });
  t.teardown(() => server.kill('SIGKILL'));
  await waitListening(lab, lab.pair.b.netns, 5201);
  const out = run(lab, lab.pair.a.netns, ['iperf3', '-c', INNER[1], '-J', ...args]);
  t.is(out.status, 0, out.stderr);
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  return JSON.parse(out.stdout) as { end: Record<string, unknown> };
}

// a always has offloads (TSO superframes segmented by greoip, TCP segments coalesced into superframes
// on the way to its tap); b has them too, or runs as a kernel that refuses them would make it.
for (const family of [4, 6] as const) {
  for (const bOffload of [false, true]) {
    test.serial(
      `EoIP${family === 6 ? 'v6' : ''}: offloads on at a, ${bOffload ? 'on' : 'off'} at b; files over TCP both ways arrive intact, iperf3 TCP and UDP run, checksums good`,
      async (t) => {
        requireRoot();
        const lab = createLab(t, `of${family}${bOffload ? 'y' : 'n'}`);
        const { a, b } = lab.pair;
        await startDaemon(lab, a.netns);
        const saved = lab.env;
        if (!bOffload) lab.env = { ...lab.env, GREOIP_TAP_OFFLOAD: 'off' };
        await startDaemon(lab, b.netns);
        lab.env = saved;
        tunnelPair(
          lab,
          'of0',
          300 + family,
          family,
          [`${INNER[0]}/24`, `${INNER[1]}/24`],
          // 1458: the outer packets do not fragment, so each captured frame holds one whole EoIP packet.
          ['keepalive', 'none', 'mtu', '1458'],
        );
        const mode = /^(tso\+uso|tso)$/;
        t.regex(list(lab, a.netns)[0]!.offload ?? '', mode, 'offloads on at a');
        if (bOffload) t.regex(list(lab, b.netns)[0]!.offload ?? '', mode, 'offloads on at b');
        else t.is(list(lab, b.netns)[0]!.offload, 'off', 'offloads off at b');

        const tcpCapture = join(lab.runtime, 'tcp.pcap');
        const stopTcp = await capture(t, a.netns, a.dev, tcpCapture, 400, family);
        await sendFile(t, lab, 0, 8 << 20);
        await stopTcp();
        await sendFile(t, lab, 1, 8 << 20);
        const rx = list(lab, a.netns)[0]!.counters;
        t.true(rx.rxPackets > (8 << 20) / 1500, 'received as MTU-sized frames (counted before coalescing)');
        await iperf(t, lab, ['-t', '2']);
        t.true(list(lab, a.netns)[0]!.counters.txPackets > (16 << 20) / 1500, 'sent as MTU-sized frames');

        const udpCapture = join(lab.runtime, 'udp.pcap');
        const stopUdp = await capture(t, a.netns, a.dev, udpCapture, 200, family);
        const udp = await iperf(t, lab, ['-u', '-b', '50M', '-l', '1000', '-t', '1']);
        await stopUdp();
        const sum = udp.end.sum as { packets: number; lost_packets: number };
        t.true(sum.packets - sum.lost_packets > 0, `UDP datagrams arrived: ${JSON.stringify(sum)}`);

        checkFrames(t, decode(lab, a.netns, tcpCapture, 'tcp'), family, 'tcp');
        const udpLines = decode(lab, a.netns, udpCapture, 'udp');
        t.true(udpLines.length >= 50, `${udpLines.length} inner UDP frames captured`);
        checkFrames(t, udpLines, family, 'udp');
      },
    );
  }
}
