/**
 * The reflector's decision (docs/keepalive.md): given a received packet and a
 * policy, the reply and where it goes, or the reason to ignore it. Pure and
 * allocation-free per packet: the caller owns the Decision and reuses it.
 */
import { ETH_HEADER_LENGTH, isVlanTpid, VLAN_TAG_LENGTH } from '../wire/ethernet.ts';
import * as gre from '../wire/gre.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { WireStatus } from '../wire/status.ts';
import { isPrivate4, isPrivate6, type Policy, peerAllowed4, peerAllowed6 } from './policy.ts';

export const Verdict = {
  REPLY: 0,
  NOT_GRE: 1,
  NOT_KEEPALIVE: 2,
  MALFORMED: 3,
  FRAGMENT: 4,
  PEER_NOT_ALLOWED: 5,
  FORGED_SOURCE: 6,
  THIRD_PARTY: 7,
  TOO_LARGE: 8,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];
export const VERDICT_NAMES = Object.keys(Verdict).map((k) => k.toLowerCase()) as readonly string[];

export type Layout = 'outer-l3' | 'outer-l2' | 'inner-l3';

/** Largest inner packet answered: a keepalive is tens of bytes. */
export const MAX_INNER = 128;

export interface Decision {
  verdict: Verdict;
  family: 4 | 6;
  /** Where the inner packet (the reply before any rewrite) sits in the input. */
  replyOffset: number;
  replyLength: number;
  /** The reply bytes (first replyLength), rewritten for `nat` when needed. */
  reply: Uint8Array;
  /** Where the reply goes: 4 bytes (IPv4) or 16 (IPv6). */
  dst: Uint8Array;
  /** Whether the nat mode rewrote the inner destination. */
  rewritten: boolean;
  /** Offset of the outer IP header in the input (-1 for inner-l3). */
  outerOffset: number;
}

export function createDecision(): Decision {
  return {
    verdict: Verdict.NOT_GRE,
    family: 4,
    replyOffset: 0,
    replyLength: 0,
    reply: new Uint8Array(MAX_INNER),
    dst: new Uint8Array(16),
    rewritten: false,
    outerOffset: -1,
  };
}

/** Reused header structs: one decision at a time per module instance is all a reflector needs. */
const outer4 = ipv4.create();
const outer6 = ipv6.create();
const inner4 = ipv4.create();
const inner6 = ipv6.create();
const greHeader = gre.create();

/** Runs the checks of docs/keepalive.md in order; returns (and stores) the verdict. */
export function decide(
  buf: Uint8Array,
  offset: number,
  end: number,
  layout: Layout,
  policy: Policy,
  out: Decision,
): Verdict {
  out.rewritten = false;
  out.replyLength = 0;
  out.outerOffset = -1;
  const at = layout === 'outer-l2' ? skipEthernet(buf, offset, end) : offset;
  let verdict: Verdict;
  if (at < 0) verdict = Verdict.NOT_GRE;
  else if (layout === 'inner-l3') verdict = decideInner(buf, at, end, policy, out);
  else verdict = decideOuter(buf, at, end, policy, out);
  out.verdict = verdict;
  return verdict;
}

/** Start of the IP header after Ethernet and up to two VLAN tags, or -1 when not IP. */
function skipEthernet(buf: Uint8Array, offset: number, end: number): number {
  let pos = offset + 12;
  for (let tags = 0; tags <= 2; tags++) {
    if (end - pos < 2) return -1;
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    if (type === 0x0800 || type === 0x86dd) return pos + 2;
    if (!isVlanTpid(type) || tags === 2) return -1;
    pos += VLAN_TAG_LENGTH;
  }
  return offset + ETH_HEADER_LENGTH; // unreachable: the loop returns
}

function decideOuter(buf: Uint8Array, at: number, end: number, policy: Policy, out: Decision): Verdict {
  if (end - at < 1) return Verdict.NOT_GRE;
  const version = buf[at]! >>> 4;
  out.outerOffset = at;
  let payload: number;
  let ipEnd: number;
  if (version === 4) {
    if (end - at >= 20 && buf[at + 9] !== ipv4.IPPROTO_GRE) return Verdict.NOT_GRE;
    if (ipv4.decode(buf, at, outer4, end) !== WireStatus.OK) return Verdict.MALFORMED;
    ipEnd = at + outer4.totalLength;
    if (ipEnd > end) return Verdict.MALFORMED;
    if (ipv4.isFragment(outer4)) return Verdict.FRAGMENT;
    payload = at + outer4.headerLength;
  } else if (version === 6) {
    const status = ipv6.decode(buf, at, outer6, end);
    if (status !== WireStatus.OK) return Verdict.MALFORMED;
    if (outer6.upperProtocol !== ipv4.IPPROTO_GRE) return Verdict.NOT_GRE;
    ipEnd = at + ipv6.IPV6_HEADER_LENGTH + outer6.payloadLength;
    if (ipEnd > end) return Verdict.MALFORMED;
    if (outer6.hasFragmentHeader && (outer6.fragmentOffset !== 0 || outer6.moreFragments))
      return Verdict.FRAGMENT;
    payload = at + outer6.headerLength;
  } else {
    return Verdict.NOT_GRE;
  }
  const innerAt = checkGre(buf, payload, ipEnd, true);
  if (innerAt < 0) return -innerAt as Verdict;
  const v = checkInner(buf, innerAt, ipEnd, out);
  if (v !== Verdict.REPLY) return v;
  // The peer is the outer source: where the reply goes.
  if (version === 4) {
    if (out.family !== 4) return Verdict.MALFORMED;
    if (!peerAllowed4(policy, outer4.src)) return Verdict.PEER_NOT_ALLOWED;
    if (inner4.src !== outer4.dst) return Verdict.FORGED_SOURCE;
    if (inner4.dst !== outer4.src) {
      if (policy.mode !== 'nat' || !isPrivate4(inner4.dst)) return Verdict.THIRD_PARTY;
      rewrite4(out, outer4.src);
    }
    write4(out.dst, outer4.src);
  } else {
    if (out.family !== 6) return Verdict.MALFORMED;
    if (!peerAllowed6(policy, outer6.src, 0)) return Verdict.PEER_NOT_ALLOWED;
    if (!equal16(inner6.src, outer6.dst)) return Verdict.FORGED_SOURCE;
    if (!equal16(inner6.dst, outer6.src)) {
      if (policy.mode !== 'nat' || !isPrivate6(inner6.dst, 0)) return Verdict.THIRD_PARTY;
      rewrite6(out, outer6.src);
    }
    out.dst.set(outer6.src);
  }
  return Verdict.REPLY;
}

function decideInner(buf: Uint8Array, at: number, end: number, policy: Policy, out: Decision): Verdict {
  if (end - at < 1) return Verdict.NOT_GRE;
  const version = buf[at]! >>> 4;
  if (version === 4 && end - at >= 20 && buf[at + 9] !== ipv4.IPPROTO_GRE) return Verdict.NOT_GRE;
  if (version !== 4 && version !== 6) return Verdict.NOT_GRE;
  // Step 1 for the inner-l3 layout: the packet we see is the one that must be GRE.
  if (
    version === 6 &&
    ipv6.decode(buf, at, inner6, end) === WireStatus.OK &&
    inner6.upperProtocol !== ipv4.IPPROTO_GRE
  ) {
    return Verdict.NOT_GRE;
  }
  const v = checkInner(buf, at, end, out);
  if (v !== Verdict.REPLY) return v;
  if (out.family === 4) {
    // The reply goes to the inner destination: that is the peer.
    if (!peerAllowed4(policy, inner4.dst)) return Verdict.PEER_NOT_ALLOWED;
    if (policy.local4 !== null && inner4.src !== policy.local4) return Verdict.FORGED_SOURCE;
    if (policy.remote4 !== null && inner4.dst !== policy.remote4) {
      if (policy.mode !== 'nat' || !isPrivate4(inner4.dst)) return Verdict.THIRD_PARTY;
      rewrite4(out, policy.remote4);
    }
    write4(out.dst, policy.remote4 ?? inner4.dst);
  } else {
    if (!peerAllowed6(policy, inner6.dst, 0)) return Verdict.PEER_NOT_ALLOWED;
    if (policy.local6 !== null && !equal16(inner6.src, policy.local6)) return Verdict.FORGED_SOURCE;
    if (policy.remote6 !== null && !equal16(inner6.dst, policy.remote6)) {
      if (policy.mode !== 'nat' || !isPrivate6(inner6.dst, 0)) return Verdict.THIRD_PARTY;
      rewrite6(out, policy.remote6);
    }
    out.dst.set(policy.remote6 ?? inner6.dst);
  }
  return Verdict.REPLY;
}

/**
 * Checks a GRE header at `at` (within `end`). Returns the offset of what it
 * carries, or the negated verdict. `outer`: the carried protocol must be one
 * a keepalive request uses (0x0800, 0x0004, 0x86DD).
 */
function checkGre(buf: Uint8Array, at: number, end: number, outer: boolean): number {
  const status = gre.decode(buf, at, greHeader, end);
  if (status === WireStatus.GRE_TRUNCATED) return -Verdict.MALFORMED;
  if (status !== WireStatus.OK) return -Verdict.NOT_KEEPALIVE;
  const p = greHeader.protocol;
  const ok = outer
    ? p === gre.GreProto.IPV4 || p === gre.GreProto.HUAWEI_IPV4 || p === gre.GreProto.IPV6
    : p === gre.GreProto.KEEPALIVE || p === gre.GreProto.IPV6;
  if (!ok) return -Verdict.NOT_KEEPALIVE;
  return at + greHeader.headerLength;
}

/**
 * Steps 4-6: the inner IP packet at `at` must be a small GRE keepalive lying
 * within `end`. On success the reply bytes are copied into out.reply.
 */
function checkInner(buf: Uint8Array, at: number, end: number, out: Decision): Verdict {
  if (end - at < 1) return Verdict.MALFORMED;
  const version = buf[at]! >>> 4;
  // The outer GRE protocol already fixed the family; a mismatch is malformed.
  const wanted = out.outerOffset >= 0 ? (greHeader.protocol === gre.GreProto.IPV6 ? 6 : 4) : version;
  if (version !== wanted) return Verdict.MALFORMED;
  let innerEnd: number;
  let greAt: number;
  if (version === 4) {
    if (ipv4.decode(buf, at, inner4, end) !== WireStatus.OK) return Verdict.MALFORMED;
    innerEnd = at + inner4.totalLength;
    if (innerEnd > end || !ipv4.checksumValid(buf, at)) return Verdict.MALFORMED;
    if (ipv4.isFragment(inner4)) return Verdict.FRAGMENT;
    if (inner4.protocol !== ipv4.IPPROTO_GRE) return Verdict.NOT_KEEPALIVE;
    greAt = at + inner4.headerLength;
    out.family = 4;
  } else if (version === 6) {
    if (ipv6.decode(buf, at, inner6, end) !== WireStatus.OK) return Verdict.MALFORMED;
    innerEnd = at + ipv6.IPV6_HEADER_LENGTH + inner6.payloadLength;
    if (innerEnd > end) return Verdict.MALFORMED;
    if (inner6.hasFragmentHeader && (inner6.fragmentOffset !== 0 || inner6.moreFragments))
      return Verdict.FRAGMENT;
    if (inner6.upperProtocol !== ipv4.IPPROTO_GRE) return Verdict.NOT_KEEPALIVE;
    greAt = at + inner6.headerLength;
    out.family = 6;
  } else {
    return Verdict.MALFORMED;
  }
  const afterGre = checkGre(buf, greAt, innerEnd, false);
  if (afterGre < 0) return -afterGre as Verdict;
  const length = innerEnd - at;
  if (length > MAX_INNER) return Verdict.TOO_LARGE;
  out.replyOffset = at;
  out.replyLength = length;
  for (let i = 0; i < length; i++) out.reply[i] = buf[at + i]!;
  return Verdict.REPLY;
}

/** nat: the reply's inner IPv4 destination becomes the peer's real address; the header checksum follows. */
function rewrite4(out: Decision, to: number): void {
  const r = out.reply;
  r[16] = to >>> 24;
  r[17] = (to >>> 16) & 0xff;
  r[18] = (to >>> 8) & 0xff;
  r[19] = to & 0xff;
  ipv4.setChecksum(r, 0);
  out.rewritten = true;
}

function rewrite6(out: Decision, to: Uint8Array): void {
  out.reply.set(to, 24);
  out.rewritten = true;
}

function write4(dst: Uint8Array, addr: number): void {
  dst.fill(0);
  dst[0] = addr >>> 24;
  dst[1] = (addr >>> 16) & 0xff;
  dst[2] = (addr >>> 8) & 0xff;
  dst[3] = addr & 0xff;
}

function equal16(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
