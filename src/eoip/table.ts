/**
 * Tunnel lookup by (family, remote address, tunnel id) in O(1) without
 * allocating per packet: keys are small integers (the tunnel id, and the
 * remote IPv4 address or a hash of the IPv6 one as int32), never strings.
 */
import { formatAddress as format4, parseAddress as parse4 } from '../wire/ipv4.ts';
import { formatAddress as format6, parseAddress as parse6 } from '../wire/ipv6.ts';
import type { Family } from './config.ts';

/** What the table needs to know of a tunnel. */
export interface TableEntry {
  family: Family;
  tunnelId: number;
  /** IPv4 remote as a u32 (family 4). */
  remote4: number;
  /** IPv6 remote (family 6). */
  remote6: Uint8Array;
}

/** FNV-1a over 16 bytes at `off`, as an int32 (a small integer to V8). */
export function hash16(buf: Uint8Array, off: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < 16; i++) {
    h ^= buf[off + i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function equal16(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

export const LookupMiss = {
  /** No tunnel of this family uses the tunnel id. */
  UNKNOWN_TUNNEL_ID: 1,
  /** The tunnel id exists, but not for this source address. */
  WRONG_SOURCE: 2,
} as const;
export type LookupMiss = (typeof LookupMiss)[keyof typeof LookupMiss];

export class TunnelTable<T extends TableEntry> {
  /** tid -> (remote u32 as int32 -> entry) */
  private readonly v4 = new Map<number, Map<number, T>>();
  /** tid -> (hash of remote -> entries with that hash) */
  private readonly v6 = new Map<number, Map<number, T[]>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds an entry; throws if (family, remote, tunnel id) is taken. */
  add(entry: T): void {
    if (this.findSame(entry)) {
      throw new Error(`tunnel id ${entry.tunnelId} to ${remoteText(entry)} is already configured`);
    }
    if (entry.family === 4) {
      const byRemote = this.v4.get(entry.tunnelId) ?? new Map<number, T>();
      this.v4.set(entry.tunnelId, byRemote);
      byRemote.set(entry.remote4 | 0, entry);
    } else {
      const byHash = this.v6.get(entry.tunnelId) ?? new Map<number, T[]>();
      this.v6.set(entry.tunnelId, byHash);
      const key = hash16(entry.remote6, 0);
      const bucket = byHash.get(key);
      if (bucket) bucket.push(entry);
      else byHash.set(key, [entry]);
    }
    this.count++;
  }

  remove(entry: T): boolean {
    if (entry.family === 4) {
      const byRemote = this.v4.get(entry.tunnelId);
      if (byRemote?.get(entry.remote4 | 0) !== entry) return false;
      byRemote.delete(entry.remote4 | 0);
      if (byRemote.size === 0) this.v4.delete(entry.tunnelId);
    } else {
      const byHash = this.v6.get(entry.tunnelId);
      const key = hash16(entry.remote6, 0);
      const bucket = byHash?.get(key);
      const at = bucket ? bucket.indexOf(entry) : -1;
      if (!byHash || !bucket || at < 0) return false;
      bucket.splice(at, 1);
      if (bucket.length === 0) byHash.delete(key);
      if (byHash.size === 0) this.v6.delete(entry.tunnelId);
    }
    this.count--;
    return true;
  }

  /** The entry with the same (family, remote, tunnel id), if any. */
  findSame(entry: TableEntry): T | null {
    if (entry.family === 4) return this.v4.get(entry.tunnelId)?.get(entry.remote4 | 0) ?? null;
    const found = this.lookup6(entry.tunnelId, entry.remote6, 0);
    return typeof found === 'number' ? null : found;
  }

  /** Tunnel for an IPv4 packet from `src` with `tunnelId`, or why there is none. */
  lookup4(tunnelId: number, src: number): T | LookupMiss {
    const byRemote = this.v4.get(tunnelId);
    if (!byRemote) return LookupMiss.UNKNOWN_TUNNEL_ID;
    return byRemote.get(src | 0) ?? LookupMiss.WRONG_SOURCE;
  }

  /** Tunnel for an IPv6 packet whose source is the 16 bytes at `src[srcOff]`. */
  lookup6(tunnelId: number, src: Uint8Array, srcOff: number): T | LookupMiss {
    const byHash = this.v6.get(tunnelId);
    if (!byHash) return LookupMiss.UNKNOWN_TUNNEL_ID;
    const bucket = byHash.get(hash16(src, srcOff));
    if (bucket) {
      for (let i = 0; i < bucket.length; i++) if (equal16(src, srcOff, bucket[i]!.remote6)) return bucket[i]!;
    }
    return LookupMiss.WRONG_SOURCE;
  }

  *entries(): IterableIterator<T> {
    for (const byRemote of this.v4.values()) yield* byRemote.values();
    for (const byHash of this.v6.values()) for (const bucket of byHash.values()) yield* bucket;
  }
}

function remoteText(entry: TableEntry): string {
  return entry.family === 4 ? format4(entry.remote4) : format6(entry.remote6);
}

/** Table fields for a remote address in text form; throws on an invalid address. */
export function remoteKey(family: Family, remote: string): { remote4: number; remote6: Uint8Array } {
  if (family === 4) {
    const remote4 = parse4(remote);
    if (remote4 === null) throw new Error(`remote ${remote} is not an IPv4 address`);
    return { remote4, remote6: new Uint8Array(16) };
  }
  const remote6 = parse6(remote);
  if (remote6 === null) throw new Error(`remote ${remote} is not an IPv6 address`);
  return { remote4: 0, remote6 };
}
