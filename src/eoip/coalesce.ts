/**
 * src/eoip/: the EoIP core: tunnel config shape, tunnel table, receive checks, encapsulation, offload segmentation and coalescing, RouterOS keepalive.
 * May import: src/wire only: no I/O, clocks are injected.
 */
/**
 * Wire to tap, GRO-style: consecutive TCP segments of one flow (decapsulated frames of one batch,
 * for one tap) become one superframe of at most 64 KB, written behind a virtio-net header that
 * tells the kernel it is TSO (gso_type, gso_size) with a partial checksum to finish (NEEDS_CSUM),
 * so the kernel neither segments it for local delivery nor verifies its checksum again: we
 * verified every segment's. Pure: the frames stay where they were received (the superframe's
 * pieces are the first frame and the later payloads), only the first frame's IP and TCP headers
 * are rewritten in place. Everything that cannot be coalesced goes out as it came, with a virtio-net
 * header that says DATA_VALID when we verified its TCP checksum and nothing otherwise.
 *
 * A segment joins the open superframe when it is an untagged Ethernet + IPv4 (no options, not a
 * fragment, header checksum good) or IPv6 (no extension headers) + TCP frame with payload and a
 * good checksum, without SYN, FIN, RST, URG or CWR; with the same Ethernet header, IP addresses,
 * TOS/traffic class and flow label, TTL, DF, ports, ACK number, window, flags and options as the
 * first; its sequence number follows the last one's; every segment but the last carries exactly the
 * first one's payload length (gso_size) and no PSH; and the whole stays within 65535 bytes of IP.
 */
import { finishChecksum, sumWords, sumWordsWide } from '../wire/checksum.ts';
import { GsoType, VNET_HDR_LENGTH, VnetFlags } from './offload.ts';
import { addPiece, endMessage, FRAMES, HEADERS, hasRoom, type PieceList, takeHeader } from './pieces.ts';

const ETH = 14;
const IPV4 = 20;
const IPV6 = 40;
const TCP_MIN = 20;
const IPPROTO_TCP = 6;
const MAX_IP_BYTES = 65535;
/** Pieces of one message: the virtio-net header, the first frame, then one per later segment. */
const MAX_PIECES = 1024;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const URG = 0x20;
const CWR = 0x80;
const NEVER = FIN | SYN | RST | URG | CWR;

/** One frame's layout, as parsed by inspect(). */
interface Segment {
  v4: boolean;
  /** Offset of the TCP header from the frame's start, and the length of all headers. */
  l4: number;
  headers: number;
  payload: number;
  seq: number;
  flags: number;
}

/** What add() did with a frame (counted by the caller). */
export const Coalesced = {
  /** Appended to the open superframe. */
  JOINED: 0,
  /** Started a new message (a superframe to be, or a frame as it came). */
  QUEUED: 1,
} as const;

export class Coalescer {
  private readonly seg: Segment = { v4: false, l4: 0, headers: 0, payload: 0, seq: 0, flags: 0 };
  /** The open run: its frames' buffer, its first frame, layout and progress. */
  private open = false;
  private buf: Uint8Array = new Uint8Array(0);
  private first = 0;
  private v4 = false;
  private l4 = 0;
  private headers = 0;
  private mss = 0;
  private nextSeq = 0;
  /** TCP header + every payload so far. */
  private l4Bytes = 0;
  private segments = 0;
  private frameBytes = 0;
  private push = false;
  /** No segment may join any more (the last one was short or had PSH). */
  private full = false;
  private hdrAt = 0;

  constructor(private readonly list: PieceList) {}

  /** Room for one more frame of any kind (else finish(), send and clear the list first). */
  hasRoom(): boolean {
    return hasRoom(this.list, 1, 2, VNET_HDR_LENGTH);
  }

  /**
   * Queues the Ethernet frame buf[off, off+len), joined to the open superframe when it can be.
   * The caller checks hasRoom() first. All frames until finish() must lie in the same `buf`.
   */
  add(buf: Uint8Array, off: number, len: number): number {
    const s = this.seg;
    const tcp = inspect(buf, off, len, s);
    if (tcp && this.open && !this.full && this.joins(buf, off, len)) {
      addPiece(this.list, FRAMES, off + s.headers, s.payload);
      this.segments++;
      this.frameBytes += len;
      this.l4Bytes += s.payload;
      this.nextSeq = (this.nextSeq + s.payload) >>> 0;
      if ((s.flags & PSH) !== 0) this.push = true;
      if (s.payload < this.mss || this.push || this.segments >= MAX_PIECES - 1) this.full = true;
      return Coalesced.JOINED;
    }
    this.finish();
    const list = this.list;
    const at = takeHeader(list, VNET_HDR_LENGTH);
    list.headers.fill(0, at, at + VNET_HDR_LENGTH);
    addPiece(list, HEADERS, at, VNET_HDR_LENGTH);
    addPiece(list, FRAMES, off, len);
    if (!tcp) {
      endMessage(list, 1, len);
      return Coalesced.QUEUED;
    }
    this.open = true;
    this.buf = buf;
    this.first = off;
    this.v4 = s.v4;
    this.l4 = s.l4;
    this.headers = s.headers;
    this.mss = s.payload;
    this.nextSeq = (s.seq + s.payload) >>> 0;
    this.l4Bytes = s.headers - s.l4 + s.payload;
    this.segments = 1;
    this.frameBytes = len;
    this.push = (s.flags & PSH) !== 0;
    this.full = this.push;
    this.hdrAt = at;
    return Coalesced.QUEUED;
  }

  /** Closes the open superframe (its headers written, its message ended). */
  finish(): void {
    if (!this.open) return;
    this.open = false;
    const list = this.list;
    const h = list.headers;
    const at = this.hdrAt;
    if (this.segments === 1) {
      h[at] = VnetFlags.DATA_VALID;
      endMessage(list, 1, this.frameBytes);
      return;
    }
    const buf = this.buf;
    const f = this.first;
    const l4 = f + this.l4;
    if (this.v4) {
      const total = IPV4 + this.l4Bytes;
      buf[f + ETH + 2] = total >>> 8;
      buf[f + ETH + 3] = total & 0xff;
      buf[f + ETH + 10] = 0;
      buf[f + ETH + 11] = 0;
      const sum = finishChecksum(sumWords(buf, f + ETH, f + ETH + IPV4));
      buf[f + ETH + 10] = sum >>> 8;
      buf[f + ETH + 11] = sum & 0xff;
    } else {
      buf[f + ETH + 4] = this.l4Bytes >>> 8;
      buf[f + ETH + 5] = this.l4Bytes & 0xff;
    }
    if (this.push) buf[l4 + 13] = buf[l4 + 13]! | PSH;
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, the kernel finishes the rest.
    const addresses = f + ETH + (this.v4 ? 12 : 8);
    let pseudo = sumWords(buf, addresses, addresses + (this.v4 ? 8 : 32), IPPROTO_TCP + this.l4Bytes);
    while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
    buf[l4 + 16] = pseudo >>> 8;
    buf[l4 + 17] = pseudo & 0xff;
    h[at] = VnetFlags.NEEDS_CSUM;
    h[at + 1] = this.v4 ? GsoType.TCPV4 : GsoType.TCPV6;
    writeLe16(h, at + 2, this.headers);
    writeLe16(h, at + 4, this.mss);
    writeLe16(h, at + 6, this.l4);
    writeLe16(h, at + 8, 16);
    endMessage(list, this.segments, this.frameBytes);
  }

  /** Whether the frame just inspected continues the open run. */
  private joins(buf: Uint8Array, off: number, len: number): boolean {
    const s = this.seg;
    if (s.v4 !== this.v4 || s.headers !== this.headers || s.seq !== this.nextSeq || s.payload > this.mss)
      return false;
    if ((s.flags & ~PSH) !== (this.buf[this.first + this.l4 + 13]! & ~PSH)) return false;
    if (this.l4Bytes + s.payload + (this.v4 ? IPV4 : 0) > MAX_IP_BYTES) return false;
    const a = this.buf;
    const f = this.first;
    if (a !== buf) return false;
    for (let i = 0; i < ETH; i++) if (a[f + i] !== buf[off + i]) return false;
    if (this.v4) {
      // TOS, DF, TTL, protocol and both addresses (id, length and checksum differ by right).
      if (a[f + ETH + 1] !== buf[off + ETH + 1] || a[f + ETH + 6] !== buf[off + ETH + 6]) return false;
      if (a[f + ETH + 8] !== buf[off + ETH + 8]) return false;
      for (let i = 12; i < IPV4; i++) if (a[f + ETH + i] !== buf[off + ETH + i]) return false;
    } else {
      // Version, traffic class and flow label; next header, hop limit, both addresses.
      for (let i = 0; i < 4; i++) if (a[f + ETH + i] !== buf[off + ETH + i]) return false;
      for (let i = 6; i < IPV6; i++) if (a[f + ETH + i] !== buf[off + ETH + i]) return false;
    }
    // Ports, then ACK number, then window, urgent pointer and options (sequence, offset, flags,
    // checksum checked above or differing by right).
    const t = f + this.l4;
    const u = off + this.l4;
    for (let i = 0; i < 4; i++) if (a[t + i] !== buf[u + i]) return false;
    for (let i = 8; i < 12; i++) if (a[t + i] !== buf[u + i]) return false;
    if (a[t + 14] !== buf[u + 14] || a[t + 15] !== buf[u + 15]) return false;
    for (let i = 18; i < this.headers - this.l4; i++) if (a[t + i] !== buf[u + i]) return false;
    return len - s.headers === s.payload;
  }
}

/**
 * Parses buf[off, off+len) into `s` and says whether it is a TCP segment that may be coalesced:
 * see the module comment. Verifies the IPv4 header checksum and the TCP checksum.
 */
export function inspect(buf: Uint8Array, off: number, len: number, s: Segment): boolean {
  if (len < ETH + IPV4 + TCP_MIN) return false;
  const ethertype = (buf[off + 12]! << 8) | buf[off + 13]!;
  const ip = off + ETH;
  let l4: number;
  let addresses: number;
  let addressBytes: number;
  if (ethertype === 0x0800) {
    if (buf[ip] !== 0x45 || buf[ip + 9] !== IPPROTO_TCP) return false;
    if ((buf[ip + 6]! & 0x3f) !== 0 || buf[ip + 7] !== 0) return false; // MF or an offset: a fragment
    if (((buf[ip + 2]! << 8) | buf[ip + 3]!) !== len - ETH) return false; // padded or cut
    if (finishChecksum(sumWords(buf, ip, ip + IPV4)) !== 0) return false;
    s.v4 = true;
    l4 = ETH + IPV4;
    addresses = ip + 12;
    addressBytes = 8;
  } else if (ethertype === 0x86dd) {
    if (len < ETH + IPV6 + TCP_MIN) return false;
    if (buf[ip]! >>> 4 !== 6 || buf[ip + 6] !== IPPROTO_TCP) return false;
    if (((buf[ip + 4]! << 8) | buf[ip + 5]!) !== len - ETH - IPV6) return false;
    s.v4 = false;
    l4 = ETH + IPV6;
    addresses = ip + 8;
    addressBytes = 32;
  } else {
    return false;
  }
  const t = off + l4;
  const tcpHeader = (buf[t + 12]! >>> 4) * 4;
  const flags = buf[t + 13]!;
  if (tcpHeader < TCP_MIN || l4 + tcpHeader >= len || (flags & NEVER) !== 0) return false;
  const l4Bytes = len - l4;
  const pseudo = sumWords(buf, addresses, addresses + addressBytes, IPPROTO_TCP + l4Bytes);
  if (finishChecksum(sumWordsWide(buf, t, off + len, pseudo)) !== 0) return false;
  s.l4 = l4;
  s.headers = l4 + tcpHeader;
  s.payload = len - s.headers;
  s.seq = ((buf[t + 4]! << 24) | (buf[t + 5]! << 16) | (buf[t + 6]! << 8) | buf[t + 7]!) >>> 0;
  s.flags = flags;
  return true;
}

function writeLe16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = value >>> 8;
}
