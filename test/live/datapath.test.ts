/**
 * The userland datapath live: two namespaces over veth, greoip daemons on both
 * ends, ping and iperf3 through EoIP and EoIPv6, the wire checked with tshark,
 * and 100 tunnels between the same pair at once.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { createLab, list, run, sleep, startDaemon, tunnelPair, waitFor, waitListening } from './harness.ts';

test.serial(
  'ping and iperf3 TCP through EoIP and EoIPv6; tshark sees EoIP/EtherIP with our tunnel ids',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'dp');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    tunnelPair(
      lab,
      'eo4',
      100,
      4,
      ['198.51.100.1/24', '198.51.100.2/24'],
      ['keepalive', '1,10', 'tos', '40'],
    );
    tunnelPair(lab, 'eo6', 1234, 6, ['203.0.113.1/24', '203.0.113.2/24'], ['keepalive', '1,10']);

    // tshark prints each packet as it arrives (-l); the keepalives (every second here) show when it is live.
    const fields = [
      'ip.proto',
      'ipv6.nxt',
      'gre.proto',
      'gre.key',
      'etherip.ver',
      'etherip.reserved',
      'eth.type',
      'ip.ttl',
      'ipv6.hlim',
      'ip.dsfield',
      'frame.len',
    ];
    const capture = spawn(
      '/usr/sbin/ip',
      [
        'netns',
        'exec',
        b.netns,
        'tshark',
        '-l',
        '-i',
        b.dev,
        '-f',
        'ip proto 47 or ip6 proto 97',
        '-T',
        'fields',
        '-E',
        'separator=/t',
        ...fields.flatMap((f) => ['-e', f]),
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    t.teardown(() => capture.kill('SIGTERM'));
    let captured = '';
    capture.stdout.on('data', (c: Buffer) => (captured += c));
    await waitFor('tshark to see the first keepalive', () => captured.includes('\n'));
    for (const target of ['198.51.100.2', '203.0.113.2']) {
      const ping = run(lab, a.netns, ['ping', '-c', '5', '-i', '0.2', '-W', '2', target]);
      t.is(ping.status, 0, ping.stdout + ping.stderr);
      t.regex(ping.stdout, / 0% packet loss/);
    }
    await sleep(1500);
    capture.kill('SIGINT');
    await new Promise((resolve) => capture.once('close', resolve));
    const rows = captured
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t'));
    t.true(rows.length >= 20, `${rows.length} packets captured`);
    let eoip4 = 0;
    let eoip6 = 0;
    for (const [proto, nxt, greProto, key, ver, reserved, ethType, ttl, hlim, dsfield, frameLen] of rows) {
      if (proto?.startsWith('47')) {
        eoip4++;
        t.is(greProto, '0x6400');
        // gre.key = length (big-endian) then the tid's little-endian bytes: tid 100 is 64 00.
        t.is(key!.slice(-4), '6400', `tid 100 in ${key}`);
        // Length field = the Ethernet frame behind the 14 + 20 + 8 bytes of underlay, IPv4 and EoIP headers.
        t.is(Number(key) >>> 16, Number(frameLen) - 42, `length field of ${key} in a ${frameLen}-byte frame`);
        if (key!.slice(2, 6) !== '0000') t.true(ethType!.length > 0, 'data packets carry Ethernet');
        t.is(ttl!.split(',')[0], '255');
        t.is(dsfield!.split(',')[0], '0x28', 'tos 40 on the outer header');
      } else if (nxt?.split(',').includes('97')) {
        eoip6++;
        t.is((Number(ver) << 8) | (Number(reserved) & 0xff), 1234);
        t.is(hlim!.split(',')[0], '255');
      } else {
        t.fail(`unexpected packet: ${proto} ${nxt}`);
      }
    }
    t.true(eoip4 >= 10 && eoip6 >= 10, `${eoip4} EoIP, ${eoip6} EoIPv6`);
    // Full-size frames: 1472 bytes of ICMP payload fill the 1500-byte tunnel MTU; the kernel fragments the outer packet.
    const big = run(lab, a.netns, ['ping', '-c', '3', '-s', '1472', '-M', 'do', '-W', '2', '198.51.100.2']);
    t.regex(big.stdout, / 0% packet loss/, big.stdout + big.stderr);

    const server = spawn('/usr/sbin/ip', ['netns', 'exec', b.netns, 'iperf3', '-s', '-1', '--json'], {
      env: lab.env,
    });
    t.teardown(() => server.kill('SIGKILL'));
    await waitListening(lab, b.netns, 5201);
    for (const target of ['198.51.100.2']) {
      const iperf = run(lab, a.netns, ['iperf3', '-c', target, '-t', '2', '--json']);
      t.is(iperf.status, 0, iperf.stderr);
      const result = JSON.parse(iperf.stdout) as {
        end: { sum_received: { bytes: number; bits_per_second: number } };
      };
      t.true(
        result.end.sum_received.bytes > 1_000_000,
        `${result.end.sum_received.bytes} bytes through EoIP`,
      );
      t.log(`iperf3 through EoIP: ${(result.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`);
    }
    const server6 = spawn(
      '/usr/sbin/ip',
      ['netns', 'exec', b.netns, 'iperf3', '-s', '-1', '-p', '5202', '--json'],
      { env: lab.env },
    );
    t.teardown(() => server6.kill('SIGKILL'));
    await waitListening(lab, b.netns, 5202);
    const iperf6 = run(lab, a.netns, ['iperf3', '-c', '203.0.113.2', '-p', '5202', '-t', '2', '--json']);
    t.is(iperf6.status, 0, iperf6.stderr);
    const r6 = JSON.parse(iperf6.stdout) as {
      end: { sum_received: { bytes: number; bits_per_second: number } };
    };
    t.true(r6.end.sum_received.bytes > 1_000_000);
    t.log(`iperf3 through EoIPv6: ${(r6.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`);

    const counters = list(lab, a.netns);
    t.true(counters.every((s) => s.counters.txPackets > 0 && s.counters.rxPackets > 0 && s.state === 'up'));
  },
);

test.serial(
  '100 tunnels between the same pair: a ping on every tunnel at once, no loss, counters per tunnel',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'hundred');
    const { a, b } = lab.pair;
    // No IPv6 on the taps: no router solicitations or MLD reports, so counters are the pings alone.
    for (const side of [a, b])
      run(lab, side.netns, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    const N = 100;
    for (let i = 1; i <= N; i++) {
      // Tunnel i gets its own /30 from 198.18.0.0/15 (the benchmarking range): 198.18.0.0/30, .4/30, ...
      const base = (i - 1) * 4;
      const host = (n: number) => `198.18.${(base + n) >>> 8}.${(base + n) & 0xff}/30`;
      tunnelPair(lab, `t${i}`, i, 4, [host(1), host(2)], ['keepalive', 'none']);
    }
    // Static neighbours both ways: no ARP on any tunnel, so its frames are the pings alone (none sent
    // later by a neighbour probe while the counters are read), and the counts are exact.
    const address = (i: number, n: 1 | 2) => {
      const at = (i - 1) * 4 + n;
      return `198.18.${at >>> 8}.${at & 0xff}`;
    };
    const macs = (netns: string) =>
      new Map(
        (
          JSON.parse(run(lab, netns, ['ip', '-j', 'link', 'show']).stdout) as {
            ifname: string;
            address: string;
          }[]
        ).map((l) => [l.ifname, l.address]),
      );
    const macA = macs(a.netns);
    const macB = macs(b.netns);
    for (const [me, peerMacs, peerHost] of [
      [a.netns, macB, 2],
      [b.netns, macA, 1],
    ] as const) {
      const lines = [];
      for (let i = 1; i <= N; i++)
        lines.push(
          `neigh replace ${address(i, peerHost)} lladdr ${peerMacs.get(`t${i}`)} dev t${i} nud permanent`,
        );
      const r = run(lab, me, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
      t.is(r.status, 0, r.stderr);
    }
    const before = new Map(list(lab, a.netns).map((s) => [s.config.name, s.counters.rxPackets]));
    // One ping process per echo: ping -c 3 waits for the last reply only max(2 x the slowest RTT so far,
    // the interval), whatever -W says, so a reply delayed by a loaded machine counted as lost; with one
    // echo per process, -W 3 is the wait for each reply.
    const echo = (target: string) =>
      new Promise<string>((resolve) => {
        const p = spawn('/usr/sbin/ip', ['netns', 'exec', a.netns, 'ping', '-c', '1', '-W', '3', target], {
          env: lab.env,
        });
        let out = '';
        p.stdout.on('data', (c: Buffer) => (out += c));
        p.on('close', () => resolve(out));
      });
    const pings = [];
    for (let i = 1; i <= N; i++) {
      const target = address(i, 2);
      pings.push(
        (async () => {
          const outputs = [];
          for (let n = 0; n < 3; n++) {
            if (n > 0) await sleep(200);
            outputs.push(await echo(target));
          }
          return outputs.join('');
        })(),
      );
    }
    const outputs = await Promise.all(pings);
    const lossy = outputs.filter((o) => o.match(/ 1 received, 0% packet loss/g)?.length !== 3);
    t.deepEqual(lossy, [], 'every tunnel answered every ping');
    // Every reply arrived and nothing else is sent: no frame is in flight while the counters are read.
    const sentByB = new Map(list(lab, b.netns).map((s) => [s.config.name, s.counters]));
    const after = list(lab, a.netns);
    t.is(after.length, N);
    for (const s of after) {
      const peer = sentByB.get(s.config.name)!;
      const got = s.counters.rxPackets - (before.get(s.config.name) ?? 0);
      // The 3 echo replies alone (no ARP); every frame B's end sent arrived at A's end of the same tunnel.
      t.is(got, 3, `${s.config.name}: frames received`);
      t.is(s.counters.rxPackets, peer.txPackets, `${s.config.name}: received here = sent there`);
      t.is(s.counters.txPackets, peer.rxPackets, `${s.config.name}: sent here = received there`);
      t.is(s.counters.rxErrors + s.counters.txErrors + peer.rxErrors + peer.txErrors, 0);
    }
  },
);
