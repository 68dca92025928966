/**
 * rtnetlink link messages for the eoip / eoipv6 kinds of kmod/ (eoip.ko,
 * eoipv6.ko): RTM_NEWLINK to create or change, RTM_DELLINK, RTM_GETLINK, and
 * the parse of what the kernel dumps back. Attribute numbers are those of
 * kmod/uapi/linux/if_eoip.h (docs/kernel.md, compatibility), shared with the old
 * out-of-tree module and its `eoip` tool.
 */
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import {
  attributeAt,
  cString,
  MessageWriter,
  type NetlinkMessage,
  NetlinkParseError,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  parseAttrs,
  rejectedAttribute,
} from './message.ts';

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;

/** struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32. */
export const IFINFOMSG_LEN = 16;
export const IFF_UP = 0x1;
const AF_UNSPEC = 0;

/** enum IFLA_* of <linux/if_link.h> that we use. */
export const IFLA = {
  IFNAME: 3,
  MTU: 4,
  OPERSTATE: 16,
  LINKINFO: 18,
  STATS64: 23,
  CARRIER: 33,
} as const;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

/** IFLA_INFO_DATA of the eoip kinds. 34-37 are read-only, dumped by greoip's modules only. */
export const EOIP_ATTR = {
  LINK: 1,
  IKEY: 4,
  LOCAL: 6,
  REMOTE: 7,
  TTL: 8,
  TOS: 9,
  KA_INTERVAL: 32,
  KA_RETRIES: 33,
  KA_STATE: 34,
  KA_LAST_RX_MS: 35,
  KA_RX: 36,
  KA_TX: 37,
} as const;

/** EOIP_ATTR names (as the module's messages spell them) and what each is, for error messages. */
const EOIP_ATTR_NAMES: Record<number, { name: string; what: string }> = {
  [EOIP_ATTR.LINK]: { name: 'IFLA_GRE_LINK', what: 'underlay interface' },
  [EOIP_ATTR.IKEY]: { name: 'IFLA_GRE_IKEY', what: 'tunnel id' },
  [EOIP_ATTR.LOCAL]: { name: 'IFLA_GRE_LOCAL', what: 'local address' },
  [EOIP_ATTR.REMOTE]: { name: 'IFLA_GRE_REMOTE', what: 'remote address' },
  [EOIP_ATTR.TTL]: { name: 'IFLA_GRE_TTL', what: 'ttl' },
  [EOIP_ATTR.TOS]: { name: 'IFLA_GRE_TOS', what: 'tos' },
  [EOIP_ATTR.KA_INTERVAL]: { name: 'IFLA_EOIP_KA_INTERVAL', what: 'keepalive interval' },
  [EOIP_ATTR.KA_RETRIES]: { name: 'IFLA_EOIP_KA_RETRIES', what: 'keepalive retries' },
  [EOIP_ATTR.KA_STATE]: { name: 'IFLA_EOIP_KA_STATE', what: 'keepalive state' },
  [EOIP_ATTR.KA_LAST_RX_MS]: { name: 'IFLA_EOIP_KA_LAST_RX_MS', what: 'last keepalive' },
  [EOIP_ATTR.KA_RX]: { name: 'IFLA_EOIP_KA_RX', what: 'keepalives received' },
  [EOIP_ATTR.KA_TX]: { name: 'IFLA_EOIP_KA_TX', what: 'keepalives sent' },
};

/**
 * The message for a refused link request. The module's policy (kmod/netlink.c) refuses ranges and
 * lengths with the kernel's generic text ("integer out of range") and the attribute's offset and
 * policy in the extended ack: this names the attribute and what it allows, as the module's own
 * messages do ("IFLA_GRE_IKEY: tunnel id 70000: integer out of range 0-65535"). Other messages, and
 * messages that already name their attribute, are returned as the kernel wrote them.
 */
export function linkErrorMessage(
  request: Buffer,
  reply: NetlinkMessage,
  message: string | null,
): string | null {
  const rejected = rejectedAttribute(reply);
  if (rejected === null) return message;
  const found = attributeAt(request, IFINFOMSG_LEN, rejected.offset);
  if (found === null || found.path.length !== 3) return message;
  const [top, info, type] = found.path as [number, number, number];
  const names = EOIP_ATTR_NAMES[type];
  if (top !== IFLA.LINKINFO || info !== IFLA_INFO_DATA || names === undefined) return message;
  if (message?.startsWith(`${names.name}:`)) return message;
  let value = '';
  let allowed = '';
  if (rejected.lengths !== null) {
    const { min, max } = rejected.lengths;
    value = ` of ${found.value.length} bytes`;
    allowed = min === max ? ` (${min} bytes)` : ` (${min}-${max} bytes)`;
  } else if (rejected.values !== null) {
    if (found.value.length === 1) value = ` ${found.value[0]}`;
    else if (found.value.length === 4) value = ` ${found.value.readUInt32LE(0)}`;
    allowed = ` ${rejected.values.min}-${rejected.values.max}`;
  }
  return `${names.name}: ${names.what}${value}: ${message ?? 'refused'}${allowed}`;
}

/** The module's keepalive states (enum eoip_ka_state). */
export const KA_STATES = ['off', 'waiting', 'up', 'down'] as const;
export type KernelKeepaliveState = (typeof KA_STATES)[number];

export type EoipKind = 'eoip' | 'eoipv6';

/** What we ask the kernel for; addresses as canonical text (validated by src/config). */
export interface EoipLinkSpec {
  kind: EoipKind;
  name: string;
  mtu: number;
  tunnelId: number;
  local: string | null;
  remote: string;
  ttl: number;
  tos: number;
  /** Underlay ifindex, 0 for any. */
  linkIndex: number;
  /** 0 is keepalive none. */
  keepaliveInterval: number;
  keepaliveRetries: number;
}

/** 4 or 16 address bytes, as IFLA_GRE_LOCAL/REMOTE carry them. */
export function addressBytes(kind: EoipKind, text: string): Uint8Array {
  if (kind === 'eoip') {
    const v4 = ipv4.parseAddress(text);
    if (v4 === null) throw new RangeError(`${text} is not an IPv4 address`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v4);
    return b;
  }
  const v6 = ipv6.parseAddress(text);
  if (v6 === null) throw new RangeError(`${text} is not an IPv6 address`);
  return v6;
}

function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return ipv4.formatAddress(bytes.readUInt32BE(0));
  if (bytes.length === 16) return ipv6.formatAddress(new Uint8Array(bytes));
  throw new NetlinkParseError(`address attribute of ${bytes.length} bytes`);
}

function ifinfo(index: number, flags: number, change: number) {
  return (buf: Buffer, at: number) => {
    buf.writeUInt8(AF_UNSPEC, at);
    buf.writeInt32LE(index, at + 4);
    buf.writeUInt32LE(flags, at + 8);
    buf.writeUInt32LE(change, at + 12);
  };
}

function writeEoipData(w: MessageWriter, spec: EoipLinkSpec): void {
  w.beginNested(IFLA.LINKINFO).string(IFLA_INFO_KIND, spec.kind).beginNested(IFLA_INFO_DATA);
  w.u32(EOIP_ATTR.LINK, spec.linkIndex).u32(EOIP_ATTR.IKEY, spec.tunnelId);
  // Unset local is "any": the module's default, and what it dumps as zeros.
  if (spec.local !== null) w.attr(EOIP_ATTR.LOCAL, addressBytes(spec.kind, spec.local));
  w.attr(EOIP_ATTR.REMOTE, addressBytes(spec.kind, spec.remote));
  w.u8(EOIP_ATTR.TTL, spec.ttl).u8(EOIP_ATTR.TOS, spec.tos);
  w.u32(EOIP_ATTR.KA_INTERVAL, spec.keepaliveInterval);
  // Retries must be 1-255 even with keepalive none; the module ignores them then.
  w.u8(EOIP_ATTR.KA_RETRIES, Math.max(1, spec.keepaliveRetries));
  w.endNested().endNested();
}

/**
 * Creates the link, administratively up. NLM_F_EXCL: an existing interface of
 * that name is an error (EEXIST), never silently reconfigured.
 */
export function newLinkRequest(seq: number, spec: EoipLinkSpec): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  w.header(IFINFOMSG_LEN, ifinfo(0, IFF_UP, IFF_UP));
  w.string(IFLA.IFNAME, spec.name).u32(IFLA.MTU, spec.mtu);
  writeEoipData(w, spec);
  return w.finish();
}

/** Reconfigures the existing link `index` in one message: the kernel applies all of it or none. */
export function changeLinkRequest(seq: number, index: number, spec: EoipLinkSpec): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.header(IFINFOMSG_LEN, ifinfo(index, 0, 0));
  w.u32(IFLA.MTU, spec.mtu);
  writeEoipData(w, spec);
  return w.finish();
}

export function deleteLinkRequest(seq: number, index: number): Buffer {
  const w = new MessageWriter(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.header(IFINFOMSG_LEN, ifinfo(index, 0, 0));
  return w.finish();
}

/** One link by name, or (name null) a dump of every link in the namespace. */
export function getLinkRequest(seq: number, name: string | null): Buffer {
  const w = new MessageWriter(RTM_GETLINK, NLM_F_REQUEST | (name === null ? NLM_F_DUMP : 0), seq);
  w.header(IFINFOMSG_LEN, ifinfo(0, 0, 0));
  if (name !== null) w.string(IFLA.IFNAME, name);
  return w.finish();
}

/** struct rtnl_link_stats64, the fields we report (u64 each, in this order from offset 0). */
export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export interface EoipLinkInfo {
  kind: EoipKind;
  tunnelId: number;
  /** null when the module has "any" (all-zero address). */
  local: string | null;
  remote: string;
  ttl: number;
  tos: number;
  linkIndex: number;
  keepaliveInterval: number;
  keepaliveRetries: number;
  /** Present when the module reports it (greoip's eoip.ko does). */
  keepaliveState: KernelKeepaliveState | null;
  /** Milliseconds since the last keepalive arrived; null when none ever did or not reported. */
  lastKeepaliveAgoMs: number | null;
  /** Keepalives received and sent (u32, wrapping); 0 when not reported. */
  keepalivesReceived: number;
  keepalivesSent: number;
}

export interface LinkInfo {
  index: number;
  flags: number;
  name: string;
  mtu: number;
  carrier: boolean;
  /** IFLA_INFO_KIND, or null for a link without one (e.g. a physical NIC). */
  kind: string | null;
  /** Decoded IFLA_INFO_DATA when kind is eoip or eoipv6. */
  eoip: EoipLinkInfo | null;
  stats: LinkStats | null;
}

function u64(b: Buffer, at: number): number {
  return Number(b.readBigUInt64LE(at));
}

function parseStats(b: Buffer | undefined): LinkStats | null {
  if (b === undefined || b.length < 64) return null;
  return {
    rxPackets: u64(b, 0),
    txPackets: u64(b, 8),
    rxBytes: u64(b, 16),
    txBytes: u64(b, 24),
    rxErrors: u64(b, 32),
    txErrors: u64(b, 40),
    rxDropped: u64(b, 48),
    txDropped: u64(b, 56),
  };
}

/** A fixed-size attribute read, or `fallback` when absent; a short one is malformed, not a RangeError. */
function readU32(v: Buffer | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (v.length < 4) throw new NetlinkParseError(`u32 attribute of ${v.length} bytes`);
  return v.readUInt32LE(0);
}

function readU8(v: Buffer | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (v.length < 1) throw new NetlinkParseError('empty u8 attribute');
  return v.readUInt8(0);
}

function need(attrs: Map<number, Buffer>, type: number, size: number, what: string): Buffer {
  const v = attrs.get(type);
  if (v === undefined || v.length < size) throw new NetlinkParseError(`eoip link without a valid ${what}`);
  return v;
}

function parseEoipData(kind: EoipKind, data: Buffer): EoipLinkInfo {
  const a = parseAttrs(data);
  const local = a.get(EOIP_ATTR.LOCAL);
  const state = a.get(EOIP_ATTR.KA_STATE);
  const ago = a.get(EOIP_ATTR.KA_LAST_RX_MS);
  return {
    kind,
    tunnelId: need(a, EOIP_ATTR.IKEY, 4, 'IFLA_GRE_IKEY').readUInt32LE(0),
    local: local === undefined || local.every((b) => b === 0) ? null : addressText(local),
    remote: addressText(need(a, EOIP_ATTR.REMOTE, 4, 'IFLA_GRE_REMOTE')),
    ttl: readU8(a.get(EOIP_ATTR.TTL), 0),
    tos: readU8(a.get(EOIP_ATTR.TOS), 0),
    linkIndex: readU32(a.get(EOIP_ATTR.LINK), 0),
    keepaliveInterval: readU32(a.get(EOIP_ATTR.KA_INTERVAL), 0),
    keepaliveRetries: readU8(a.get(EOIP_ATTR.KA_RETRIES), 0),
    keepaliveState: state === undefined ? null : (KA_STATES[readU8(state, 0)] ?? null),
    lastKeepaliveAgoMs: ago === undefined ? null : readU32(ago, 0),
    keepalivesReceived: readU32(a.get(EOIP_ATTR.KA_RX), 0),
    keepalivesSent: readU32(a.get(EOIP_ATTR.KA_TX), 0),
  };
}

/** An RTM_NEWLINK message (a reply to RTM_GETLINK, or part of a dump). */
export function parseLink(msg: NetlinkMessage): LinkInfo {
  const p = msg.payload;
  if (msg.type !== RTM_NEWLINK || p.length < IFINFOMSG_LEN) {
    throw new NetlinkParseError(`expected RTM_NEWLINK, got type ${msg.type} of ${p.length} bytes`);
  }
  const attrs = parseAttrs(p, IFINFOMSG_LEN);
  const info = attrs.get(IFLA.LINKINFO);
  const linkinfo = info === undefined ? new Map<number, Buffer>() : parseAttrs(info);
  const kindAttr = linkinfo.get(IFLA_INFO_KIND);
  const kind = kindAttr === undefined ? null : cString(kindAttr);
  const data = linkinfo.get(IFLA_INFO_DATA);
  const eoipKind = kind === 'eoip' || kind === 'eoipv6' ? kind : null;
  return {
    index: p.readInt32LE(4),
    flags: p.readUInt32LE(8),
    name: cString(need(attrs, IFLA.IFNAME, 1, 'IFLA_IFNAME')),
    mtu: readU32(attrs.get(IFLA.MTU), 0),
    carrier: readU8(attrs.get(IFLA.CARRIER), 0) === 1,
    kind,
    eoip: eoipKind !== null && data !== undefined ? parseEoipData(eoipKind, data) : null,
    stats: parseStats(attrs.get(IFLA.STATS64)),
  };
}
