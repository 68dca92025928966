/**
 * Who the reflector answers, and how (docs/keepalive.md "Policy"). Parsed once
 * from text; the per-packet checks only compare integers and bytes.
 */
import { parseAddress as parse4 } from '../wire/ipv4.ts';
import { parseAddress as parse6 } from '../wire/ipv6.ts';

export type Mode = 'strict' | 'nat';

export interface Prefix4 {
  addr: number;
  length: number;
}

export interface Prefix6 {
  addr: Uint8Array;
  length: number;
}

export interface Policy {
  mode: Mode;
  /** True when no allow-list was given: any peer. */
  anyPeer: boolean;
  peers4: Prefix4[];
  peers6: Prefix6[];
  /** Tunnel addresses, for the inner-l3 layout (no outer header to compare with). */
  local4: number | null;
  remote4: number | null;
  local6: Uint8Array | null;
  remote6: Uint8Array | null;
}

export interface PolicyOptions {
  mode?: Mode;
  /** CIDR prefixes (a bare address is a /32 or /128). */
  peers?: string[];
  local?: string | null;
  remote?: string | null;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function createPolicy(options: PolicyOptions = {}): Policy {
  const mode = options.mode ?? 'strict';
  if (mode !== 'strict' && mode !== 'nat') throw new PolicyError('policy', `"${mode}" is not strict or nat`);
  const policy: Policy = {
    mode,
    anyPeer: (options.peers ?? []).length === 0,
    peers4: [],
    peers6: [],
    local4: null,
    remote4: null,
    local6: null,
    remote6: null,
  };
  for (const text of options.peers ?? []) addPeer(policy, text);
  setAddress(policy, 'local', options.local ?? null);
  setAddress(policy, 'remote', options.remote ?? null);
  return policy;
}

function addPeer(policy: Policy, text: string): void {
  const [addr, len, ...rest] = text.split('/');
  if (addr === undefined || rest.length > 0)
    throw new PolicyError('peer', `"${text}" is not an address or prefix`);
  const v4 = parse4(addr);
  const v6 = v4 === null ? parse6(addr) : null;
  if (v4 === null && v6 === null) throw new PolicyError('peer', `"${text}" is not an IPv4 or IPv6 prefix`);
  const max = v4 !== null ? 32 : 128;
  const length = len === undefined ? max : Number(len);
  if (!/^\d{1,3}$/.test(len ?? String(max)) || length > max) {
    throw new PolicyError('peer', `"${text}": prefix length must be 0 to ${max}`);
  }
  if (v4 !== null) policy.peers4.push({ addr: mask4(v4, length), length });
  else policy.peers6.push({ addr: v6!, length });
}

function setAddress(policy: Policy, which: 'local' | 'remote', text: string | null): void {
  if (text === null) return;
  const v4 = parse4(text);
  if (v4 !== null) {
    policy[`${which}4`] = v4;
    return;
  }
  const v6 = parse6(text);
  if (v6 === null) throw new PolicyError(which, `"${text}" is not an IPv4 or IPv6 address`);
  policy[`${which}6`] = v6;
}

function mask4(addr: number, length: number): number {
  return length === 0 ? 0 : (addr & (0xffffffff << (32 - length))) >>> 0;
}

export function peerAllowed4(policy: Policy, addr: number): boolean {
  if (policy.anyPeer) return true;
  for (const p of policy.peers4) if (mask4(addr, p.length) === p.addr) return true;
  return false;
}

/** The 16 bytes at `buf[off]` fall within one of the IPv6 prefixes. */
export function peerAllowed6(policy: Policy, buf: Uint8Array, off: number): boolean {
  if (policy.anyPeer) return true;
  for (const p of policy.peers6) if (prefixMatch6(p.addr, p.length, buf, off)) return true;
  return false;
}

function prefixMatch6(prefix: Uint8Array, length: number, buf: Uint8Array, off: number): boolean {
  const whole = length >>> 3;
  for (let i = 0; i < whole; i++) if (prefix[i] !== buf[off + i]) return false;
  const bits = length & 7;
  if (bits === 0) return true;
  const m = (0xff << (8 - bits)) & 0xff;
  return (prefix[whole]! & m) === (buf[off + whole]! & m);
}

/** RFC 1918 and RFC 6598 (carrier-grade NAT) space: where a NATed peer's own address lives. */
export function isPrivate4(addr: number): boolean {
  return (
    addr >>> 24 === 10 ||
    addr >>> 20 === 0xac1 || // 172.16.0.0/12
    addr >>> 16 === 0xc0a8 || // 192.168.0.0/16
    addr >>> 22 === 0x191 // 100.64.0.0/10
  );
}

/** Unique local addresses, fc00::/7. */
export function isPrivate6(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 0xfe) === 0xfc;
}
