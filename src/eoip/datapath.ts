/**
 * The EoIP/EoIPv6 datapath between an underlay packet and a tap frame, with a
 * counter for every reason a packet is dropped. Pure: buffers in, buffers and
 * verdicts out; the backend does the I/O. Nothing here allocates per packet.
 *
 * Receive, IPv4: the raw socket hands us the whole IPv4 packet (the kernel
 * has reassembled fragments). Receive, IPv6: only the payload; the source
 * and destination come from the socket (msg_name, IPV6_PKTINFO).
 * Send: we build the EoIP header and frame; the kernel builds the outer IP
 * header and fragments (DF clear), so a 1500-byte tunnel MTU works on a
 * 1500-byte underlay.
 */
import * as eoip from '../wire/eoip.ts';
import * as eoipv6 from '../wire/eoipv6.ts';
import { ETH_HEADER_LENGTH } from '../wire/ethernet.ts';
import { IPPROTO_GRE } from '../wire/ipv4.ts';
import { LookupMiss, type TableEntry, type TunnelTable } from './table.ts';

export const DropReason = {
  /** Not a valid IPv4 header (the IPv6 header is checked by the kernel). */
  BAD_IP_HEADER: 0,
  /** An IP fragment reached us: the kernel should have reassembled it. */
  FRAGMENT: 1,
  /** Not protocol 47, or the EoIP/EoIPv6 magic or version is wrong. */
  NOT_EOIP: 2,
  /** Shorter than the EoIP header. */
  TRUNCATED: 3,
  /** EoIP frame length 1-13, or an EoIPv6 payload with a partial Ethernet header. */
  FRAME_TOO_SHORT: 4,
  /** EoIP frame length beyond the data received. */
  FRAME_EXCEEDS_DATA: 5,
  /** No tunnel uses this tunnel id. */
  UNKNOWN_TUNNEL_ID: 6,
  /** The tunnel id exists, but the packet is not from that tunnel's remote. */
  WRONG_SOURCE: 7,
  /** The tunnel has a local address and the packet was sent to another one. */
  WRONG_DESTINATION: 8,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];
export const DROP_REASON_NAMES = Object.keys(DropReason).map((k) => k.toLowerCase()) as readonly string[];

/** Per-tunnel state the datapath needs beyond the table key. */
export interface DatapathTunnel extends TableEntry {
  /** Local IPv4 address as u32, or -1 for any. */
  local4: number;
  /** Local IPv6 address, or null for any. */
  local6: Uint8Array | null;
}

/** Outcome of one received packet, in a caller-owned struct. */
export interface RxResult<T> {
  tunnel: T | null;
  keepalive: boolean;
  /** The Ethernet frame to write to the tap (data packets). */
  frameOffset: number;
  frameLength: number;
}

export function createRxResult<T>(): RxResult<T> {
  return { tunnel: null, keepalive: false, frameOffset: 0, frameLength: 0 };
}

const OK = -1;

/**
 * Decapsulates one IPv4 packet `buf[off, off+len)`. Returns -1 with `out`
 * filled, or the DropReason. `out.tunnel` is set whenever a tunnel matched,
 * so a malformed frame can still be counted against it.
 */
export function receive4<T extends DatapathTunnel>(
  buf: Uint8Array,
  off: number,
  len: number,
  table: TunnelTable<T>,
  out: RxResult<T>,
): number {
  out.tunnel = null;
  if (len < 20 || buf[off]! >>> 4 !== 4) return DropReason.BAD_IP_HEADER;
  const ihl = (buf[off]! & 0x0f) * 4;
  const totalLength = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (ihl < 20 || totalLength < ihl || totalLength > len) return DropReason.BAD_IP_HEADER;
  // More-fragments flag or a fragment offset: the kernel reassembles before raw delivery.
  if (((buf[off + 6]! & 0x3f) | buf[off + 7]!) !== 0) return DropReason.FRAGMENT;
  if (buf[off + 9] !== IPPROTO_GRE) return DropReason.NOT_EOIP;
  const at = off + ihl;
  const end = off + totalLength;
  if (end - at < eoip.EOIP_HEADER_LENGTH)
    return eoip.hasMagic(buf, at, end) ? DropReason.TRUNCATED : DropReason.NOT_EOIP;
  if (!eoip.hasMagic(buf, at, end)) return DropReason.NOT_EOIP;
  const frameLength = (buf[at + 4]! << 8) | buf[at + 5]!;
  const tunnelId = buf[at + 6]! | (buf[at + 7]! << 8);
  const src = buf[off + 12]! * 0x1000000 + ((buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!);
  const found = table.lookup4(tunnelId, src);
  if (typeof found === 'number')
    return found === LookupMiss.UNKNOWN_TUNNEL_ID ? DropReason.UNKNOWN_TUNNEL_ID : DropReason.WRONG_SOURCE;
  if (found.local4 !== -1) {
    const dst =
      buf[off + 16]! * 0x1000000 + ((buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!);
    if (dst !== found.local4) return DropReason.WRONG_DESTINATION;
  }
  out.tunnel = found;
  const frameStart = at + eoip.EOIP_HEADER_LENGTH;
  if (frameLength === 0) {
    out.keepalive = true;
    out.frameLength = 0;
    return OK;
  }
  if (frameLength < ETH_HEADER_LENGTH) return DropReason.FRAME_TOO_SHORT;
  // Anything after frameLength is padding: trimmed by taking frameLength bytes.
  if (frameLength > end - frameStart) return DropReason.FRAME_EXCEEDS_DATA;
  out.keepalive = false;
  out.frameOffset = frameStart;
  out.frameLength = frameLength;
  return OK;
}

/**
 * Decapsulates one EoIPv6 payload `buf[off, off+len)` that arrived from the
 * 16-byte address at `src[srcOff]` for `dst[dstOff]`.
 */
export function receive6<T extends DatapathTunnel>(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  table: TunnelTable<T>,
  out: RxResult<T>,
): number {
  out.tunnel = null;
  if (len < eoipv6.EOIPV6_HEADER_LENGTH) return DropReason.TRUNCATED;
  const b0 = buf[off]!;
  if ((b0 & 0x0f) !== eoipv6.EOIPV6_VERSION) return DropReason.NOT_EOIP;
  const tunnelId = ((b0 >>> 4) << 8) | buf[off + 1]!;
  const found = table.lookup6(tunnelId, src, srcOff);
  if (typeof found === 'number')
    return found === LookupMiss.UNKNOWN_TUNNEL_ID ? DropReason.UNKNOWN_TUNNEL_ID : DropReason.WRONG_SOURCE;
  const local = found.local6;
  if (local !== null) {
    for (let i = 0; i < 16; i++) if (dst[dstOff + i] !== local[i]) return DropReason.WRONG_DESTINATION;
  }
  out.tunnel = found;
  const frameLength = len - eoipv6.EOIPV6_HEADER_LENGTH;
  if (frameLength === 0) {
    out.keepalive = true;
    out.frameLength = 0;
    return OK;
  }
  if (frameLength < ETH_HEADER_LENGTH) return DropReason.FRAME_TOO_SHORT;
  out.keepalive = false;
  out.frameOffset = off + eoipv6.EOIPV6_HEADER_LENGTH;
  out.frameLength = frameLength;
  return OK;
}

/**
 * Writes the EoIP payload (header + frame) for `frame[frameOff, +frameLen)`
 * at `out[outOff]`; the kernel adds the IPv4 header. A zero-length frame is a
 * keepalive. Returns the bytes written.
 */
export function encapsulate4(
  tunnelId: number,
  frame: Uint8Array,
  frameOff: number,
  frameLen: number,
  out: Uint8Array,
  outOff: number,
): number {
  out[outOff] = 0x20;
  out[outOff + 1] = 0x01;
  out[outOff + 2] = 0x64;
  out[outOff + 3] = 0x00;
  out[outOff + 4] = frameLen >>> 8;
  out[outOff + 5] = frameLen & 0xff;
  out[outOff + 6] = tunnelId & 0xff;
  out[outOff + 7] = tunnelId >>> 8;
  out.set(frame.subarray(frameOff, frameOff + frameLen), outOff + eoip.EOIP_HEADER_LENGTH);
  return eoip.EOIP_HEADER_LENGTH + frameLen;
}

/** As encapsulate4, for EoIPv6 (2-byte header, no length field). */
export function encapsulate6(
  tunnelId: number,
  frame: Uint8Array,
  frameOff: number,
  frameLen: number,
  out: Uint8Array,
  outOff: number,
): number {
  out[outOff] = ((tunnelId >>> 8) << 4) | eoipv6.EOIPV6_VERSION;
  out[outOff + 1] = tunnelId & 0xff;
  out.set(frame.subarray(frameOff, frameOff + frameLen), outOff + eoipv6.EOIPV6_HEADER_LENGTH);
  return eoipv6.EOIPV6_HEADER_LENGTH + frameLen;
}
