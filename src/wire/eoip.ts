/**
 * MikroTik EoIP header (IPv4 protocol 47):
 *
 *   0  20 01   GRE flags with K set and version 1 (what PPTP uses too)
 *   2  64 00   protocol 0x6400
 *   4  LL LL   Ethernet frame length, big-endian; 0 is a keepalive
 *   6  TT TT   tunnel id, little-endian
 *   8  Ethernet frame (no FCS)
 *
 * The mixed byte order is RouterOS's, confirmed by real captures.
 */
import { checkRoom, readU16, writeU16 } from './bytes.ts';
import { ETH_HEADER_LENGTH } from './ethernet.ts';
import { checkUint, WireStatus } from './status.ts';

export const EOIP_HEADER_LENGTH = 8;
export const EOIP_MAGIC = 0x20016400;
export const EOIP_MAX_TUNNEL_ID = 0xffff;
/** 20 (IPv4) + 8 (EoIP) + 14 (inner Ethernet): what the tunnel MTU loses to headers. */
export const EOIP_OVERHEAD = 42;

export interface EoipHeader {
  /** Length of the Ethernet frame that follows; 0 for a keepalive. */
  frameLength: number;
  tunnelId: number;
}

export function create(): EoipHeader {
  return { frameLength: 0, tunnelId: 0 };
}

/** True when the bytes at `offset` start with the EoIP magic (4 bytes needed). */
export function hasMagic(buf: Uint8Array, offset: number, end = buf.length): boolean {
  return (
    end - offset >= 4 &&
    buf[offset] === 0x20 &&
    buf[offset + 1] === 0x01 &&
    buf[offset + 2] === 0x64 &&
    buf[offset + 3] === 0x00
  );
}

export function decode(buf: Uint8Array, offset: number, out: EoipHeader, end = buf.length): WireStatus {
  if (end - offset < 4) return WireStatus.EOIP_TRUNCATED;
  if (!hasMagic(buf, offset, end)) return WireStatus.EOIP_BAD_MAGIC;
  if (end - offset < EOIP_HEADER_LENGTH) return WireStatus.EOIP_TRUNCATED;
  out.frameLength = readU16(buf, offset + 4);
  out.tunnelId = buf[offset + 6]! | (buf[offset + 7]! << 8);
  return WireStatus.OK;
}

export function isKeepalive(h: EoipHeader): boolean {
  return h.frameLength === 0;
}

/**
 * Receive check of the frame behind a decoded header, given how many bytes
 * follow the header: a keepalive, or a frame of at least an Ethernet header
 * that fits in the data (anything beyond frameLength is padding to trim).
 */
export function checkFrame(h: EoipHeader, available: number): WireStatus {
  if (h.frameLength === 0) return WireStatus.OK;
  if (h.frameLength < ETH_HEADER_LENGTH) return WireStatus.EOIP_FRAME_TOO_SHORT;
  if (h.frameLength > available) return WireStatus.EOIP_FRAME_EXCEEDS_DATA;
  return WireStatus.OK;
}

export function encodingLength(_h?: EoipHeader): number {
  return EOIP_HEADER_LENGTH;
}

export function encode(h: EoipHeader, buf: Uint8Array, offset = 0): number {
  checkUint('eoip.frameLength', h.frameLength, 0xffff);
  checkUint('eoip.tunnelId', h.tunnelId, EOIP_MAX_TUNNEL_ID);
  checkRoom('eoip', buf, offset, EOIP_HEADER_LENGTH);
  return writeHeader(buf, offset, h.frameLength, h.tunnelId);
}

/**
 * The per-packet encoder behind `encode`, without its checks: the caller
 * guarantees a u16 frame length, a u16 tunnel id and 8 bytes of room.
 */
export function writeHeader(buf: Uint8Array, offset: number, frameLength: number, tunnelId: number): number {
  buf[offset] = 0x20;
  buf[offset + 1] = 0x01;
  buf[offset + 2] = 0x64;
  buf[offset + 3] = 0x00;
  writeU16(buf, offset + 4, frameLength);
  buf[offset + 6] = tunnelId & 0xff;
  buf[offset + 7] = tunnelId >>> 8;
  return EOIP_HEADER_LENGTH;
}
