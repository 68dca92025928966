/**
 * GRE header, RFC 2784 with the key and sequence extensions of RFC 2890.
 *
 *   bit 0 C (checksum present)   bit 1 R (RFC 1701 routing)   bit 2 K (key)
 *   bit 3 S (sequence)           bit 4 s (strict route)       bits 5-7 recursion
 *   bits 8-12 reserved           bits 13-15 version
 *
 * RFC 2784 2.3: a receiver MUST discard a packet with any of bits 1-5 set,
 * unless it implements RFC 1701 (we do not), and bits 6-12 MUST be ignored on
 * receipt: they are kept in `reserved0` so a header re-encodes exactly. Only
 * version 0 is GRE; version 1 is PPTP's enhanced GRE and MikroTik EoIP,
 * recognised by their own codecs before this one is asked.
 */
import { checkRoom, DOUBLE_ZERO, readU16, writeU16 } from './bytes.ts';
import { finishChecksum, sumWords } from './checksum.ts';
import { checkUint, failUint, WireEncodeError, WireStatus } from './status.ts';

export const GRE_BASE_LENGTH = 4;

const FLAG_C = 0x8000;
const FLAG_R = 0x4000;
const FLAG_K = 0x2000;
const FLAG_S = 0x1000;
const FLAG_STRICT = 0x0800;
/** The top bit of the recursion field: RFC 2784 reserved0 bit 5. */
const RECUR_BIT5 = 0x0400;
/** Bits 6-12: sent as zero, ignored on receipt. */
const RESERVED0_MASK = 0x03f8;
const VERSION_MASK = 0x0007;
const DISCARD_BITS = FLAG_R | FLAG_STRICT | RECUR_BIT5;

export const GreProto = {
  /** A GRE keepalive's inner GRE header carries protocol 0. */
  KEEPALIVE: 0x0000,
  /** Seen from Huawei on keepalives whose payload is IPv4 anyway. */
  HUAWEI_IPV4: 0x0004,
  IPV4: 0x0800,
  IPV6: 0x86dd,
  TEB: 0x6558,
  PPTP: 0x880b,
  EOIP: 0x6400,
} as const;

export interface GreHeader {
  checksumPresent: boolean;
  keyPresent: boolean;
  sequencePresent: boolean;
  /** Bits 6-12 of the first word, in place (mask 0x03f8). Zero on anything sane. */
  reserved0: number;
  version: number;
  protocol: number;
  checksum: number;
  /** The 16 bits after the checksum (RFC 2784 Reserved1). */
  reserved1: number;
  key: number;
  sequence: number;
  /** 4 + 4 for each of C, K, S. Set by decode; encode derives it. */
  headerLength: number;
}

export function create(): GreHeader {
  return {
    checksumPresent: false,
    keyPresent: false,
    sequencePresent: false,
    reserved0: 0,
    version: 0,
    protocol: 0,
    checksum: 0,
    reserved1: 0,
    key: DOUBLE_ZERO,
    sequence: DOUBLE_ZERO,
    headerLength: GRE_BASE_LENGTH,
  };
}

/** Version of the GRE-like header at `offset` (needs 2 bytes), or -1 when too short. */
export function peekVersion(buf: Uint8Array, offset: number, end = buf.length): number {
  return end - offset < 2 ? -1 : buf[offset + 1]! & VERSION_MASK;
}

export function decode(buf: Uint8Array, offset: number, out: GreHeader, end = buf.length): WireStatus {
  if (end - offset < GRE_BASE_LENGTH) return WireStatus.GRE_TRUNCATED;
  const word = readU16(buf, offset);
  if ((word & VERSION_MASK) !== 0) return WireStatus.GRE_BAD_VERSION;
  if ((word & DISCARD_BITS) !== 0) return WireStatus.GRE_RESERVED_BITS;
  const c = (word & FLAG_C) !== 0;
  const k = (word & FLAG_K) !== 0;
  const s = (word & FLAG_S) !== 0;
  const length = GRE_BASE_LENGTH + (c ? 4 : 0) + (k ? 4 : 0) + (s ? 4 : 0);
  if (end - offset < length) return WireStatus.GRE_TRUNCATED;
  out.checksumPresent = c;
  out.keyPresent = k;
  out.sequencePresent = s;
  out.reserved0 = word & RESERVED0_MASK;
  out.version = 0;
  out.protocol = readU16(buf, offset + 2);
  let pos = offset + GRE_BASE_LENGTH;
  out.checksum = 0;
  out.reserved1 = 0;
  if (c) {
    out.checksum = readU16(buf, pos);
    out.reserved1 = readU16(buf, pos + 2);
    pos += 4;
  }
  out.key = 0;
  if (k) {
    // Wide fields are read inline: see DOUBLE_ZERO in bytes.ts.
    out.key = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
    pos += 4;
  }
  out.sequence = 0;
  if (s)
    out.sequence = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  out.headerLength = length;
  return WireStatus.OK;
}

export function encodingLength(h: GreHeader): number {
  return GRE_BASE_LENGTH + (h.checksumPresent ? 4 : 0) + (h.keyPresent ? 4 : 0) + (h.sequencePresent ? 4 : 0);
}

/** Writes the header as its fields say; use setChecksum once the payload is in place. */
export function encode(h: GreHeader, buf: Uint8Array, offset = 0): number {
  if (h.version !== 0) throw new WireEncodeError('gre.version', `only version 0 is GRE, got ${h.version}`);
  if ((h.reserved0 & ~RESERVED0_MASK) !== 0) {
    throw new WireEncodeError('gre.reserved0', 'only bits 6-12 (mask 0x03f8) are reserved0');
  }
  checkUint('gre.protocol', h.protocol, 0xffff);
  checkUint('gre.checksum', h.checksum, 0xffff);
  checkUint('gre.reserved1', h.reserved1, 0xffff);
  const { key, sequence } = h;
  if (!(key >= 0 && key <= 0xffffffff && Math.floor(key) === key)) failUint('gre.key', key, 0xffffffff);
  if (!(sequence >= 0 && sequence <= 0xffffffff && Math.floor(sequence) === sequence)) {
    failUint('gre.sequence', sequence, 0xffffffff);
  }
  const length = encodingLength(h);
  checkRoom('gre', buf, offset, length);
  const word =
    (h.checksumPresent ? FLAG_C : 0) |
    (h.keyPresent ? FLAG_K : 0) |
    (h.sequencePresent ? FLAG_S : 0) |
    h.reserved0;
  writeU16(buf, offset, word);
  writeU16(buf, offset + 2, h.protocol);
  let pos = offset + GRE_BASE_LENGTH;
  if (h.checksumPresent) {
    writeU16(buf, pos, h.checksum);
    writeU16(buf, pos + 2, h.reserved1);
    pos += 4;
  }
  if (h.keyPresent) {
    buf[pos] = key >>> 24;
    buf[pos + 1] = (key >>> 16) & 0xff;
    buf[pos + 2] = (key >>> 8) & 0xff;
    buf[pos + 3] = key & 0xff;
    pos += 4;
  }
  if (h.sequencePresent) {
    buf[pos] = sequence >>> 24;
    buf[pos + 1] = (sequence >>> 16) & 0xff;
    buf[pos + 2] = (sequence >>> 8) & 0xff;
    buf[pos + 3] = sequence & 0xff;
  }
  return length;
}

/**
 * Checksum over the GRE header and payload [offset, end) with the checksum
 * field taken as zero. Meaningful only when C is set.
 */
export function computeChecksum(buf: Uint8Array, offset: number, end: number): number {
  const field = offset + GRE_BASE_LENGTH;
  const partial = sumWords(buf, offset, field) + sumWords(buf, field + 2, end);
  return finishChecksum(partial);
}

/** Computes and stores the checksum of an encoded GRE packet with C set. */
export function setChecksum(buf: Uint8Array, offset: number, end: number): number {
  const sum = computeChecksum(buf, offset, end);
  writeU16(buf, offset + GRE_BASE_LENGTH, sum);
  return sum;
}

/** True when the checksum of the GRE packet [offset, end) verifies (C must be set). */
export function checksumValid(buf: Uint8Array, offset: number, end: number): boolean {
  return computeChecksum(buf, offset, end) === readU16(buf, offset + GRE_BASE_LENGTH);
}
