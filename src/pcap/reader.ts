/**
 * Reader for classic libpcap files and pcapng files.
 *
 * Every read goes through bounds-checked helpers so that a hostile or truncated file can only
 * ever produce a CaptureFormatError, and every loop advances by a validated, non-zero amount so
 * a malformed length can never stall the parser.
 */
import { readFile } from 'node:fs/promises';

/** Link-layer header types (tcpdump.org LINKTYPE_* values) this project cares about. */
export const LINKTYPE = {
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export type LinkType = (typeof LINKTYPE)[keyof typeof LINKTYPE];

export interface CaptureRecord {
  /** 0-based position of the record in the file, across all pcapng sections. */
  index: number;
  linkType: number;
  /** Nanoseconds since the Unix epoch. */
  timestampNs: bigint;
  /** Length of the packet on the wire; may exceed data.length when the capture was truncated. */
  originalLength: number;
  /** Captured bytes: a view into the file buffer, not a copy. */
  data: Buffer;
  /** Interface index within the pcapng section; always 0 for classic pcap. */
  interfaceId: number;
}

/** Thrown for any structurally invalid capture; offset is the byte position of the problem. */
export class CaptureFormatError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = 'CaptureFormatError';
    this.offset = offset;
  }
}

const LINKTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [LINKTYPE.ETHERNET, 'ethernet'],
  [LINKTYPE.RAW, 'raw'],
  [LINKTYPE.IPV4, 'ipv4'],
  [LINKTYPE.IPV6, 'ipv6'],
  [LINKTYPE.LINUX_SLL, 'linux-sll'],
  [LINKTYPE.LINUX_SLL2, 'linux-sll2'],
]);

export function linkTypeName(lt: number): string {
  return LINKTYPE_NAMES.get(lt) ?? `linktype-${lt}`;
}

// ---------------------------------------------------------------------------------------------
// Format constants
// ---------------------------------------------------------------------------------------------

/** Classic pcap magic numbers as read little-endian from the first four bytes. */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
const PCAP_MAGIC_MICROS_SWAPPED = 0xd4c3b2a1;
const PCAP_MAGIC_NANOS_SWAPPED = 0x4d3cb2a1;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** Offsets inside the classic pcap file header. */
const PCAP_HDR_VERSION_MAJOR = 4;
const PCAP_HDR_VERSION_MINOR = 6;
const PCAP_HDR_LINKTYPE = 20;
/** Only the low 16 bits of the header's link type word are the link type; the rest is FCS info. */
const PCAP_LINKTYPE_MASK = 0xffff;

export const PCAPNG_BLOCK_SHB = 0x0a0d0d0a;
export const PCAPNG_BLOCK_IDB = 1;
/** Obsolete Packet Block, superseded by the EPB but still found in old files. */
export const PCAPNG_BLOCK_PB = 2;
export const PCAPNG_BLOCK_SPB = 3;
export const PCAPNG_BLOCK_EPB = 6;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_VERSION_MAJOR = 1;
/** Block type + leading total length. */
const PCAPNG_BLOCK_HEADER_LEN = 8;
/** Header plus the trailing copy of the total length. */
const PCAPNG_BLOCK_OVERHEAD = 12;
/** Byte-order magic, major, minor, section length. */
const SHB_FIXED_BODY_LEN = 16;
/** Link type, reserved, snaplen. */
const IDB_FIXED_BODY_LEN = 8;
/** Interface id, timestamp high, timestamp low, captured length, original length. */
const EPB_FIXED_BODY_LEN = 20;
/** Same layout width as the EPB, with a 16-bit interface id and a 16-bit drop count. */
const PB_FIXED_BODY_LEN = 20;
/** Original length only. */
const SPB_FIXED_BODY_LEN = 4;
const OPTION_HEADER_LEN = 4;
const OPT_ENDOFOPT = 0;
export const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const IF_TSRESOL_LEN = 1;
const IF_TSOFFSET_LEN = 8;
/** High bit of if_tsresol selects a power-of-two resolution instead of a power of ten. */
const TSRESOL_POWER_OF_TWO = 0x80;
const TSRESOL_EXPONENT_MASK = 0x7f;
/** pcapng default resolution when no if_tsresol option is present: microseconds. */
const DEFAULT_TSRESOL_EXPONENT = 6;
const ALIGNMENT = 4;

const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MICROSECOND = 1_000n;
const MAGIC_LEN = 4;
const U16_LEN = 2;
const U32_LEN = 4;
const U64_LEN = 8;
const U32_SHIFT = 32n;

// ---------------------------------------------------------------------------------------------
// Bounds-checked access
// ---------------------------------------------------------------------------------------------

/** Endian-aware, bounds-checked view over the file, so no read can raise a RangeError. */
class ByteReader {
  constructor(
    readonly buf: Buffer,
    readonly littleEndian: boolean,
  ) {}

  private check(offset: number, width: number): void {
    if (offset < 0 || offset + width > this.buf.length) {
      throw new CaptureFormatError(
        `truncated field at offset ${offset}: need ${width} bytes, file has ${this.buf.length}`,
        offset,
      );
    }
  }

  u16(offset: number): number {
    this.check(offset, U16_LEN);
    return this.littleEndian ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }

  u32(offset: number): number {
    this.check(offset, U32_LEN);
    return this.littleEndian ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }

  i64(offset: number): bigint {
    this.check(offset, U64_LEN);
    return this.littleEndian ? this.buf.readBigInt64LE(offset) : this.buf.readBigInt64BE(offset);
  }
}

const align4 = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;
const hex32 = (n: number): string => `0x${n.toString(16).padStart(2 * U32_LEN, '0')}`;

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

export async function readCaptureFile(path: string): Promise<CaptureRecord[]> {
  return readCapture(await readFile(path));
}

export function readCapture(file: Buffer): CaptureRecord[] {
  if (file.length < MAGIC_LEN) {
    throw new CaptureFormatError(
      `not a pcap or pcapng file: ${file.length} bytes is too short for a magic number`,
      0,
    );
  }
  const magic = file.readUInt32LE(0);
  switch (magic) {
    case PCAP_MAGIC_MICROS:
      return readPcap(new ByteReader(file, true), NS_PER_MICROSECOND);
    case PCAP_MAGIC_MICROS_SWAPPED:
      return readPcap(new ByteReader(file, false), NS_PER_MICROSECOND);
    case PCAP_MAGIC_NANOS:
      return readPcap(new ByteReader(file, true), 1n);
    case PCAP_MAGIC_NANOS_SWAPPED:
      return readPcap(new ByteReader(file, false), 1n);
    case PCAPNG_BLOCK_SHB:
      return readPcapng(file);
    default:
      throw new CaptureFormatError(
        `not a pcap or pcapng file: magic 0x${file.subarray(0, MAGIC_LEN).toString('hex')}`,
        0,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Classic pcap
// ---------------------------------------------------------------------------------------------

function readPcap(r: ByteReader, nsPerFractionUnit: bigint): CaptureRecord[] {
  const file = r.buf;
  if (file.length < PCAP_FILE_HEADER_LEN) {
    throw new CaptureFormatError(
      `truncated pcap file header: ${file.length} bytes, need ${PCAP_FILE_HEADER_LEN}`,
      0,
    );
  }
  const major = r.u16(PCAP_HDR_VERSION_MAJOR);
  if (major !== PCAP_VERSION_MAJOR) {
    const minor = r.u16(PCAP_HDR_VERSION_MINOR);
    throw new CaptureFormatError(`unsupported pcap version ${major}.${minor}`, PCAP_HDR_VERSION_MAJOR);
  }
  const linkType = r.u32(PCAP_HDR_LINKTYPE) & PCAP_LINKTYPE_MASK;
  const records: CaptureRecord[] = [];
  let offset = PCAP_FILE_HEADER_LEN;
  while (offset < file.length) {
    const record = readPcapRecord(r, offset, linkType, nsPerFractionUnit, records.length);
    records.push(record);
    offset += PCAP_RECORD_HEADER_LEN + record.data.length;
  }
  return records;
}

function readPcapRecord(
  r: ByteReader,
  offset: number,
  linkType: number,
  nsPerFractionUnit: bigint,
  index: number,
): CaptureRecord {
  const remaining = r.buf.length - offset;
  if (remaining < PCAP_RECORD_HEADER_LEN) {
    throw new CaptureFormatError(
      `truncated record at offset ${offset}: ${remaining} bytes left, record header needs ${PCAP_RECORD_HEADER_LEN}`,
      offset,
    );
  }
  const seconds = r.u32(offset);
  const fraction = r.u32(offset + U32_LEN);
  const capturedLength = r.u32(offset + 2 * U32_LEN);
  const originalLength = r.u32(offset + 3 * U32_LEN);
  const dataStart = offset + PCAP_RECORD_HEADER_LEN;
  // caplen above snaplen is tolerated (some writers do it); caplen beyond the file is not.
  if (capturedLength > r.buf.length - dataStart) {
    throw new CaptureFormatError(
      `truncated record at offset ${offset}: captured length ${capturedLength} exceeds the ${r.buf.length - dataStart} bytes left`,
      offset,
    );
  }
  return {
    index,
    linkType,
    timestampNs: BigInt(seconds) * NS_PER_SECOND + BigInt(fraction) * nsPerFractionUnit,
    originalLength,
    data: r.buf.subarray(dataStart, dataStart + capturedLength),
    interfaceId: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------------

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp ticks per second, from if_tsresol. */
  ticksPerSecond: bigint;
  /** if_tsoffset converted to nanoseconds. */
  offsetNs: bigint;
}

/** Per-section state: each SHB resets byte order and the interface table. */
interface Section {
  r: ByteReader;
  interfaces: Interface[];
}

/** A validated block: body spans [bodyStart, bodyEnd) and is guaranteed to lie inside the file. */
interface Block {
  type: number;
  offset: number;
  length: number;
  bodyStart: number;
  bodyEnd: number;
}

function readPcapng(file: Buffer): CaptureRecord[] {
  const records: CaptureRecord[] = [];
  // The file starts with an SHB (checked by the caller), so this is set on the first iteration.
  let section: Section | undefined;
  let offset = 0;
  while (offset < file.length) {
    ensureBlockHeader(file, offset);
    let block: Block;
    // The SHB type is a byte palindrome, so it can be recognised before the byte order is known.
    if (file.readUInt32LE(offset) === PCAPNG_BLOCK_SHB) {
      ({ section, block } = readSectionHeader(file, offset));
    } else {
      if (!section) {
        throw new CaptureFormatError(`block at offset ${offset} precedes any section header`, offset);
      }
      block = frameBlock(section.r, offset);
      handleBlock(section, block, records);
    }
    offset += block.length;
  }
  return records;
}

/** Distinguishes "file ends mid block header" from other errors, for a clearer message. */
function ensureBlockHeader(file: Buffer, offset: number): void {
  const remaining = file.length - offset;
  if (remaining < PCAPNG_BLOCK_HEADER_LEN) {
    throw new CaptureFormatError(
      `truncated block at offset ${offset}: ${remaining} bytes left, block header needs ${PCAPNG_BLOCK_HEADER_LEN}`,
      offset,
    );
  }
}

/** Determines the section's byte order from its byte-order magic and checks the version. */
function readSectionHeader(file: Buffer, offset: number): { section: Section; block: Block } {
  const bomOffset = offset + PCAPNG_BLOCK_HEADER_LEN;
  const le = new ByteReader(file, true);
  const bom = le.u32(bomOffset);
  let r: ByteReader;
  if (bom === PCAPNG_BYTE_ORDER_MAGIC) {
    r = le;
  } else if (new ByteReader(file, false).u32(bomOffset) === PCAPNG_BYTE_ORDER_MAGIC) {
    r = new ByteReader(file, false);
  } else {
    throw new CaptureFormatError(
      `section header at offset ${offset} has bad byte-order magic ${hex32(bom)}`,
      bomOffset,
    );
  }
  // Check the declared block length first so a truncated SHB reports truncation, not a bad field.
  const block = frameBlock(r, offset);
  requireBody(block, SHB_FIXED_BODY_LEN, 'SHB');
  const major = r.u16(bomOffset + U32_LEN);
  if (major !== PCAPNG_VERSION_MAJOR) {
    const minor = r.u16(bomOffset + U32_LEN + U16_LEN);
    throw new CaptureFormatError(
      `unsupported pcapng version ${major}.${minor} in section at offset ${offset}`,
      bomOffset + U32_LEN,
    );
  }
  return { section: { r, interfaces: [] }, block };
}

/** Validates a block's length fields, which is what makes skipping unknown blocks safe. */
function frameBlock(r: ByteReader, offset: number): Block {
  const type = r.u32(offset);
  const length = r.u32(offset + U32_LEN);
  if (length % ALIGNMENT !== 0) {
    throw new CaptureFormatError(
      `block length ${length} at offset ${offset} is not a multiple of ${ALIGNMENT}`,
      offset,
    );
  }
  if (length < PCAPNG_BLOCK_OVERHEAD) {
    throw new CaptureFormatError(
      `block length ${length} at offset ${offset} is smaller than the minimum ${PCAPNG_BLOCK_OVERHEAD}`,
      offset,
    );
  }
  const remaining = r.buf.length - offset;
  if (length > remaining) {
    throw new CaptureFormatError(
      `truncated block at offset ${offset}: length ${length} exceeds the ${remaining} bytes left`,
      offset,
    );
  }
  const trailer = r.u32(offset + length - U32_LEN);
  if (trailer !== length) {
    throw new CaptureFormatError(
      `block at offset ${offset}: trailing length ${trailer} does not match leading length ${length}`,
      offset + length - U32_LEN,
    );
  }
  const bodyStart = offset + PCAPNG_BLOCK_HEADER_LEN;
  return { type, offset, length, bodyStart, bodyEnd: offset + length - U32_LEN };
}

function handleBlock(section: Section, block: Block, records: CaptureRecord[]): void {
  switch (block.type) {
    case PCAPNG_BLOCK_IDB:
      section.interfaces.push(readInterface(section.r, block));
      return;
    case PCAPNG_BLOCK_EPB:
      records.push(readEnhancedPacket(section, block, records.length));
      return;
    case PCAPNG_BLOCK_PB:
      records.push(readObsoletePacket(section, block, records.length));
      return;
    case PCAPNG_BLOCK_SPB:
      records.push(readSimplePacket(section, block, records.length));
      return;
    default:
      // Statistics, name resolution, custom blocks, ...: not needed, and frameBlock made skipping safe.
      return;
  }
}

function requireBody(block: Block, minBody: number, name: string): void {
  const body = block.bodyEnd - block.bodyStart;
  if (body < minBody) {
    throw new CaptureFormatError(
      `${name} at offset ${block.offset} has a ${body}-byte body, need at least ${minBody}`,
      block.offset,
    );
  }
}

function readInterface(r: ByteReader, block: Block): Interface {
  requireBody(block, IDB_FIXED_BODY_LEN, 'IDB');
  const iface: Interface = {
    linkType: r.u16(block.bodyStart),
    snaplen: r.u32(block.bodyStart + U32_LEN),
    ticksPerSecond: 10n ** BigInt(DEFAULT_TSRESOL_EXPONENT),
    offsetNs: 0n,
  };
  for (const opt of readOptions(r, block.bodyStart + IDB_FIXED_BODY_LEN, block.bodyEnd)) {
    if (opt.code === OPT_IF_TSRESOL) {
      requireOptionLength(opt, IF_TSRESOL_LEN, 'if_tsresol');
      iface.ticksPerSecond = ticksPerSecond(r.buf[opt.valueStart]!);
    } else if (opt.code === OPT_IF_TSOFFSET) {
      requireOptionLength(opt, IF_TSOFFSET_LEN, 'if_tsoffset');
      iface.offsetNs = r.i64(opt.valueStart) * NS_PER_SECOND;
    }
  }
  return iface;
}

function ticksPerSecond(tsresol: number): bigint {
  const exponent = BigInt(tsresol & TSRESOL_EXPONENT_MASK);
  return (tsresol & TSRESOL_POWER_OF_TWO) !== 0 ? 2n ** exponent : 10n ** exponent;
}

interface OptionRef {
  code: number;
  valueStart: number;
  length: number;
  offset: number;
}

/** Walks the TLV options in [start, end); each step advances at least one option header. */
function* readOptions(r: ByteReader, start: number, end: number): Generator<OptionRef> {
  let offset = start;
  while (end - offset >= OPTION_HEADER_LEN) {
    const code = r.u16(offset);
    const length = r.u16(offset + U16_LEN);
    if (code === OPT_ENDOFOPT) return;
    const valueStart = offset + OPTION_HEADER_LEN;
    if (valueStart + align4(length) > end) {
      throw new CaptureFormatError(
        `option ${code} at offset ${offset}: length ${length} overruns its block`,
        offset,
      );
    }
    yield { code, valueStart, length, offset };
    offset = valueStart + align4(length);
  }
}

function requireOptionLength(opt: OptionRef, expected: number, name: string): void {
  if (opt.length !== expected) {
    throw new CaptureFormatError(
      `${name} option at offset ${opt.offset} has length ${opt.length}, expected ${expected}`,
      opt.offset,
    );
  }
}

function lookupInterface(section: Section, id: number, block: Block, name: string): Interface {
  const iface = section.interfaces[id];
  if (!iface) {
    throw new CaptureFormatError(
      `${name} at offset ${block.offset} references unknown interface ${id}`,
      block.offset,
    );
  }
  return iface;
}

/** Fields shared by the EPB and the obsolete PB after their interface id. */
interface PacketFields {
  interfaceId: number;
  iface: Interface;
  /** Offset of timestamp high; low, caplen, origlen follow as consecutive u32s. */
  fieldsStart: number;
}

function readEnhancedPacket(section: Section, block: Block, index: number): CaptureRecord {
  requireBody(block, EPB_FIXED_BODY_LEN, 'EPB');
  const interfaceId = section.r.u32(block.bodyStart);
  const iface = lookupInterface(section, interfaceId, block, 'EPB');
  return readTimestampedPacket(section.r, block, index, 'EPB', {
    interfaceId,
    iface,
    fieldsStart: block.bodyStart + U32_LEN,
  });
}

function readObsoletePacket(section: Section, block: Block, index: number): CaptureRecord {
  requireBody(block, PB_FIXED_BODY_LEN, 'Packet Block');
  const interfaceId = section.r.u16(block.bodyStart);
  const iface = lookupInterface(section, interfaceId, block, 'Packet Block');
  // The 16-bit drop count sits between the interface id and the timestamp.
  return readTimestampedPacket(section.r, block, index, 'Packet Block', {
    interfaceId,
    iface,
    fieldsStart: block.bodyStart + U32_LEN,
  });
}

function readTimestampedPacket(
  r: ByteReader,
  block: Block,
  index: number,
  name: string,
  fields: PacketFields,
): CaptureRecord {
  const at = fields.fieldsStart;
  const high = r.u32(at);
  const low = r.u32(at + U32_LEN);
  const capturedLength = r.u32(at + 2 * U32_LEN);
  const originalLength = r.u32(at + 3 * U32_LEN);
  const dataStart = at + 4 * U32_LEN;
  checkPacketFits(block, dataStart, capturedLength, name);
  const ticks = (BigInt(high) << U32_SHIFT) | BigInt(low);
  return {
    index,
    linkType: fields.iface.linkType,
    timestampNs: (ticks * NS_PER_SECOND) / fields.iface.ticksPerSecond + fields.iface.offsetNs,
    originalLength,
    data: r.buf.subarray(dataStart, dataStart + capturedLength),
    interfaceId: fields.interfaceId,
  };
}

function readSimplePacket(section: Section, block: Block, index: number): CaptureRecord {
  requireBody(block, SPB_FIXED_BODY_LEN, 'SPB');
  // SPBs carry no interface id: they always belong to the section's first interface.
  const iface = lookupInterface(section, 0, block, 'SPB');
  const originalLength = section.r.u32(block.bodyStart);
  // The captured length is implicit: the original length cut to the snaplen (0 = unlimited).
  const capturedLength = iface.snaplen === 0 ? originalLength : Math.min(originalLength, iface.snaplen);
  const dataStart = block.bodyStart + SPB_FIXED_BODY_LEN;
  checkPacketFits(block, dataStart, capturedLength, 'SPB');
  return {
    index,
    linkType: iface.linkType,
    // SPBs have no timestamp; 0 is the honest "unknown".
    timestampNs: 0n,
    originalLength,
    data: section.r.buf.subarray(dataStart, dataStart + capturedLength),
    interfaceId: 0,
  };
}

function checkPacketFits(block: Block, dataStart: number, capturedLength: number, name: string): void {
  const room = block.bodyEnd - dataStart;
  if (capturedLength > room) {
    throw new CaptureFormatError(
      `${name} at offset ${block.offset}: captured length ${capturedLength} exceeds the ${room} bytes in the block`,
      block.offset,
    );
  }
}
