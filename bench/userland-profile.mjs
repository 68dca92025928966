#!/usr/bin/env node
/**
 * Where the userland datapath's CPU time goes, per daemon and so per direction: greoip EoIP between
 * two namespaces (bench/userland-net.mjs), one iperf3 run per case (TCP at tunnel MTU 1458 and
 * 1500, UDP 64-byte frames) from a to b. Daemon a reads the data from its tap and sends it
 * (tap -> wire), daemon b receives it and writes it to its tap (wire -> tap); TCP's ACKs go the
 * other way. Root only; needs perf and strace.
 *
 *   npm run bench:userland:profile [-- --seconds S --out DIR --cases tcp1458,tcp1500,udp64
 *                                      --offload on|off --path greoip|forwarder --perf-data DIR]
 *
 * Per case: the daemons' CPU seconds per GB (from /proc), a system-wide `perf record -e cpu-clock
 * -g` over the run with the daemons under `node --perf-basic-prof` (JavaScript frames named), each
 * daemon's samples by shared object and its top symbols; then a second run under `strace -c -f`
 * for the syscalls per GB of each daemon (strace slows the run: only its counts are used).
 * Writes DIR/userland-profile.md (default bench/results).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds, createBed, INNER, requireRoot, sh, sleep } from './userland-net.mjs';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    out: { type: 'string', default: new URL('./results', import.meta.url).pathname },
    cases: { type: 'string', default: 'tcp1458,tcp1500,udp64' },
    'perf-data': { type: 'string' },
    path: { type: 'string', default: 'greoip' },
    offload: { type: 'string', default: 'on' },
  },
});
const SECONDS = Number(args.seconds);
const CASES = args.cases.split(',');
requireRoot('bench:userland:profile');
const bed = createBed({ seconds: SECONDS, prefix: 'bp' });

const SIDES = { a: 'a (tap -> wire)', b: 'b (wire -> tap)' };

function iperfArgs(c) {
  return c === 'udp64' ? ['-u', '-l', '18', '-b', '0'] : [];
}

/** Bytes (TCP: received; UDP: datagrams received * 64-byte frames) and a rate line of one iperf3 run. */
function moved(c, r) {
  if (c === 'udp64') {
    const s = r.end.sum;
    const pkts = s.packets - s.lost_packets;
    return { bytes: pkts * 64, rate: `${((pkts / s.seconds) * 1e-3).toFixed(1)} k pkt/s` };
  }
  return {
    bytes: r.end.sum_received.bytes,
    rate: `${(r.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`,
  };
}

function perfReport(file, pid, sort, limit) {
  return sh(
    [
      'perf',
      'report',
      '-i',
      file,
      '--pid',
      String(pid),
      '--no-children',
      '--percentage',
      'relative',
      '--sort',
      sort,
      '--percent-limit',
      String(limit),
      '--stdio',
      '-g',
      'none',
    ],
    { maxBuffer: 64 << 20 },
  )
    .split('\n')
    .filter((l) => /^\s+\d/.test(l))
    .map((l) => l.replace(/\s+$/, ''));
}

/**
 * A daemon's samples by where they were spent: the syscall a kernel sample ran under (the first
 * sys_* frame of its call chain), page faults, interrupts and softirqs taken while it ran, or the
 * user-space object of the leaf frame (JavaScript from --perf-basic-prof's map, the addon, node
 * and V8, libc). Returns [category, share of the daemon's samples] sorted by share.
 */
/** The syscall a kernel call chain (leaf first) runs under: the frame the syscall dispatcher called. */
function syscallOf(frames) {
  const entry = frames.findIndex((f) => /\s(x64_sys_call|do_syscall_64)\s/.test(f));
  if (entry <= 0) return null;
  const name = /^\S+\s+(\S+)/.exec(frames[entry - 1])?.[1];
  return name?.replace(/^(__x64_sys_|__se_sys_|__do_sys_|__sys_|ksys_|do_)/, '').replace(/\..*$/, '') ?? null;
}

function categories(file, pid) {
  const text = sh(['perf', 'script', '-i', file, '--pid', String(pid), '-F', 'ip,sym,dso'], {
    maxBuffer: 1 << 30,
  });
  const counts = new Map();
  let total = 0;
  for (const sample of text.split(/\n\s*\n/)) {
    const frames = sample
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (frames.length === 0) continue;
    total++;
    const leaf = frames[0];
    let cat;
    if (leaf.includes('[kernel.kallsyms]') || leaf.includes('[unknown]) ([kernel')) {
      const sys = syscallOf(frames);
      // Softirqs run at the end of a syscall that raised them (veth hands packets to the peer's
      // backlog): the receive side of the other namespace, charged to this daemon.
      const softirq = frames.some((f) => /\s(handle_softirqs|net_rx_action)\s/.test(f));
      if (sys) cat = `kernel: ${sys}${softirq ? ' > softirq (receive)' : ''}`;
      else if (frames.some((f) => /exc_page_fault/.test(f))) cat = 'kernel: page faults';
      else if (frames.some((f) => /\sasm_(common_interrupt|sysvec_\w+)\s/.test(f)))
        cat = 'kernel: interrupts';
      else cat = 'kernel: other';
    } else if (/perf-\d+\.map|\[JIT\]/.test(leaf)) cat = 'JavaScript (JIT)';
    else if (leaf.includes('greoip.node')) cat = 'addon (greoip.node)';
    else if (/libc\.so|libstdc\+\+|libm\.so|ld-linux/.test(leaf)) cat = 'libc, libstdc++';
    else cat = 'node, V8, libuv';
    counts.set(cat, (counts.get(cat) ?? 0) + 1);
  }
  return [...counts]
    .map(([k, v]) => [k, v / Math.max(1, total)])
    .sort((x, y) => y[1] - x[1])
    .filter(([, share]) => share >= 0.01);
}

async function perfCase(c, path) {
  const file = join(args['perf-data'] ?? bed.work, `${c}.perf.data`);
  const cpu0 = path.pids.map(cpuSeconds);
  const perf = spawn(
    'perf',
    ['record', '-a', '-g', '-e', 'cpu-clock', '-o', file, '--', 'sleep', String(SECONDS)],
    {
      stdio: 'ignore',
    },
  );
  const r = await bed.iperf(INNER.b, iperfArgs(c));
  await new Promise((res) => perf.once('close', res));
  const cpu = path.pids.map((p, i) => cpuSeconds(p) - cpu0[i]);
  const m = moved(c, r);
  const out = { rate: m.rate, sides: {} };
  for (const [i, side] of ['a', 'b'].entries()) {
    out.sides[side] = {
      cpuPerGb: cpu[i] / (m.bytes / 1e9),
      cpuShare: cpu[i] / SECONDS,
      where: categories(file, path.pids[i]),
      sym: perfReport(file, path.pids[i], 'sym', 1.5),
    };
  }
  return out;
}

/** strace -c -f on both daemons over one run: syscalls per GB moved, by name. */
async function straceCase(c, path) {
  const files = path.pids.map((p) => join(bed.work, `${c}.${p}.strace`));
  const tracers = path.pids.map((p, i) =>
    spawn('strace', ['-c', '-f', '-o', files[i], '-p', String(p)], { stdio: 'ignore' }),
  );
  await sleep(500);
  const r = await bed.iperf(INNER.b, iperfArgs(c));
  for (const t of tracers) t.kill('SIGINT');
  await Promise.all(tracers.map((t) => new Promise((res) => t.once('close', res))));
  const m = moved(c, r);
  const out = { rate: m.rate, sides: {} };
  for (const [i, side] of ['a', 'b'].entries()) {
    const rows = [];
    for (const line of readFileSync(files[i], 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || !/^\d/.test(f[0]) || f.at(-1) === 'total') continue;
      const calls = Number(f[3]);
      rows.push({ name: f.at(-1), perGb: calls / (m.bytes / 1e9) });
    }
    rows.sort((x, y) => y.perGb - x.perGb);
    out.sides[side] = rows.slice(0, 8);
  }
  return out;
}

async function main() {
  const load = loadavg()[0];
  bed.setup();
  const env = args.offload === 'off' ? { GREOIP_TAP_OFFLOAD: 'off' } : {};
  const path =
    args.path === 'forwarder'
      ? await bed.forwarder(bed.buildForwarder())
      : await bed.greoip(4, {
          // --perf-basic-prof also opens V8's log, by default in the working directory: keep it in the bed.
          nodeArgs: [
            '--perf-basic-prof',
            '--no-logfile-per-isolate',
            `--logfile=${join(bed.work, 'v8-%p.log')}`,
          ],
          env,
        });
  const results = {};
  try {
    for (const c of CASES) {
      path.setMtu(c === 'tcp1500' ? 1500 : 1458);
      results[c] = { perf: await perfCase(c, path), strace: await straceCase(c, path) };
      process.stderr.write(`${c}: ${results[c].perf.rate}\n`);
    }
  } finally {
    await path.close();
  }
  const lines = [
    '# Where the userland datapath spends its CPU time',
    '',
    `\`npm run bench:userland:profile\` on ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, kernel ${release()}, ${new Date().toISOString()}; load average ${load.toFixed(2)} at the start (the machine is shared). ${args.path === 'forwarder' ? 'the C forwarder (bench/forwarder/eoip-fwd.c)' : `greoip EoIP (IPv4 underlay), tap offloads ${args.offload}`}, ${SECONDS} s per run. Daemon a reads the iperf3 data from its tap and sends it (tap -> wire); daemon b receives it and writes it to its tap (wire -> tap).`,
    '',
  ];
  for (const c of CASES) {
    const { perf, strace } = results[c];
    lines.push(`## ${c} (${perf.rate}; under strace ${strace.rate})`, '');
    lines.push(
      '| daemon | CPU s per GB | share of one core | syscalls per GB (strace -c -f) |',
      '|---|---|---|---|',
    );
    for (const side of ['a', 'b']) {
      const s = perf.sides[side];
      const calls = strace.sides[side].map((x) => `${x.name} ${x.perGb.toFixed(0)}`).join(', ');
      lines.push(
        `| ${SIDES[side]} | ${s.cpuPerGb.toFixed(2)} | ${(s.cpuShare * 100).toFixed(0)} % | ${calls} |`,
      );
    }
    for (const side of ['a', 'b']) {
      const s = perf.sides[side];
      lines.push(
        '',
        `Daemon ${SIDES[side]}: where its CPU time goes (share of its samples, CPU s per GB):`,
        '',
      );
      lines.push('| where | share | CPU s per GB |', '|---|---|---|');
      for (const [cat, share] of s.where)
        lines.push(`| ${cat} | ${(share * 100).toFixed(1)} % | ${(share * s.cpuPerGb).toFixed(2)} |`);
      lines.push('', 'Top symbols (self time, >= 1.5 % of its samples):', '', '```', ...s.sym, '```');
    }
    lines.push('');
  }
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'userland-profile.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`written: ${args.out}/userland-profile.md\n`);
}

try {
  await main();
} finally {
  bed.cleanup();
}
