import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import type { CaptureInput, CaptureRecord } from '../src/pcap/index.ts';
import {
  CaptureFormatError,
  LINKTYPE,
  linkTypeName,
  readCapture,
  readCaptureFile,
  writePcap,
  writePcapng,
} from '../src/pcap/index.ts';
import { tempDir } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

const CAPTURES = new URL('./fixtures/routeros-7.18/', import.meta.url);
const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MICROSECOND = 1_000n;
const BASE_TS = 1_776_423_508_512_871_123n;
const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_HEADER_LEN = 16;
const SHB_LEN = 28;
const IDB_LEN = 32;
const EPB_OVERHEAD = 32;
/** Lengths chosen to exercise every pcapng padding remainder, empty packets and full frames. */
const SAMPLE_LENGTHS = [0, 1, 2, 3, 4, 5, 60, 1514];

const align4 = (n: number): number => Math.ceil(n / 4) * 4;

function sampleRecords(): CaptureInput[] {
  return SAMPLE_LENGTHS.map((len, i) => ({
    data: Uint8Array.from({ length: len }, (_, j) => (i * 31 + j) & 0xff),
    timestampNs: BASE_TS + BigInt(i) * 1_000_123n,
    // Every other record pretends the capture was cut short.
    originalLength: i % 2 === 0 ? len : len + 100,
  }));
}

const floorToMicros = (ns: bigint): bigint => (ns / NS_PER_MICROSECOND) * NS_PER_MICROSECOND;

/** Byte offsets at which a prefix of the file ends exactly on a record or block boundary. */
function pcapBoundaries(lengths: number[]): Set<number> {
  const out = [PCAP_HEADER_LEN];
  for (const len of lengths) out.push(out.at(-1)! + PCAP_RECORD_HEADER_LEN + len);
  return new Set(out);
}

function pcapngBoundaries(lengths: number[]): Set<number> {
  const out = [SHB_LEN, SHB_LEN + IDB_LEN];
  for (const len of lengths) out.push(out.at(-1)! + EPB_OVERHEAD + align4(len));
  return new Set(out);
}

/** Tiny endian-aware encoder for building capture files by hand. */
class Enc {
  private parts: Buffer[] = [];

  constructor(private readonly le: boolean) {}

  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    this.le ? b.writeUInt16LE(v) : b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    this.le ? b.writeUInt32LE(v) : b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }

  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    this.le ? b.writeBigInt64LE(v) : b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }

  bytes(data: Uint8Array): this {
    this.parts.push(Buffer.from(data));
    return this;
  }

  pad4(): this {
    const len = this.length();
    this.parts.push(Buffer.alloc(align4(len) - len));
    return this;
  }

  length(): number {
    return this.parts.reduce((sum, p) => sum + p.length, 0);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Wraps a body (already padded) in a pcapng block header and trailer. */
function block(le: boolean, type: number, body: Buffer): Buffer {
  const len = body.length + 12;
  return new Enc(le).u32(type).u32(len).bytes(body).u32(len).done();
}

function shb(le: boolean, options: Buffer = Buffer.alloc(0)): Buffer {
  const body = new Enc(le).u32(0x1a2b3c4d).u16(1).u16(0).i64(-1n).bytes(options).done();
  return block(le, 0x0a0d0d0a, body);
}

function option(le: boolean, code: number, value: Buffer): Buffer {
  return new Enc(le).u16(code).u16(value.length).bytes(value).pad4().done();
}

const endOfOptions = (le: boolean): Buffer => new Enc(le).u32(0).done();

function idb(le: boolean, linkType: number, snaplen: number, options: Buffer[] = []): Buffer {
  const opts = options.length > 0 ? [...options, endOfOptions(le)] : [];
  const body = new Enc(le).u16(linkType).u16(0).u32(snaplen).bytes(Buffer.concat(opts)).done();
  return block(le, 1, body);
}

function epb(
  le: boolean,
  iface: number,
  ticks: bigint,
  data: Buffer,
  orig = data.length,
  opts = Buffer.alloc(0),
) {
  const body = new Enc(le)
    .u32(iface)
    .u32(Number(ticks >> 32n))
    .u32(Number(ticks & 0xffffffffn))
    .u32(data.length)
    .u32(orig)
    .bytes(data)
    .pad4()
    .bytes(opts)
    .done();
  return block(le, 6, body);
}

function obsoletePacketBlock(le: boolean, iface: number, ticks: bigint, data: Buffer): Buffer {
  const body = new Enc(le)
    .u16(iface)
    .u16(0) // drops count
    .u32(Number(ticks >> 32n))
    .u32(Number(ticks & 0xffffffffn))
    .u32(data.length)
    .u32(data.length)
    .bytes(data)
    .pad4()
    .done();
  return block(le, 2, body);
}

function spb(le: boolean, originalLength: number, data: Buffer): Buffer {
  return block(le, 3, new Enc(le).u32(originalLength).bytes(data).pad4().done());
}

function bigEndianPcap(nanosecond: boolean): Buffer {
  const e = new Enc(false)
    .u32(nanosecond ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(4) // snaplen smaller than the record below: tolerated
    .u32(LINKTYPE.RAW);
  e.u32(1_700_000_000).u32(123_456).u32(10).u32(1500).bytes(Buffer.from('0123456789'));
  e.u32(1_700_000_001).u32(7).u32(0).u32(0);
  return e.done();
}

const HAND_PAYLOAD = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789ABCD'); // 40 bytes

/**
 * Two sections with opposite byte orders, exercising every packet block type, both if_tsresol
 * flavours, if_tsoffset, options after packet data, and block types the reader must skip.
 */
function multiSectionBlocks(): Buffer[] {
  const be = false;
  const le = true;
  return [
    shb(be),
    idb(be, LINKTYPE.ETHERNET, 16, [option(be, 9, Buffer.from([0x8a]))]), // 2^-10 s ticks
    idb(be, LINKTYPE.RAW, 0, [option(be, 9, Buffer.from([3])), option(be, 14, new Enc(be).i64(100n).done())]),
    block(be, 4, new Enc(be).u16(0).u16(0).done()), // name resolution block: skipped
    epb(be, 1, 1_234_567n, HAND_PAYLOAD.subarray(0, 5)),
    spb(be, 40, HAND_PAYLOAD.subarray(0, 16)),
    obsoletePacketBlock(be, 0, (3n << 32n) | 512n, HAND_PAYLOAD.subarray(0, 7)),
    block(be, 0x00000100, Buffer.alloc(8)), // unassigned block type: skipped
    shb(le, Buffer.concat([option(le, 4, Buffer.from('greoip test')), endOfOptions(le)])),
    idb(le, LINKTYPE.IPV6, 65535),
    epb(le, 0, 1_700_000_000_000_001n, HAND_PAYLOAD, 60, Buffer.concat([option(le, 2, Buffer.alloc(4))])),
  ];
}

function cumulativeBoundaries(blocks: Buffer[]): Set<number> {
  const out: number[] = [];
  let sum = 0;
  for (const b of blocks) {
    sum += b.length;
    out.push(sum);
  }
  return new Set(out);
}

function expectedMultiSection(): Omit<CaptureRecord, 'index'>[] {
  return [
    {
      linkType: LINKTYPE.RAW,
      timestampNs: 1_234_567n * 1_000_000n + 100n * NS_PER_SECOND,
      originalLength: 5,
      data: HAND_PAYLOAD.subarray(0, 5),
      interfaceId: 1,
    },
    {
      linkType: LINKTYPE.ETHERNET,
      timestampNs: 0n,
      originalLength: 40,
      data: HAND_PAYLOAD.subarray(0, 16),
      interfaceId: 0,
    },
    {
      linkType: LINKTYPE.ETHERNET,
      timestampNs: (((3n << 32n) | 512n) * NS_PER_SECOND) / 1024n,
      originalLength: 7,
      data: HAND_PAYLOAD.subarray(0, 7),
      interfaceId: 0,
    },
    {
      linkType: LINKTYPE.IPV6,
      timestampNs: 1_700_000_000_000_001n * NS_PER_MICROSECOND,
      originalLength: 60,
      data: HAND_PAYLOAD,
      interfaceId: 0,
    },
  ];
}

/** Plain-object view of a record so ava's deepEqual compares bytes, not Buffer identity. */
function plain(r: Omit<CaptureRecord, 'index'>) {
  return {
    linkType: r.linkType,
    timestampNs: r.timestampNs,
    originalLength: r.originalLength,
    data: [...r.data],
    interfaceId: r.interfaceId,
  };
}

/** True when the reader either succeeds or fails the documented way. */
function parsesOrFormatError(file: Buffer): boolean {
  try {
    readCapture(file);
    return true;
  } catch (err) {
    return err instanceof CaptureFormatError;
  }
}

function patchU32LE(file: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(file);
  copy.writeUInt32LE(value, offset);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

test('pcap (microsecond) round trip keeps data, lengths and link type; timestamps floor to µs', (t) => {
  const input = sampleRecords();
  const out = readCapture(writePcap(input, LINKTYPE.LINUX_SLL2));
  t.is(out.length, input.length);
  out.forEach((r, i) => {
    const src = input[i]!;
    t.is(r.index, i);
    t.is(r.linkType, LINKTYPE.LINUX_SLL2);
    t.is(r.interfaceId, 0);
    t.deepEqual([...r.data], [...src.data]);
    t.is(r.originalLength, src.originalLength!);
    t.is(r.timestampNs, floorToMicros(src.timestampNs!));
  });
});

test('pcap (nanosecond) round trip keeps exact timestamps', (t) => {
  const input = sampleRecords();
  const file = writePcap(input, LINKTYPE.IPV4, { nanosecond: true });
  t.is(file.readUInt32LE(0), 0xa1b23c4d);
  const out = readCapture(file);
  t.deepEqual(
    out.map((r) => r.timestampNs),
    input.map((r) => r.timestampNs),
  );
  t.true(out.every((r) => r.linkType === LINKTYPE.IPV4));
});

test('pcap writer header: version 2.4, default snaplen, and snaplen truncation', (t) => {
  const file = writePcap([], LINKTYPE.ETHERNET);
  t.is(file.length, PCAP_HEADER_LEN);
  t.is(file.readUInt32LE(0), 0xa1b2c3d4);
  t.is(file.readUInt16LE(4), 2);
  t.is(file.readUInt16LE(6), 4);
  t.is(file.readUInt32LE(16), 262144);
  const cut = readCapture(
    writePcap([{ data: new Uint8Array(100).fill(7) }], LINKTYPE.ETHERNET, { snaplen: 64 }),
  );
  t.is(cut[0]!.data.length, 64);
  t.is(cut[0]!.originalLength, 100);
  t.is(cut[0]!.timestampNs, 0n);
});

test('pcapng round trip keeps data, nanosecond timestamps, original length and link type', (t) => {
  const input = sampleRecords();
  const file = writePcapng(input, LINKTYPE.ETHERNET);
  t.is(file.length % 4, 0);
  t.is(file.length, Math.max(...pcapngBoundaries(SAMPLE_LENGTHS)));
  const out = readCapture(file);
  t.deepEqual(
    out.map((r) => plain(r)),
    input.map((r) =>
      plain({
        linkType: LINKTYPE.ETHERNET,
        timestampNs: r.timestampNs!,
        originalLength: r.originalLength!,
        data: Buffer.from(r.data),
        interfaceId: 0,
      }),
    ),
  );
  t.deepEqual(
    out.map((r) => r.index),
    input.map((_, i) => i),
  );
});

test('writers reject impossible records', (t) => {
  const data = new Uint8Array(10);
  t.throws(() => writePcap([{ data, originalLength: 5 }], 1), { instanceOf: RangeError });
  t.throws(() => writePcapng([{ data, timestampNs: -1n }], 1), { instanceOf: RangeError });
  t.throws(() => writePcap([{ data, timestampNs: (1n << 40n) << 30n }], 1), { instanceOf: RangeError });
});

test('linkTypeName', (t) => {
  t.is(linkTypeName(LINKTYPE.ETHERNET), 'ethernet');
  t.is(linkTypeName(LINKTYPE.RAW), 'raw');
  t.is(linkTypeName(LINKTYPE.IPV4), 'ipv4');
  t.is(linkTypeName(LINKTYPE.IPV6), 'ipv6');
  t.is(linkTypeName(LINKTYPE.LINUX_SLL), 'linux-sll');
  t.is(linkTypeName(LINKTYPE.LINUX_SLL2), 'linux-sll2');
  t.is(linkTypeName(147), 'linktype-147');
});

// ---------------------------------------------------------------------------------------------
// Real RouterOS captures (expected values determined once with tshark 4.0.17)
// ---------------------------------------------------------------------------------------------

const REAL_CAPTURES = [
  { name: 'mk-mk-arp.pcap', count: 4, firstLength: 84, firstTs: 1_776_423_508_512_871_000n, totalBytes: 392 },
  {
    name: 'mk-mk-idle.pcap',
    count: 24,
    firstLength: 42,
    firstTs: 1_776_423_414_097_049_000n,
    totalBytes: 3884,
  },
  {
    name: 'mk-mk-mtu.pcap',
    count: 35,
    firstLength: 42,
    firstTs: 1_776_423_515_277_008_000n,
    totalBytes: 19336,
  },
  {
    name: 'mk-mk-ping.pcap',
    count: 14,
    firstLength: 42,
    firstTs: 1_776_423_494_477_015_000n,
    totalBytes: 2250,
  },
];

for (const c of REAL_CAPTURES) {
  test(`reads RouterOS capture ${c.name}`, async (t) => {
    const records = await readCaptureFile(fileURLToPath(new URL(c.name, CAPTURES)));
    t.is(records.length, c.count);
    const first = records[0]!;
    t.is(first.data.length, c.firstLength);
    t.is(first.originalLength, c.firstLength);
    t.is(first.linkType, LINKTYPE.ETHERNET);
    t.is(first.timestampNs, c.firstTs);
    t.is(
      records.reduce((sum, r) => sum + r.data.length, 0),
      c.totalBytes,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Cross-check with tshark
// ---------------------------------------------------------------------------------------------

// tshark is a required test tool (.ci/run installs it): a missing tshark fails these tests.

interface TsharkFrame {
  len: number;
  capLen: number;
  timestampNs: bigint;
}

/** Parses tshark's "seconds.fraction" epoch string without going through a lossy float. */
function epochToNs(text: string): bigint {
  const [sec = '0', frac = ''] = text.split('.');
  return BigInt(sec) * NS_PER_SECOND + BigInt(frac.padEnd(9, '0').slice(0, 9));
}

function tsharkFrames(t: ExecutionContext, file: Buffer, suffix: string): TsharkFrame[] {
  const path = join(tempDir(t, 'greoip-pcap-'), `capture.${suffix}`);
  writeFileSync(path, file);
  const args = [
    '-r',
    path,
    '-T',
    'fields',
    '-e',
    'frame.len',
    '-e',
    'frame.cap_len',
    '-e',
    'frame.time_epoch',
  ];
  // stderr is discarded: tshark warns about running as root, which is noise here.
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [len = '', capLen = '', epoch = ''] = line.split('\t');
      return { len: Number(len), capLen: Number(capLen), timestampNs: epochToNs(epoch) };
    });
}

function expectedFrames(input: CaptureInput[], roundTs: (ns: bigint) => bigint): TsharkFrame[] {
  return input.map((r) => ({
    len: r.originalLength!,
    capLen: r.data.length,
    timestampNs: roundTs(r.timestampNs!),
  }));
}

test('tshark reads our pcapng with the same frames', (t) => {
  const input = sampleRecords();
  t.deepEqual(
    tsharkFrames(t, writePcapng(input, LINKTYPE.ETHERNET), 'pcapng'),
    expectedFrames(input, (ns) => ns),
  );
});

test('tshark reads our pcap (µs and ns) with the same frames', (t) => {
  const input = sampleRecords();
  t.deepEqual(
    tsharkFrames(t, writePcap(input, LINKTYPE.ETHERNET), 'pcap'),
    expectedFrames(input, floorToMicros),
  );
  t.deepEqual(
    tsharkFrames(t, writePcap(input, LINKTYPE.ETHERNET, { nanosecond: true }), 'pcap'),
    expectedFrames(input, (ns) => ns),
  );
});

// ---------------------------------------------------------------------------------------------
// Big-endian and multi-section files built by hand
// ---------------------------------------------------------------------------------------------

test('big-endian pcap, microsecond and nanosecond', (t) => {
  const micro = readCapture(bigEndianPcap(false));
  t.is(micro.length, 2);
  t.is(micro[0]!.linkType, LINKTYPE.RAW);
  t.is(micro[0]!.timestampNs, 1_700_000_000n * NS_PER_SECOND + 123_456n * NS_PER_MICROSECOND);
  t.is(micro[0]!.data.toString(), '0123456789'); // caplen 10 > snaplen 4 is tolerated
  t.is(micro[0]!.originalLength, 1500);
  t.is(micro[1]!.data.length, 0);
  t.is(micro[1]!.timestampNs, 1_700_000_001n * NS_PER_SECOND + 7n * NS_PER_MICROSECOND);
  const nano = readCapture(bigEndianPcap(true));
  t.is(nano[0]!.timestampNs, 1_700_000_000n * NS_PER_SECOND + 123_456n);
});

test('big-endian + little-endian multi-section pcapng with EPB, SPB, PB and skipped blocks', (t) => {
  const out = readCapture(Buffer.concat(multiSectionBlocks()));
  t.deepEqual(
    out.map((r) => r.index),
    [0, 1, 2, 3],
  );
  t.deepEqual(
    out.map((r) => plain(r)),
    expectedMultiSection().map((r) => plain(r)),
  );
});

test('tshark agrees with the hand-built multi-section pcapng, timestamps included', (t) => {
  const file = Buffer.concat(multiSectionBlocks());
  // tshark prints an empty time for the SPB, which has none; epochToNs maps that to our 0n.
  t.deepEqual(
    tsharkFrames(t, file, 'pcapng'),
    readCapture(file).map((r) => ({
      len: r.originalLength,
      capLen: r.data.length,
      timestampNs: r.timestampNs,
    })),
  );
});

// ---------------------------------------------------------------------------------------------
// Error reporting
// ---------------------------------------------------------------------------------------------

function formatError(t: ExecutionContext, fn: () => unknown, re: RegExp): CaptureFormatError {
  return t.throws(fn, { instanceOf: CaptureFormatError, message: re }) as CaptureFormatError;
}

test('errors name what is wrong and where', (t) => {
  const pcapng = writePcapng(sampleRecords(), LINKTYPE.ETHERNET);
  const pcap = writePcap(sampleRecords(), LINKTYPE.ETHERNET);
  const firstEpb = SHB_LEN + IDB_LEN;

  const magic = formatError(
    t,
    () => readCapture(Buffer.from('hello world')),
    /not a pcap or pcapng file: magic 0x68656c6c/,
  );
  t.is(magic.offset, 0);
  formatError(t, () => readCapture(Buffer.alloc(2)), /not a pcap or pcapng file/);
  const odd = formatError(
    t,
    () => readCapture(patchU32LE(pcapng, SHB_LEN + 4, 33)),
    /block length 33 at offset 28 is not a multiple of 4/,
  );
  t.is(odd.offset, SHB_LEN);
  formatError(
    t,
    () => readCapture(patchU32LE(pcapng, firstEpb + 8, 3)),
    /EPB at offset 60 references unknown interface 3/,
  );
  formatError(t, () => readCapture(pcap.subarray(0, PCAP_HEADER_LEN + 5)), /truncated record at offset 24/);
  formatError(
    t,
    () => readCapture(patchU32LE(pcap, PCAP_HEADER_LEN + 8, 0xffffffff)),
    /truncated record at offset 24/,
  );
  formatError(t, () => readCapture(pcapng.subarray(0, firstEpb + 10)), /truncated block at offset 60/);
  formatError(
    t,
    () => readCapture(patchU32LE(pcapng, firstEpb - 4, 36)),
    /trailing length 36 does not match/,
  );
  formatError(t, () => readCapture(patchU32LE(pcapng, 8, 0x12345678)), /bad byte-order magic 0x12345678/);
  formatError(t, () => readCapture(patchU32LE(pcap, 4, 0x00040003)), /unsupported pcap version 3\.4/);
  formatError(t, () => readCapture(patchU32LE(pcapng, firstEpb + 4, 8)), /smaller than the minimum 12/);
  formatError(
    t,
    () => readCapture(patchU32LE(pcapng, firstEpb + 20, 1000)),
    /EPB at offset 60: captured length 1000 exceeds/,
  );
});

test('SPB without any interface and bad option lengths are format errors', (t) => {
  const le = true;
  formatError(
    t,
    () => readCapture(Buffer.concat([shb(le), spb(le, 4, Buffer.alloc(4))])),
    /SPB .* unknown interface 0/,
  );
  const badResol = idb(le, 1, 0, [option(le, 9, Buffer.from([6, 6]))]);
  formatError(
    t,
    () => readCapture(Buffer.concat([shb(le), badResol])),
    /if_tsresol option .* length 2, expected 1/,
  );
  const overrun = block(le, 1, new Enc(le).u16(1).u16(0).u32(0).u16(9).u16(200).done());
  formatError(t, () => readCapture(Buffer.concat([shb(le), overrun])), /option 9 .* overruns its block/);
});

// ---------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------

function sameRecord(a: CaptureRecord, b: CaptureRecord): boolean {
  return (
    a.index === b.index &&
    a.linkType === b.linkType &&
    a.timestampNs === b.timestampNs &&
    a.originalLength === b.originalLength &&
    a.interfaceId === b.interfaceId &&
    a.data.equals(b.data)
  );
}

/** Each prefix must parse exactly when it ends on a boundary, and then yield a prefix of records. */
function checkEveryTruncation(t: ExecutionContext, file: Buffer, boundaries: Set<number>): void {
  const full = readCapture(file);
  const failures: string[] = [];
  for (let len = 0; len <= file.length; len++) {
    let records: CaptureRecord[] | undefined;
    try {
      records = readCapture(file.subarray(0, len));
    } catch (err) {
      // Anything other than the documented error fails the test immediately.
      if (!(err instanceof CaptureFormatError)) throw err;
    }
    if (records === undefined) {
      if (boundaries.has(len)) failures.push(`prefix ${len} ends on a boundary but failed`);
    } else if (!boundaries.has(len) || !records.every((r, i) => sameRecord(r, full[i]!))) {
      failures.push(`prefix ${len} parsed unexpectedly (${records.length} records)`);
    }
  }
  t.deepEqual(failures, []);
}

test('every truncation of a pcap parses on record boundaries and fails cleanly elsewhere', (t) => {
  checkEveryTruncation(t, writePcap(sampleRecords(), LINKTYPE.ETHERNET), pcapBoundaries(SAMPLE_LENGTHS));
  checkEveryTruncation(t, bigEndianPcap(false), pcapBoundaries([10, 0]));
});

test('every truncation of a pcapng parses on block boundaries and fails cleanly elsewhere', (t) => {
  checkEveryTruncation(t, writePcapng(sampleRecords(), LINKTYPE.ETHERNET), pcapngBoundaries(SAMPLE_LENGTHS));
  const blocks = multiSectionBlocks();
  checkEveryTruncation(t, Buffer.concat(blocks), cumulativeBoundaries(blocks));
});

const MAGICS = [
  [0xd4, 0xc3, 0xb2, 0xa1],
  [0xa1, 0xb2, 0xc3, 0xd4],
  [0x4d, 0x3c, 0xb2, 0xa1],
  [0xa1, 0xb2, 0x3c, 0x4d],
  [0x0a, 0x0d, 0x0d, 0x0a],
];

test('property: random bytes after a valid magic never escape as anything but CaptureFormatError', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...MAGICS), fc.uint8Array({ maxLength: 512 }), (magic, tail) =>
      parsesOrFormatError(Buffer.concat([Buffer.from(magic), tail])),
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: random bytes after valid headers never escape as anything but CaptureFormatError', (t) => {
  const heads = [
    writePcap([], LINKTYPE.ETHERNET),
    bigEndianPcap(true).subarray(0, PCAP_HEADER_LEN),
    writePcapng([], LINKTYPE.ETHERNET),
    Buffer.concat(multiSectionBlocks().slice(0, 3)),
  ];
  fc.assert(
    fc.property(fc.constantFrom(...heads), fc.uint8Array({ maxLength: 512 }), (head, tail) =>
      parsesOrFormatError(Buffer.concat([head, tail])),
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: random byte corruption of valid files never escapes as anything but CaptureFormatError', (t) => {
  const files = [
    writePcap(sampleRecords(), LINKTYPE.ETHERNET),
    writePcapng(sampleRecords(), LINKTYPE.ETHERNET),
    Buffer.concat(multiSectionBlocks()),
  ];
  const edit = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.constantFrom(...files), fc.array(edit, { minLength: 1, maxLength: 8 }), (file, edits) => {
      const copy = Buffer.from(file);
      for (const { at, value } of edits) copy[at % copy.length] = value;
      return parsesOrFormatError(copy);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
