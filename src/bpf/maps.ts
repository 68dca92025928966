/**
 * Byte layouts of the keepalive programs' maps (bpf/include/gre_keepalive_maps.h): the verdict counters,
 * `ka_config` and the peer allow-list tries, encoded from a core Policy. Multi-byte integers the
 * kernel reads as numbers are in host order; addresses are in network order, as on the wire.
 */
import { endianness } from 'node:os';
import type { Policy } from '../gre-keepalive/index.ts';

/** Slots of `ka_counters` (PERCPU_ARRAY of u64): 0-8 are the verdicts of docs/keepalive.md. */
export const COUNTER_SLOTS = 16;
/** Counter slot for a reply that was decided but could not be sent (adjust/route failure). */
export const COUNTER_TX_ERROR = 9;

/** `ka_config.mode`. */
export const ConfigMode = { STRICT: 0, NAT: 1 } as const;

/** `ka_config.flags`: one bit per configured tunnel address, as the TS policy keeps them. */
export const ConfigFlag = {
  /** Only peers found in ka_peers4 / ka_peers6 are answered. */
  ALLOWLIST: 1 << 0,
  LOCAL4: 1 << 1,
  REMOTE4: 1 << 2,
  LOCAL6: 1 << 3,
  REMOTE6: 1 << 4,
} as const;

/** sizeof(struct ka_config). */
export const CONFIG_SIZE = 56;
/** Byte offsets of struct ka_config's members (test/bpf checks them against the objects' BTF). */
export const CONFIG_LAYOUT = {
  mode: 0,
  flags: 4,
  local4: 8,
  remote4: 12,
  local6: 16,
  remote6: 32,
  underlay_ifindex: 48,
  reserved: 52,
} as const;
const OFF = CONFIG_LAYOUT;

const LITTLE = endianness() === 'LE';

function writeHostU32(buf: Buffer, value: number, offset: number): void {
  if (LITTLE) buf.writeUInt32LE(value >>> 0, offset);
  else buf.writeUInt32BE(value >>> 0, offset);
}

/** A u32 (map key) as bpftool prints its bytes (host order). */
export function readHostU32(bytes: Uint8Array): number {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return LITTLE ? b.readUInt32LE(0) : b.readUInt32BE(0);
}

/** A u64 counter as bpftool prints its bytes (host order). */
export function readHostU64(bytes: Uint8Array): bigint {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return LITTLE ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
}

export interface ConfigExtras {
  /** keepalive_tc: the interface the plain reply leaves by; 0 (default) asks bpf_fib_lookup. */
  underlayIfindex?: number;
}

/** The `ka_config` value for a policy. */
export function encodeConfig(policy: Policy, extras: ConfigExtras = {}): Buffer {
  const b = Buffer.alloc(CONFIG_SIZE);
  let flags = policy.anyPeer ? 0 : ConfigFlag.ALLOWLIST;
  writeHostU32(b, policy.mode === 'nat' ? ConfigMode.NAT : ConfigMode.STRICT, OFF.mode);
  if (policy.local4 !== null) {
    flags |= ConfigFlag.LOCAL4;
    b.writeUInt32BE(policy.local4, OFF.local4);
  }
  if (policy.remote4 !== null) {
    flags |= ConfigFlag.REMOTE4;
    b.writeUInt32BE(policy.remote4, OFF.remote4);
  }
  if (policy.local6 !== null) {
    flags |= ConfigFlag.LOCAL6;
    b.set(policy.local6, OFF.local6);
  }
  if (policy.remote6 !== null) {
    flags |= ConfigFlag.REMOTE6;
    b.set(policy.remote6, OFF.remote6);
  }
  writeHostU32(b, flags, OFF.flags);
  writeHostU32(b, extras.underlayIfindex ?? 0, OFF.underlay_ifindex);
  return b;
}

/** `struct ka_lpm4_key` for a prefix (u32 prefix length, then the address). */
export function lpm4Key(addr: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  writeHostU32(b, length, 0);
  b.writeUInt32BE(addr >>> 0, 4);
  return b;
}

/** `struct ka_lpm6_key` for a prefix. */
export function lpm6Key(addr: Uint8Array, length: number): Buffer {
  const b = Buffer.alloc(20);
  writeHostU32(b, length, 0);
  b.set(addr.subarray(0, 16), 4);
  return b;
}

/** Value stored for every allow-list entry (the programs only test presence). */
export const PEER_VALUE = Buffer.from([1, 0, 0, 0]);

/** The allow-list entries of a policy, as [map name, key] pairs. */
export function peerKeys(policy: Policy): ['ka_peers4' | 'ka_peers6', Buffer][] {
  if (policy.anyPeer) return [];
  return [
    ...policy.peers4.map((p): ['ka_peers4', Buffer] => ['ka_peers4', lpm4Key(p.addr, p.length)]),
    ...policy.peers6.map((p): ['ka_peers6', Buffer] => ['ka_peers6', lpm6Key(p.addr, p.length)]),
  ];
}
