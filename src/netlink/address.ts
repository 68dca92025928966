/**
 * src/netlink/: rtnetlink messages (links, addresses, routes, neighbours, eoip/gre link data) and the socket that carries them.
 * May import: src/wire, src/native.
 */
/**
 * Interface addresses (RTM_GETADDR/NEWADDR, <linux/if_addr.h>): dumps, and
 * putting an address back as the kernel dumped it. Pure byte work.
 */
import {
  MessageWriter,
  type NetlinkMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  parseAttrs,
} from './message.ts';
import { AF_INET, AF_INET6 } from './neighbour.ts';

export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
/** struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32. */
export const IFADDRMSG_LEN = 8;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

export interface AddressEntry {
  family: 4 | 6;
  ifindex: number;
  prefixLength: number;
  /** IFA_LOCAL when present (our own address), else IFA_ADDRESS. */
  local: Uint8Array;
  /** IFA_ADDRESS: on a point-to-point link the peer's address, else the same as `local`. */
  address: Uint8Array;
}

/** A dump of every IPv4 (4) or IPv6 (6) address in the namespace. */
export function dumpAddressesRequest(seq: number, family: 4 | 6): Buffer {
  const w = new MessageWriter(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.header(IFADDRMSG_LEN, (buf, at) => buf.writeUInt8(family === 4 ? AF_INET : AF_INET6, at));
  return w.finish();
}

export function parseAddress(msg: NetlinkMessage): AddressEntry | null {
  const p = msg.payload;
  if (msg.type !== RTM_NEWADDR || p.length < IFADDRMSG_LEN) return null;
  const af = p.readUInt8(0);
  const family = af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
  if (family === null) return null;
  const size = family === 4 ? 4 : 16;
  const attrs = parseAttrs(p, IFADDRMSG_LEN);
  const address = attrs.get(IFA_ADDRESS);
  const local = attrs.get(IFA_LOCAL) ?? address;
  if (address === undefined || local === undefined || address.length !== size || local.length !== size)
    return null;
  return {
    family,
    ifindex: p.readUInt32LE(4),
    prefixLength: p.readUInt8(1),
    local: new Uint8Array(local),
    address: new Uint8Array(address),
  };
}

/**
 * The dumped RTM_NEWADDR replayed as a request that adds it back (NLM_F_EXCL: an address still there is
 * EEXIST, left alone). The kernel takes its own dump's attributes as input.
 */
export function readdRequest(dumped: NetlinkMessage, seq: number): Buffer {
  return replay(dumped, RTM_NEWADDR, seq);
}

/** Any dumped rtnetlink object as a create request of `type`: same family header and attributes. */
export function replay(dumped: NetlinkMessage, type: number, seq: number): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + dumped.payload.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  dumped.payload.copy(out, NLMSG_HDRLEN);
  return out;
}
