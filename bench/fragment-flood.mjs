#!/usr/bin/env node
/**
 * An EoIP tunnel under a flood of spoofed GRE fragments (issue 12, defect 7):
 * reverse iperf3 TCP through the tunnel, as a ratio of the same tunnel's
 * throughput without the flood measured in the same round, at MTU 1500 (outer
 * packets fragmented) with the kernel's default reassembly limits and with a
 * reassembly budget for the flood, and at MTU 1458 (no fragments).
 *
 *   npm run build && node bench/fragment-flood.mjs [--pps N] [--seconds S] [--rounds N] [--out DIR]
 *
 * Needs root: two namespaces joined by veth (removed at the end), a greoip
 * daemon in each, the flood from test/faults/frag-flood.ts (through tsx) in
 * the sender's namespace. Writes DIR/fragment-flood.{json,md,svg}.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart } from './svg.mjs';

const { values: args } = parseArgs({
  options: {
    pps: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
  },
});
const PPS = Number(args.pps);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const EOIP = join(REPO, 'dist/cli/eoip.js');
const FLOOD = join(REPO, 'test/faults/frag-flood.ts');
const NS = { a: `greoip-bench-fa-${process.pid}`, b: `greoip-bench-fb-${process.pid}` };
// Each measurement gets fresh namespaces: reassembly queues a flood left behind cannot be flushed.
const ADDR = { a: '192.0.2.1', b: '192.0.2.2' };
const INNER = { a: '198.51.100.1', b: '198.51.100.2' };
const BUDGET = { high: 128 << 20, time: 1 };
const runtime = mkdtempSync(join(tmpdir(), 'greoip-bench-'));
const env = { ...process.env, GREOIP_RUNTIME_DIR: runtime };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sh = (ns, argv) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', env });

function setup(mtu, limits) {
  for (const ns of Object.values(NS)) execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', [
    'link',
    'add',
    'va',
    'netns',
    NS.a,
    'type',
    'veth',
    'peer',
    'name',
    'vb',
    'netns',
    NS.b,
  ]);
  for (const side of ['a', 'b']) {
    const dev = side === 'a' ? 'va' : 'vb';
    sh(NS[side], ['ip', 'link', 'set', 'lo', 'up']);
    sh(NS[side], ['ip', 'addr', 'add', `${ADDR[side]}/24`, 'dev', dev]);
    sh(NS[side], ['ip', 'link', 'set', dev, 'up']);
    const peer = side === 'a' ? 'b' : 'a';
    if (side === 'a') {
      const sysctls = [`net.ipv4.ipfrag_high_thresh=${limits.high}`, `net.ipv4.ipfrag_time=${limits.time}`];
      sh(NS.a, ['sysctl', '-qw', ...sysctls]);
    }
    const tunnel = ['name', 'ff', 'tid', '7', 'local', ADDR[side], 'remote', ADDR[peer], 'mtu', String(mtu)];
    sh(NS[side], [process.execPath, EOIP, 'add', ...tunnel, 'keepalive', 'none']);
    sh(NS[side], ['ip', 'addr', 'add', `${INNER[side]}/24`, 'dev', 'ff']);
    sh(NS[side], ['ip', 'link', 'set', 'ff', 'up']);
  }
}

function teardown() {
  for (const ns of Object.values(NS)) {
    try {
      for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean)) {
        process.kill(Number(pid), 'SIGKILL');
      }
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // gone
    }
  }
}

/** One case: the tunnel's MTU and a's reassembly limits set, the flood on or off; reverse iperf3 Mbit/s. */
async function measure(mtu, flood, budget) {
  setup(mtu, budget ? BUDGET : { high: 4 << 20, time: 30 });
  const server = spawn('ip', ['netns', 'exec', NS.b, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  await sleep(300);
  let sender = null;
  if (flood) {
    sender = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS.b,
        process.execPath,
        '--import',
        'tsx',
        FLOOD,
        JSON.stringify({ dst: ADDR.a, pps: PPS, seconds: SECONDS + 3 }),
      ],
      { stdio: 'ignore', cwd: REPO },
    );
    await sleep(1500);
  }
  let mbps = 0;
  try {
    const out = JSON.parse(
      sh(NS.a, ['iperf3', '-c', INNER.b, '-R', '-t', String(SECONDS), '-J', '--connect-timeout', '3000']),
    );
    mbps = out.end.sum_received.bits_per_second / 1e6;
  } catch {
    // No connection at all through a stalled tunnel.
    mbps = 0;
  }
  sender?.kill('SIGKILL');
  server.kill('SIGKILL');
  teardown();
  await sleep(300);
  return mbps;
}

const CASES = [
  { key: 'mtu1500', label: 'MTU 1500, default limits', mtu: 1500, budget: false },
  {
    key: 'budget',
    label: `MTU 1500, budget ${BUDGET.high >> 20} MiB / ${BUDGET.time} s`,
    mtu: 1500,
    budget: true,
  },
  { key: 'mtu1458', label: 'MTU 1458', mtu: 1458, budget: false },
];

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

try {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = {};
    for (const c of CASES) {
      const clean = await measure(c.mtu, false, c.budget);
      const flooded = await measure(c.mtu, true, c.budget);
      round[c.key] = { clean, flooded, ratio: clean > 0 ? flooded / clean : 0 };
    }
    rounds.push(round);
    console.error(`round ${r + 1}: ${JSON.stringify(round)}`);
  }
  const summary = CASES.map((c) => ({
    case: c.label,
    cleanMbps: median(rounds.map((r) => r[c.key].clean)),
    floodedMbps: median(rounds.map((r) => r[c.key].flooded)),
    ratio: median(rounds.map((r) => r[c.key].ratio)),
    ratioMin: Math.min(...rounds.map((r) => r[c.key].ratio)),
    ratioMax: Math.max(...rounds.map((r) => r[c.key].ratio)),
  }));
  mkdirSync(args.out, { recursive: true });
  const meta = {
    pps: PPS,
    seconds: SECONDS,
    rounds: ROUNDS,
    budget: BUDGET,
    command: 'node bench/fragment-flood.mjs',
  };
  writeFileSync(
    join(args.out, 'fragment-flood.json'),
    `${JSON.stringify({ meta, summary, rounds }, null, 2)}\n`,
  );
  const rows = summary.map(
    (s) =>
      `| ${s.case} | ${s.cleanMbps.toFixed(0)} | ${s.floodedMbps.toFixed(0)} | ${s.ratio.toFixed(2)} (${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)}) |`,
  );
  writeFileSync(
    join(args.out, 'fragment-flood.md'),
    `# EoIP under a spoofed GRE fragment flood\n\n\`node bench/fragment-flood.mjs\`: reverse iperf3 TCP through an EoIP tunnel between two namespaces, with and without ${PPS} spoofed 1500-byte first fragments per second at the receiver; median of ${ROUNDS} rounds of ${SECONDS} s, ratio flooded / clean within each round (min–max).\n\n| case | clean Mbit/s | flooded Mbit/s | ratio |\n|---|---|---|---|\n${rows.join('\n')}\n\n![chart](fragment-flood.svg)\n`,
  );
  writeFileSync(
    join(args.out, 'fragment-flood.svg'),
    barChart({
      title: `EoIP throughput under ${PPS} spoofed fragments/s, relative to no flood`,
      unit: 'ratio',
      groups: summary.map((s) => s.case),
      series: [
        {
          name: 'flooded / clean',
          values: summary.map((s) => s.ratio),
          low: summary.map((s) => s.ratioMin),
          high: summary.map((s) => s.ratioMax),
        },
      ],
      decimals: 2,
    }),
  );
  console.log(rows.join('\n'));
} finally {
  teardown();
  rmSync(runtime, { recursive: true, force: true });
}
