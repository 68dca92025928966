/**
 * Neighbour table dumps (RTM_GETNEIGH, <linux/neighbour.h>): which addresses
 * the kernel has resolved to a link-layer address. Pure byte work.
 */
import { MessageWriter, type NetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST, parseAttrs } from './message.ts';

export const RTM_NEWNEIGH = 28;
export const RTM_GETNEIGH = 30;
/** struct ndmsg: family u8, pad u8, pad u16, ifindex s32, state u16, flags u8, type u8. */
export const NDMSG_LEN = 12;
const NDA_DST = 1;

/** NUD_* states. */
export const NUD = {
  INCOMPLETE: 0x01,
  REACHABLE: 0x02,
  STALE: 0x04,
  DELAY: 0x08,
  PROBE: 0x10,
  FAILED: 0x20,
  NOARP: 0x40,
  PERMANENT: 0x80,
} as const;
/** States in which a packet leaves at once, with the link-layer address the entry holds (or needs none). */
export const NUD_RESOLVED = NUD.REACHABLE | NUD.STALE | NUD.DELAY | NUD.PROBE | NUD.NOARP | NUD.PERMANENT;

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface NeighbourEntry {
  family: 4 | 6;
  ifindex: number;
  state: number;
  /** 4 or 16 bytes. */
  addr: Uint8Array;
}

/** A dump of the IPv4 (family 4) or IPv6 neighbour table. */
export function dumpNeighboursRequest(seq: number, family: 4 | 6): Buffer {
  const w = new MessageWriter(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.header(NDMSG_LEN, (buf, at) => buf.writeUInt8(family === 4 ? AF_INET : AF_INET6, at));
  return w.finish();
}

/** One RTM_NEWNEIGH of a dump; null for what is not an IPv4/IPv6 entry with a destination. */
export function parseNeighbour(msg: NetlinkMessage): NeighbourEntry | null {
  const p = msg.payload;
  if (msg.type !== RTM_NEWNEIGH || p.length < NDMSG_LEN) return null;
  const af = p.readUInt8(0);
  const family = af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
  if (family === null) return null;
  const dst = parseAttrs(p, NDMSG_LEN).get(NDA_DST);
  if (dst === undefined || dst.length !== (family === 4 ? 4 : 16)) return null;
  return { family, ifindex: p.readInt32LE(4), state: p.readUInt16LE(8), addr: new Uint8Array(dst) };
}
