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
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { barChart } from './svg.mjs';
import { createBed, GREOIP, INNER, requireRoot, rssKb, sleep, UNDER } from './userland-net.mjs';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    out: { type: 'string', default: new URL('./results', import.meta.url).pathname },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);

requireRoot('bench:userland');
const bed = createBed({ seconds: SECONDS });
const { NS } = bed;

async function measurePath(target, pids, setMtu) {
  const tcp1500 = await bed.tcpMbps(target, pids);
  let tcp1458 = null;
  if (setMtu) {
    setMtu(1458);
    tcp1458 = (await bed.tcpMbps(target, pids)).mbps;
    setMtu(1500);
  }
  return {
    tcp1500: tcp1500.mbps,
    tcp1458,
    udpPps: await bed.udpPps(target),
    rtt5: bed.pingMs(target, 0.2, 25),
    rtt200: bed.pingMs(target, 0.005, 400),
    cpuPerGb: tcp1500.cpuPerGb,
  };
}

async function measureTunnel(path) {
  try {
    return await measurePath(INNER.b, path.pids, path.setMtu);
  } finally {
    await path.close();
  }
}

async function daemonRss() {
  const file = join(bed.work, 'tunnels.yaml');
  const config = (n) => {
    const lines = ['tunnels:'];
    for (let i = 0; i < n; i++)
      lines.push(`  - name: r${i}`, `    tid: ${i + 1}`, `    remote: ${UNDER.b.v4}`);
    return `${lines.join('\n')}\n`;
  };
  const out = {};
  for (const n of [1, 1000]) {
    writeFileSync(file, config(n));
    const d = bed.spawnNs(NS.a, [process.execPath, GREOIP, 'daemon', '--config', file], bed.daemonEnv('a'));
    for (let i = 0; i < 6000 && !d.log.includes('started'); i++) await sleep(100);
    await sleep(2000);
    out[n] = rssKb(d.pid) / 1024;
    const gone = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    await gone;
    bed.inNs(NS.a, [process.execPath, GREOIP, 'cleanup'], { env: bed.daemonEnv('a') });
  }
  return out;
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function main() {
  const load = loadavg()[0];
  bed.setup();
  const bin = bed.buildForwarder();
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const veth = await measurePath(UNDER.b.v4, [], null);
    const eoip = await measureTunnel(await bed.greoip(4));
    const eoipv6 = await measureTunnel(await bed.greoip(6));
    const forwarder = await measureTunnel(await bed.forwarder(bin));
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
    mtus: 'underlay veth 1500; tunnel MTU 1500 (outer packets fragment) and 1458 (EoIP packets do not; EoIPv6 ones, 14 bytes longer, still do: 1444 is its unfragmented MTU)',
    offloads:
      'veth: kernel defaults; greoip taps: IFF_VNET_HDR with checksum, TSO and USO as the kernel takes them (mode in eoip list), superframes segmented and received TCP segments coalesced in TypeScript; eoip-fwd: none',
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
  bed.cleanup();
}
