#!/usr/bin/env node
/**
 * The userland EoIP datapath against plain veth and against a one-packet-per-
 * syscall C forwarder (bench/forwarder/eoip-fwd.c), between two network
 * namespaces joined by veth (underlay MTU 1500). Root only.
 *
 *   npm run bench:userland [-- --rounds N --seconds S --out DIR]
 *
 * Each round measures every path once, in the same namespaces:
 *   veth       iperf3 and ping between the underlay addresses (the baseline)
 *   eoip       greoip EoIP (IPv4 underlay), a daemon in each namespace
 *   eoipv6     greoip EoIPv6 (IPv6 underlay)
 *   forwarder  eoip-fwd on both ends (EoIP, IPv4 underlay)
 * Figures: iperf3 TCP at tunnel MTU 1500 (the outer packets fragment) and
 * 1458 (they do not); iperf3 UDP packets/s with 18-byte payloads (64-byte
 * frames); ping RTT at 5/s and 200/s; CPU seconds of the tunnel processes
 * (both ends) per GB moved by the TCP 1500 run. Ratios are taken within a
 * round; the table gives the median and the min-max of the rounds. Then,
 * once: the RSS of one daemon with 1 and with 1000 tunnels configured.
 * Writes DIR/userland.{json,md,svg} (default bench/results).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { barChart } from './svg.mjs';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    out: { type: 'string', default: new URL('./results', import.meta.url).pathname },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const ROOT = new URL('..', import.meta.url).pathname;
const GREOIP = join(ROOT, 'dist/cli/greoip.js');
const EOIP = join(ROOT, 'dist/cli/eoip.js');
const IP = '/usr/sbin/ip';
const TICKS_PER_SECOND = 100;

if (process.getuid?.() !== 0) {
  process.stderr.write('bench:userland needs root (network namespaces, taps, raw sockets)\n');
  process.exit(1);
}

const id = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
const NS = { a: `bu-a-${id}`, b: `bu-b-${id}` };
const UNDER = { a: { v4: '192.0.2.1', v6: '2001:db8:b0::1' }, b: { v4: '192.0.2.2', v6: '2001:db8:b0::2' } };
const INNER = { a: '198.51.100.1', b: '198.51.100.2' };
const work = mkdtempSync(join(tmpdir(), 'greoip-bench-userland-'));
const children = new Set();

function sh(argv, opts = {}) {
  return execFileSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
}
const inNs = (ns, argv, opts) => sh([IP, 'netns', 'exec', ns, ...argv], opts);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function spawnNs(ns, argv, env = process.env) {
  const child = spawn(IP, ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.log = '';
  child.stderr.on('data', (c) => (child.log += c));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([gone, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of Object.values(NS)) {
    try {
      for (const pid of sh([IP, 'netns', 'pids', ns]).split(/\s+/).filter(Boolean))
        process.kill(Number(pid), 'SIGKILL');
    } catch {}
    try {
      sh([IP, 'netns', 'del', ns]);
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function setupNamespaces() {
  for (const ns of Object.values(NS)) sh([IP, 'netns', 'add', ns]);
  sh([IP, 'link', 'add', 'veth-a', 'netns', NS.a, 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', NS.b]);
  for (const side of ['a', 'b']) {
    const ns = NS[side];
    const dev = `veth-${side}`;
    inNs(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    inNs(ns, [IP, 'link', 'set', 'lo', 'up']);
    inNs(ns, [IP, 'addr', 'add', `${UNDER[side].v4}/24`, 'dev', dev]);
    inNs(ns, [IP, 'addr', 'add', `${UNDER[side].v6}/64`, 'dev', dev, 'nodad']);
    inNs(ns, [IP, 'link', 'set', dev, 'up']);
  }
}

function buildForwarder() {
  const bin = join(work, 'eoip-fwd');
  sh(['cc', '-O2', '-pthread', '-o', bin, join(ROOT, 'bench/forwarder/eoip-fwd.c')]);
  return bin;
}

/** utime + stime of a process in seconds. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

async function iperf(target, extra) {
  const server = spawnNs(NS.b, ['iperf3', '-s', '-1', '-B', target]);
  await sleep(300);
  try {
    return JSON.parse(
      inNs(NS.a, ['iperf3', '-c', target, '-t', String(SECONDS), '-J', ...extra], {
        timeout: (SECONDS + 30) * 1000,
      }),
    );
  } finally {
    await stop(server);
  }
}

async function tcpMbps(target, pids) {
  const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const r = await iperf(target, []);
  const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
  const bytes = r.end.sum_received.bytes;
  return {
    mbps: r.end.sum_received.bits_per_second / 1e6,
    cpuPerGb: pids.length ? cpu / (bytes / 1e9) : null,
  };
}

async function udpPps(target) {
  const r = await iperf(target, ['-u', '-l', '18', '-b', '0']);
  const s = r.end.sum;
  return (s.packets - s.lost_packets) / s.seconds;
}

function pingMs(target, interval, count) {
  const out = inNs(NS.a, ['ping', '-q', '-i', String(interval), '-c', String(count), '-W', '1', target]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  return m ? Number(m[1]) : Number.NaN;
}

async function measurePath(target, pids, setMtu) {
  const tcp1500 = await tcpMbps(target, pids);
  let tcp1458 = null;
  if (setMtu) {
    setMtu(1458);
    tcp1458 = (await tcpMbps(target, pids)).mbps;
    setMtu(1500);
  }
  return {
    tcp1500: tcp1500.mbps,
    tcp1458,
    udpPps: await udpPps(target),
    rtt5: pingMs(target, 0.2, 25),
    rtt200: pingMs(target, 0.005, 400),
    cpuPerGb: tcp1500.cpuPerGb,
  };
}

function env(side) {
  return { ...process.env, GREOIP_RUNTIME_DIR: join(work, `run-${side}`) };
}

async function startDaemons() {
  const daemons = {};
  for (const side of ['a', 'b']) {
    mkdirSync(join(work, `run-${side}`), { recursive: true });
    daemons[side] = spawnNs(NS[side], [process.execPath, GREOIP, 'daemon'], env(side));
  }
  for (let i = 0; i < 100 && !['a', 'b'].every((s) => daemons[s].log.includes('started')); i++)
    await sleep(100);
  return daemons;
}

function tunnelDev(side, name, family, mtu) {
  const peer = side === 'a' ? 'b' : 'a';
  const under = family === 4 ? 'v4' : 'v6';
  inNs(
    NS[side],
    [
      process.execPath,
      EOIP,
      'add',
      'name',
      name,
      'tid',
      '7',
      'local',
      UNDER[side][under],
      'remote',
      UNDER[peer][under],
      'keepalive',
      'none',
      'mtu',
      String(mtu),
    ],
    { env: env(side) },
  );
  inNs(NS[side], [IP, 'addr', 'add', `${INNER[side]}/24`, 'dev', name]);
  inNs(NS[side], [IP, 'link', 'set', name, 'up']);
}

async function greoipPath(family) {
  const daemons = await startDaemons();
  const name = family === 4 ? 'e4' : 'e6';
  for (const side of ['a', 'b']) tunnelDev(side, name, family, 1500);
  const setMtu = (mtu) => {
    for (const side of ['a', 'b'])
      inNs(NS[side], [process.execPath, EOIP, 'set', 'name', name, 'mtu', String(mtu)], { env: env(side) });
  };
  pingMs(INNER.b, 0.2, 3);
  try {
    return await measurePath(INNER.b, [daemons.a.pid, daemons.b.pid], setMtu);
  } finally {
    for (const side of ['a', 'b']) {
      inNs(NS[side], [process.execPath, EOIP, 'del', 'name', name], { env: env(side) });
      await stop(daemons[side]);
    }
  }
}

async function forwarderPath(bin) {
  const fwd = {};
  for (const side of ['a', 'b']) {
    const peer = side === 'a' ? 'b' : 'a';
    inNs(NS[side], [IP, 'tuntap', 'add', 'name', 'f0', 'mode', 'tap']);
    fwd[side] = spawnNs(NS[side], [bin, 'f0', UNDER[side].v4, UNDER[peer].v4, '7']);
    inNs(NS[side], [IP, 'addr', 'add', `${INNER[side]}/24`, 'dev', 'f0']);
    inNs(NS[side], [IP, 'link', 'set', 'f0', 'up']);
  }
  await sleep(300);
  const setMtu = (mtu) => {
    for (const side of ['a', 'b']) inNs(NS[side], [IP, 'link', 'set', 'f0', 'mtu', String(mtu)]);
  };
  pingMs(INNER.b, 0.2, 3);
  try {
    return await measurePath(INNER.b, [fwd.a.pid, fwd.b.pid], setMtu);
  } finally {
    for (const side of ['a', 'b']) {
      await stop(fwd[side]);
      inNs(NS[side], [IP, 'link', 'del', 'f0']);
    }
  }
}

async function daemonRss() {
  const file = join(work, 'tunnels.yaml');
  const config = (n) => {
    const lines = ['tunnels:'];
    for (let i = 0; i < n; i++)
      lines.push(`  - name: r${i}`, `    tid: ${i + 1}`, `    remote: ${UNDER.b.v4}`);
    return `${lines.join('\n')}\n`;
  };
  const out = {};
  for (const n of [1, 1000]) {
    writeFileSync(file, config(n));
    const d = spawnNs(NS.a, [process.execPath, GREOIP, 'daemon', '--config', file], env('a'));
    for (let i = 0; i < 6000 && !d.log.includes('started'); i++) await sleep(100);
    await sleep(2000);
    out[n] = rssKb(d.pid) / 1024;
    const gone = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    await gone;
    inNs(NS.a, [process.execPath, GREOIP, 'cleanup'], { env: env('a') });
  }
  return out;
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function main() {
  const load = loadavg()[0];
  setupNamespaces();
  const bin = buildForwarder();
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const veth = await measurePath(UNDER.b.v4, [], null);
    const eoip = await greoipPath(4);
    const eoipv6 = await greoipPath(6);
    const forwarder = await forwarderPath(bin);
    rounds.push({ veth, eoip, eoipv6, forwarder });
    process.stderr.write(`round ${r + 1}: ${JSON.stringify(rounds[r])}\n`);
  }
  const rss = await daemonRss();
  const paths = ['eoip', 'eoipv6', 'forwarder'];
  const figure = (path, key) => stats(rounds.map((x) => x[path][key]));
  const ratio = (path, key, base, baseKey = key) => stats(rounds.map((x) => x[path][key] / x[base][baseKey]));
  const added = (path, key) => stats(rounds.map((x) => x[path][key] - x.veth[key]));
  const summary = {
    veth: {
      tcp1500: figure('veth', 'tcp1500'),
      udpPps: figure('veth', 'udpPps'),
      rtt5: figure('veth', 'rtt5'),
      rtt200: figure('veth', 'rtt200'),
    },
  };
  for (const p of paths) {
    summary[p] = {
      tcp1500: figure(p, 'tcp1500'),
      tcp1458: figure(p, 'tcp1458'),
      udpPps: figure(p, 'udpPps'),
      tcp1500OfVeth: ratio(p, 'tcp1500', 'veth'),
      tcp1458OfVeth: ratio(p, 'tcp1458', 'veth', 'tcp1500'),
      tcp1500OfForwarder: ratio(p, 'tcp1500', 'forwarder'),
      tcp1458OfForwarder: ratio(p, 'tcp1458', 'forwarder'),
      udpOfForwarder: ratio(p, 'udpPps', 'forwarder'),
      addedRtt5: added(p, 'rtt5'),
      addedRtt200: added(p, 'rtt200'),
      cpuPerGb: figure(p, 'cpuPerGb'),
    };
  }
  const report = {
    command: 'npm run bench:userland',
    date: new Date().toISOString(),
    machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`,
    kernel: release(),
    loadAverageAtStart: load,
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    mtus: 'underlay veth 1500; tunnel MTU 1500 (outer packets fragment) and 1458 (they do not)',
    offloads:
      'veth: kernel defaults; greoip taps: IFF_VNET_HDR with checksum, TSO and USO as the kernel takes them (mode in eoip list), superframes segmented in TypeScript, no receive coalescing yet; eoip-fwd: none',
    perRound: rounds,
    summary,
    daemonRssMb: rss,
  };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'userland.json'), `${JSON.stringify(report, null, 2)}\n`);
  const f = (s, d = 0, scale = 1) =>
    `${(s.median * scale).toFixed(d)} (${(s.min * scale).toFixed(d)}-${(s.max * scale).toFixed(d)})`;
  const rows = [
    `| plain veth (baseline) | ${f(summary.veth.tcp1500)} | - | ${f(summary.veth.udpPps, 1, 1e-3)} k | ${f(summary.veth.rtt5, 3)} | ${f(summary.veth.rtt200, 3)} | - |`,
    ...paths.map((p) => {
      const s = summary[p];
      return `| ${p === 'forwarder' ? 'C forwarder, 1 pkt/syscall' : `greoip ${p}`} | ${f(s.tcp1500)} = ${f(s.tcp1500OfVeth, 3)} of veth, ${f(s.tcp1500OfForwarder, 2)}x fwd | ${f(s.tcp1458)} = ${f(s.tcp1458OfVeth, 3)} of veth, ${f(s.tcp1458OfForwarder, 2)}x fwd | ${f(s.udpPps, 1, 1e-3)} k = ${f(s.udpOfForwarder, 2)}x fwd | +${f(s.addedRtt5, 3)} | +${f(s.addedRtt200, 3)} | ${f(s.cpuPerGb, 1)} |`;
    }),
  ];
  const table = [
    '| path | TCP Mbit/s, tunnel MTU 1500 | TCP Mbit/s, tunnel MTU 1458 | UDP 64-byte frames, pkt/s | RTT ms at 5/s (added) | RTT ms at 200/s (added) | CPU s per GB (both ends) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  writeFileSync(
    join(args.out, 'userland.md'),
    `# Userland EoIP datapath\n\n\`${report.command}\` on ${report.machine}, kernel ${report.kernel}, ${report.date}; load average ${load.toFixed(2)} at the start (the machine is shared). ${ROUNDS} rounds, ${SECONDS} s per iperf3 run; each cell is the median (min-max) of the rounds, ratios taken within a round.\n\nMTUs: ${report.mtus}. Offloads: ${report.offloads}.\n\n${table}\n\nDaemon RSS: ${rss[1].toFixed(1)} MB with 1 tunnel, ${rss[1000].toFixed(1)} MB with 1000 tunnels.\n\n![chart](userland.svg)\n`,
  );
  writeFileSync(
    join(args.out, 'userland.svg'),
    barChart({
      title: 'TCP throughput through the tunnel, share of plain veth (higher is better)',
      unit: 'fraction of plain veth',
      decimals: 3,
      groups: ['tunnel MTU 1500', 'tunnel MTU 1458'],
      series: paths.map((p) => ({
        name: p === 'forwarder' ? 'C forwarder' : `greoip ${p}`,
        values: [summary[p].tcp1500OfVeth.median, summary[p].tcp1458OfVeth.median],
        low: [summary[p].tcp1500OfVeth.min, summary[p].tcp1458OfVeth.min],
        high: [summary[p].tcp1500OfVeth.max, summary[p].tcp1458OfVeth.max],
      })),
      footer: `${report.machine}; kernel ${report.kernel}; ${report.date.slice(0, 10)}; median of ${ROUNDS} rounds`,
    }),
  );
  process.stdout.write(`${table}\n\nwritten: ${args.out}/userland.{json,md,svg}\n`);
}

try {
  await main();
} finally {
  cleanup();
}
