/**
 * IPv6 header (RFC 8200) and the extension header chain up to the upper-layer
 * protocol. Addresses are copied into 16-byte arrays the header owns.
 * Extension header bodies are views into the decoded buffer: extension
 * headers are rare on the paths we care about, and a view keeps them exact.
 */
import { checkRoom, DOUBLE_ZERO, readU16, writeU16 } from './bytes.ts';
import { checkUint, WireEncodeError, WireStatus } from './status.ts';

export const IPV6_HEADER_LENGTH = 40;
export const MAX_EXTENSIONS = 8;

export const Ipv6Ext = {
  HOP_BY_HOP: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  AUTH: 51,
  DEST_OPTIONS: 60,
} as const;

const FRAGMENT_HEADER_LENGTH = 8;
const EMPTY = new Uint8Array(0);

export interface Ipv6Extension {
  /** This header's own protocol number (0, 43, 44, 51 or 60). */
  type: number;
  /**
   * Bytes after the two leading bytes (next header, length). For a fragment
   * header the second byte is reserved, not a length: it is in `reserved`.
   */
  body: Uint8Array;
  /** Fragment header's reserved byte, kept for exact round trips. */
  reserved: number;
}

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  /** Next header of the fixed header (the first extension, or the upper protocol). */
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
  extensionCount: number;
  extensions: Ipv6Extension[];
  /** Protocol after the last extension header. Set by decode. */
  upperProtocol: number;
  /** Fixed header plus extension headers. Set by decode. */
  headerLength: number;
  /** Fragment header fields, when one is present (set by decode). */
  hasFragmentHeader: boolean;
  fragmentOffset: number;
  moreFragments: boolean;
  fragmentId: number;
}

export function create(): Ipv6Header {
  const extensions: Ipv6Extension[] = [];
  for (let i = 0; i < MAX_EXTENSIONS; i++) extensions.push({ type: 0, body: EMPTY, reserved: 0 });
  return {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: 0,
    nextHeader: 59,
    hopLimit: 64,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    extensionCount: 0,
    extensions,
    upperProtocol: 59,
    headerLength: IPV6_HEADER_LENGTH,
    hasFragmentHeader: false,
    fragmentOffset: 0,
    moreFragments: false,
    fragmentId: DOUBLE_ZERO,
  };
}

export function isExtension(type: number): boolean {
  return (
    type === Ipv6Ext.HOP_BY_HOP ||
    type === Ipv6Ext.ROUTING ||
    type === Ipv6Ext.FRAGMENT ||
    type === Ipv6Ext.AUTH ||
    type === Ipv6Ext.DEST_OPTIONS
  );
}

/** Total length of the extension header starting at `pos` (at least 2 bytes readable). */
function extensionLength(type: number, lengthByte: number): number {
  if (type === Ipv6Ext.FRAGMENT) return FRAGMENT_HEADER_LENGTH;
  if (type === Ipv6Ext.AUTH) return (lengthByte + 2) * 4; // RFC 4302: in 4-octet units, minus 2
  return (lengthByte + 1) * 8;
}

export function decode(buf: Uint8Array, offset: number, out: Ipv6Header, end = buf.length): WireStatus {
  if (end - offset < IPV6_HEADER_LENGTH) return WireStatus.IPV6_TRUNCATED;
  const b0 = buf[offset]!;
  if (b0 >>> 4 !== 6) return WireStatus.IPV6_BAD_VERSION;
  const b1 = buf[offset + 1]!;
  out.trafficClass = ((b0 & 0x0f) << 4) | (b1 >>> 4);
  out.flowLabel = ((b1 & 0x0f) << 16) | readU16(buf, offset + 2);
  out.payloadLength = readU16(buf, offset + 4);
  out.nextHeader = buf[offset + 6]!;
  out.hopLimit = buf[offset + 7]!;
  for (let i = 0; i < 16; i++) {
    out.src[i] = buf[offset + 8 + i]!;
    out.dst[i] = buf[offset + 24 + i]!;
  }
  out.hasFragmentHeader = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  return walkExtensions(buf, offset, out, end);
}

function walkExtensions(buf: Uint8Array, offset: number, out: Ipv6Header, end: number): WireStatus {
  const payloadEnd = offset + IPV6_HEADER_LENGTH + out.payloadLength;
  let pos = offset + IPV6_HEADER_LENGTH;
  let next = out.nextHeader;
  let count = 0;
  while (isExtension(next)) {
    // RFC 8200 4.1: hop-by-hop options may only follow the fixed header.
    if (next === Ipv6Ext.HOP_BY_HOP && count !== 0) return WireStatus.IPV6_BAD_EXTENSION_ORDER;
    if (count === MAX_EXTENSIONS) return WireStatus.IPV6_TOO_MANY_EXTENSIONS;
    if (pos + 2 > end || pos + 2 > payloadEnd) return overrun(payloadEnd, end);
    const length = extensionLength(next, buf[pos + 1]!);
    if (pos + length > end || pos + length > payloadEnd) return overrun(payloadEnd, end);
    const ext = out.extensions[count]!;
    ext.type = next;
    ext.reserved = next === Ipv6Ext.FRAGMENT ? buf[pos + 1]! : 0;
    ext.body = buf.subarray(pos + 2, pos + length);
    count++;
    const following = buf[pos]!;
    pos += length;
    next = following;
    if (ext.type === Ipv6Ext.FRAGMENT) {
      const word = readU16(ext.body, 0);
      out.hasFragmentHeader = true;
      out.fragmentOffset = word >>> 3;
      out.moreFragments = (word & 1) !== 0;
      const b = ext.body;
      out.fragmentId = b[2]! * 0x1000000 + ((b[3]! << 16) | (b[4]! << 8) | b[5]!); // inline: see DOUBLE_ZERO
      // A later fragment carries the middle of the payload: no headers to walk.
      if (out.fragmentOffset !== 0) break;
    }
  }
  out.extensionCount = count;
  out.upperProtocol = next;
  out.headerLength = pos - offset;
  return WireStatus.OK;
}

/** An extension header runs past the data: blame the payload length if it, not the capture, ended first. */
function overrun(payloadEnd: number, end: number): WireStatus {
  return payloadEnd < end ? WireStatus.IPV6_BAD_PAYLOAD_LENGTH : WireStatus.IPV6_TRUNCATED;
}

export function encodingLength(h: Ipv6Header): number {
  let length = IPV6_HEADER_LENGTH;
  for (let i = 0; i < h.extensionCount; i++) length += 2 + h.extensions[i]!.body.length;
  return length;
}

/**
 * Writes the fixed header and the extension chain. Next-header bytes of the
 * chain are derived: each extension points at the following one, the last
 * at `upperProtocol`.
 */
export function encode(h: Ipv6Header, buf: Uint8Array, offset = 0): number {
  checkUint('ipv6.trafficClass', h.trafficClass, 0xff);
  checkUint('ipv6.flowLabel', h.flowLabel, 0xfffff);
  checkUint('ipv6.payloadLength', h.payloadLength, 0xffff);
  checkUint('ipv6.hopLimit', h.hopLimit, 0xff);
  checkUint('ipv6.upperProtocol', h.upperProtocol, 0xff);
  checkUint('ipv6.extensionCount', h.extensionCount, MAX_EXTENSIONS);
  const length = encodingLength(h);
  checkRoom('ipv6', buf, offset, length);
  const word0 = ((6 << 28) | (h.trafficClass << 20) | h.flowLabel) >>> 0;
  buf[offset] = word0 >>> 24;
  buf[offset + 1] = (word0 >>> 16) & 0xff;
  buf[offset + 2] = (word0 >>> 8) & 0xff;
  buf[offset + 3] = word0 & 0xff;
  writeU16(buf, offset + 4, h.payloadLength);
  buf[offset + 6] = h.extensionCount > 0 ? h.extensions[0]!.type : h.upperProtocol;
  buf[offset + 7] = h.hopLimit;
  for (let i = 0; i < 16; i++) {
    buf[offset + 8 + i] = h.src[i]!;
    buf[offset + 24 + i] = h.dst[i]!;
  }
  let pos = offset + IPV6_HEADER_LENGTH;
  for (let i = 0; i < h.extensionCount; i++) {
    const ext = h.extensions[i]!;
    const following = i + 1 < h.extensionCount ? h.extensions[i + 1]!.type : h.upperProtocol;
    buf[pos] = following;
    buf[pos + 1] = extensionLengthByte(ext);
    buf.set(ext.body, pos + 2);
    pos += 2 + ext.body.length;
  }
  return length;
}

function extensionLengthByte(ext: Ipv6Extension): number {
  const total = 2 + ext.body.length;
  if (ext.type === Ipv6Ext.FRAGMENT) {
    if (total !== FRAGMENT_HEADER_LENGTH)
      throw new WireEncodeError('ipv6.extensions', 'fragment body must be 6 bytes');
    checkUint('ipv6.extensions.reserved', ext.reserved, 0xff);
    return ext.reserved;
  }
  if (!isExtension(ext.type))
    throw new WireEncodeError('ipv6.extensions', `type ${ext.type} is not an extension header`);
  const unit = ext.type === Ipv6Ext.AUTH ? 4 : 8;
  const bias = ext.type === Ipv6Ext.AUTH ? 2 : 1;
  if (total % unit !== 0 || total / unit - bias > 0xff || total / unit - bias < 0) {
    throw new WireEncodeError('ipv6.extensions', `type ${ext.type} length ${total} is not encodable`);
  }
  return total / unit - bias;
}

/** Body (6 bytes) of a fragment header: offset in 8-byte units, M flag, identification. */
export function fragmentBody(fragmentOffset: number, more: boolean, id: number): Uint8Array {
  checkUint('ipv6.fragmentOffset', fragmentOffset, 0x1fff);
  checkUint('ipv6.fragmentId', id, 0xffffffff);
  const body = new Uint8Array(6);
  writeU16(body, 0, (fragmentOffset << 3) | (more ? 1 : 0));
  body[2] = id >>> 24;
  body[3] = (id >>> 16) & 0xff;
  body[4] = (id >>> 8) & 0xff;
  body[5] = id & 0xff;
  return body;
}

/** RFC 5952 text form (lowercase, longest zero run of 2+ groups compressed). */
export function formatAddress(addr: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((addr[i]! << 8) | addr[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (bestStart === 0 && bestLength === 5 && groups[5] === 0xffff) {
    return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  }
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Parses IPv6 text (with :: and an optional trailing dotted quad); null when invalid. */
export function parseAddress(text: string): Uint8Array | null {
  let s = text;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const parts = dotted[2]!.split('.').map(Number);
    if (parts.some((p, i) => p > 255 || !/^(0|[1-9]\d{0,2})$/.test(dotted[2]!.split('.')[i]!))) return null;
    tail.push((parts[0]! << 8) | parts[1]!, (parts[2]! << 8) | parts[3]!);
    s = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !rest) return null;
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return null;
  const groups = [...head, ...new Array(8 - explicit).fill(0), ...rest, ...tail];
  const addr = new Uint8Array(16);
  groups.forEach((g, i) => {
    addr[i * 2] = g >>> 8;
    addr[i * 2 + 1] = g & 0xff;
  });
  return addr;
}
