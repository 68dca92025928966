/**
 * A fixed-capacity table of IPv4 and IPv6 addresses (open addressing, short
 * probe runs), for per-packet lookups that must not allocate: the reflector's
 * per-source limiter and its set of resolved neighbours. When every slot of a
 * probe run is taken, the caller's chosen victim gives up its slot: the table
 * never grows, so no source can make it use more memory.
 */

/** Slots examined per lookup: a run this long is full only when the table is crowded. */
const PROBE_RUN = 8;
const EMPTY = 0;

export class AddressTable {
  readonly capacity: number;
  /** 0 empty, 4 or 6: the slot's address family. */
  readonly family: Uint8Array;
  /** 16 bytes a slot; IPv4 uses the first 4. */
  readonly keys: Uint8Array;
  /** Whether the last claim() took a new slot (true) or found the address already there (false). */
  fresh = false;
  private readonly mask: number;
  private used = 0;

  /** `capacity` is rounded up to a power of two (at least PROBE_RUN). */
  constructor(capacity: number) {
    let size = PROBE_RUN;
    while (size < capacity) size *= 2;
    this.capacity = size;
    this.mask = size - 1;
    this.family = new Uint8Array(size);
    this.keys = new Uint8Array(size * 16);
  }

  get size(): number {
    return this.used;
  }

  /** The slot holding the address (4 or 16 bytes at buf[off]), or -1. */
  find(family: 4 | 6, buf: Uint8Array, off: number): number {
    const start = hash(family, buf, off) & this.mask;
    for (let i = 0; i < PROBE_RUN; i++) {
      const slot = (start + i) & this.mask;
      if (this.family[slot] === family && this.matches(slot, family, buf, off)) return slot;
    }
    return -1;
  }

  /**
   * The slot for the address: its own, else a free one in its probe run, else the run's slot that
   * `older(a, b)` ranks first (the victim's previous address is overwritten). `fresh` says which case.
   */
  claim(family: 4 | 6, buf: Uint8Array, off: number, older: (a: number, b: number) => boolean): number {
    const start = hash(family, buf, off) & this.mask;
    let free = -1;
    let victim = start;
    for (let i = 0; i < PROBE_RUN; i++) {
      const slot = (start + i) & this.mask;
      const f = this.family[slot]!;
      if (f === family && this.matches(slot, family, buf, off)) {
        this.fresh = false;
        return slot;
      }
      if (f === EMPTY) {
        if (free < 0) free = slot;
      } else if (older(slot, victim)) {
        victim = slot;
      }
    }
    const slot = free >= 0 ? free : victim;
    if (free >= 0) this.used++;
    this.family[slot] = family;
    const at = slot * 16;
    const n = family === 4 ? 4 : 16;
    for (let i = 0; i < n; i++) this.keys[at + i] = buf[off + i]!;
    this.fresh = true;
    return slot;
  }

  clear(): void {
    this.family.fill(EMPTY);
    this.used = 0;
  }

  private matches(slot: number, family: 4 | 6, buf: Uint8Array, off: number): boolean {
    const at = slot * 16;
    const n = family === 4 ? 4 : 16;
    for (let i = 0; i < n; i++) if (this.keys[at + i] !== buf[off + i]) return false;
    return true;
  }
}

/** FNV-1a over the address bytes and the family. */
function hash(family: 4 | 6, buf: Uint8Array, off: number): number {
  let h = 0x811c9dc5 ^ family;
  const n = family === 4 ? 4 : 16;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ buf[off + i]!, 0x01000193);
  return (h ^ (h >>> 16)) >>> 0;
}
