/**
 * Which answers would wait on neighbour resolution: those to an on-link
 * address (inside one of our interfaces' prefixes) that the kernel has not
 * resolved. The kernel queues such a packet on the neighbour entry, charged
 * to the sending socket, until ARP/NDP succeeds or fails (3 s): a spoofed
 * on-link source that nobody holds would fill the socket that everyone's
 * answers share. The reflector sends those answers through a socket of their
 * own. Pure: the I/O layer refreshes the facts from the kernel.
 */
import { AddressTable } from './address-table.ts';

export interface OnLinkPrefix {
  family: 4 | 6;
  /** 4 or 16 bytes. */
  addr: Uint8Array;
  length: number;
}

/** What the kernel said, as one snapshot: prefixes of ARP/NDP-capable interfaces and resolved neighbours. */
export interface NeighbourFacts {
  onLink: OnLinkPrefix[];
  /** Addresses whose neighbour entry has a link-layer address (or needs none). */
  resolved: { family: 4 | 6; addr: Uint8Array }[];
}

export class NeighbourView {
  private onLink: OnLinkPrefix[] = [];
  private resolved = new AddressTable(256);

  /** Replaces the facts (a refresh). The resolved table is sized to hold every entry. */
  update(facts: NeighbourFacts): void {
    this.onLink = facts.onLink.filter((p) => p.addr.length === (p.family === 4 ? 4 : 16));
    const table = new AddressTable(Math.max(256, facts.resolved.length * 4));
    for (const n of facts.resolved) table.claim(n.family, n.addr, 0, keepFirst);
    this.resolved = table;
  }

  /** True when an answer to the address (4 or 16 bytes at buf[off]) would wait on neighbour resolution. */
  wouldWait(family: 4 | 6, buf: Uint8Array, off: number): boolean {
    if (!this.isOnLink(family, buf, off)) return false;
    return this.resolved.find(family, buf, off) < 0;
  }

  private isOnLink(family: 4 | 6, buf: Uint8Array, off: number): boolean {
    for (const p of this.onLink)
      if (p.family === family && prefixMatch(p.addr, p.length, buf, off)) return true;
    return false;
  }
}

/** Never evict while filling a table sized for its content. */
const keepFirst = (): boolean => false;

function prefixMatch(prefix: Uint8Array, length: number, buf: Uint8Array, off: number): boolean {
  const whole = length >>> 3;
  for (let i = 0; i < whole; i++) if (prefix[i] !== buf[off + i]) return false;
  const bits = length & 7;
  if (bits === 0) return true;
  const m = (0xff << (8 - bits)) & 0xff;
  return (prefix[whole]! & m) === (buf[off + whole]! & m);
}
