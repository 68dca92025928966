/**
 * Ethernet II header with up to two VLAN tags (802.1Q, 802.1ad / QinQ).
 * MAC addresses are kept as 48-bit integers: exact in a double, cheap to
 * compare, and no allocation per frame.
 */
import { checkRoom, DOUBLE_ZERO, readU16, readU32, writeU16, writeU32 } from './bytes.ts';
import { checkUint, failUint, WireStatus } from './status.ts';

export const ETH_HEADER_LENGTH = 14;
export const VLAN_TAG_LENGTH = 4;
export const MAX_VLAN_TAGS = 2;

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
  IPV6: 0x86dd,
  /** Transparent Ethernet Bridging: what gretap carries. */
  TEB: 0x6558,
} as const;

/** Largest value that is a length (IEEE 802.3) rather than an EtherType. */
export const MAX_8023_LENGTH = 1500;

const MAC_MAX = 2 ** 48 - 1;

export interface EthernetHeader {
  dst: number;
  src: number;
  /** Number of VLAN tags in use in `tagTpid`/`tagTci`, outermost first. */
  tagCount: number;
  tagTpid: Uint16Array;
  tagTci: Uint16Array;
  /** EtherType after the last tag (or an 802.3 length if <= 1500). */
  etherType: number;
  /** 14 + 4 per tag. Set by decode; encode derives it from tagCount. */
  headerLength: number;
}

export function create(): EthernetHeader {
  return {
    dst: DOUBLE_ZERO,
    src: DOUBLE_ZERO,
    tagCount: 0,
    tagTpid: new Uint16Array(MAX_VLAN_TAGS),
    tagTci: new Uint16Array(MAX_VLAN_TAGS),
    etherType: 0,
    headerLength: ETH_HEADER_LENGTH,
  };
}

export function isVlanTpid(type: number): boolean {
  return type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.QINQ_OLD;
}

export function readMac(buf: Uint8Array, off: number): number {
  // High 16 bits times 2^32 plus the low 32 bits: exact for 48-bit values.
  return ((buf[off]! << 8) | buf[off + 1]!) * 0x100000000 + readU32(buf, off + 2);
}

export function writeMac(buf: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  buf[off] = hi >>> 8;
  buf[off + 1] = hi & 0xff;
  writeU32(buf, off + 2, mac >>> 0);
}

export function decode(buf: Uint8Array, offset: number, out: EthernetHeader, end = buf.length): WireStatus {
  if (end - offset < ETH_HEADER_LENGTH) return WireStatus.ETH_TRUNCATED;
  // Wide fields are read inline, not with readMac(): see DOUBLE_ZERO in bytes.ts.
  out.dst =
    ((buf[offset]! << 8) | buf[offset + 1]!) * 0x100000000 +
    buf[offset + 2]! * 0x1000000 +
    ((buf[offset + 3]! << 16) | (buf[offset + 4]! << 8) | buf[offset + 5]!);
  out.src =
    ((buf[offset + 6]! << 8) | buf[offset + 7]!) * 0x100000000 +
    buf[offset + 8]! * 0x1000000 +
    ((buf[offset + 9]! << 16) | (buf[offset + 10]! << 8) | buf[offset + 11]!);
  let pos = offset + 12;
  let type = readU16(buf, pos);
  let tags = 0;
  while (isVlanTpid(type)) {
    if (tags === MAX_VLAN_TAGS) return WireStatus.ETH_TOO_MANY_TAGS;
    if (end - pos < 2 + VLAN_TAG_LENGTH) return WireStatus.ETH_TRUNCATED;
    out.tagTpid[tags] = type;
    out.tagTci[tags] = readU16(buf, pos + 2);
    tags++;
    pos += VLAN_TAG_LENGTH;
    type = readU16(buf, pos);
  }
  out.tagCount = tags;
  out.etherType = type;
  out.headerLength = pos + 2 - offset;
  return WireStatus.OK;
}

export function encodingLength(h: EthernetHeader): number {
  return ETH_HEADER_LENGTH + h.tagCount * VLAN_TAG_LENGTH;
}

/** Writes the header at `offset`; returns the number of bytes written. */
export function encode(h: EthernetHeader, buf: Uint8Array, offset = 0): number {
  checkUint('ethernet.tagCount', h.tagCount, MAX_VLAN_TAGS);
  // Wide fields are checked and written inline (see failUint).
  const { dst, src } = h;
  if (!(dst >= 0 && dst <= MAC_MAX && Math.floor(dst) === dst)) failUint('ethernet.dst', dst, MAC_MAX);
  if (!(src >= 0 && src <= MAC_MAX && Math.floor(src) === src)) failUint('ethernet.src', src, MAC_MAX);
  checkUint('ethernet.etherType', h.etherType, 0xffff);
  const length = encodingLength(h);
  checkRoom('ethernet', buf, offset, length);
  const dstHigh = Math.floor(dst / 0x100000000);
  const srcHigh = Math.floor(src / 0x100000000);
  buf[offset] = dstHigh >>> 8;
  buf[offset + 1] = dstHigh & 0xff;
  buf[offset + 2] = dst >>> 24; // >>> takes the value modulo 2^32: the low 32 bits
  buf[offset + 3] = (dst >>> 16) & 0xff;
  buf[offset + 4] = (dst >>> 8) & 0xff;
  buf[offset + 5] = dst & 0xff;
  buf[offset + 6] = srcHigh >>> 8;
  buf[offset + 7] = srcHigh & 0xff;
  buf[offset + 8] = src >>> 24;
  buf[offset + 9] = (src >>> 16) & 0xff;
  buf[offset + 10] = (src >>> 8) & 0xff;
  buf[offset + 11] = src & 0xff;
  let pos = offset + 12;
  for (let i = 0; i < h.tagCount; i++) {
    writeU16(buf, pos, h.tagTpid[i]!);
    writeU16(buf, pos + 2, h.tagTci[i]!);
    pos += VLAN_TAG_LENGTH;
  }
  writeU16(buf, pos, h.etherType);
  return length;
}

export function vlanId(tci: number): number {
  return tci & 0x0fff;
}
export function vlanPriority(tci: number): number {
  return tci >>> 13;
}
export function vlanDropEligible(tci: number): boolean {
  return (tci & 0x1000) !== 0;
}
