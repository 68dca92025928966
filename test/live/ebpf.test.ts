/**
 * The ebpf backend live, on this machine's kernel: two namespaces over veth, greoip daemons on both
 * ends, ping and iperf3 through EoIP and EoIPv6 moved by the TC programs, the wire read back by
 * tshark byte for byte against the frames the far tap received, full-size frames through the slow
 * path, ebpf against userland both ways, RouterOS captures replayed, unrelated GRE/PPTP/UDP left alone,
 * daemons restarted and killed under traffic, and nothing left in the kernel after removal. The pins
 * go to a private bpffs (GREOIP_BPFFS) so parallel runs never meet.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { TunnelStatus } from '../../src/backend/types.ts';
import { decodeTx, EOIP_TX_SIZE, type EoipTx, u32Key } from '../../src/bpf/eoip-maps.ts';
import { closeFd, privateBpffs } from '../../src/bpf/loader.ts';
import { ip } from '../../src/demo/netns.ts';
import { bpf } from '../../src/native/bpf.ts';
import { CAPTURE_FILES, CAPTURES_DIR, REPO_DIR, requireRoot, tempDir } from '../helpers.ts';
import {
  createLab,
  eoip,
  GREOIP,
  type Lab,
  list,
  run,
  sleep,
  startDaemon,
  stopDaemon,
  tunnelPair,
  waitFor,
  waitListening,
} from './harness.ts';

const PYTHON = '/usr/bin/python3';
const SENDER = `${REPO_DIR}test/live/fixtures/send_eoip.py`;

async function ebpfLab(t: ExecutionContext, tag: string): Promise<Lab & { bpffs: string }> {
  requireRoot();
  const lab = createLab(t, tag);
  const pins = await privateBpffs();
  t.teardown(() => pins.release());
  lab.env.GREOIP_BPFFS = pins.path;
  return { ...lab, bpffs: pins.path };
}

function byName(lab: Lab, netns: string): Map<string, TunnelStatus> {
  return new Map(list(lab, netns).map((s) => [s.config.name, s]));
}

function ping(lab: Lab, netns: string, target: string, extra: string[] = []): string {
  const r = run(lab, netns, ['ping', '-c', '5', '-i', '0.1', '-W', '2', ...extra, target]);
  return r.stdout + r.stderr;
}

/**
 * A capture of raw packets on `dev` (tcpdump into a pcap), read back with tshark when stopped. Immediate
 * mode: without it libpcap hands packets over in blocks, up to a second late, and a stop lost them.
 */
function capture(t: ExecutionContext, netns: string, dev: string, filter: string) {
  const file = join(tempDir(t, 'greoip-ebpf-cap-'), `${dev}.pcap`);
  const proc = spawn(
    '/usr/sbin/ip',
    ['netns', 'exec', netns, 'tcpdump', '--immediate-mode', '-U', '-n', '-i', dev, '-w', file, filter],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c));
  t.teardown(() => proc.kill('SIGKILL'));
  return {
    ready: () => waitFor(`tcpdump on ${dev}`, () => err.includes('listening')),
    async stop(fields: string[]): Promise<string[][]> {
      // Stopped once it has written every packet its filter took (SIGUSR1 prints both counts), however
      // long a loaded machine keeps it from reading them.
      const counts = /(\d+) packets? captured, (\d+) packets? received by filter/g;
      await waitFor(`tcpdump on ${dev} to catch up`, () => {
        const last = [...err.matchAll(counts)].at(-1);
        proc.kill('SIGUSR1');
        return last !== undefined && last[1] === last[2];
      });
      proc.kill('SIGINT');
      await new Promise((resolve) => proc.once('close', resolve));
      const out = execFileSync(
        'tshark',
        ['-r', file, '-T', 'fields', '-E', 'separator=/t', ...fields.flatMap((f) => ['-e', f])],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      return out
        .trimEnd()
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.split('\t'));
    },
  };
}

test.serial(
  'ebpf <-> ebpf: EoIP and EoIPv6 on the fast path, byte for byte on the wire; 1500-byte frames via the slow path; iperf3 through the segmenter',
  async (t) => {
    const lab = await ebpfLab(t, 'bpf');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    tunnelPair(
      lab,
      'eo4',
      100,
      4,
      ['198.51.100.1/24', '198.51.100.2/24'],
      ['mtu', '1458', 'tos', '40', 'backend', 'ebpf'],
    );
    tunnelPair(lab, 'eo6', 1234, 6, ['203.0.113.1/24', '203.0.113.2/24'], ['mtu', '1444', 'backend', 'ebpf']);
    tunnelPair(lab, 'big', 300, 4, ['100.64.0.1/24', '100.64.0.2/24'], ['mtu', '1500', 'backend', 'ebpf']);
    const shown = byName(lab, a.netns);
    for (const name of ['eo4', 'eo6', 'big']) {
      t.is(shown.get(name)!.backend, 'ebpf');
      t.is(shown.get(name)!.mode, 'tcx', 'kernel 6.6+: TCX links');
    }
    t.regex(eoip(lab, a.netns, ['list']).stdout, /ebpf\/tcx/);

    const wire = capture(t, b.netns, b.dev, 'ip proto 47 or ip6 proto 97');
    const tap = capture(t, b.netns, 'eo4', 'icmp');
    await wire.ready();
    await tap.ready();
    for (const target of ['198.51.100.2', '203.0.113.2'])
      t.regex(ping(lab, a.netns, target), / 0% packet loss/);
    const onWire = await wire.stop([
      'ip.proto',
      'ipv6.nxt',
      'ip.dsfield',
      'ip.flags.df',
      'ip.ttl',
      'ipv6.hlim',
      'gre.key',
      'frame.len',
      'data.data',
      'eth.type',
    ]);
    const onTap = await tap.stop(['frame.len', 'eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'icmp.seq']);
    // Every frame the far tap received from the tunnel (echo requests from a) was on the wire inside EoIP:
    // tshark's gre.key carries its exact length and the tunnel id.
    const requests = onTap.filter((r) => r[3] === '198.51.100.1');
    t.is(requests.length, 5);
    // Fields of the inner IPv4 header follow the outer one's, comma-joined: the first is the outer.
    const first = (v: string | undefined) => (v ?? '').split(',')[0];
    const eoip4 = onWire.filter((r) => first(r[0]) === '47' && r[6]!.endsWith('6400')); // tid 100 (eo4)
    for (const r of eoip4) {
      t.is(first(r[2]), '0x28', 'tos 40');
      t.is(first(r[3]), '0', 'DF clear');
      t.is(first(r[4]), '255', 'TTL 255');
      t.is(r[6]!.slice(-4), '6400', `tid 100 in gre.key ${r[6]}`);
      t.is(Number(r[6]) >>> 16, Number(r[7]) - 42, 'length field = the inner frame');
    }
    t.true(eoip4.length >= 10, `${eoip4.length} EoIP packets`);
    for (const req of requests)
      t.true(
        eoip4.some((r) => Number(r[6]) >>> 16 === Number(req[0])),
        `a ${req[0]}-byte frame went inside EoIP`,
      );
    const eoip6 = onWire.filter((r) => r[1]?.split(',').includes('97'));
    t.true(eoip6.length >= 10, `${eoip6.length} EoIPv6 packets`);
    for (const r of eoip6) t.is(r[5]!.split(',')[0], '255', 'hop limit 255');

    const fast = byName(lab, a.netns).get('eo4')!.fastPath!;
    t.true(fast.txPackets >= 5 && fast.rxPackets >= 5, `fast path ${JSON.stringify(fast)}`);

    // MTU 1500 on a 1500 underlay: full-size frames do not fit, the daemon sends them with fragmentation.
    const before = byName(lab, a.netns).get('big')!;
    t.regex(ping(lab, a.netns, '100.64.0.2', ['-s', '1472', '-M', 'do']), / 0% packet loss/);
    const after = byName(lab, a.netns).get('big')!;
    t.true(
      after.fastPath!.txSlow - before.fastPath!.txSlow >= 5,
      'full-size frames left on the tap for the daemon',
    );
    // Replies come back as fragments: reassembled by the stack, delivered by the daemon, not the program.
    const slowRx = (s: TunnelStatus) => s.counters.rxPackets - s.fastPath!.rxPackets;
    t.true(
      slowRx(after) - slowRx(before) >= 5,
      'fragments reassembled by the stack, delivered by the daemon',
    );

    const server = spawn('/usr/sbin/ip', ['netns', 'exec', b.netns, 'iperf3', '-s', '-1', '--json'], {
      env: lab.env,
    });
    t.teardown(() => server.kill('SIGKILL'));
    await waitListening(lab, b.netns, 5201);
    const seg0 = byName(lab, a.netns).get('eo4')!.fastPath!.txSegmented;
    const client = run(lab, a.netns, ['iperf3', '-c', '198.51.100.2', '-t', '2', '--json']);
    t.is(client.status, 0, client.stderr);
    const bps = (JSON.parse(client.stdout) as { end: { sum_received: { bits_per_second: number } } }).end
      .sum_received.bits_per_second;
    t.log(`iperf3 TCP over ebpf EoIP, MTU 1458: ${(bps / 1e6).toFixed(0)} Mbit/s`);
    t.true(bps > 0);
    t.true(
      byName(lab, a.netns).get('eo4')!.fastPath!.txSegmented > seg0,
      'GSO frames went through the segmenter',
    );
  },
);

test.serial(
  'ebpf <-> userland both ways, EoIP and EoIPv6; RouterOS captures replayed at an ebpf tunnel',
  async (t) => {
    const lab = await ebpfLab(t, 'mix');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    for (const [me, peer, backend, name, tid, fam, addr] of [
      [a, b, 'ebpf', 'm4', 10, 4, '198.51.100.1/24'],
      [b, a, 'userland', 'm4', 10, 4, '198.51.100.2/24'],
      [a, b, 'userland', 'm6', 11, 6, '203.0.113.1/24'],
      [b, a, 'ebpf', 'm6', 11, 6, '203.0.113.2/24'],
    ] as const) {
      const under = (s: typeof a) => (fam === 4 ? s.v4 : s.v6);
      eoip(lab, me.netns, [
        'add',
        'name',
        name,
        'tid',
        String(tid),
        'remote',
        under(peer),
        'mtu',
        fam === 4 ? '1458' : '1444',
        'backend',
        backend,
      ]);
      ip(['addr', 'add', addr, 'dev', name], me.netns);
      ip(['link', 'set', name, 'up'], me.netns);
    }
    t.regex(ping(lab, a.netns, '198.51.100.2'), / 0% packet loss/, 'ebpf -> userland and back (EoIP)');
    t.regex(ping(lab, b.netns, '203.0.113.1'), / 0% packet loss/, 'ebpf -> userland and back (EoIPv6)');
    t.regex(ping(lab, b.netns, '198.51.100.1'), / 0% packet loss/, 'userland -> ebpf and back (EoIP)');
    t.regex(ping(lab, a.netns, '203.0.113.2'), / 0% packet loss/, 'userland -> ebpf and back (EoIPv6)');
    t.true(byName(lab, a.netns).get('m4')!.fastPath!.rxPackets >= 10);
    // One (remote, tunnel id) belongs to one tunnel whatever its backend: b's userland m4 has (a, 10).
    const clash = eoip(
      lab,
      b.netns,
      ['add', 'name', 'x4', 'tid', '10', 'remote', a.v4, 'backend', 'ebpf'],
      true,
    );
    t.not(clash.status, 0);
    t.regex(clash.stderr, /tunnel-id: 10 with remote 192\.0\.2\.1 is already used by m4 \(userland\)/);
    t.false(byName(lab, b.netns).has('x4'), 'nothing made');

    // RouterOS's own packets (tid 100 and 200), addresses rewritten to a -> b, at ebpf tunnels on b.
    eoip(lab, b.netns, ['add', 'name', 'mk100', 'tid', '100', 'remote', a.v4, 'backend', 'ebpf']);
    eoip(lab, b.netns, ['add', 'name', 'mk200', 'tid', '200', 'remote', a.v4, 'backend', 'ebpf']);
    for (const dev of ['mk100', 'mk200']) ip(['link', 'set', dev, 'up'], b.netns);
    const counts = JSON.parse(
      run(lab, a.netns, [PYTHON, SENDER, 'replay', a.v4, b.v4, ...CAPTURE_FILES.map((f) => CAPTURES_DIR + f)])
        .stdout,
    ) as Record<string, number>;
    const n = (tid: number, kind: string) => counts[`${tid}/${kind}`] ?? 0;
    t.true(n(100, 'data') > 20 && n(100, 'keepalive') > 3, JSON.stringify(counts));
    await waitFor('every replayed packet accounted for', () => {
      const s = byName(lab, b.netns).get('mk100')!;
      return s.counters.rxPackets + s.counters.rxKeepalives >= n(100, 'data') + n(100, 'keepalive');
    });
    const s = byName(lab, b.netns);
    for (const tid of [100, 200]) {
      const c = s.get(`mk${tid}`)!;
      t.is(c.counters.rxPackets, n(tid, 'data'), `mk${tid} data delivered`);
      t.is(c.counters.rxKeepalives, n(tid, 'keepalive'), `mk${tid} keepalives through the daemon`);
      t.is(c.counters.rxErrors, 0);
    }
    t.true(s.get('mk100')!.fastPath!.rxPackets > 0, 'replayed data took the fast path');
    t.is(s.get('mk100')!.state, 'up', 'RouterOS keepalives bring the tunnel up');
  },
);

test.serial('unrelated GRE, PPTP and non-tunnel traffic on the underlay pass untouched', async (t) => {
  const lab = await ebpfLab(t, 'oth');
  const { a, b } = lab.pair;
  await startDaemon(lab, b.netns);
  eoip(lab, b.netns, [
    'add',
    'name',
    'victim',
    'tid',
    '100',
    'remote',
    a.v4,
    'keepalive',
    'none',
    'backend',
    'ebpf',
  ]);
  ip(['link', 'set', 'victim', 'up'], b.netns);
  const before = byName(lab, b.netns).get('victim')!;
  // Behind the program: what the stack delivers to a raw GRE socket on b, read by a sniffer there.
  const behind = spawn(
    '/usr/sbin/ip',
    [
      'netns',
      'exec',
      b.netns,
      PYTHON,
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,47)\ns.settimeout(4)\nprint("ready",flush=True)\ntry:\n  while True:\n    print(s.recv(4096).hex(),flush=True)\nexcept socket.timeout:\n  pass',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  t.teardown(() => behind.kill('SIGKILL'));
  let got = '';
  behind.stdout.on('data', (c: Buffer) => (got += c));
  await waitFor('the raw socket', () => got.includes('ready'));
  const sent = JSON.parse(
    run(lab, a.netns, [PYTHON, SENDER, 'hostile', a.v4, b.v4, '192.0.2.9']).stdout,
  ) as string[];
  t.true(sent.includes('plain_gre') && sent.includes('pptp'));
  const udp = run(lab, a.netns, [
    PYTHON,
    '-c',
    `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.sendto(b"x"*32,("${b.v4}",9))`,
  ]);
  t.is(udp.status, 0);
  await new Promise((resolve) => behind.once('close', resolve));
  const packets = got.split('\n').filter((l) => /^[0-9a-f]+$/.test(l));
  // The plain GRE and PPTP packets (and every other proto-47 packet not ours) reached the stack whole.
  t.true(
    packets.some((p) => p.slice(40).startsWith('00000800')),
    'plain GRE delivered to the stack',
  );
  t.true(
    packets.some((p) => p.slice(40).startsWith('3001880b')),
    'PPTP delivered to the stack',
  );
  const after = byName(lab, b.netns).get('victim')!;
  t.is(after.fastPath!.rxPackets, before.fastPath!.rxPackets, 'nothing unrelated delivered to the tunnel');
  t.is(after.counters.rxPackets, before.counters.rxPackets);
  // The two malformed packets of the victim's own tunnel id and source are counted against it and dropped.
  t.is(after.fastPath!.rxErrors - before.fastPath!.rxErrors, 2, 'frame too short, frame beyond the data');
});

/** The transmit entry of tap `dev` (in `netns`) in the pinned eoip_tx at `pin`, or null. */
function txEntryOf(pin: string, netns: string, dev: string): EoipTx | null {
  const ifindex = (JSON.parse(ip(['-j', 'link', 'show', 'dev', dev], netns)) as { ifindex: number }[])[0]!
    .ifindex;
  const fd = bpf.objGet(pin);
  try {
    const value = bpf.mapLookup(fd, u32Key(ifindex), EOIP_TX_SIZE);
    return value ? decodeTx(value) : null;
  } finally {
    closeFd(fd);
  }
}

function pinsOf(bpffs: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else out.push(join(dir, e.name));
    }
  };
  if (existsSync(join(bpffs, 'greoip'))) walk(join(bpffs, 'greoip'));
  return out;
}

/** The kernel ids behind our pins: each link's program, each map. */
function kernelObjects(pins: string[]): { progs: number[]; maps: number[] } {
  const show = (kind: string, path: string) =>
    JSON.parse(execFileSync('bpftool', ['-j', kind, 'show', 'pinned', path], { encoding: 'utf8' })) as {
      id: number;
      prog_id?: number;
    };
  return {
    progs: pins.filter((p) => /\/link-/.test(p)).map((p) => show('link', p).prog_id!),
    maps: pins.filter((p) => /\/eoip_[a-z]+$/.test(p)).map((p) => show('map', p).id),
  };
}

function exists(kind: 'prog' | 'map', id: number): boolean {
  try {
    execFileSync('bpftool', [kind, 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test.serial(
  'daemon restart and kill -9 under traffic: forwarding continues, the new daemon adopts; removal leaves nothing',
  async (t) => {
    const lab = await ebpfLab(t, 'rst');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    tunnelPair(
      lab,
      'r4',
      7,
      4,
      ['198.51.100.1/24', '198.51.100.2/24'],
      ['mtu', '1458', 'keepalive', '1,30', 'backend', 'ebpf'],
    );
    t.regex(ping(lab, a.netns, '198.51.100.2'), / 0% packet loss/);
    const pinsBefore = pinsOf(lab.bpffs).sort();
    t.true(
      pinsBefore.some((p) => p.endsWith('link-underlay-2-ingress') || /link-underlay-\d+-ingress$/.test(p)),
    );

    // Counters that survive the restart once, not twice: a burst first, so doubling would show.
    t.is(run(lab, a.netns, ['ping', '-q', '-c', '300', '-i', '0.002', '198.51.100.2']).status, 0);
    const txBefore = byName(lab, a.netns).get('r4')!.counters.txPackets;
    // 200 pings at 20 ms while both daemons go away and come back.
    const pinger: ChildProcess = spawn(
      '/usr/sbin/ip',
      ['netns', 'exec', a.netns, 'ping', '-c', '200', '-i', '0.02', '-W', '1', '198.51.100.2'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    t.teardown(() => pinger.kill('SIGKILL'));
    let out = '';
    pinger.stdout!.on('data', (c: Buffer) => (out += c));
    await sleep(500);
    await stopDaemon(lab, b.netns, 'SIGTERM');
    await sleep(500);
    const killed = lab.daemons.get(a.netns)!;
    killed.kill('SIGKILL');
    lab.daemons.delete(a.netns);
    await sleep(500);
    await startDaemon(lab, b.netns);
    await startDaemon(lab, a.netns);
    await new Promise((resolve) => pinger.once('close', resolve));
    const m = / (\d+) received/.exec(out);
    t.truthy(m, out);
    t.true(Number(m![1]) >= 198, `pings answered while the daemons were gone and back: ${m![1]}/200`);
    // The restarted daemons run the same attachments (no re-attach): the same pins, the tunnels listed.
    t.deepEqual(pinsOf(lab.bpffs).sort(), pinsBefore);
    for (const ns of [a.netns, b.netns]) t.is(byName(lab, ns).get('r4')!.backend, 'ebpf');
    const txAfter = byName(lab, a.netns).get('r4')!.counters.txPackets;
    // 200 echo requests plus a few keepalives (1 s interval) since: carried over, counted once.
    t.true(
      txAfter >= txBefore && txAfter <= txBefore + 260,
      `tx ${txBefore} before, ${txAfter} after the restarts`,
    );
    t.regex(ping(lab, a.netns, '198.51.100.2'), / 0% packet loss/);

    // eoip change is a map update: the new TTL is in the tap's transmit entry, the attachments are the same.
    const candidates = pinsOf(lab.bpffs).filter((p) => p.endsWith('/eoip_tx'));
    t.is(candidates.length, 2, 'one pinned eoip_tx per namespace');
    const ttls = () => candidates.map((p) => txEntryOf(p, a.netns, 'r4')?.ttl ?? null);
    t.true(ttls().includes(255) && !ttls().includes(77));
    eoip(lab, a.netns, ['set', 'name', 'r4', 'ttl', '77']);
    // a's entry changed, and only a's (both taps may have the same ifindex in their namespaces).
    t.is(ttls().filter((x) => x === 77).length, 1);
    t.deepEqual(pinsOf(lab.bpffs).sort(), pinsBefore, 'nothing re-attached');
    t.regex(ping(lab, a.netns, '198.51.100.2'), / 0% packet loss/);

    // Removal: eoip del on a, greoip cleanup on b. No pin, attached program or map of ours is left.
    const ours = kernelObjects(pinsOf(lab.bpffs));
    t.is(ours.progs.length, 8, 'tap, segmenter (both ends) and underlay programs on both sides');
    t.is(ours.maps.length, 10, 'five maps on each side');
    eoip(lab, a.netns, ['del', 'name', 'r4']);
    const r = run(lab, b.netns, [process.execPath, GREOIP, 'cleanup']);
    t.is(r.status, 0, r.stderr);
    t.deepEqual(pinsOf(lab.bpffs), [], 'no pins left');
    for (const ns of [a, b]) t.notRegex(ip(['link', 'show'], ns.netns), /eseg/, 'segmenter veths removed');
    for (const id of ours.progs) t.false(exists('prog', id), `program ${id} unloaded`);
    for (const id of ours.maps) t.false(exists('map', id), `map ${id} freed`);
  },
);
