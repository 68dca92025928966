/**
 * rtnetlink messages the eBPF backend needs besides eoip links: the route to a tunnel's remote (which
 * underlay interface and source address the kernel would use), and the veth pair that cuts GSO frames
 * into segments. Builders and parsers only; socket.ts here moves the bytes.
 */
import { isIP } from 'node:net';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { IFINFOMSG_LEN, IFLA, IFLA_INFO_DATA, IFLA_INFO_KIND, RTM_NEWLINK } from './link.ts';
import {
  MessageWriter,
  type NetlinkMessage,
  NetlinkParseError,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  parseAttrs,
} from './message.ts';

export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;
const RTMSG_LEN = 12;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const AF_INET = 2;
const AF_INET6 = 10;
/** IFLA_GSO_MAX_SEGS: settable when a link is created. */
const IFLA_GSO_MAX_SEGS = 40;
/** VETH_INFO_PEER inside IFLA_INFO_DATA: an ifinfomsg and the peer's IFLA attributes. */
const VETH_INFO_PEER = 1;

/** An IPv4 or IPv6 literal as 4 or 16 bytes in network order. */
export function addressToBytes(text: string): Uint8Array {
  const family = isIP(text);
  if (family === 4) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, ipv4.parseAddress(text)! >>> 0);
    return b;
  }
  if (family === 6) return ipv6.parseAddress(text)!;
  throw new NetlinkParseError(`${text} is not an IP address`);
}

export function bytesToAddress(b: Uint8Array): string {
  if (b.length === 4) return ipv4.formatAddress(new DataView(b.buffer, b.byteOffset, 4).getUint32(0));
  return ipv6.formatAddress(b);
}

/** RTM_GETROUTE for `dst`, optionally through interface `oif` (the tunnel's `link`). */
export function getRouteRequest(seq: number, dst: string, oif = 0): Buffer {
  const bytes = addressToBytes(dst);
  const family = bytes.length === 4 ? AF_INET : AF_INET6;
  const w = new MessageWriter(RTM_GETROUTE, NLM_F_REQUEST, seq);
  w.header(RTMSG_LEN, (buf, at) => {
    buf.writeUInt8(family, at);
    buf.writeUInt8(bytes.length * 8, at + 1); // rtm_dst_len
  });
  w.attr(RTA_DST, bytes);
  if (oif > 0) w.u32(RTA_OIF, oif);
  return w.finish();
}

export interface RouteInfo {
  /** Output interface. */
  oif: number;
  /** The source address the kernel would pick, or null. */
  prefsrc: string | null;
  gateway: string | null;
}

export function parseRoute(msg: NetlinkMessage): RouteInfo {
  if (msg.type !== RTM_NEWROUTE || msg.payload.length < RTMSG_LEN) {
    throw new NetlinkParseError(`expected RTM_NEWROUTE, got type ${msg.type}`);
  }
  const a = parseAttrs(msg.payload, RTMSG_LEN);
  const oif = a.get(RTA_OIF);
  const src = a.get(RTA_PREFSRC);
  const gw = a.get(RTA_GATEWAY);
  return {
    oif: oif && oif.length >= 4 ? oif.readUInt32LE(0) : 0,
    prefsrc: src ? bytesToAddress(src) : null,
    gateway: gw ? bytesToAddress(gw) : null,
  };
}

/**
 * A veth pair `name` <-> `peer`, both down; `name` gets gso_max_segs 1, so a GSO frame sent out of it
 * is cut into segments in software (netif_skb_features drops the GSO features for it) before `peer`
 * receives them one by one.
 */
export function newSegmenterRequest(seq: number, name: string, peer: string, mtu: number): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  w.header(IFINFOMSG_LEN, () => undefined);
  w.string(IFLA.IFNAME, name).u32(IFLA.MTU, mtu).u32(IFLA_GSO_MAX_SEGS, 1);
  w.beginNested(IFLA.LINKINFO).string(IFLA_INFO_KIND, 'veth').beginNested(IFLA_INFO_DATA);
  w.beginNested(VETH_INFO_PEER);
  // The peer's ifinfomsg comes first inside VETH_INFO_PEER, then its attributes.
  w.header(IFINFOMSG_LEN, () => undefined);
  w.string(IFLA.IFNAME, peer).u32(IFLA.MTU, mtu);
  w.endNested().endNested().endNested();
  return w.finish();
}
