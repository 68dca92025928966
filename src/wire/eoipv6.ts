/**
 * MikroTik EoIPv6 header (IPv6 next header 97, EtherIP's number but not
 * RFC 3378's layout): two bytes, a 12-bit tunnel id and version 3 in the LOW
 * nibble of the first byte.
 *
 *   byte0 = (tid >> 8) << 4 | 0x3      byte1 = tid & 0xff
 *
 * No length field: the Ethernet frame is the rest of the payload, and a bare
 * header (nothing after it) is a keepalive.
 */
import { checkRoom } from './bytes.ts';
import { checkUint, WireStatus } from './status.ts';

export const EOIPV6_HEADER_LENGTH = 2;
export const EOIPV6_VERSION = 3;
export const EOIPV6_MAX_TUNNEL_ID = 0x0fff;
/** 40 (IPv6) + 2 (EoIPv6) + 14 (inner Ethernet). */
export const EOIPV6_OVERHEAD = 56;

export interface EoipV6Header {
  tunnelId: number;
}

export function create(): EoipV6Header {
  return { tunnelId: 0 };
}

export function decode(buf: Uint8Array, offset: number, out: EoipV6Header, end = buf.length): WireStatus {
  if (end - offset < EOIPV6_HEADER_LENGTH) return WireStatus.EOIPV6_TRUNCATED;
  const b0 = buf[offset]!;
  if ((b0 & 0x0f) !== EOIPV6_VERSION) return WireStatus.EOIPV6_BAD_VERSION;
  out.tunnelId = ((b0 >>> 4) << 8) | buf[offset + 1]!;
  return WireStatus.OK;
}

/** A keepalive is the bare header: `payloadLength` counts the bytes from the header on. */
export function isKeepalive(payloadLength: number): boolean {
  return payloadLength === EOIPV6_HEADER_LENGTH;
}

export function encodingLength(_h?: EoipV6Header): number {
  return EOIPV6_HEADER_LENGTH;
}

export function encode(h: EoipV6Header, buf: Uint8Array, offset = 0): number {
  checkUint('eoipv6.tunnelId', h.tunnelId, EOIPV6_MAX_TUNNEL_ID);
  checkRoom('eoipv6', buf, offset, EOIPV6_HEADER_LENGTH);
  return writeHeader(buf, offset, h.tunnelId);
}

/** The per-packet encoder behind `encode`, without its checks (12-bit id, 2 bytes of room). */
export function writeHeader(buf: Uint8Array, offset: number, tunnelId: number): number {
  buf[offset] = ((tunnelId >>> 8) << 4) | EOIPV6_VERSION;
  buf[offset + 1] = tunnelId & 0xff;
  return EOIPV6_HEADER_LENGTH;
}
