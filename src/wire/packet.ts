/**
 * Walks a whole frame through the codecs, outermost header first:
 *
 *   [Ethernet] IPv4|IPv6 -> EoIP | EoIPv6 | GRE -> Ethernet | IPv4 | IPv6 -> GRE ...
 *
 * The result is a stack of decoded headers in a caller-owned, reusable
 * Dissection (no allocation per frame on the common paths), a summary of
 * what the frame is to greoip (EoIP data or keepalive, GRE keepalive request,
 * fragment, ...) and the status that stopped the walk if the bytes were
 * malformed. `reencode` rebuilds the frame from the decoded fields alone.
 */
import * as eoip from './eoip.ts';
import * as eoipv6 from './eoipv6.ts';
import * as ethernet from './ethernet.ts';
import * as gre from './gre.ts';
import * as ipv4 from './ipv4.ts';
import * as ipv6 from './ipv6.ts';
import { WireStatus } from './status.ts';

export const LayerKind = {
  ETHERNET: 1,
  IPV4: 2,
  IPV6: 3,
  GRE: 4,
  EOIP: 5,
  EOIPV6: 6,
} as const;
export type LayerKind = (typeof LayerKind)[keyof typeof LayerKind];

export const LAYER_NAMES: Record<LayerKind, string> = {
  [LayerKind.ETHERNET]: 'ethernet',
  [LayerKind.IPV4]: 'ipv4',
  [LayerKind.IPV6]: 'ipv6',
  [LayerKind.GRE]: 'gre',
  [LayerKind.EOIP]: 'eoip',
  [LayerKind.EOIPV6]: 'eoipv6',
};

/** What the frame is, as far as greoip is concerned. */
export const FrameKind = {
  /** Not IPv4/IPv6, or a link type we do not read. */
  OTHER: 'other',
  /** IP, but not GRE-family or not decodable past the IP header. */
  IP: 'ip',
  /** A non-first IP fragment: its payload cannot be read without reassembly. */
  IP_FRAGMENT: 'ip-fragment',
  EOIP: 'eoip',
  EOIP_KEEPALIVE: 'eoip-keepalive',
  EOIPV6: 'eoipv6',
  EOIPV6_KEEPALIVE: 'eoipv6-keepalive',
  GRE: 'gre',
  GRE_KEEPALIVE: 'gre-keepalive',
  /** GRE version 1 that is not EoIP: PPTP's enhanced GRE. */
  PPTP: 'pptp',
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const LinkLayer = { ETHERNET: 'ethernet', IP: 'ip' } as const;
export type LinkLayer = (typeof LinkLayer)[keyof typeof LinkLayer];

export const MAX_LAYERS = 8;

/** Largest inner packet a GRE keepalive plausibly is: keepalives are tens of bytes. */
export const GRE_KEEPALIVE_MAX_INNER = 128;

/** One decoded header. Every codec's struct is preallocated; `kind` says which is live. */
export interface LayerSlot {
  kind: LayerKind;
  /** Offset of the header in the frame. */
  offset: number;
  /** End of the data this header governs (its packet's or frame's end, padding excluded). */
  end: number;
  eth: ethernet.EthernetHeader;
  ip4: ipv4.Ipv4Header;
  ip6: ipv6.Ipv6Header;
  gre: gre.GreHeader;
  eoip: eoip.EoipHeader;
  eoipv6: eoipv6.EoipV6Header;
}

export interface Dissection {
  layerCount: number;
  layers: LayerSlot[];
  kind: FrameKind;
  /** First malformation met (the walk stops there), or OK. */
  status: WireStatus;
  /** End of the last decoded header: everything after it is opaque payload. */
  payloadOffset: number;
  /** Frame length. */
  end: number;
  /** Outer IP is a first fragment (more fragments follow, offset 0). */
  firstFragment: boolean;
  /** The EoIP frame continues in later IP fragments (frameLength > data here). */
  partialFrame: boolean;
}

function createSlot(): LayerSlot {
  return {
    kind: LayerKind.ETHERNET,
    offset: 0,
    end: 0,
    eth: ethernet.create(),
    ip4: ipv4.create(),
    ip6: ipv6.create(),
    gre: gre.create(),
    eoip: eoip.create(),
    eoipv6: eoipv6.create(),
  };
}

export function createDissection(): Dissection {
  const layers: LayerSlot[] = [];
  for (let i = 0; i < MAX_LAYERS; i++) layers.push(createSlot());
  return {
    layerCount: 0,
    layers,
    kind: FrameKind.OTHER,
    status: WireStatus.OK,
    payloadOffset: 0,
    end: 0,
    firstFragment: false,
    partialFrame: false,
  };
}

/** Dissects `buf[0, end)`. Returns d.status; never throws on any bytes. */
export function dissect(buf: Uint8Array, link: LinkLayer, d: Dissection, end = buf.length): WireStatus {
  d.layerCount = 0;
  d.kind = FrameKind.OTHER;
  d.status = WireStatus.OK;
  d.payloadOffset = 0;
  d.end = end;
  d.firstFragment = false;
  d.partialFrame = false;
  if (link === LinkLayer.ETHERNET) walkEthernet(buf, 0, end, d, true);
  else walkIp(buf, 0, end, d, true);
  return d.status;
}

/** Claims the next slot, or null when the stack is full (walk stops there). */
function push(d: Dissection, kind: LayerKind, offset: number, end: number): LayerSlot | null {
  if (d.layerCount === MAX_LAYERS) return null;
  const slot = d.layers[d.layerCount]!;
  slot.kind = kind;
  slot.offset = offset;
  slot.end = end;
  return slot;
}

/** Records a decoded header: the stack grows and the opaque payload starts after it. */
function commit(d: Dissection, headerEnd: number): void {
  d.layerCount++;
  d.payloadOffset = headerEnd;
}

function walkEthernet(buf: Uint8Array, offset: number, end: number, d: Dissection, outer: boolean): void {
  const slot = push(d, LayerKind.ETHERNET, offset, end);
  if (!slot) return;
  const status = ethernet.decode(buf, offset, slot.eth, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  commit(d, offset + slot.eth.headerLength);
  const type = slot.eth.etherType;
  if (type === ethernet.EtherType.IPV4 || type === ethernet.EtherType.IPV6) {
    walkIp(buf, d.payloadOffset, end, d, outer);
  }
}

function walkIp(buf: Uint8Array, offset: number, end: number, d: Dissection, outer: boolean): void {
  if (end - offset < 1) {
    if (outer) d.status = WireStatus.IPV4_TRUNCATED;
    return;
  }
  const version = buf[offset]! >>> 4;
  if (version === 6) walkIpv6(buf, offset, end, d, outer);
  else if (version === 4 || outer) walkIpv4(buf, offset, end, d, outer);
}

function walkIpv4(buf: Uint8Array, offset: number, end: number, d: Dissection, outer: boolean): void {
  const slot = push(d, LayerKind.IPV4, offset, end);
  if (!slot) return;
  const h = slot.ip4;
  const status = ipv4.decode(buf, offset, h, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  slot.end = Math.min(end, offset + h.totalLength);
  commit(d, offset + h.headerLength);
  if (outer) d.kind = FrameKind.IP;
  if (h.fragmentOffset !== 0) {
    if (outer) d.kind = FrameKind.IP_FRAGMENT;
    return;
  }
  if (outer && (h.flags & ipv4.Ipv4Flags.MORE_FRAGMENTS) !== 0) d.firstFragment = true;
  if (h.protocol === ipv4.IPPROTO_GRE) walkGreFamily(buf, d.payloadOffset, slot.end, d, outer);
}

function walkIpv6(buf: Uint8Array, offset: number, end: number, d: Dissection, outer: boolean): void {
  const slot = push(d, LayerKind.IPV6, offset, end);
  if (!slot) return;
  const h = slot.ip6;
  const status = ipv6.decode(buf, offset, h, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  slot.end = Math.min(end, offset + ipv6.IPV6_HEADER_LENGTH + h.payloadLength);
  commit(d, offset + h.headerLength);
  if (outer) d.kind = FrameKind.IP;
  if (h.hasFragmentHeader && h.fragmentOffset !== 0) {
    if (outer) d.kind = FrameKind.IP_FRAGMENT;
    return;
  }
  if (outer && h.hasFragmentHeader && h.moreFragments) d.firstFragment = true;
  if (h.upperProtocol === ipv4.IPPROTO_GRE) walkGreFamily(buf, d.payloadOffset, slot.end, d, outer);
  else if (h.upperProtocol === ipv4.IPPROTO_ETHERIP && outer) walkEoipv6(buf, d.payloadOffset, slot.end, d);
}

/** Protocol 47 carries GRE (version 0), and under version 1 both PPTP and EoIP. */
function walkGreFamily(buf: Uint8Array, offset: number, end: number, d: Dissection, outer: boolean): void {
  if (outer && eoip.hasMagic(buf, offset, end)) {
    walkEoip(buf, offset, end, d);
    return;
  }
  if (gre.peekVersion(buf, offset, end) === 1) {
    if (outer) d.kind = FrameKind.PPTP;
    return;
  }
  const slot = push(d, LayerKind.GRE, offset, end);
  if (!slot) return;
  const status = gre.decode(buf, offset, slot.gre, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  commit(d, offset + slot.gre.headerLength);
  if (outer) {
    d.kind = FrameKind.GRE;
    walkGrePayload(buf, d.payloadOffset, end, d, slot.gre.protocol);
  } else if (
    isKeepaliveMarker(slot.gre.protocol) &&
    end - d.layers[d.layerCount - 2]!.offset <= GRE_KEEPALIVE_MAX_INNER
  ) {
    d.kind = FrameKind.GRE_KEEPALIVE;
  }
}

/** Inner GRE protocol of a keepalive: 0 (Cisco and most), 0x86DD (MikroTik GRE6). */
function isKeepaliveMarker(protocol: number): boolean {
  return protocol === gre.GreProto.KEEPALIVE || protocol === gre.GreProto.IPV6;
}

function walkGrePayload(buf: Uint8Array, offset: number, end: number, d: Dissection, protocol: number): void {
  if (
    protocol === gre.GreProto.IPV4 ||
    protocol === gre.GreProto.HUAWEI_IPV4 ||
    protocol === gre.GreProto.IPV6
  ) {
    walkIp(buf, offset, end, d, false);
  } else if (protocol === gre.GreProto.TEB) {
    walkEthernet(buf, offset, end, d, false);
  }
}

function walkEoip(buf: Uint8Array, offset: number, end: number, d: Dissection): void {
  const slot = push(d, LayerKind.EOIP, offset, end);
  if (!slot) return;
  const h = slot.eoip;
  const status = eoip.decode(buf, offset, h, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  commit(d, offset + eoip.EOIP_HEADER_LENGTH);
  if (eoip.isKeepalive(h)) {
    d.kind = FrameKind.EOIP_KEEPALIVE;
    return;
  }
  d.kind = FrameKind.EOIP;
  const available = end - d.payloadOffset;
  const frameStatus = eoip.checkFrame(h, available);
  if (frameStatus === WireStatus.EOIP_FRAME_EXCEEDS_DATA && d.firstFragment) {
    // The rest of the frame is in later fragments: read what is here.
    d.partialFrame = true;
  } else if (frameStatus !== WireStatus.OK) {
    d.status = frameStatus;
    return;
  }
  walkEthernet(buf, d.payloadOffset, d.payloadOffset + Math.min(h.frameLength, available), d, false);
}

function walkEoipv6(buf: Uint8Array, offset: number, end: number, d: Dissection): void {
  const slot = push(d, LayerKind.EOIPV6, offset, end);
  if (!slot) return;
  const status = eoipv6.decode(buf, offset, slot.eoipv6, end);
  if (status !== WireStatus.OK) {
    d.status = status;
    return;
  }
  commit(d, offset + eoipv6.EOIPV6_HEADER_LENGTH);
  if (eoipv6.isKeepalive(end - offset) && !d.firstFragment) {
    d.kind = FrameKind.EOIPV6_KEEPALIVE;
    return;
  }
  d.kind = FrameKind.EOIPV6;
  if (d.firstFragment) d.partialFrame = true;
  walkEthernet(buf, d.payloadOffset, end, d, false);
}

/** The first decoded layer of a kind at or after `from`, or null. */
export function findLayer(d: Dissection, kind: LayerKind, from = 0): LayerSlot | null {
  for (let i = from; i < d.layerCount; i++) if (d.layers[i]!.kind === kind) return d.layers[i]!;
  return null;
}

/** The outer (underlay) IP layer, or null. */
export function underlay(d: Dissection): LayerSlot | null {
  for (let i = 0; i < d.layerCount; i++) {
    const kind = d.layers[i]!.kind;
    if (kind === LayerKind.IPV4 || kind === LayerKind.IPV6) return d.layers[i]!;
  }
  return null;
}

function encodeLayer(slot: LayerSlot, out: Uint8Array, offset: number): number {
  switch (slot.kind) {
    case LayerKind.ETHERNET:
      return ethernet.encode(slot.eth, out, offset);
    case LayerKind.IPV4:
      return ipv4.encode(slot.ip4, out, offset);
    case LayerKind.IPV6:
      return ipv6.encode(slot.ip6, out, offset);
    case LayerKind.GRE:
      return gre.encode(slot.gre, out, offset);
    case LayerKind.EOIP:
      return eoip.encode(slot.eoip, out, offset);
    case LayerKind.EOIPV6:
      return eoipv6.encode(slot.eoipv6, out, offset);
  }
}

function layerLength(slot: LayerSlot): number {
  switch (slot.kind) {
    case LayerKind.ETHERNET:
      return ethernet.encodingLength(slot.eth);
    case LayerKind.IPV4:
      return ipv4.encodingLength(slot.ip4);
    case LayerKind.IPV6:
      return ipv6.encodingLength(slot.ip6);
    case LayerKind.GRE:
      return gre.encodingLength(slot.gre);
    case LayerKind.EOIP:
      return eoip.encodingLength(slot.eoip);
    case LayerKind.EOIPV6:
      return eoipv6.encodingLength(slot.eoipv6);
  }
}

/**
 * Builds the frame again into a fresh zeroed buffer: every decoded header is
 * encoded from its fields, and only what lies past the last header (the
 * innermost payload we do not parse, and any padding) is taken from `src`.
 * Equal bytes prove the codecs lost nothing.
 */
export function reencode(d: Dissection, src: Uint8Array): Uint8Array {
  let headersLength = 0;
  for (let i = 0; i < d.layerCount; i++) headersLength += layerLength(d.layers[i]!);
  const rest = src.subarray(d.payloadOffset, d.end);
  const out = new Uint8Array(headersLength + rest.length);
  let pos = 0;
  for (let i = 0; i < d.layerCount; i++) pos += encodeLayer(d.layers[i]!, out, pos);
  out.set(rest, pos);
  return out;
}

/** True when reencode(d, src) equals the dissected bytes exactly. */
export function reencodesExactly(d: Dissection, src: Uint8Array): boolean {
  const again = reencode(d, src);
  if (again.length !== d.end) return false;
  for (let i = 0; i < again.length; i++) if (again[i] !== src[i]) return false;
  return true;
}
