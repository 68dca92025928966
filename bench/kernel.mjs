#!/usr/bin/env node
/**
 * The kernel path for EoIP (kmod/: eoip.ko, eoipv6.ko) against plain veth and Linux's own gretap,
 * kernel to kernel between two network namespaces inside one qemu guest, on each lab kernel (Debian's
 * 6.1 and 6.12, the kernel lab of test/kernel/): one boot per kernel, every path measured in it.
 *
 *   npm run bench:kernel [-- --rounds N] [--seconds S] [--udp-len BYTES] [--clock icount|host]
 *                        [--kernel VERSION]... [--out DIR]
 *
 * Paths (bench/kernel-guest.sh): veth va/vb; eoip e4, eoipv6 e6, gretap g4 and gretap-nogso g5 (key
 * 5, `ethtool -K g5 gso off tso off`: one outer packet per wire frame, as EoIP sends) over that veth,
 * each at the MTU that needs no outer fragments. eoip / gretap-nogso separates "EoIP cannot pass 64 KB
 * superpackets through the veth" (gretap with GSO can) from "our per-packet path is slower". Each
 * round runs, per path in turn, iperf3 TCP (Mbit/s at the receiver) and iperf3 UDP with small
 * payloads as fast as it can send (datagrams delivered per second). Ratios are per round (every path
 * was measured in that round), reported as median (min-max) over the rounds.
 *
 * The guest runs under TCG, an emulator: absolute speeds say nothing about real hardware, so only
 * ratios are reported. `--clock icount` (default) runs qemu with -icount: the guest's clock counts
 * executed instructions, so iperf3's seconds measure guest work, not how busy the host is;
 * `--clock host` uses the host's clock (figures then move with host load).
 *
 * Needs what the kernel lab needs (scripts/setup.sh: qemu, both kernels' images and headers).
 * Writes DIR/kernel.{json,md,svg} (icount) or DIR/kernel-hostclock.{json,md,svg} (host clock).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildKmod, kmodGuestFiles } from '../test/kernel/kmod.ts';
import { findKernel, labKernels, runInGuest } from '../test/kernel/lab.ts';
import { spread } from './stats.mjs';
import { barChart } from './svg.mjs';

const USAGE = `usage: npm run bench:kernel [-- OPTIONS]
  --rounds N        rounds; every path is measured once per round (default 5)
  --seconds S       iperf3 duration per measurement, guest seconds (default 2)
  --udp-len BYTES   UDP payload bytes for the packets-per-second test (default 18: 64-byte frames)
  --clock icount|host
                    guest clock: instruction-counted (default) or the host's
  --shift N         icount shift: one guest instruction takes 2^N ns (default 1)
  --kernel VERSION  an installed kernel, exactly (repeatable; default: every lab kernel,
                    GREOIP_KERNEL_VERSION or each installed one)
  --out DIR         where the results go (default bench/results)`;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '2' },
    'udp-len': { type: 'string', default: '18' },
    clock: { type: 'string', default: 'icount' },
    shift: { type: 'string', default: '1' },
    kernel: { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function intOption(name, min, max) {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    process.stderr.write(
      `bench/kernel.mjs: --${name} must be an integer from ${min} to ${max}, got '${args[name]}'\n${USAGE}\n`,
    );
    process.exit(2);
  }
  return v;
}
const ROUNDS = intOption('rounds', 1, 50);
const SECONDS = intOption('seconds', 1, 60);
const UDP_LEN = intOption('udp-len', 1, 1400);
const SHIFT = intOption('shift', 0, 10);
if (args.clock !== 'icount' && args.clock !== 'host') {
  process.stderr.write(`bench/kernel.mjs: --clock must be icount or host, got '${args.clock}'\n${USAGE}\n`);
  process.exit(2);
}
const ICOUNT = args.clock === 'icount';

const PATHS = ['veth', 'eoip', 'eoipv6', 'gretap', 'gretap-nogso'];
const TESTS = [
  { id: 'tcp', title: 'TCP throughput', unit: 'Mbit/s' },
  { id: 'udp', title: `UDP ${UDP_LEN}-byte payloads`, unit: 'datagrams/s' },
];
/** Each ratio is numerator path / denominator path, within one round. */
const RATIOS = [
  ['eoip', 'veth'],
  ['eoipv6', 'veth'],
  ['gretap', 'veth'],
  ['gretap-nogso', 'veth'],
  ['eoip', 'gretap'],
  ['eoip', 'gretap-nogso'],
  ['eoipv6', 'gretap-nogso'],
];

const kernels = args.kernel.length > 0 ? args.kernel.map((v) => findKernel(v)) : labKernels();
const qemuArgs = ICOUNT ? ['-icount', `shift=${SHIFT},sleep=off`] : [];

/** One boot on `kernel`: every path, every round; the figures and their ratios. */
async function measure(kernel) {
  const kmod = buildKmod(kernel);
  const started = Date.now();
  const run = await runInGuest({
    kernel,
    script: readFileSync(fileURLToPath(new URL('./kernel-guest.sh', import.meta.url)), 'utf8'),
    files: {
      '/lab/bench.env': `ROUNDS=${ROUNDS}\nSECS=${SECONDS}\nUDP_LEN=${UDP_LEN}\nPATHS='${PATHS.join(' ')}'\n`,
      ...kmodGuestFiles(kmod),
    },
    qemuArgs,
    // Under TCG a guest second takes a few host seconds; generous, the figures do not depend on it.
    timeoutMs: (120 + ROUNDS * PATHS.length * TESTS.length * (SECONDS + 4) * 12) * 1000,
  });

  const failed = run.results.filter((r) => !r.ok);
  if (run.scriptStatus !== 0 || failed.length > 0) {
    process.stderr.write(run.output.split('\n').slice(-40).join('\n'));
    for (const f of failed) process.stderr.write(`\nFAIL ${f.name} ${f.detail}`);
    process.stderr.write(
      `\nbench/kernel.mjs: the guest (${kernel.version}) reported failures (script status ${run.scriptStatus})\n`,
    );
    process.exit(1);
  }

  /** values[test][path][round - 1] */
  const values = {};
  for (const t of TESTS) {
    values[t.id] = {};
    for (const p of PATHS) {
      values[t.id][p] = [];
      for (let r = 1; r <= ROUNDS; r++) {
        const m = run.results.find((x) => x.name === `m-${r}-${p}-${t.id}`);
        const v = Number(m?.detail.split(' ')[0]);
        if (!(v > 0)) {
          process.stderr.write(
            `bench/kernel.mjs: ${kernel.version}: no figure for round ${r}, ${p}, ${t.id}: '${m?.detail}'\n`,
          );
          process.exit(1);
        }
        values[t.id][p].push(v);
      }
    }
  }

  const ratios = {};
  for (const t of TESTS) {
    ratios[t.id] = {};
    for (const [a, b] of RATIOS) {
      const perRound = values[t.id][a].map((v, i) => v / values[t.id][b][i]);
      ratios[t.id][`${a}/${b}`] = {
        ...spread(perRound),
        rounds: perRound,
      };
    }
  }
  return {
    guest: `Linux ${kernel.version} under qemu TCG, 1 vCPU`,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    ratios,
    raw: values,
  };
}

const results = {};
for (const kernel of kernels) {
  process.stderr.write(`bench/kernel.mjs: ${kernel.version}...\n`);
  results[kernel.version] = await measure(kernel);
}

const host = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Linux ${release()}`;
const clock = ICOUNT
  ? `qemu -icount shift=${SHIFT},sleep=off: guest time counts instructions`
  : 'host clock: figures move with host load';
const kernelArgs = args.kernel.map((k) => ` --kernel ${k}`).join('');
const report = {
  command: `npm run bench:kernel -- --rounds ${ROUNDS} --seconds ${SECONDS} --udp-len ${UDP_LEN} --clock ${args.clock}${ICOUNT ? ` --shift ${SHIFT}` : ''}${kernelArgs}`,
  date: new Date().toISOString(),
  host,
  clock,
  rounds: ROUNDS,
  seconds: SECONDS,
  udpPayload: UDP_LEN,
  note: 'TCG emulation: only the ratios mean anything; the raw figures are kept to show the spread.',
  kernels: results,
};

const fmt = (r) => `${r.median.toFixed(3)} (${r.min.toFixed(3)}–${r.max.toFixed(3)})`;
const short = (version) => version.replace(/-amd64$/, '');
const md = [
  `# EoIP kernel path (kmod/) against veth and gretap, per kernel`,
  '',
  `\`${report.command}\` on ${host}, ${report.date}; ${clock}. ` +
    'Two namespaces in a qemu TCG guest (1 vCPU) joined by a veth; eoip, eoipv6, gretap and ' +
    'gretap-nogso (key 5, `ethtool -K gso off tso off`: one outer packet per wire frame, as EoIP sends) ' +
    'run over that veth at MTUs that need no outer fragments (1458, 1444, 1462, 1458). Each round ' +
    `measures every path with iperf3 (${SECONDS} s TCP, then ${SECONDS} s UDP with ${UDP_LEN}-byte payloads, ` +
    `packets delivered per second). Ratios are taken within a round; median (min–max) of ${ROUNDS} rounds. ` +
    'Emulated CPU: ratios only, no absolute speeds. eoip / gretap-nogso compares the per-packet paths; ' +
    'eoip / gretap includes what GSO superpackets give gretap.',
  '',
];
for (const [version, r] of Object.entries(results)) {
  md.push(
    `## Linux ${version}`,
    '',
    `${r.guest}; ${r.wallSeconds} s.`,
    '',
    '| ratio | TCP throughput | UDP packets/s |',
    '|---|---|---|',
    ...RATIOS.map(
      ([a, b]) => `| ${a} / ${b} | ${fmt(r.ratios.tcp[`${a}/${b}`])} | ${fmt(r.ratios.udp[`${a}/${b}`])} |`,
    ),
    '',
  );
}
md.push(`![chart](${ICOUNT ? 'kernel' : 'kernel-hostclock'}.svg)`, '');

const svg = barChart({
  title: `EoIP kernel path: ratios per kernel (${ICOUNT ? 'icount clock' : 'host clock'}, qemu TCG)`,
  unit: 'ratio (median, whiskers min–max)',
  groups: RATIOS.map(([a, b]) => `${a} / ${b}`),
  series: Object.entries(results).flatMap(([version, r]) =>
    TESTS.map((t) => ({
      name: `${t.id === 'tcp' ? 'TCP' : `UDP ${UDP_LEN} B`}, ${short(version)}`,
      values: RATIOS.map(([a, b]) => r.ratios[t.id][`${a}/${b}`].median),
      low: RATIOS.map(([a, b]) => r.ratios[t.id][`${a}/${b}`].min),
      high: RATIOS.map(([a, b]) => r.ratios[t.id][`${a}/${b}`].max),
    })),
  ),
  decimals: 2,
  footer: `${report.command}; ${ROUNDS} rounds`,
});

mkdirSync(args.out, { recursive: true });
const base = join(args.out, ICOUNT ? 'kernel' : 'kernel-hostclock');
writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${base}.md`, md.join('\n'));
writeFileSync(`${base}.svg`, svg);
process.stdout.write(`${md.slice(0, -2).join('\n')}\nwrote ${base}.{json,md,svg}\n`);
