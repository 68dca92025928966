/**
 * Tap offloads, pure: the virtio-net header a tap opened with IFF_VNET_HDR
 * puts before every frame, the checksum a frame marked NEEDS_CSUM still
 * lacks, and the segmentation of a TSO/USO superframe into frames of at most
 * the tunnel MTU (the reverse, coalescing, is in coalesce.ts). No I/O; the backend reads and
 * writes the bytes.
 *
 * virtio_net_hdr (10 bytes, little-endian as the tap gives it on x86 and arm):
 *   0 flags (1 = NEEDS_CSUM, 2 = DATA_VALID)   1 gso_type (0 none, 1 TCPv4,
 *   4 TCPv6, 5 UDP_L4; 0x80 ECN)   2 hdr_len   4 gso_size   6 csum_start
 *   8 csum_offset
 */
import { finishChecksum, sumWords, sumWordsWide } from '../wire/checksum.ts';
import { addPiece, endMessage, FRAMES, HEADERS, hasRoom, type PieceList, takeHeader } from './pieces.ts';

export const VNET_HDR_LENGTH = 10;
export const VnetFlags = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;
export const GsoType = { NONE: 0, TCPV4: 1, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;

const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLength: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function createVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: 0, hdrLength: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

export function decodeVnetHeader(buf: Uint8Array, off: number, out: VnetHeader): void {
  out.flags = buf[off]!;
  out.gsoType = buf[off + 1]!;
  out.hdrLength = buf[off + 2]! | (buf[off + 3]! << 8);
  out.gsoSize = buf[off + 4]! | (buf[off + 5]! << 8);
  out.csumStart = buf[off + 6]! | (buf[off + 7]! << 8);
  out.csumOffset = buf[off + 8]! | (buf[off + 9]! << 8);
}

/**
 * Completes a NEEDS_CSUM frame in place: the kernel left the pseudo-header
 * sum in the checksum field, so the one's complement sum from csumStart to
 * the end of the frame, complemented, is the checksum.
 */
export function completeChecksum(frame: Uint8Array, off: number, len: number, h: VnetHeader): boolean {
  const start = off + h.csumStart;
  const field = start + h.csumOffset;
  if (h.csumStart >= len || h.csumOffset + 2 > len - h.csumStart) return false;
  const sum = finishChecksum(sumWordsWide(frame, start, off + len));
  frame[field] = sum >>> 8;
  frame[field + 1] = sum & 0xff;
  return true;
}

/** Why a superframe could not be segmented (the caller counts it and drops it). */
export const SegmentError = {
  /** Not Ethernet + IPv4/IPv6 + TCP/UDP as the header claims. */
  MALFORMED: -1,
  /** More segments, pieces or header bytes than the list has room for. */
  NO_ROOM: -2,
} as const;

/**
 * Cuts the superframe `frame[off, off+len)` described by `h` (gso_type TCPV4, TCPV6 or UDP_L4)
 * into frames of one header and at most gso_size payload bytes, appended to `list` as messages of
 * two pieces: a copy of the headers in the list's header area, `prefix` bytes after the start of
 * the piece (left for the caller's tunnel header, which the piece includes), then the payload where
 * it lies in `frame` (buffer FRAMES: nothing of it is copied). Per segment: IPv4 total length,
 * identification (+1 each) and header checksum, or the IPv6 payload length; TCP sequence number,
 * CWR on the first only, FIN and PSH on the last only; UDP length; and the complete L4 checksum.
 * Returns the number of segments, or a SegmentError.
 */
export function segment(
  frame: Uint8Array,
  off: number,
  len: number,
  h: VnetHeader,
  list: PieceList,
  prefix: number,
): number {
  let l3 = ETH_HEADER;
  let ethertype = (frame[off + 12]! << 8) | frame[off + 13]!;
  if (ethertype === ETHERTYPE_VLAN) {
    l3 += 4;
    ethertype = (frame[off + 16]! << 8) | frame[off + 17]!;
  }
  const v4 = ethertype === ETHERTYPE_IPV4;
  if (!v4 && ethertype !== ETHERTYPE_IPV6) return SegmentError.MALFORMED;
  const l4 = h.csumStart;
  const udp = (h.gsoType & ~GsoType.ECN) === GsoType.UDP_L4;
  if (l4 < l3 + (v4 ? 20 : 40) || l4 + (udp ? 8 : 20) > len) return SegmentError.MALFORMED;
  const protocol = v4 ? frame[off + l3 + 9]! : frame[off + l3 + 6]!;
  if (protocol !== (udp ? IPPROTO_UDP : IPPROTO_TCP)) return SegmentError.MALFORMED;
  const headers = udp ? l4 + 8 : l4 + (frame[off + l4 + 12]! >>> 4) * 4;
  const mss = h.gsoSize;
  if (headers > len || mss === 0) return SegmentError.MALFORMED;
  const payload = len - headers;
  const count = Math.max(1, Math.ceil(payload / mss));
  if (!hasRoom(list, count, 2 * count, count * (prefix + headers))) return SegmentError.NO_ROOM;

  const id0 = v4 ? (frame[off + l3 + 4]! << 8) | frame[off + l3 + 5]! : 0;
  const seq0 = udp
    ? 0
    : frame[off + l4 + 4]! * 0x1000000 +
      ((frame[off + l4 + 5]! << 16) | (frame[off + l4 + 6]! << 8) | frame[off + l4 + 7]!);
  const flags0 = udp ? 0 : frame[off + l4 + 13]!;
  // The pseudo-header's addresses and protocol are the same for every segment.
  const addrStart = off + l3 + (v4 ? 12 : 8);
  const pseudo = sumWords(frame, addrStart, addrStart + (v4 ? 8 : 32), protocol);
  const out = list.headers;

  for (let i = 0; i < count; i++) {
    const chunk = Math.min(mss, payload - i * mss);
    const piece = takeHeader(list, prefix + headers);
    const at = piece + prefix;
    out.set(frame.subarray(off, off + headers), at);
    const l4Length = headers - l4 + chunk;
    if (v4) {
      const total = headers - l3 + chunk;
      out[at + l3 + 2] = total >>> 8;
      out[at + l3 + 3] = total & 0xff;
      const id = (id0 + i) & 0xffff;
      out[at + l3 + 4] = id >>> 8;
      out[at + l3 + 5] = id & 0xff;
      out[at + l3 + 10] = 0;
      out[at + l3 + 11] = 0;
      const ihl = (out[at + l3]! & 0x0f) * 4;
      const ipSum = finishChecksum(sumWords(out, at + l3, at + l3 + ihl));
      out[at + l3 + 10] = ipSum >>> 8;
      out[at + l3 + 11] = ipSum & 0xff;
    } else {
      const plen = headers - l3 - 40 + chunk;
      out[at + l3 + 4] = plen >>> 8;
      out[at + l3 + 5] = plen & 0xff;
    }
    let csumField: number;
    if (udp) {
      out[at + l4 + 4] = l4Length >>> 8;
      out[at + l4 + 5] = l4Length & 0xff;
      csumField = at + l4 + 6;
    } else {
      const seq = (seq0 + i * mss) % 0x100000000;
      out[at + l4 + 4] = Math.floor(seq / 0x1000000);
      out[at + l4 + 5] = (seq >>> 16) & 0xff;
      out[at + l4 + 6] = (seq >>> 8) & 0xff;
      out[at + l4 + 7] = seq & 0xff;
      let flags = flags0;
      if (i > 0) flags &= ~TCP_CWR;
      if (i < count - 1) flags &= ~(TCP_FIN | TCP_PSH);
      out[at + l4 + 13] = flags;
      csumField = at + l4 + 16;
    }
    out[csumField] = 0;
    out[csumField + 1] = 0;
    // The L4 header is a whole number of 16-bit words: its sum and the payload's simply add.
    const payloadAt = off + headers + i * mss;
    const headerSum = sumWords(out, at + l4, at + headers, pseudo + l4Length);
    let sum = finishChecksum(sumWordsWide(frame, payloadAt, payloadAt + chunk, headerSum));
    if (udp && sum === 0) sum = 0xffff; // 0 means "no checksum" in UDP
    out[csumField] = sum >>> 8;
    out[csumField + 1] = sum & 0xff;
    addPiece(list, HEADERS, piece, prefix + headers);
    addPiece(list, FRAMES, payloadAt, chunk);
    endMessage(list, 1, prefix + headers + chunk);
  }
  return count;
}
