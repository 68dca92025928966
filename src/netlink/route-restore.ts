/**
 * Routes a link takes with it when it goes administratively down: a dump of
 * every route, which of them someone configured through the link, and each
 * one as a request that puts it back. Pure; the probe's carrier control
 * (src/gre-keepalive-io/carrier.ts) moves the bytes.
 */
import {
  align4,
  MessageWriter,
  type NetlinkMessage,
  NLA_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  parseAttrs,
} from './message.ts';
import { AF_INET, AF_INET6 } from './neighbour.ts';
import { RTM_GETROUTE, RTM_NEWROUTE } from './route.ts';

/** struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags u32. */
const RTMSG_LEN = 12;
const RTA_OIF = 4;
/** Attributes a route is made from; the rest of a dump (cache info, expiry, uid) is read-only. */
const ROUTE_INPUT_ATTRS = new Set([1, 2, 4, 5, 6, 7, 8, 9, 11, 15, 16, 18, 20, 21, 22, 23]);
const RTPROT_KERNEL = 2;
const RTN_UNICAST = 1;
/** RTM_F_CLONED: a cached route (IPv6 exceptions), not one anybody configured. */
const RTM_F_CLONED = 0x200;

/** A dump of every route of the family, all tables. */
export function dumpRoutesRequest(seq: number, family: 4 | 6): Buffer {
  const w = new MessageWriter(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.header(RTMSG_LEN, (buf, at) => buf.writeUInt8(family === 4 ? AF_INET : AF_INET6, at));
  return w.finish();
}

/**
 * Whether a dumped route is one someone configured over link `index`, which the kernel removes with the
 * link's addresses when the link goes down and does not make again: unicast, through that link, not
 * made by the kernel itself (address prefix routes) and not a cached clone.
 */
export function isConfiguredRouteVia(msg: NetlinkMessage, index: number): boolean {
  const p = msg.payload;
  if (msg.type !== RTM_NEWROUTE || p.length < RTMSG_LEN) return false;
  if (p.readUInt8(5) === RTPROT_KERNEL || p.readUInt8(7) !== RTN_UNICAST) return false;
  if (p.readUInt32LE(8) & RTM_F_CLONED) return false;
  const oif = parseAttrs(p, RTMSG_LEN).get(RTA_OIF);
  return oif !== undefined && oif.length >= 4 && oif.readUInt32LE(0) === index;
}

/** A dumped route as a request that adds it again (NLM_F_EXCL: still there is EEXIST, left alone). */
export function readdRouteRequest(dumped: NetlinkMessage, seq: number): Buffer {
  const p = dumped.payload;
  const parts: Buffer[] = [p.subarray(0, RTMSG_LEN)];
  let at = RTMSG_LEN;
  while (at + NLA_HDRLEN <= p.length) {
    const len = p.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > p.length) break;
    if (ROUTE_INPUT_ATTRS.has(p.readUInt16LE(at + 2) & 0x3fff)) {
      const padded = Buffer.alloc(align4(len));
      p.copy(padded, 0, at, at + len);
      parts.push(padded);
    }
    at += align4(len);
  }
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(NLMSG_HDRLEN + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(RTM_NEWROUTE, 4);
  out.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  body.copy(out, NLMSG_HDRLEN);
  return out;
}
