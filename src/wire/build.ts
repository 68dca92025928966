/**
 * Whole-packet builders for tests, tools and control paths (they allocate;
 * per-packet datapaths encode into their own preallocated buffers instead).
 * Lengths and checksums are filled in, so the result is valid on the wire.
 */
import * as eoip from './eoip.ts';
import * as eoipv6 from './eoipv6.ts';
import * as ethernet from './ethernet.ts';
import * as gre from './gre.ts';
import * as ipv4 from './ipv4.ts';
import * as ipv6 from './ipv6.ts';
import { checkUint } from './status.ts';

export interface Ipv4Options {
  src: number;
  dst: number;
  ttl?: number;
  tos?: number;
  identification?: number;
  /** 3-bit flags; EoIP is sent with DF clear. */
  flags?: number;
  options?: Uint8Array;
}

export interface Ipv6Options {
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  extensions?: ipv6.Ipv6Extension[];
}

export interface GreOptions {
  protocol: number;
  key?: number;
  sequence?: number;
  checksum?: boolean;
}

/** IPv4 header + payload with total length and header checksum computed. */
export function ipv4Packet(o: Ipv4Options, protocol: number, payload: Uint8Array): Uint8Array {
  const h = ipv4.create();
  h.src = o.src;
  h.dst = o.dst;
  h.ttl = o.ttl ?? 64;
  h.tos = o.tos ?? 0;
  h.identification = o.identification ?? 0;
  h.flags = o.flags ?? 0;
  h.protocol = protocol;
  if (o.options) {
    h.options.set(o.options);
    h.optionsLength = o.options.length;
  }
  h.totalLength = ipv4.encodingLength(h) + payload.length;
  const out = new Uint8Array(h.totalLength);
  const at = ipv4.encode(h, out, 0);
  ipv4.setChecksum(out, 0);
  out.set(payload, at);
  return out;
}

/** IPv6 header (with any extension headers) + payload, payload length computed. */
export function ipv6Packet(o: Ipv6Options, protocol: number, payload: Uint8Array): Uint8Array {
  const h = ipv6.create();
  h.src.set(o.src);
  h.dst.set(o.dst);
  h.hopLimit = o.hopLimit ?? 64;
  h.trafficClass = o.trafficClass ?? 0;
  h.flowLabel = o.flowLabel ?? 0;
  const exts = o.extensions ?? [];
  h.extensionCount = exts.length;
  exts.forEach((e, i) => {
    h.extensions[i] = e;
  });
  h.upperProtocol = protocol;
  const headerLength = ipv6.encodingLength(h);
  h.payloadLength = headerLength - ipv6.IPV6_HEADER_LENGTH + payload.length;
  const out = new Uint8Array(headerLength + payload.length);
  ipv6.encode(h, out, 0);
  out.set(payload, headerLength);
  return out;
}

/** GRE header + payload; the checksum, when asked for, covers both. */
export function grePayload(o: GreOptions, payload: Uint8Array): Uint8Array {
  const h = gre.create();
  h.protocol = o.protocol;
  h.checksumPresent = o.checksum ?? false;
  h.keyPresent = o.key !== undefined;
  h.key = o.key ?? 0;
  h.sequencePresent = o.sequence !== undefined;
  h.sequence = o.sequence ?? 0;
  const length = gre.encodingLength(h);
  const out = new Uint8Array(length + payload.length);
  gre.encode(h, out, 0);
  out.set(payload, length);
  if (h.checksumPresent) gre.setChecksum(out, 0, out.length);
  return out;
}

/** EoIP header + Ethernet frame (an empty frame makes a keepalive). */
export function eoipPayload(tunnelId: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(eoip.EOIP_HEADER_LENGTH + frame.length);
  eoip.encode({ tunnelId, frameLength: frame.length }, out, 0);
  out.set(frame, eoip.EOIP_HEADER_LENGTH);
  return out;
}

/** EoIPv6 header + Ethernet frame (an empty frame makes a keepalive). */
export function eoipv6Payload(tunnelId: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(eoipv6.EOIPV6_HEADER_LENGTH + frame.length);
  eoipv6.encode({ tunnelId }, out, 0);
  out.set(frame, eoipv6.EOIPV6_HEADER_LENGTH);
  return out;
}

/** A complete EoIP packet from the IPv4 header on, with RouterOS's defaults (TTL 255, DF clear). */
export function eoipPacket(ip: Ipv4Options, tunnelId: number, frame: Uint8Array): Uint8Array {
  return ipv4Packet({ ttl: 255, ...ip }, ipv4.IPPROTO_GRE, eoipPayload(tunnelId, frame));
}

/** A complete EoIPv6 packet from the IPv6 header on (hop limit 255). */
export function eoipv6Packet(ip: Ipv6Options, tunnelId: number, frame: Uint8Array): Uint8Array {
  return ipv6Packet({ hopLimit: 255, ...ip }, ipv4.IPPROTO_ETHERIP, eoipv6Payload(tunnelId, frame));
}

/**
 * A GRE keepalive request as router A sends it to B over IPv4: outer A->B
 * carrying GRE(0x0800) and an inner B->A packet whose GRE protocol is 0.
 */
export function greKeepaliveRequest4(a: number, b: number, outerGre: Partial<GreOptions> = {}): Uint8Array {
  const inner = ipv4Packet(
    { src: b, dst: a, ttl: 255 },
    ipv4.IPPROTO_GRE,
    grePayload({ protocol: 0 }, new Uint8Array(0)),
  );
  const outer = grePayload({ protocol: gre.GreProto.IPV4, ...outerGre }, inner);
  return ipv4Packet({ src: a, dst: b, ttl: 255 }, ipv4.IPPROTO_GRE, outer);
}

/** MikroTik's GRE6 keepalive: outer IPv6 A->B, GRE 0x86DD, inner IPv6 B->A with GRE 0x86DD. */
export function greKeepaliveRequest6(
  a: Uint8Array,
  b: Uint8Array,
  innerProtocol: number = gre.GreProto.IPV6,
): Uint8Array {
  const inner = ipv6Packet(
    { src: b, dst: a, hopLimit: 255 },
    ipv4.IPPROTO_GRE,
    grePayload({ protocol: innerProtocol }, new Uint8Array(0)),
  );
  return ipv6Packet(
    { src: a, dst: b, hopLimit: 255 },
    ipv4.IPPROTO_GRE,
    grePayload({ protocol: gre.GreProto.IPV6 }, inner),
  );
}

/** Ethernet header + payload. MACs are 48-bit integers; tags are [tpid, tci] pairs. */
export function ethernetFrame(
  dst: number,
  src: number,
  etherType: number,
  payload: Uint8Array,
  tags: [number, number][] = [],
): Uint8Array {
  const h = ethernet.create();
  h.dst = dst;
  h.src = src;
  h.etherType = etherType;
  checkUint('tags.length', tags.length, ethernet.MAX_VLAN_TAGS);
  tags.forEach(([tpid, tci], i) => {
    h.tagTpid[i] = tpid;
    h.tagTci[i] = tci;
  });
  h.tagCount = tags.length;
  const length = ethernet.encodingLength(h);
  const out = new Uint8Array(length + payload.length);
  ethernet.encode(h, out, 0);
  out.set(payload, length);
  return out;
}
