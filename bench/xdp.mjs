#!/usr/bin/env node
/**
 * Cost per packet of the eBPF keepalive programs, in ns as BPF_PROG_TEST_RUN
 * reports it, beside a baseline measured in the same run: an XDP program that
 * only returns XDP_PASS, timed the same way on the same bytes.
 *
 *   npm run build && node bench/xdp.mjs [--single N] [--repeat N] [--out DIR]
 *
 * Reply path: `repeat` does not restore the packet after a program rewrites
 * it (a reply), so later repetitions would time the miss path; it is timed as
 * N single runs instead (each one's kernel duration, averaged). Pass path (a
 * GRE data packet the programs let through): one run with a large repeat.
 * Needs root. Writes DIR/xdp.{json,md,svg}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart } from './svg.mjs';

const { values: args } = parseArgs({
  options: {
    single: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '200000' },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
  },
});
const SINGLE = Number(args.single);
const REPEAT = Number(args.repeat);

if (process.getuid?.() !== 0) {
  process.stderr.write('bench/xdp.mjs: needs root (BPF_PROG_TEST_RUN)\n');
  process.exit(1);
}

const { bpf, build, ipv4, ipv6, ethernet } = await import('../dist/index.js');
const A = ipv4.parseAddress('192.0.2.1');
const B = ipv4.parseAddress('198.51.100.2');
const A6 = ipv6.parseAddress('2001:db8::1');
const B6 = ipv6.parseAddress('2001:db8::2');
const eth = (ip, type) => build.ethernetFrame(0x020000000002, 0x020000000001, type, ip);
const request4 = build.greKeepaliveRequest4(A, B);
const request6 = build.greKeepaliveRequest6(A6, B6);
const data4 = build.ipv4Packet(
  { src: A, dst: B },
  47,
  build.grePayload({ protocol: 0x0800 }, build.ipv4Packet({ src: 1, dst: 2 }, 17, new Uint8Array(1400))),
);

const CASES = [
  {
    prog: 'keepalive_underlay',
    short: 'underlay, GRE',
    label: 'underlay NIC, GRE keepalive',
    reply: eth(request4, ethernet.EtherType.IPV4),
    pass: eth(data4, ethernet.EtherType.IPV4),
  },
  {
    prog: 'keepalive_underlay',
    short: 'underlay, GRE6',
    label: 'underlay NIC, GRE6 keepalive',
    reply: eth(request6, ethernet.EtherType.IPV6),
    pass: eth(data4, ethernet.EtherType.IPV4),
  },
  {
    prog: 'keepalive_gre',
    short: 'gre, outer',
    label: 'gre device, outer headers (< 5.14)',
    reply: request4,
    pass: data4,
  },
  {
    prog: 'keepalive_gre',
    short: 'gre, inner',
    label: 'gre device, inner packet (5.14+)',
    reply: request4.subarray(24),
    pass: data4.subarray(24),
  },
  {
    prog: 'keepalive_gre6',
    short: 'ip6gre, outer',
    label: 'ip6gre device, outer headers',
    reply: request6,
    pass: data4,
  },
];

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const runners = new Map();
async function runner(prog) {
  if (!runners.has(prog)) runners.set(prog, await bpf.BpfTestRunner.open(bpf.bpfObjectPath(prog), 'xdp'));
  return runners.get(prog);
}

async function singles(prog, packet) {
  const r = await runner(prog);
  const results = await r.runManyCounted(
    prog,
    Array.from({ length: SINGLE }, () => packet),
  );
  return { ns: mean(results.map((x) => x.durationNs)), retval: results[0].retval };
}

const rows = [];
try {
  for (const c of CASES) {
    const reply = await singles(c.prog, c.reply);
    const replyBase = await singles('xdp_pass', c.reply);
    const pass = await (await runner(c.prog)).timeRun(c.prog, c.pass, REPEAT);
    const passBase = await (await runner('xdp_pass')).timeRun('xdp_pass', c.pass, REPEAT);
    if (reply.retval !== 3) throw new Error(`${c.label}: expected XDP_TX, got ${reply.retval}`);
    rows.push({ ...c, replyNs: reply.ns, replyBaseNs: replyBase.ns, passNs: pass, passBaseNs: passBase });
  }
} finally {
  for (const r of runners.values()) await r.close();
}

const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Linux ${release()}`;
const report = {
  command: 'node bench/xdp.mjs',
  date: new Date().toISOString(),
  machine,
  singleRuns: SINGLE,
  repeat: REPEAT,
  results: rows.map((r) => ({
    program: r.prog,
    short: r.short,
    case: r.label,
    replyNs: r.replyNs,
    replyBaselineNs: r.replyBaseNs,
    replyRatio: r.replyNs / r.replyBaseNs,
    passNs: r.passNs,
    passBaselineNs: r.passBaseNs,
    passRatio: r.passNs / r.passBaseNs,
  })),
};
mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/xdp.json`, `${JSON.stringify(report, null, 2)}\n`);
const table = [
  '| program | case | reply path ns (XDP_PASS baseline) | ratio | pass path ns (XDP_PASS baseline) | ratio |',
  '|---|---|---|---|---|---|',
  ...report.results.map(
    (r) =>
      `| ${r.program} | ${r.case} | ${r.replyNs.toFixed(0)} (${r.replyBaselineNs.toFixed(0)}) | ${r.replyRatio.toFixed(2)} | ${r.passNs.toFixed(1)} (${r.passBaselineNs.toFixed(1)}) | ${r.passRatio.toFixed(2)} |`,
  ),
].join('\n');
writeFileSync(
  `${args.out}/xdp.md`,
  `# eBPF keepalive programs: cost per packet\n\n\`${report.command}\` on ${machine}, ${report.date}. Reply path: mean of ${SINGLE} single BPF_PROG_TEST_RUN runs (repeat 1, since a reply rewrites the packet). Pass path: one run with repeat ${REPEAT}. Baseline: \`xdp_pass.o\` on the same bytes, same method.\n\n${table}\n\n![chart](xdp.svg)\n`,
);
writeFileSync(
  `${args.out}/xdp.svg`,
  barChart({
    title: 'Keepalive XDP programs vs XDP_PASS (ns per packet, lower is better)',
    unit: 'ns per packet',
    groups: report.results.map((r) => r.short),
    series: [
      { name: 'XDP_PASS, single runs', values: report.results.map((r) => r.replyBaselineNs) },
      { name: 'reply path, single runs', values: report.results.map((r) => r.replyNs) },
      { name: 'XDP_PASS, repeat', values: report.results.map((r) => r.passBaselineNs) },
      { name: 'pass path, repeat', values: report.results.map((r) => r.passNs) },
    ],
    footer: `${machine}; ${report.date.slice(0, 10)}`,
  }),
);
process.stdout.write(`${table}\n\nwritten: ${args.out}/xdp.{json,md,svg}\n`);
