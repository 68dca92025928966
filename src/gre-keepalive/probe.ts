/**
 * The active side of GRE keepalive (issue 16): the request a router sends for
 * one of its tunnels, and the strict test of whether a received packet is the
 * peer's answer to it. Pure: packets are built once per tunnel (a control-path
 * allocation); matching allocates nothing.
 *
 * The request is outer local->remote / GRE / inner remote->local / GRE with
 * protocol 0 (MikroTik GRE6: 0x86DD), so the peer only has to send the inner
 * packet back. The answer arrives plain (the inner packet, as Cisco sends it)
 * or re-tunnelled (outer remote->local / GRE / the inner packet, as XDP_TX
 * reflectors on a gre device send it). Both are accepted, and only when the
 * inner packet is exactly ours: from the peer, to us, with the tunnel's key,
 * of the size we sent.
 */

import { grePayload, ipv4Packet, ipv6Packet } from '../wire/build.ts';
import * as gre from '../wire/gre.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { WireStatus } from '../wire/status.ts';
import { AddressTable } from './address-table.ts';

/**
 * gre: GRE over IPv4 (Cisco, MikroTik gre, Huawei, Linux). gre6-mikrotik: GRE over IPv6 as RouterOS
 * gre6 sends it, inner GRE protocol 0x86DD. gre6: GRE over IPv6 with inner GRE protocol 0, the plain
 * IPv6-in-GRE layout (Cisco "tunnel mode gre ipv6", OpenBSD).
 */
export type ProbeLayout = 'gre' | 'gre6-mikrotik' | 'gre6';
export const PROBE_LAYOUTS: readonly ProbeLayout[] = ['gre', 'gre6-mikrotik', 'gre6'];

export interface ProbeSpec {
  /** Our tunnel source address (IPv4 or IPv6 text). */
  local: string;
  /** The peer's address: the only place probes go. */
  remote: string;
  /** Key we send (the peer's input key); null: no key. */
  okey?: number | null;
  /** Key the answer must carry (our input key, the peer's output key); null: none. */
  ikey?: number | null;
  /** Outer TTL / hop limit, 1-255 (default 255, as routers send keepalives). */
  ttl?: number;
  /** Outer TOS / traffic class. */
  tos?: number;
  /** Outer GRE checksum (the peer's device expects one). */
  checksum?: boolean;
  /** Default: gre for IPv4, gre6-mikrotik for IPv6. */
  layout?: ProbeLayout;
}

export class ProbeSpecError extends Error {
  override name = 'ProbeSpecError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface ProbeTunnel {
  family: 4 | 6;
  layout: ProbeLayout;
  local: Uint8Array;
  remote: Uint8Array;
  okey: number | null;
  ikey: number | null;
  ttl: number;
  tos: number;
  checksum: boolean;
  /** The whole request, from the outer IP header on (sent with IP_HDRINCL / IPV6_HDRINCL). */
  request: Uint8Array;
  /** The inner packet: what the peer sends back. */
  answer: Uint8Array;
}

function address(field: string, text: string): Uint8Array {
  const v4 = ipv4.parseAddress(text);
  if (v4 !== null) return Uint8Array.of(v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff);
  const v6 = ipv6.parseAddress(text);
  if (v6 !== null) return v6;
  throw new ProbeSpecError(field, `"${text}" is not an IPv4 or IPv6 address`);
}

function isUnspecified(a: Uint8Array): boolean {
  return a.every((b) => b === 0);
}

function isMulticast(a: Uint8Array): boolean {
  return a.length === 4 ? a[0]! >= 224 : a[0] === 0xff;
}

function checkKey(field: string, key: number | null | undefined): number | null {
  if (key === undefined || key === null) return null;
  if (!Number.isInteger(key) || key < 0 || key > 0xffffffff)
    throw new ProbeSpecError(field, `${key} is not a key (0 to 4294967295)`);
  return key;
}

/** Validates a spec and builds the tunnel's request and expected answer. */
export function compileProbe(spec: ProbeSpec): ProbeTunnel {
  const local = address('local', spec.local);
  const remote = address('remote', spec.remote);
  if (local.length !== remote.length)
    throw new ProbeSpecError('remote', `${spec.remote} is not of the same family as local ${spec.local}`);
  // Probes go to one peer: never to a broadcast-like or unspecified destination.
  if (isUnspecified(remote) || isMulticast(remote))
    throw new ProbeSpecError('remote', `${spec.remote} is not a unicast peer address`);
  if (isUnspecified(local)) throw new ProbeSpecError('local', `${spec.local} is not a unicast address`);
  const family = local.length === 4 ? 4 : 6;
  const layout = spec.layout ?? (family === 4 ? 'gre' : 'gre6-mikrotik');
  if ((layout === 'gre') !== (family === 4)) {
    throw new ProbeSpecError(
      'layout',
      `${layout} does not carry ${family === 4 ? 'IPv4' : 'IPv6'} addresses`,
    );
  }
  const ttl = spec.ttl ?? 255;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)
    throw new ProbeSpecError('ttl', `${ttl} is not 1 to 255`);
  const tos = spec.tos ?? 0;
  if (!Number.isInteger(tos) || tos < 0 || tos > 255)
    throw new ProbeSpecError('tos', `${tos} is not 0 to 255`);
  const okey = checkKey('okey', spec.okey);
  const ikey = checkKey('ikey', spec.ikey);
  const checksum = spec.checksum ?? false;
  const innerGre = grePayload(
    {
      protocol: layout === 'gre6-mikrotik' ? gre.GreProto.IPV6 : gre.GreProto.KEEPALIVE,
      ...(ikey !== null ? { key: ikey } : {}),
    },
    new Uint8Array(0),
  );
  const outerGre = (inner: Uint8Array) =>
    grePayload(
      {
        protocol: family === 4 ? gre.GreProto.IPV4 : gre.GreProto.IPV6,
        checksum,
        ...(okey !== null ? { key: okey } : {}),
      },
      inner,
    );
  let answer: Uint8Array;
  let request: Uint8Array;
  if (family === 4) {
    const [l, r] = [toU32(local), toU32(remote)];
    answer = ipv4Packet({ src: r, dst: l, ttl: 255 }, ipv4.IPPROTO_GRE, innerGre);
    request = ipv4Packet({ src: l, dst: r, ttl, tos }, ipv4.IPPROTO_GRE, outerGre(answer));
  } else {
    answer = ipv6Packet({ src: remote, dst: local, hopLimit: 255 }, ipv4.IPPROTO_GRE, innerGre);
    request = ipv6Packet(
      { src: local, dst: remote, hopLimit: ttl, trafficClass: tos },
      ipv4.IPPROTO_GRE,
      outerGre(answer),
    );
  }
  return { family, layout, local, remote, okey, ikey, ttl, tos, checksum, request, answer };
}

function toU32(a: Uint8Array): number {
  return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
}

/** How an answer came back. */
export const AnswerForm = { NONE: 0, PLAIN: 1, TUNNELLED: 2 } as const;
export type AnswerForm = (typeof AnswerForm)[keyof typeof AnswerForm];

const outerGreHeader = gre.create();

/**
 * The probed tunnels, indexed by peer address: which of them (if any) a received packet answers.
 * Immutable: a new configuration makes a new set.
 */
export class ProbeSet {
  readonly tunnels: readonly ProbeTunnel[];
  private readonly byRemote: AddressTable;
  /** First tunnel index per table slot, -1 none; then a chain through `next`. */
  private readonly head: Int32Array;
  private readonly next: Int32Array;
  /** The form of the last match. */
  form: AnswerForm = AnswerForm.NONE;

  constructor(tunnels: readonly ProbeTunnel[]) {
    this.tunnels = tunnels;
    this.byRemote = new AddressTable(Math.max(16, tunnels.length * 4));
    this.head = new Int32Array(this.byRemote.capacity).fill(-1);
    this.next = new Int32Array(tunnels.length).fill(-1);
    tunnels.forEach((t, i) => {
      const slot = this.byRemote.claim(t.family, t.remote, 0, () => false);
      if (!this.byRemote.fresh) this.next[i] = this.head[slot]!;
      this.head[slot] = i;
    });
  }

  /**
   * The index of the tunnel the packet [off, end) answers, or -1. The packet starts at its IP header
   * (IPv6: the fixed header directly followed by GRE, as the reflector rebuilds it). Sets `form`.
   */
  match(buf: Uint8Array, off: number, end: number): number {
    this.form = AnswerForm.NONE;
    if (end - off < 1) return -1;
    const version = buf[off]! >>> 4;
    if (version !== 4 && version !== 6) return -1;
    const family = version;
    const srcAt = off + (family === 4 ? 12 : 8);
    if (end - off < (family === 4 ? 20 : 40)) return -1;
    const slot = this.byRemote.find(family, buf, srcAt);
    if (slot < 0) return -1;
    for (let i = this.head[slot]!; i >= 0; i = this.next[i]!) {
      const t = this.tunnels[i]!;
      if (t.family !== family) continue;
      if (sameAnswer(t, buf, off, end)) {
        this.form = AnswerForm.PLAIN;
        return i;
      }
      if (tunnelledAnswer(t, buf, off, end)) {
        this.form = AnswerForm.TUNNELLED;
        return i;
      }
    }
    return -1;
  }
}

/** The packet [off, end) is the tunnel's answer: its addresses, protocol, size and GRE header exactly. */
function sameAnswer(t: ProbeTunnel, buf: Uint8Array, off: number, end: number): boolean {
  const a = t.answer;
  if (end - off !== a.length) return false;
  if (t.family === 4) {
    // Version and IHL, total length, no fragment, protocol, addresses; TOS, id, TTL and checksum may differ.
    if (buf[off] !== a[0] || buf[off + 2] !== a[2] || buf[off + 3] !== a[3]) return false;
    if ((buf[off + 6]! & 0x3f) !== 0 || buf[off + 7] !== 0 || buf[off + 9] !== a[9]) return false;
    return same(buf, off + 12, a, 12, a.length - 12);
  }
  // Version, payload length, next header (no extension headers), addresses, GRE; class, flow, hops may differ.
  if (buf[off]! >>> 4 !== 6 || buf[off + 4] !== a[4] || buf[off + 5] !== a[5] || buf[off + 6] !== a[6])
    return false;
  return same(buf, off + 8, a, 8, a.length - 8);
}

/** Outer peer->us / GRE (the family's protocol, the tunnel's input key) / exactly the answer. */
function tunnelledAnswer(t: ProbeTunnel, buf: Uint8Array, off: number, end: number): boolean {
  let greAt: number;
  let ipEnd: number;
  if (t.family === 4) {
    const ihl = (buf[off]! & 0x0f) * 4;
    if (ihl < 20 || buf[off + 9] !== ipv4.IPPROTO_GRE) return false;
    if ((buf[off + 6]! & 0x3f) !== 0 || buf[off + 7] !== 0) return false;
    ipEnd = off + ((buf[off + 2]! << 8) | buf[off + 3]!);
    greAt = off + ihl;
    if (!same(buf, off + 12, t.remote, 0, 4) || !same(buf, off + 16, t.local, 0, 4)) return false;
  } else {
    if (buf[off + 6] !== ipv4.IPPROTO_GRE) return false;
    ipEnd = off + ipv6.IPV6_HEADER_LENGTH + ((buf[off + 4]! << 8) | buf[off + 5]!);
    greAt = off + ipv6.IPV6_HEADER_LENGTH;
    if (!same(buf, off + 8, t.remote, 0, 16) || !same(buf, off + 24, t.local, 0, 16)) return false;
  }
  if (ipEnd !== end || greAt >= end) return false;
  const h = outerGreHeader;
  if (gre.decode(buf, greAt, h, end) !== WireStatus.OK || h.version !== 0) return false;
  if (h.protocol !== (t.family === 4 ? gre.GreProto.IPV4 : gre.GreProto.IPV6)) return false;
  if (h.keyPresent !== (t.ikey !== null) || (h.keyPresent && h.key !== t.ikey)) return false;
  if (h.checksumPresent && !gre.checksumValid(buf, greAt, end)) return false;
  const inner = greAt + h.headerLength;
  // Plain answers had their header checksum checked by the kernel; this one was only carried.
  if (t.family === 4 && (end - inner < 20 || !ipv4.checksumValid(buf, inner))) return false;
  return sameAnswer(t, buf, inner, end);
}

function same(buf: Uint8Array, at: number, ref: Uint8Array, from: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[at + i] !== ref[from + i]) return false;
  return true;
}
