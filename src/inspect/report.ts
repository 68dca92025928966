/**
 * Turns captured frames into reports of what greoip understands in them.
 * Pure: no I/O. The field names of PacketReport are the stable JSON schema
 * of `greoip inspect --json` (documented in the README): add, never rename.
 */
import type { CaptureRecord } from '../pcap/index.ts';
import { LINKTYPE, linkTypeName } from '../pcap/index.ts';
import { formatMac, vlanIds } from '../wire/format.ts';
import * as gre from '../wire/gre.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import * as packet from '../wire/packet.ts';
import { WireStatus, wireStatusMessage, wireStatusName } from '../wire/status.ts';

const { FrameKind, LayerKind } = packet;

export interface UnderlayReport {
  family: 4 | 6;
  src: string;
  dst: string;
  /** IPv4 protocol or the IPv6 upper-layer protocol after extension headers. */
  protocol: number;
  /** TTL or hop limit. */
  ttl: number;
  /** Present when the packet is an IP fragment. `offset` is in bytes. */
  fragment: { offset: number; more: boolean; id: number } | null;
  /** IPv4 only: whether the header checksum verifies. */
  checksumValid: boolean | null;
  /** VLAN ids of the underlay Ethernet header, outermost first. */
  vlans: number[];
}

export interface GreReport {
  /** Flags present, e.g. "CKS", "K" or "" */
  flags: string;
  version: number;
  protocol: number;
  key: number | null;
  sequence: number | null;
  /** null when C is clear or the payload is not all here (a fragment). */
  checksumValid: boolean | null;
}

export interface EthernetReport {
  src: string;
  dst: string;
  /** EtherType; a value up to 1500 is an IEEE 802.3 length (e.g. CDP, STP). */
  etherType: number;
  vlans: number[];
}

export interface PacketReport {
  /** 1-based frame number, as tshark counts. */
  index: number;
  /** Capture time, ISO 8601 UTC with microseconds. */
  time: string;
  length: number;
  originalLength: number;
  linkType: string;
  /** greoip knows what this packet is (GRE family, or a fragment of one it saw begin). */
  understood: boolean;
  kind: packet.FrameKind;
  /** WireStatus name of the malformation that stopped decoding, or "OK". */
  status: string;
  /** Why the packet is not understood or was cut short; null when nothing to say. */
  note: string | null;
  /** Headers decoded, outermost first. */
  layers: string[];
  underlay: UnderlayReport | null;
  gre: GreReport | null;
  eoip: { tunnelId: number; frameLength: number; keepalive: boolean; partial: boolean } | null;
  eoipv6: { tunnelId: number; keepalive: boolean; partial: boolean } | null;
  greKeepalive: { family: 4 | 6; innerSrc: string; innerDst: string; innerProtocol: number } | null;
  /** The Ethernet frame carried by EoIP, EoIPv6 or GRE (TEB). */
  inner: EthernetReport | null;
  /** For a later IP fragment: index of the packet whose first fragment began it. */
  continues: number | null;
  /** Encoding the decoded fields into a fresh zeroed buffer gives back these exact bytes. */
  reencoded: boolean;
}

const UNDERSTOOD_KINDS = new Set<packet.FrameKind>([
  FrameKind.EOIP,
  FrameKind.EOIP_KEEPALIVE,
  FrameKind.EOIPV6,
  FrameKind.EOIPV6_KEEPALIVE,
  FrameKind.GRE,
  FrameKind.GRE_KEEPALIVE,
  FrameKind.PPTP,
]);

/** Link types greoip dissects, and the layer they start at. */
export function linkLayerOf(linkType: number): packet.LinkLayer | null {
  if (linkType === LINKTYPE.ETHERNET) return packet.LinkLayer.ETHERNET;
  if (linkType === LINKTYPE.RAW || linkType === LINKTYPE.IPV4 || linkType === LINKTYPE.IPV6)
    return packet.LinkLayer.IP;
  return null;
}

/**
 * Reports a capture's packets in order. Stateful only to link later IP
 * fragments to the first fragment of the same datagram.
 */
export class Inspector {
  private readonly d = packet.createDissection();
  /** Datagram key (src/dst/id/protocol) -> index of its first fragment. */
  private readonly datagrams = new Map<string, number>();

  report(record: CaptureRecord): PacketReport {
    const report = baseReport(record);
    const link = linkLayerOf(record.linkType);
    if (link === null) {
      report.note = `link type ${report.linkType} is not read by greoip`;
      return report;
    }
    const d = this.d;
    packet.dissect(record.data, link, d);
    fillFromDissection(report, d, record.data);
    this.trackFragments(report, d);
    return report;
  }

  private trackFragments(report: PacketReport, d: packet.Dissection): void {
    const ip = packet.underlay(d);
    if (!ip || !report.underlay?.fragment) return;
    const key = datagramKey(ip);
    if (report.underlay.fragment.offset === 0) {
      if (report.understood) this.datagrams.set(key, report.index);
      return;
    }
    const first = this.datagrams.get(key);
    if (first === undefined) {
      report.note = 'IP fragment of a datagram whose first fragment is not in this capture';
      return;
    }
    report.continues = first;
    report.understood = report.status === 'OK';
    report.note = `continues packet ${first}`;
  }
}

function datagramKey(ip: packet.LayerSlot): string {
  if (ip.kind === LayerKind.IPV4)
    return `4/${ip.ip4.src}/${ip.ip4.dst}/${ip.ip4.identification}/${ip.ip4.protocol}`;
  return `6/${ipv6.formatAddress(ip.ip6.src)}/${ipv6.formatAddress(ip.ip6.dst)}/${ip.ip6.fragmentId}`;
}

function baseReport(record: CaptureRecord): PacketReport {
  return {
    index: record.index + 1,
    time: formatTime(record.timestampNs),
    length: record.data.length,
    originalLength: record.originalLength,
    linkType: linkTypeName(record.linkType),
    understood: false,
    kind: FrameKind.OTHER,
    status: 'OK',
    note: null,
    layers: [],
    underlay: null,
    gre: null,
    eoip: null,
    eoipv6: null,
    greKeepalive: null,
    inner: null,
    continues: null,
    reencoded: false,
  };
}

/** ISO 8601 with microseconds: Date keeps only milliseconds, so the rest is appended. */
export function formatTime(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const micros = (ns / 1000n) % 1000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 23)}${micros.toString().padStart(3, '0')}Z`;
}

function fillFromDissection(r: PacketReport, d: packet.Dissection, data: Uint8Array): void {
  r.kind = d.kind;
  r.status = wireStatusName(d.status);
  r.layers = d.layers.slice(0, d.layerCount).map((l) => packet.LAYER_NAMES[l.kind]);
  r.reencoded = packet.reencodesExactly(d, data);
  r.understood = d.status === WireStatus.OK && UNDERSTOOD_KINDS.has(d.kind);
  const ipIndex = d.layers.findIndex(
    (l, i) => i < d.layerCount && (l.kind === LayerKind.IPV4 || l.kind === LayerKind.IPV6),
  );
  if (ipIndex >= 0) {
    r.underlay = underlayReport(d.layers[ipIndex]!, data);
    if (ipIndex > 0) r.underlay.vlans = vlanIds(d.layers[0]!.eth);
  }
  for (let i = ipIndex + 1; ipIndex >= 0 && i < d.layerCount; i++) fillTunnelLayer(r, d, i, data);
  r.note = noteFor(r, d);
}

function fillTunnelLayer(r: PacketReport, d: packet.Dissection, i: number, data: Uint8Array): void {
  const l = d.layers[i]!;
  if (l.kind === LayerKind.GRE && r.gre === null) r.gre = greReport(l, data, d);
  else if (l.kind === LayerKind.EOIP) {
    r.eoip = {
      tunnelId: l.eoip.tunnelId,
      frameLength: l.eoip.frameLength,
      keepalive: l.eoip.frameLength === 0,
      partial: d.partialFrame,
    };
  } else if (l.kind === LayerKind.EOIPV6) {
    r.eoipv6 = {
      tunnelId: l.eoipv6.tunnelId,
      keepalive: d.kind === FrameKind.EOIPV6_KEEPALIVE,
      partial: d.partialFrame,
    };
  } else if (l.kind === LayerKind.ETHERNET && r.inner === null) {
    r.inner = {
      src: formatMac(l.eth.src),
      dst: formatMac(l.eth.dst),
      etherType: l.eth.etherType,
      vlans: vlanIds(l.eth),
    };
  } else if (l.kind === LayerKind.GRE && d.kind === FrameKind.GRE_KEEPALIVE) {
    const innerIp = d.layers[i - 1]!;
    const u = underlayReport(innerIp, data);
    r.greKeepalive = { family: u.family, innerSrc: u.src, innerDst: u.dst, innerProtocol: l.gre.protocol };
  }
}

function underlayReport(l: packet.LayerSlot, data: Uint8Array): UnderlayReport {
  if (l.kind === LayerKind.IPV4) {
    const h = l.ip4;
    const fragmented = ipv4.isFragment(h);
    return {
      family: 4,
      src: ipv4.formatAddress(h.src),
      dst: ipv4.formatAddress(h.dst),
      protocol: h.protocol,
      ttl: h.ttl,
      fragment: fragmented
        ? {
            offset: h.fragmentOffset * 8,
            more: (h.flags & ipv4.Ipv4Flags.MORE_FRAGMENTS) !== 0,
            id: h.identification,
          }
        : null,
      checksumValid: ipv4.checksumValid(data, l.offset),
      vlans: [],
    };
  }
  const h = l.ip6;
  const fragmented = h.hasFragmentHeader && (h.fragmentOffset !== 0 || h.moreFragments);
  return {
    family: 6,
    src: ipv6.formatAddress(h.src),
    dst: ipv6.formatAddress(h.dst),
    protocol: h.upperProtocol,
    ttl: h.hopLimit,
    fragment: fragmented ? { offset: h.fragmentOffset * 8, more: h.moreFragments, id: h.fragmentId } : null,
    checksumValid: null,
    vlans: [],
  };
}

function greReport(l: packet.LayerSlot, data: Uint8Array, d: packet.Dissection): GreReport {
  const h = l.gre;
  const flags = `${h.checksumPresent ? 'C' : ''}${h.keyPresent ? 'K' : ''}${h.sequencePresent ? 'S' : ''}`;
  const whole = !d.firstFragment && l.end <= data.length;
  return {
    flags,
    version: h.version,
    protocol: h.protocol,
    key: h.keyPresent ? h.key : null,
    sequence: h.sequencePresent ? h.sequence : null,
    checksumValid: h.checksumPresent && whole ? gre.checksumValid(data, l.offset, l.end) : null,
  };
}

function noteFor(r: PacketReport, d: packet.Dissection): string | null {
  if (d.status !== WireStatus.OK) return `malformed: ${wireStatusMessage(d.status)}`;
  if (d.kind === FrameKind.OTHER) {
    const eth = d.layerCount > 0 ? d.layers[0]! : null;
    return eth ? `EtherType 0x${eth.eth.etherType.toString(16).padStart(4, '0')} is not IP` : 'not IP';
  }
  if (d.kind === FrameKind.IP) return `IP protocol ${r.underlay?.protocol}: not GRE, EoIP or EoIPv6`;
  if (d.kind === FrameKind.PPTP) return 'GRE version 1 without the EoIP magic: PPTP';
  if (d.partialFrame) return 'first fragment: the frame continues in later fragments';
  return null;
}
