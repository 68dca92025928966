#!/usr/bin/env node
/**
 * Userland keepalive reflector throughput on veth: replies per second, beside
 * a baseline measured in the same run on the same veth: a raw socket that
 * only receives (the least any userland reflector must do).
 *
 *   npm run build && node bench/reflector.mjs [--seconds S] [--rounds N] [--out DIR]
 *
 * Needs root: it creates two network namespaces joined by veth (removed at
 * the end). A sender in the first sends keepalive requests as fast as batched
 * sendmmsg allows; the second runs the receive-only baseline or the reflector,
 * each counted over the same window. Writes DIR/reflector.{json,md,svg}.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart } from './svg.mjs';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
    role: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const WARMUP_MS = 500;
const A = '192.0.2.1';
const B = '198.51.100.2';
const NS = { a: `greoip-bench-a-${process.pid}`, b: `greoip-bench-b-${process.pid}` };
const SELF = fileURLToPath(import.meta.url);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The sender: batches of 64 requests (outer A->B built here) until the window is over. */
async function send(lib) {
  const { native, build, ipv4 } = lib;
  const fd = native.raw.open(4, 47, { hdrincl: true });
  const io = new native.BatchIo(fd, 'ip4', 1, 2048, () => {});
  const request = build.greKeepaliveRequest4(ipv4.parseAddress(A), ipv4.parseAddress(B));
  const batch = 64;
  const slot = 64;
  const buf = Buffer.alloc(batch * slot);
  const offsets = new Uint32Array(batch);
  const lengths = new Uint32Array(batch).fill(request.length);
  const dsts = new Uint8Array(batch * 16);
  for (let i = 0; i < batch; i++) {
    offsets[i] = i * slot;
    buf.set(request, i * slot);
    dsts.set([198, 51, 100, 2], i * 16);
  }
  const stopAt = Date.now() + SECONDS * 1000 + WARMUP_MS;
  let sent = 0;
  for (let n = 0; Date.now() < stopAt; n++) {
    try {
      sent += io.send(buf, offsets, lengths, dsts, batch);
    } catch {
      // ENOBUFS when the queue is full: the receiver sets the pace
    }
    if (n % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  io.close();
  return { sent };
}

/** The measured side: counts over [WARMUP, SECONDS] while the sender runs. */
async function measure(lib, mode) {
  const { native, greKeepalive, UserlandReflector } = lib;
  let sample;
  let close;
  if (mode === 'receive') {
    let count = 0;
    const fd = native.raw.open(4, 47, { maxLength: 256, recvBufferSize: 4 << 20 });
    const io = new native.BatchIo(fd, 'ip4', 64, 2048, (n) => {
      count += n;
    });
    io.start();
    sample = () => count;
    close = () => io.close();
  } else {
    const reflector = new UserlandReflector(greKeepalive.createPolicy());
    reflector.start({ ipv6: false });
    sample = () => reflector.counters().repliesSent;
    close = () => reflector.close();
  }
  await sleep(WARMUP_MS);
  const c0 = sample();
  const t0 = process.hrtime.bigint();
  await sleep(SECONDS * 1000);
  const c1 = sample();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  close();
  return { perSecond: (c1 - c0) / seconds };
}

function ip(args, ns) {
  return execFileSync('/usr/sbin/ip', ns ? ['netns', 'exec', ns, 'ip', ...args] : args, { encoding: 'utf8' });
}

function setUp() {
  ip(['netns', 'add', NS.a]);
  ip(['netns', 'add', NS.b]);
  ip(['link', 'add', 'vbench-a', 'netns', NS.a, 'type', 'veth', 'peer', 'name', 'vbench-b', 'netns', NS.b]);
  for (const [ns, dev, addr, peerNet] of [
    [NS.a, 'vbench-a', `${A}/24`, '198.51.100.0/24'],
    [NS.b, 'vbench-b', `${B}/24`, '192.0.2.0/24'],
  ]) {
    ip(['link', 'set', 'lo', 'up'], ns);
    ip(['addr', 'add', addr, 'dev', dev], ns);
    ip(['link', 'set', dev, 'up'], ns);
    ip(['route', 'add', peerNet, 'dev', dev], ns);
  }
}

function tearDown() {
  for (const ns of [NS.a, NS.b]) {
    try {
      ip(['netns', 'del', ns]);
    } catch {
      // already gone
    }
  }
}

function runRole(ns, role) {
  return new Promise((resolve, reject) => {
    const p = spawn(
      '/usr/sbin/ip',
      ['netns', 'exec', ns, process.execPath, SELF, '--role', role, '--seconds', String(SECONDS)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${role} exited ${code}`)),
    );
  });
}

async function round(mode) {
  const measured = runRole(NS.b, mode);
  await sleep(300);
  const sender = runRole(NS.a, 'send');
  const [m, s] = await Promise.all([measured, sender]);
  return { perSecond: m.perSecond, sent: s.sent };
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

if (args.role) {
  const lib = await import('../dist/index.js');
  const result = args.role === 'send' ? await send(lib) : await measure(lib, args.role);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (process.getuid?.() !== 0) {
  process.stderr.write('bench/reflector.mjs: needs root (network namespaces, raw sockets)\n');
  process.exit(1);
}
setUp();
const results = { receive: [], reflect: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ['receive', 'reflect']) results[mode].push((await round(mode)).perSecond);
  }
} finally {
  tearDown();
}
const baseline = median(results.receive);
const reflector = median(results.reflect);
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`;
const report = {
  command: 'node bench/reflector.mjs',
  date: new Date().toISOString(),
  machine,
  seconds: SECONDS,
  rounds: ROUNDS,
  baselineReceivePerSecond: baseline,
  reflectorRepliesPerSecond: reflector,
  ratio: reflector / baseline,
  samples: results,
};
mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/reflector.json`, `${JSON.stringify(report, null, 2)}\n`);
const table = [
  '| case | packets/s (median) |',
  '|---|---|',
  `| baseline: raw socket, receive only | ${(baseline / 1e3).toFixed(0)} k received/s |`,
  `| gre-keepalive reflector (userland) | ${(reflector / 1e3).toFixed(0)} k replies/s |`,
  `| ratio | ${report.ratio.toFixed(2)} |`,
].join('\n');
writeFileSync(
  `${args.out}/reflector.md`,
  `# Userland keepalive reflector on veth\n\n\`${report.command}\` on ${machine}, ${report.date}; median of ${ROUNDS} rounds of ${SECONDS} s.\n\n${table}\n\n![chart](reflector.svg)\n`,
);
writeFileSync(
  `${args.out}/reflector.svg`,
  barChart({
    title: 'Keepalive reflector vs receive-only raw socket (packets/s)',
    unit: 'packets per second',
    groups: [`veth, keepalive requests (ratio ${report.ratio.toFixed(2)})`],
    series: [
      { name: 'baseline: receive only', values: [baseline] },
      { name: 'reflector: replies sent', values: [reflector] },
    ],
    footer: `${machine}; ${report.date.slice(0, 10)}`,
  }),
);
process.stdout.write(`${table}\n\nwritten: ${args.out}/reflector.{json,md,svg}\n`);
