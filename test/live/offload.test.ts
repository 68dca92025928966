/**
 * Tap offloads through a live tunnel (issue 13): one end with offloads
 * (TSO superframes segmented by greoip), the other with them turned off
 * (GREOIP_TAP_OFFLOAD=off, what a kernel that refuses them looks like).
 * A file sent over TCP arrives byte for byte, iperf3 loads the tunnel, tshark with checksum
 * validation on finds every inner IPv4 and TCP checksum good, and every EoIP
 * length field equals its frame.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { createLab, list, run, sleep, startDaemon, tunnelPair } from './harness.ts';

/** Receives one TCP connection on 198.51.100.2:5300 into the file argv[1], then exits. */
const RECEIVER = `const fs = require('fs'); const srv = require('net').createServer((s) => { s.pipe(fs.createWriteStream(process.argv[1])).on('finish', () => process.exit(0)); srv.close(); }); srv.listen(5300, '198.51.100.2');`;
/** Sends the file argv[1] to 198.51.100.2:5300. */
const SENDER = `const s = require('net').connect(5300, '198.51.100.2', () => require('fs').createReadStream(process.argv[1]).pipe(s));`;

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

for (const family of [4, 6] as const) {
  test.serial(
    `EoIP${family === 6 ? 'v6' : ''}: offloads on one end, off on the other; a file over TCP arrives intact, iperf3 runs, checksums good`,
    async (t) => {
      requireRoot();
      const lab = createLab(t, `off${family}`);
      const { a, b } = lab.pair;
      await startDaemon(lab, a.netns);
      // The other end as a kernel without tap offloads would run it.
      const plainEnv = { ...lab.env, GREOIP_TAP_OFFLOAD: 'off' };
      const saved = lab.env;
      lab.env = plainEnv;
      await startDaemon(lab, b.netns);
      lab.env = saved;
      tunnelPair(
        lab,
        'of0',
        300 + family,
        family,
        ['198.51.100.1/24', '198.51.100.2/24'],
        // 1458: the outer packets do not fragment, so each captured frame holds one whole EoIP packet.
        ['keepalive', 'none', 'mtu', '1458'],
      );
      t.regex(list(lab, a.netns)[0]!.offload ?? '', /^(tso\+uso|tso)$/, 'offloads on at a');
      t.is(list(lab, b.netns)[0]!.offload, 'off', 'offloads off at b');

      const sent = join(lab.runtime, 'sent.bin');
      const got = join(lab.runtime, 'got.bin');
      writeFileSync(sent, randomBytes(8 << 20));
      const capture = join(lab.runtime, 'veth.pcap');
      const tcpdump = spawn(
        '/usr/sbin/ip',
        [
          'netns',
          'exec',
          a.netns,
          'tcpdump',
          '-i',
          a.dev,
          '-w',
          capture,
          '-c',
          '400',
          '-s',
          '0',
          family === 4 ? 'ip proto 47' : 'ip6 proto 97',
        ],
        { stdio: 'ignore' },
      );
      t.teardown(() => tcpdump.kill('SIGKILL'));
      await sleep(500);
      // The file over a plain TCP connection (node's net module on both ends), then iperf3 for load.
      const server = spawn(
        '/usr/sbin/ip',
        ['netns', 'exec', b.netns, process.execPath, '-e', RECEIVER, got],
        { stdio: 'ignore' },
      );
      t.teardown(() => server.kill('SIGKILL'));
      await sleep(1000);
      const client = run(lab, a.netns, [process.execPath, '-e', SENDER, sent]);
      t.is(client.status, 0, client.stderr);
      await new Promise((r) => server.once('exit', r));
      t.is(sha256(got), sha256(sent), 'the file arrived byte for byte');
      const iperfServer = spawn('/usr/sbin/ip', ['netns', 'exec', b.netns, 'iperf3', '-s', '-1'], {
        stdio: 'ignore',
      });
      t.teardown(() => iperfServer.kill('SIGKILL'));
      await sleep(500);
      const iperf = run(lab, a.netns, ['iperf3', '-c', '198.51.100.2', '-t', '3']);
      t.is(iperf.status, 0, iperf.stderr);
      t.true(list(lab, a.netns)[0]!.counters.txPackets > (8 << 20) / 1500, 'sent as MTU-sized frames');

      await new Promise((r) => (tcpdump.exitCode !== null ? r(null) : tcpdump.once('exit', r)));
      // One line per inner TCP frame: frame length | EoIP length (the high half of tshark's gre.key) |
      // every IP header checksum status | the TCP checksum status (0 bad, 1 good, 2 unverified).
      const lines = run(lab, a.netns, [
        'tshark',
        '-r',
        capture,
        '-o',
        'ip.check_checksum:TRUE',
        '-o',
        'tcp.check_checksum:TRUE',
        '-Y',
        'tcp',
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
        'tcp.checksum.status',
      ])
        .stdout.trim()
        .split('\n');
      t.true(lines.length >= 100, `${lines.length} inner TCP frames captured`);
      const bad = lines.filter((line) => {
        const [, , ipStatus = '', tcpStatus = ''] = line.split('|');
        return [...ipStatus.split(','), tcpStatus].includes('0');
      });
      t.deepEqual(bad, [], 'no IP or TCP checksum marked bad');
      if (family === 4) {
        // Outer Ethernet 14 + IPv4 20 + EoIP 8 before the frame (tunnel MTU 1458: no fragments).
        const wrong = lines.filter((line) => {
          const [frameLen = '', key = ''] = line.split('|');
          return Number(key) >>> 16 !== Number(frameLen) - 42;
        });
        t.deepEqual(wrong, [], 'every EoIP length field equals its frame');
      }
    },
  );
}
