/**
 * gre and ip6gre links as rtnetlink shows them (IFLA_INFO_DATA with IFLA_GRE_*,
 * <linux/if_tunnel.h>), and the two ways to take a link's carrier away: the
 * protocol-down flag (IFLA_PROTO_DOWN) and the administrative state. Pure.
 */
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { IFINFOMSG_LEN, IFLA, IFLA_INFO_DATA, IFLA_INFO_KIND, RTM_NEWLINK } from './link.ts';
import {
  cString,
  MessageWriter,
  type NetlinkMessage,
  NetlinkParseError,
  NLM_F_ACK,
  NLM_F_REQUEST,
  parseAttrs,
} from './message.ts';

const IFLA_PROTO_DOWN = 39;
const IFF_UP = 0x1;

/** IFLA_GRE_* of <linux/if_tunnel.h>. */
const GRE = { LINK: 1, IFLAGS: 2, OFLAGS: 3, IKEY: 4, OKEY: 5, LOCAL: 6, REMOTE: 7, TTL: 8, TOS: 9 } as const;
/** GRE flag bits as the kernel keeps them in i/oflags (big-endian, the GRE header's first word). */
export const GRE_FLAG = { CSUM: 0x8000, KEY: 0x2000, SEQ: 0x1000 } as const;

/** The IP-level GRE kinds a keepalive is meaningful for (gretap/ip6gretap carry Ethernet: no keepalive). */
export type GreKind = 'gre' | 'ip6gre';

export interface GreLinkInfo {
  index: number;
  name: string;
  /** IFF_* flags (IFF_UP = 1). */
  flags: number;
  /** The link's kind (any: the caller decides what it accepts). */
  kind: string | null;
  protoDown: boolean;
  /** Present when kind is gre or ip6gre. */
  gre: {
    kind: GreKind;
    /** Addresses as text; null for "any" (all zeros). */
    local: string | null;
    remote: string | null;
    ikey: number | null;
    okey: number | null;
    icsum: boolean;
    ocsum: boolean;
    iseq: boolean;
    oseq: boolean;
    /** 0: inherit. */
    ttl: number;
    tos: number;
    /** Underlay ifindex, 0 for any. */
    link: number;
  } | null;
}

function addressText(b: Buffer | undefined): string | null {
  if (b === undefined || b.every((x) => x === 0)) return null;
  if (b.length === 4) return ipv4.formatAddress(b.readUInt32BE(0));
  if (b.length === 16) return ipv6.formatAddress(new Uint8Array(b));
  throw new NetlinkParseError(`gre address attribute of ${b.length} bytes`);
}

function u(b: Buffer | undefined, size: 1 | 2 | 4, be = false): number {
  if (b === undefined) return 0;
  if (b.length < size) throw new NetlinkParseError(`attribute of ${b.length} bytes, expected ${size}`);
  if (size === 1) return b.readUInt8(0);
  if (size === 2) return be ? b.readUInt16BE(0) : b.readUInt16LE(0);
  return be ? b.readUInt32BE(0) : b.readUInt32LE(0);
}

/** An RTM_NEWLINK (reply to RTM_GETLINK) with its GRE parameters when it is a gre or ip6gre link. */
export function parseGreLink(msg: NetlinkMessage): GreLinkInfo {
  const p = msg.payload;
  if (msg.type !== RTM_NEWLINK || p.length < IFINFOMSG_LEN)
    throw new NetlinkParseError(`expected RTM_NEWLINK, got type ${msg.type} of ${p.length} bytes`);
  const attrs = parseAttrs(p, IFINFOMSG_LEN);
  const name = attrs.get(IFLA.IFNAME);
  if (name === undefined) throw new NetlinkParseError('link without IFLA_IFNAME');
  const linkinfo = attrs.get(IFLA.LINKINFO);
  const info = linkinfo === undefined ? new Map<number, Buffer>() : parseAttrs(linkinfo);
  const kindAttr = info.get(IFLA_INFO_KIND);
  const kind = kindAttr === undefined ? null : cString(kindAttr);
  const data = info.get(IFLA_INFO_DATA);
  let gre: GreLinkInfo['gre'] = null;
  if ((kind === 'gre' || kind === 'ip6gre') && data !== undefined) {
    const a = parseAttrs(data);
    // Flags and keys are big-endian (__be16/__be32), unlike most rtnetlink integers.
    const iflags = u(a.get(GRE.IFLAGS), 2, true);
    const oflags = u(a.get(GRE.OFLAGS), 2, true);
    gre = {
      kind,
      local: addressText(a.get(GRE.LOCAL)),
      remote: addressText(a.get(GRE.REMOTE)),
      ikey: iflags & GRE_FLAG.KEY ? u(a.get(GRE.IKEY), 4, true) : null,
      okey: oflags & GRE_FLAG.KEY ? u(a.get(GRE.OKEY), 4, true) : null,
      icsum: (iflags & GRE_FLAG.CSUM) !== 0,
      ocsum: (oflags & GRE_FLAG.CSUM) !== 0,
      iseq: (iflags & GRE_FLAG.SEQ) !== 0,
      oseq: (oflags & GRE_FLAG.SEQ) !== 0,
      ttl: u(a.get(GRE.TTL), 1),
      tos: kind === 'gre' ? u(a.get(GRE.TOS), 1) : 0,
      link: u(a.get(GRE.LINK), 4),
    };
  }
  return {
    index: p.readInt32LE(4),
    name: cString(name),
    flags: p.readUInt32LE(8),
    kind,
    protoDown: u(attrs.get(IFLA_PROTO_DOWN), 1) === 1,
    gre,
  };
}

function linkHeader(index: number, flags: number, change: number) {
  return (buf: Buffer, at: number) => {
    buf.writeInt32LE(index, at + 4);
    buf.writeUInt32LE(flags, at + 8);
    buf.writeUInt32LE(change, at + 12);
  };
}

/** Sets or clears IFLA_PROTO_DOWN: carrier off while the link stays administratively up. */
export function protoDownRequest(seq: number, index: number, down: boolean): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.header(IFINFOMSG_LEN, linkHeader(index, 0, 0));
  w.u8(IFLA_PROTO_DOWN, down ? 1 : 0);
  return w.finish();
}

/** Administrative up or down (IFF_UP). */
export function adminStateRequest(seq: number, index: number, up: boolean): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.header(IFINFOMSG_LEN, linkHeader(index, up ? IFF_UP : 0, IFF_UP));
  return w.finish();
}
