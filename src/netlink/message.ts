/**
 * Netlink framing (RFC 3549, <linux/netlink.h>): message headers, attributes
 * (TLVs aligned to 4 bytes, nestable) and the kernel's error/ack replies with
 * their extended-ack text. Pure byte work, no I/O: the socket lives in
 * src/native, the request/reply loop in socket.ts here.
 *
 * Control-plane code: it allocates freely, unlike the datapath codecs in src/wire.
 */

/** struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32 (host order). */
export const NLMSG_HDRLEN = 16;
/** struct nlattr: len u16, type u16. */
export const NLA_HDRLEN = 4;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** In an NLMSG_ERROR: the request was not echoed beyond its header. */
export const NLM_F_CAPPED = 0x100;
/** In an NLMSG_ERROR: extended-ack attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** Attribute type bits that are flags, not the type. */
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** Extended-ack attributes (enum nlmsgerr_attrs). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_POLICY = 4;

/** What NLMSGERR_ATTR_POLICY says of the rejected attribute (enum netlink_policy_type_attr). */
export const NL_POLICY_TYPE_ATTR = {
  MIN_VALUE_U: 4,
  MAX_VALUE_U: 5,
  MIN_LENGTH: 6,
  MAX_LENGTH: 7,
} as const;

export class NetlinkParseError extends Error {
  override name = 'NetlinkParseError';
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Builds one netlink message: header, a fixed-size family header, then attributes. */
export class MessageWriter {
  private buf = Buffer.alloc(512);
  private len = 0;
  private readonly nests: number[] = [];

  constructor(type: number, flags: number, seq: number) {
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags, 6);
    this.buf.writeUInt32LE(seq >>> 0, 8);
    this.len = NLMSG_HDRLEN;
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = at + align4(n);
    if (need > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len = need;
    return at;
  }

  /** The family header (e.g. struct ifinfomsg), written by `fill` into zeroed bytes. */
  header(size: number, fill: (buf: Buffer, offset: number) => void): this {
    fill(this.buf, this.reserve(size));
    return this;
  }

  attr(type: number, value: Uint8Array): this {
    const at = this.reserve(NLA_HDRLEN + value.length);
    this.buf.writeUInt16LE(NLA_HDRLEN + value.length, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.set(value, at + NLA_HDRLEN);
    return this;
  }

  u8(type: number, value: number): this {
    return this.attr(type, Uint8Array.of(value));
  }

  u32(type: number, value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    return this.attr(type, b);
  }

  /** A NUL-terminated string, as the kernel's NLA_STRING / NLA_NUL_STRING policies take it. */
  string(type: number, value: string): this {
    return this.attr(type, Buffer.from(`${value}\0`, 'utf8'));
  }

  beginNested(type: number): this {
    const at = this.reserve(NLA_HDRLEN);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    this.nests.push(at);
    return this;
  }

  endNested(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error('MessageWriter: endNested without beginNested');
    this.buf.writeUInt16LE(this.len - at, at);
    return this;
  }

  /** The finished message (its length field filled in). */
  finish(): Buffer {
    if (this.nests.length > 0) throw new Error('MessageWriter: unclosed nested attribute');
    this.buf.writeUInt32LE(this.len, 0);
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The bytes after the header (a view into the datagram). */
  payload: Buffer;
}

/** Splits a datagram into its messages; a length that does not fit is an error, never a loop. */
export function parseMessages(datagram: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > datagram.length) {
      throw new NetlinkParseError(
        `netlink message at byte ${at} claims ${len} bytes of ${datagram.length - at}`,
      );
    }
    out.push({
      type: datagram.readUInt16LE(at + 4),
      flags: datagram.readUInt16LE(at + 6),
      seq: datagram.readUInt32LE(at + 8),
      pid: datagram.readUInt32LE(at + 12),
      payload: datagram.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** Attributes of `buf` by type (flag bits cleared); the last of a repeated type wins. */
export function parseAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let at = offset;
  while (at + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > buf.length) {
      throw new NetlinkParseError(
        `netlink attribute at byte ${at} claims ${len} bytes of ${buf.length - at}`,
      );
    }
    attrs.set(buf.readUInt16LE(at + 2) & NLA_TYPE_MASK, buf.subarray(at + NLA_HDRLEN, at + len));
    at += align4(len);
  }
  return attrs;
}

export interface NetlinkAck {
  /** 0 for an ack, else a positive errno. */
  errno: number;
  /** The kernel's extended-ack message, when it gave one. */
  message: string | null;
}

/** The extended-ack attributes of an NLMSG_ERROR (NLM_F_ACK_TLVS), after the echoed request. */
function ackTlvs(msg: NetlinkMessage): Map<number, Buffer> | null {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new NetlinkParseError(`NLMSG_ERROR of ${p.length} bytes`);
  if (!(msg.flags & NLM_F_ACK_TLVS)) return null;
  // The echoed request: its header only when capped, else the whole message.
  const echoed = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : p.readUInt32LE(4);
  const tlvs = align4(4 + echoed);
  return tlvs <= p.length ? parseAttrs(p, tlvs) : null;
}

/** The body of an NLMSG_ERROR: the error and, with NLM_F_ACK_TLVS, the extack text. */
export function parseAck(msg: NetlinkMessage): NetlinkAck {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new NetlinkParseError(`NLMSG_ERROR of ${p.length} bytes`);
  const errno = -p.readInt32LE(0) | 0; // | 0: an ack is 0, not -0
  const text = ackTlvs(msg)?.get(NLMSGERR_ATTR_MSG);
  return { errno, message: text === undefined ? null : cString(text) };
}

/** The attribute a request was refused for, as the kernel's policy reports it. */
export interface RejectedAttribute {
  /** Byte offset of the attribute in the request (NLMSGERR_ATTR_OFFS). */
  offset: number;
  /** The values the policy allows (integers), from NLMSGERR_ATTR_POLICY. */
  values: { min: bigint; max: bigint } | null;
  /** The lengths the policy allows (binary attributes), from NLMSGERR_ATTR_POLICY. */
  lengths: { min: number; max: number } | null;
}

/** NLMSGERR_ATTR_POLICY's attributes; a malformed one says nothing (the error itself still stands). */
function policyAttrs(policy: Buffer | undefined): Map<number, Buffer> {
  try {
    return policy === undefined ? new Map() : parseAttrs(policy);
  } catch {
    return new Map();
  }
}

/** The rejected attribute of an NLMSG_ERROR, when the kernel named one (NLMSGERR_ATTR_OFFS). */
export function rejectedAttribute(msg: NetlinkMessage): RejectedAttribute | null {
  const tlvs = ackTlvs(msg);
  if (tlvs === null) return null;
  const offs = tlvs.get(NLMSGERR_ATTR_OFFS);
  if (offs === undefined || offs.length < 4) return null;
  const p = policyAttrs(tlvs.get(NLMSGERR_ATTR_POLICY));
  const u64 = (type: number) => {
    const v = p.get(type);
    return v !== undefined && v.length >= 8 ? v.readBigUInt64LE(0) : undefined;
  };
  const u32 = (type: number) => {
    const v = p.get(type);
    return v !== undefined && v.length >= 4 ? v.readUInt32LE(0) : undefined;
  };
  const [minValue, maxValue] = [u64(NL_POLICY_TYPE_ATTR.MIN_VALUE_U), u64(NL_POLICY_TYPE_ATTR.MAX_VALUE_U)];
  const [minLength, maxLength] = [u32(NL_POLICY_TYPE_ATTR.MIN_LENGTH), u32(NL_POLICY_TYPE_ATTR.MAX_LENGTH)];
  return {
    offset: offs.readUInt32LE(0),
    values: minValue !== undefined && maxValue !== undefined ? { min: minValue, max: maxValue } : null,
    lengths: minLength !== undefined && maxLength !== undefined ? { min: minLength, max: maxLength } : null,
  };
}

/**
 * The attribute starting `offset` bytes into `request` (a whole message), found among the attributes
 * after its family header of `familyHeaderLen` bytes and inside nested ones: the types on the way to
 * it (outermost first) and its value. Null when no attribute starts there.
 */
export function attributeAt(
  request: Buffer,
  familyHeaderLen: number,
  offset: number,
): { path: number[]; value: Buffer } | null {
  const walk = (start: number, end: number, path: number[]): { path: number[]; value: Buffer } | null => {
    let at = start;
    while (at + NLA_HDRLEN <= end) {
      const len = request.readUInt16LE(at);
      if (len < NLA_HDRLEN || at + len > end) return null;
      const here = [...path, request.readUInt16LE(at + 2) & NLA_TYPE_MASK];
      if (at === offset) return { path: here, value: request.subarray(at + NLA_HDRLEN, at + len) };
      if (offset > at && offset < at + len) return walk(at + NLA_HDRLEN, at + len, here);
      at += align4(len);
    }
    return null;
  };
  if (request.length < NLMSG_HDRLEN) return null;
  const end = Math.min(request.length, request.readUInt32LE(0));
  return walk(NLMSG_HDRLEN + align4(familyHeaderLen), end, []);
}

/** A NUL-terminated string attribute as text. */
export function cString(value: Buffer): string {
  const nul = value.indexOf(0);
  return value.toString('utf8', 0, nul < 0 ? value.length : nul);
}
