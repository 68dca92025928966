/**
 * IPv4 header (RFC 791): options, header checksum and fragment fields.
 * Addresses are unsigned 32-bit integers. Options are copied into a buffer
 * the header owns, so a decoded header stays valid after the input is reused.
 */
import { checkRoom, DOUBLE_ZERO, readU16, writeU16 } from './bytes.ts';
import { finishChecksum, internetChecksum, sumWords } from './checksum.ts';
import { checkUint, failUint, WireEncodeError, WireStatus } from './status.ts';

export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_MAX_OPTIONS_LENGTH = 40;
export const IPPROTO_GRE = 47;
/** IPv6 next header 97 (EtherIP's number), used by MikroTik EoIPv6. */
export const IPPROTO_ETHERIP = 97;

/** Flag bits as they sit in the 3-bit flags field. */
export const Ipv4Flags = { RESERVED: 4, DONT_FRAGMENT: 2, MORE_FRAGMENTS: 1 } as const;

const OPTION_END = 0;
const OPTION_NOP = 1;
const CHECKSUM_OFFSET = 10;

export interface Ipv4Header {
  /** DSCP and ECN as one byte. */
  tos: number;
  totalLength: number;
  identification: number;
  /** 3 bits: reserved, DF, MF (see Ipv4Flags). */
  flags: number;
  /** In 8-byte units. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
  /** Option bytes (including padding) are options[0, optionsLength). */
  options: Uint8Array;
  optionsLength: number;
  /** 20 + optionsLength. Set by decode; encode derives it. */
  headerLength: number;
}

export function create(): Ipv4Header {
  return {
    tos: 0,
    totalLength: IPV4_MIN_HEADER_LENGTH,
    identification: 0,
    flags: 0,
    fragmentOffset: 0,
    ttl: 64,
    protocol: 0,
    checksum: 0,
    src: DOUBLE_ZERO,
    dst: DOUBLE_ZERO,
    options: new Uint8Array(IPV4_MAX_OPTIONS_LENGTH),
    optionsLength: 0,
    headerLength: IPV4_MIN_HEADER_LENGTH,
  };
}

export function decode(buf: Uint8Array, offset: number, out: Ipv4Header, end = buf.length): WireStatus {
  if (end - offset < IPV4_MIN_HEADER_LENGTH) return WireStatus.IPV4_TRUNCATED;
  const b0 = buf[offset]!;
  if (b0 >>> 4 !== 4) return WireStatus.IPV4_BAD_VERSION;
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return WireStatus.IPV4_BAD_IHL;
  if (end - offset < headerLength) return WireStatus.IPV4_TRUNCATED;
  const totalLength = readU16(buf, offset + 2);
  if (totalLength < headerLength) return WireStatus.IPV4_BAD_TOTAL_LENGTH;
  const optionsStart = offset + IPV4_MIN_HEADER_LENGTH;
  if (!optionsWellFormed(buf, optionsStart, offset + headerLength)) return WireStatus.IPV4_BAD_OPTIONS;
  out.tos = buf[offset + 1]!;
  out.totalLength = totalLength;
  out.identification = readU16(buf, offset + 4);
  const fragmentWord = readU16(buf, offset + 6);
  out.flags = fragmentWord >>> 13;
  out.fragmentOffset = fragmentWord & 0x1fff;
  out.ttl = buf[offset + 8]!;
  out.protocol = buf[offset + 9]!;
  out.checksum = readU16(buf, offset + CHECKSUM_OFFSET);
  // Wide fields are read inline: see DOUBLE_ZERO in bytes.ts.
  out.src =
    buf[offset + 12]! * 0x1000000 +
    ((buf[offset + 13]! << 16) | (buf[offset + 14]! << 8) | buf[offset + 15]!);
  out.dst =
    buf[offset + 16]! * 0x1000000 +
    ((buf[offset + 17]! << 16) | (buf[offset + 18]! << 8) | buf[offset + 19]!);
  out.optionsLength = headerLength - IPV4_MIN_HEADER_LENGTH;
  for (let i = 0; i < out.optionsLength; i++) out.options[i] = buf[optionsStart + i]!;
  out.headerLength = headerLength;
  return WireStatus.OK;
}

/** The fixed fields a datapath needs from each received header (see decodeReceived). */
export type Ipv4Received = Pick<
  Ipv4Header,
  'headerLength' | 'totalLength' | 'flags' | 'fragmentOffset' | 'protocol' | 'src' | 'dst'
>;

export function createReceived(): Ipv4Received {
  return {
    headerLength: IPV4_MIN_HEADER_LENGTH,
    totalLength: IPV4_MIN_HEADER_LENGTH,
    flags: 0,
    fragmentOffset: 0,
    protocol: 0,
    src: DOUBLE_ZERO,
    dst: DOUBLE_ZERO,
  };
}

/**
 * Per-packet decode of a header the kernel has already accepted (a raw
 * socket's delivery): version, IHL and a total length that lies within
 * `len` bytes are checked, the fixed fields read; options are neither
 * checked (ip_rcv did) nor copied, which keeps this cheap enough for every
 * packet.
 */
export function decodeReceived(buf: Uint8Array, offset: number, len: number, out: Ipv4Received): WireStatus {
  if (len < IPV4_MIN_HEADER_LENGTH) return WireStatus.IPV4_TRUNCATED;
  const b0 = buf[offset]!;
  if (b0 >>> 4 !== 4) return WireStatus.IPV4_BAD_VERSION;
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return WireStatus.IPV4_BAD_IHL;
  const totalLength = readU16(buf, offset + 2);
  if (totalLength < headerLength) return WireStatus.IPV4_BAD_TOTAL_LENGTH;
  if (totalLength > len) return WireStatus.IPV4_TRUNCATED;
  out.headerLength = headerLength;
  out.totalLength = totalLength;
  const fragmentWord = readU16(buf, offset + 6);
  out.flags = fragmentWord >>> 13;
  out.fragmentOffset = fragmentWord & 0x1fff;
  out.protocol = buf[offset + 9]!;
  // Wide fields are read inline: see DOUBLE_ZERO in bytes.ts.
  out.src =
    buf[offset + 12]! * 0x1000000 +
    ((buf[offset + 13]! << 16) | (buf[offset + 14]! << 8) | buf[offset + 15]!);
  out.dst =
    buf[offset + 16]! * 0x1000000 +
    ((buf[offset + 17]! << 16) | (buf[offset + 18]! << 8) | buf[offset + 19]!);
  return WireStatus.OK;
}

/**
 * Options are type-length-value except END and NOP (single bytes). A length
 * below 2 or running past the header is what Linux's ip_options_compile
 * rejects too. Bytes after END are padding.
 */
function optionsWellFormed(buf: Uint8Array, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    const type = buf[pos]!;
    if (type === OPTION_END) return true;
    if (type === OPTION_NOP) {
      pos++;
      continue;
    }
    if (end - pos < 2) return false;
    const len = buf[pos + 1]!;
    if (len < 2 || len > end - pos) return false;
    pos += len;
  }
  return true;
}

/** Option types present, in order (END and the padding after it excluded). For display. */
export function optionTypes(h: Ipv4Header): number[] {
  const types: number[] = [];
  let pos = 0;
  while (pos < h.optionsLength) {
    const type = h.options[pos]!;
    if (type === OPTION_END) break;
    types.push(type);
    pos += type === OPTION_NOP ? 1 : Math.max(2, h.options[pos + 1] ?? 2);
  }
  return types;
}

export function encodingLength(h: Ipv4Header): number {
  return IPV4_MIN_HEADER_LENGTH + h.optionsLength;
}

/**
 * Writes the header exactly as its fields say, checksum included: call
 * setChecksum afterwards to compute it.
 */
export function encode(h: Ipv4Header, buf: Uint8Array, offset = 0): number {
  if (h.optionsLength % 4 !== 0 || h.optionsLength > IPV4_MAX_OPTIONS_LENGTH || h.optionsLength < 0) {
    throw new WireEncodeError(
      'ipv4.optionsLength',
      `must be a multiple of 4 up to 40, got ${h.optionsLength}`,
    );
  }
  const length = encodingLength(h);
  checkUint('ipv4.tos', h.tos, 0xff);
  checkUint('ipv4.totalLength', h.totalLength, 0xffff);
  if (h.totalLength < length)
    throw new WireEncodeError('ipv4.totalLength', `below the header length ${length}`);
  checkUint('ipv4.identification', h.identification, 0xffff);
  checkUint('ipv4.flags', h.flags, 7);
  checkUint('ipv4.fragmentOffset', h.fragmentOffset, 0x1fff);
  checkUint('ipv4.ttl', h.ttl, 0xff);
  checkUint('ipv4.protocol', h.protocol, 0xff);
  checkUint('ipv4.checksum', h.checksum, 0xffff);
  // Wide fields are checked and written inline (see failUint).
  const { src, dst } = h;
  if (!(src >= 0 && src <= 0xffffffff && Math.floor(src) === src)) failUint('ipv4.src', src, 0xffffffff);
  if (!(dst >= 0 && dst <= 0xffffffff && Math.floor(dst) === dst)) failUint('ipv4.dst', dst, 0xffffffff);
  checkRoom('ipv4', buf, offset, length);
  buf[offset] = 0x40 | (length >>> 2);
  buf[offset + 1] = h.tos;
  writeU16(buf, offset + 2, h.totalLength);
  writeU16(buf, offset + 4, h.identification);
  writeU16(buf, offset + 6, (h.flags << 13) | h.fragmentOffset);
  buf[offset + 8] = h.ttl;
  buf[offset + 9] = h.protocol;
  writeU16(buf, offset + CHECKSUM_OFFSET, h.checksum);
  buf[offset + 12] = src >>> 24;
  buf[offset + 13] = (src >>> 16) & 0xff;
  buf[offset + 14] = (src >>> 8) & 0xff;
  buf[offset + 15] = src & 0xff;
  buf[offset + 16] = dst >>> 24;
  buf[offset + 17] = (dst >>> 16) & 0xff;
  buf[offset + 18] = (dst >>> 8) & 0xff;
  buf[offset + 19] = dst & 0xff;
  for (let i = 0; i < h.optionsLength; i++) buf[offset + IPV4_MIN_HEADER_LENGTH + i] = h.options[i]!;
  return length;
}

/** Header checksum over the encoded header at `offset`, the checksum field counted as zero. */
export function computeChecksum(buf: Uint8Array, offset: number): number {
  const headerLength = (buf[offset]! & 0x0f) * 4;
  const before = sumWords(buf, offset, offset + CHECKSUM_OFFSET);
  return finishChecksum(sumWords(buf, offset + CHECKSUM_OFFSET + 2, offset + headerLength, before));
}

/** Computes and stores the header checksum of the encoded header at `offset`. */
export function setChecksum(buf: Uint8Array, offset: number): number {
  const sum = computeChecksum(buf, offset);
  writeU16(buf, offset + CHECKSUM_OFFSET, sum);
  return sum;
}

/** True when the encoded header at `offset` carries a valid checksum. */
export function checksumValid(buf: Uint8Array, offset: number): boolean {
  const headerLength = (buf[offset]! & 0x0f) * 4;
  return internetChecksum(buf, offset, offset + headerLength) === 0;
}

export function isFragment(h: Pick<Ipv4Header, 'flags' | 'fragmentOffset'>): boolean {
  return h.fragmentOffset !== 0 || (h.flags & Ipv4Flags.MORE_FRAGMENTS) !== 0;
}

export function formatAddress(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses dotted-quad text; returns null when it is not exactly four decimal octets. */
export function parseAddress(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let addr = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    addr = addr * 256 + octet;
  }
  return addr;
}
