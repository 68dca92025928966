/**
 * Writers for classic pcap and pcapng, always little-endian. Output is built into one buffer
 * whose size is computed up front, so there is no incremental concatenation.
 */
import {
  OPT_IF_TSRESOL,
  PCAP_FILE_HEADER_LEN,
  PCAP_MAGIC_MICROS,
  PCAP_MAGIC_NANOS,
  PCAP_RECORD_HEADER_LEN,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
  PCAPNG_BLOCK_EPB,
  PCAPNG_BLOCK_IDB,
  PCAPNG_BLOCK_SHB,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_VERSION_MAJOR,
} from './reader.ts';

export interface CaptureInput {
  data: Uint8Array;
  /** Nanoseconds since the Unix epoch; defaults to 0. */
  timestampNs?: bigint;
  /** Length on the wire; defaults to data.length. */
  originalLength?: number;
}

export interface PcapWriteOptions {
  /** Write nanosecond timestamps (magic a1b23c4d) instead of microseconds. */
  nanosecond?: boolean;
  /** Maximum bytes stored per record; longer packets are cut and keep their original length. */
  snaplen?: number;
}

/** libpcap's default snapshot length (MAXIMUM_SNAPLEN). */
export const DEFAULT_SNAPLEN = 262144;

const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MICROSECOND = 1_000n;
const MAX_U32 = 0xffff_ffff;
const U32_MASK = 0xffff_ffffn;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const U32_SHIFT = 32n;
const ALIGNMENT = 4;

const PCAPNG_VERSION_MINOR = 0;
/** Section length -1: "not specified", which spares us a second pass. */
const SECTION_LENGTH_UNKNOWN = -1n;
const SHB_LEN = 28;
/** if_tsresol value 9: timestamps are 10^-9 s ticks, i.e. nanoseconds. */
const TSRESOL_NANOSECONDS = 9;
const IF_TSRESOL_LEN = 1;
/** type, length, link type, reserved, snaplen, if_tsresol TLV (4 + 4 padded), end-of-options, length. */
const IDB_LEN = 32;
/** IDB snaplen 0 means "no limit": the pcapng writer never truncates. */
const IDB_SNAPLEN_UNLIMITED = 0;
/** type, length, interface id, ts high, ts low, caplen, origlen, trailing length. */
const EPB_OVERHEAD = 32;

const align4 = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** Little-endian cursor over a pre-sized buffer. */
class Cursor {
  offset = 0;

  constructor(readonly buf: Buffer) {}

  u16(v: number): void {
    this.offset = this.buf.writeUInt16LE(v, this.offset);
  }

  u32(v: number): void {
    this.offset = this.buf.writeUInt32LE(v, this.offset);
  }

  i64(v: bigint): void {
    this.offset = this.buf.writeBigInt64LE(v, this.offset);
  }

  bytes(data: Uint8Array): void {
    this.buf.set(data, this.offset);
    this.offset += data.length;
  }

  /** Zero padding: Buffer.alloc already zeroed it, so skipping is enough. */
  padTo4(): void {
    this.offset = align4(this.offset);
  }
}

function validatedTimestamp(record: CaptureInput, i: number): bigint {
  const ts = record.timestampNs ?? 0n;
  if (ts < 0n) throw new RangeError(`record ${i}: negative timestamp ${ts}`);
  return ts;
}

function validatedOriginalLength(record: CaptureInput, i: number): number {
  const len = record.originalLength ?? record.data.length;
  if (!Number.isInteger(len) || len < record.data.length || len > MAX_U32) {
    throw new RangeError(
      `record ${i}: original length ${len} is invalid for ${record.data.length} data bytes`,
    );
  }
  return len;
}

// ---------------------------------------------------------------------------------------------
// Classic pcap
// ---------------------------------------------------------------------------------------------

export function writePcap(records: CaptureInput[], linkType: number, opts: PcapWriteOptions = {}): Buffer {
  const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
  const nanosecond = opts.nanosecond ?? false;
  const captured = records.map((r) => r.data.subarray(0, snaplen));
  const size = captured.reduce((sum, d) => sum + PCAP_RECORD_HEADER_LEN + d.length, PCAP_FILE_HEADER_LEN);
  const out = new Cursor(Buffer.alloc(size));
  writePcapHeader(out, linkType, snaplen, nanosecond);
  records.forEach((record, i) => {
    writePcapRecord(out, record, captured[i]!, i, nanosecond);
  });
  return out.buf;
}

function writePcapHeader(out: Cursor, linkType: number, snaplen: number, nanosecond: boolean): void {
  out.u32(nanosecond ? PCAP_MAGIC_NANOS : PCAP_MAGIC_MICROS);
  out.u16(PCAP_VERSION_MAJOR);
  out.u16(PCAP_VERSION_MINOR);
  out.u32(0); // thiszone: always UTC
  out.u32(0); // sigfigs: unused by every reader
  out.u32(snaplen);
  out.u32(linkType);
}

function writePcapRecord(
  out: Cursor,
  record: CaptureInput,
  data: Uint8Array,
  i: number,
  nanosecond: boolean,
): void {
  const ts = validatedTimestamp(record, i);
  const seconds = ts / NS_PER_SECOND;
  if (seconds > BigInt(MAX_U32)) {
    throw new RangeError(`record ${i}: timestamp ${ts} does not fit classic pcap`);
  }
  const fractionNs = ts % NS_PER_SECOND;
  out.u32(Number(seconds));
  out.u32(Number(nanosecond ? fractionNs : fractionNs / NS_PER_MICROSECOND));
  out.u32(data.length);
  out.u32(validatedOriginalLength(record, i));
  out.bytes(data);
}

// ---------------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------------

export function writePcapng(records: CaptureInput[], linkType: number): Buffer {
  const size = records.reduce((sum, r) => sum + EPB_OVERHEAD + align4(r.data.length), SHB_LEN + IDB_LEN);
  const out = new Cursor(Buffer.alloc(size));
  writeSectionHeader(out);
  writeInterface(out, linkType);
  records.forEach((record, i) => {
    writeEnhancedPacket(out, record, i);
  });
  return out.buf;
}

function writeSectionHeader(out: Cursor): void {
  out.u32(PCAPNG_BLOCK_SHB);
  out.u32(SHB_LEN);
  out.u32(PCAPNG_BYTE_ORDER_MAGIC);
  out.u16(PCAPNG_VERSION_MAJOR);
  out.u16(PCAPNG_VERSION_MINOR);
  out.i64(SECTION_LENGTH_UNKNOWN);
  out.u32(SHB_LEN);
}

function writeInterface(out: Cursor, linkType: number): void {
  out.u32(PCAPNG_BLOCK_IDB);
  out.u32(IDB_LEN);
  out.u16(linkType);
  out.u16(0); // reserved
  out.u32(IDB_SNAPLEN_UNLIMITED);
  out.u16(OPT_IF_TSRESOL);
  out.u16(IF_TSRESOL_LEN);
  out.buf[out.offset] = TSRESOL_NANOSECONDS;
  out.offset += IF_TSRESOL_LEN;
  out.padTo4();
  out.u32(0); // opt_endofopt: code 0, length 0
  out.u32(IDB_LEN);
}

function writeEnhancedPacket(out: Cursor, record: CaptureInput, i: number): void {
  const ts = validatedTimestamp(record, i);
  if (ts > MAX_U64) {
    throw new RangeError(`record ${i}: timestamp ${ts} does not fit 64 bits`);
  }
  const length = EPB_OVERHEAD + align4(record.data.length);
  out.u32(PCAPNG_BLOCK_EPB);
  out.u32(length);
  out.u32(0); // interface id: the single IDB
  out.u32(Number((ts >> U32_SHIFT) & U32_MASK));
  out.u32(Number(ts & U32_MASK));
  out.u32(record.data.length);
  out.u32(validatedOriginalLength(record, i));
  out.bytes(record.data);
  out.padTo4();
  out.u32(length);
}
