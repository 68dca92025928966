#!/usr/bin/env node
/**
 * EoIP codec throughput: decapsulate + encapsulate per packet, in packets per
 * second, for 64-byte and 1500-byte Ethernet frames, beside a baseline
 * measured in the same run: a plain Buffer.copy of the same bytes (the least
 * any userland datapath does with a packet).
 *
 *   npm run build && node bench/codec.mjs [--seconds S] [--rounds N] [--out DIR]
 *
 * Per packet, the codec side does what the userland datapath will:
 *   receive:  decode the IPv4 header, decode the EoIP header, check the frame
 *   send:     encode IPv4 + EoIP headers into an output buffer, copy the frame behind them
 * The datapath row runs the userland backend's own per-packet code
 * (src/eoip/datapath.ts: receive4 with its tunnel lookup, then encapsulate4),
 * bundled to plain JavaScript first as the daemon's build does.
 * Writes DIR/codec.json, DIR/codec.md and DIR/codec.svg (default bench/results).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';
import { build, checksum, eoip, ipv4, WireStatus } from '../dist/index.js';
import { barChart } from './svg.mjs';

/** src/eoip is not part of the library entry point: bundle the two modules the datapath row needs. */
async function loadDatapath() {
  const dir = mkdtempSync(join(tmpdir(), 'greoip-bench-'));
  const outfile = join(dir, 'datapath.mjs');
  const root = new URL('..', import.meta.url).pathname;
  buildSync({
    stdin: {
      contents: "export * from './src/eoip/datapath.ts'; export { TunnelTable } from './src/eoip/table.ts';",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'silent',
  });
  try {
    return await import(outfile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const datapath = await loadDatapath();

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    out: { type: 'string', default: new URL('./results', import.meta.url).pathname },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const FRAME_SIZES = [64, 1500];
const BATCH = 10_000;

function frameOf(size) {
  const payload = new Uint8Array(size - 14);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  return build.ethernetFrame(0x020000000002, 0x020000000001, 0x0800, payload);
}

/** Runs `batch` until `seconds` have passed; returns operations per second. */
function measure(seconds, batch) {
  const start = process.hrtime.bigint();
  const limit = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let now = start;
  while (now < limit) {
    ops += batch();
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function benchSize(size) {
  const frame = frameOf(size);
  const packet = build.eoipPacket({ src: 0xc0000201, dst: 0xc6336402 }, 100, frame);
  const out = Buffer.alloc(packet.length);
  const src = Buffer.from(packet);
  const rx4 = ipv4.create();
  const rxEoip = eoip.create();
  const tx4 = ipv4.create();
  Object.assign(tx4, { src: 0xc6336402, dst: 0xc0000201, ttl: 255, protocol: ipv4.IPPROTO_GRE });
  const txEoip = { tunnelId: 100, frameLength: 0 };
  const table = new datapath.TunnelTable();
  table.add({
    family: 4,
    tunnelId: 100,
    remote4: 0xc0000201,
    remote6: new Uint8Array(16),
    local4: -1,
    local6: null,
  });
  const rx = datapath.createRxResult();
  let sink = 0;

  const copyBatch = () => {
    for (let i = 0; i < BATCH; i++) sink += src.copy(out, 0, 0, src.length);
    return BATCH;
  };
  const codecBatch = () => {
    for (let i = 0; i < BATCH; i++) {
      // receive: headers decoded and checked, the frame located in place
      if (ipv4.decode(packet, 0, rx4) !== WireStatus.OK) throw new Error('ipv4');
      const at = rx4.headerLength;
      if (eoip.decode(packet, at, rxEoip) !== WireStatus.OK) throw new Error('eoip');
      const frameStart = at + eoip.EOIP_HEADER_LENGTH;
      if (eoip.checkFrame(rxEoip, packet.length - frameStart) !== WireStatus.OK) throw new Error('frame');
      // send: the same frame encapsulated again into the output buffer
      tx4.totalLength = 20 + eoip.EOIP_HEADER_LENGTH + rxEoip.frameLength;
      tx4.identification = i & 0xffff;
      ipv4.encode(tx4, out, 0);
      ipv4.setChecksum(out, 0);
      txEoip.frameLength = rxEoip.frameLength;
      eoip.encode(txEoip, out, 20);
      sink += src.copy(out, 28, frameStart, frameStart + rxEoip.frameLength);
    }
    return BATCH;
  };
  const datapathBatch = () => {
    for (let i = 0; i < BATCH; i++) {
      // receive: what the backend runs per packet from the raw socket
      if (datapath.receive4(packet, 0, packet.length, table, rx) !== -1) throw new Error('receive4');
      // send: the frame encapsulated again (the kernel adds the IPv4 header)
      sink += datapath.encapsulate4(100, packet, rx.frameOffset, rx.frameLength, out, 0);
    }
    return BATCH;
  };
  // Warm up all three so none is measured in the interpreter.
  measure(0.3, copyBatch);
  measure(0.3, codecBatch);
  measure(0.3, datapathBatch);
  const copy = [];
  const codec = [];
  const path = [];
  for (let r = 0; r < ROUNDS; r++) {
    copy.push(measure(SECONDS, copyBatch));
    codec.push(measure(SECONDS, codecBatch));
    path.push(measure(SECONDS, datapathBatch));
  }
  if (sink === 0) throw new Error('nothing measured');
  return {
    frameSize: size,
    packetSize: packet.length,
    copyPps: median(copy),
    codecPps: median(codec),
    datapathPps: median(path),
    rounds: ROUNDS,
  };
}

/**
 * One's complement sums over a payload (what TCP/UDP checksums of segmented
 * or coalesced frames cost), in GB/s, beside Buffer.copy of the same bytes.
 */
function benchChecksum(size) {
  const src = Buffer.alloc(size);
  for (let i = 0; i < size; i++) src[i] = (i * 31) & 0xff;
  const out = Buffer.alloc(size);
  const reps = Math.max(1, Math.floor(1_000_000 / size));
  let sink = 0;
  const run = (f) => () => {
    for (let i = 0; i < reps; i++) sink += f();
    return reps * size;
  };
  const copy = run(() => src.copy(out, 0, 0, size));
  const plain = run(() => checksum.sumWords(src, 0, size));
  const wide = run(() => checksum.sumWordsWide(src, 0, size));
  for (const f of [copy, plain, wide]) measure(0.3, f);
  const r = { copy: [], plain: [], wide: [] };
  for (let k = 0; k < ROUNDS; k++) {
    r.copy.push(measure(SECONDS, copy));
    r.plain.push(measure(SECONDS, plain));
    r.wide.push(measure(SECONDS, wide));
  }
  if (sink === 0) throw new Error('nothing measured');
  return {
    bytes: size,
    copyGBps: median(r.copy) / 1e9,
    sumWordsGBps: median(r.plain) / 1e9,
    sumWordsWideGBps: median(r.wide) / 1e9,
  };
}

const results = FRAME_SIZES.map(benchSize);
const checksums = [1500, 65536].map(benchChecksum);
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`;
const report = {
  command: 'node bench/codec.mjs',
  date: new Date().toISOString(),
  machine,
  results: results.map((r) => ({
    ...r,
    ratio: r.codecPps / r.copyPps,
    datapathRatio: r.datapathPps / r.copyPps,
  })),
  checksums,
};

mkdirSync(args.out, { recursive: true });
writeFileSync(`${args.out}/codec.json`, `${JSON.stringify(report, null, 2)}\n`);
const rows = report.results.map(
  (r) =>
    `| ${r.frameSize} B frame (${r.packetSize} B packet) | ${(r.copyPps / 1e6).toFixed(2)} M | ${(r.codecPps / 1e6).toFixed(2)} M | ${r.ratio.toFixed(2)} | ${(r.datapathPps / 1e6).toFixed(2)} M | ${r.datapathRatio.toFixed(2)} |`,
);
const table = [
  '| case | baseline: Buffer.copy (pkt/s) | EoIP decap + encap (pkt/s) | ratio | datapath receive4 + encapsulate4 (pkt/s) | ratio |',
  '|---|---|---|---|---|---|',
  ...rows,
].join('\n');
const checksumTable = [
  '| bytes | baseline: Buffer.copy (GB/s) | sumWords, 16 bits per step (GB/s) | sumWordsWide, 32-bit reads (GB/s) |',
  '|---|---|---|---|',
  ...checksums.map(
    (c) =>
      `| ${c.bytes} | ${c.copyGBps.toFixed(2)} | ${c.sumWordsGBps.toFixed(2)} | ${c.sumWordsWideGBps.toFixed(2)} |`,
  ),
].join('\n');
writeFileSync(
  `${args.out}/codec.md`,
  `# EoIP codec throughput\n\n\`${report.command}\` on ${machine}, ${report.date}; median of ${ROUNDS} rounds of ${SECONDS} s.\n\n${table}\n\nOne's complement sums (TCP/UDP checksums):\n\n${checksumTable}\n\n![chart](codec.svg)\n`,
);
writeFileSync(
  `${args.out}/codec.svg`,
  barChart({
    title: 'EoIP decap + encap vs Buffer.copy (packets/s, higher is better)',
    unit: 'packets per second',
    groups: report.results.map((r) => `${r.frameSize}-byte frame (ratio ${r.ratio.toFixed(2)})`),
    series: [
      { name: 'baseline: Buffer.copy', values: report.results.map((r) => r.copyPps) },
      { name: 'EoIP decap + encap', values: report.results.map((r) => r.codecPps) },
      { name: 'datapath receive4 + encapsulate4', values: report.results.map((r) => r.datapathPps) },
    ],
    footer: `${machine}; ${report.date.slice(0, 10)}`,
  }),
);
process.stdout.write(`${table}\n\n${checksumTable}\n\nwritten: ${args.out}/codec.{json,md,svg}\n`);
