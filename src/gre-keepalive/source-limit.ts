/**
 * Per-source rate limit for the reflector: a token bucket for each requester
 * (the outer source, where the answer goes), on an injected clock. A router
 * sends one keepalive per tunnel and interval (1 s at the least); a source
 * asking for more is either many tunnels (raise the rate) or an attacker whose
 * answers must not crowd out everyone else's. The table is bounded: when it is
 * full the longest-idle source is forgotten, which only ever gives that source
 * a fresh, full bucket.
 */
import { AddressTable } from './address-table.ts';

export interface SourceLimitOptions {
  /** Answers per second each source may sustain. */
  rate: number;
  /** Answers a source may get at once after being idle. */
  burst: number;
  /** Sources remembered at once (default 4096). */
  capacity?: number;
}

export const DEFAULT_SOURCE_LIMIT: Readonly<SourceLimitOptions> = { rate: 10, burst: 20 };

export class SourceLimitError extends Error {
  override name = 'SourceLimitError';
}

export class SourceLimiter {
  private readonly table: AddressTable;
  private readonly tokens: Float64Array;
  private readonly lastMs: Float64Array;
  private readonly perMs: number;
  private readonly burst: number;

  constructor(options: SourceLimitOptions) {
    const { rate, burst } = options;
    if (!(rate > 0 && Number.isFinite(rate)))
      throw new SourceLimitError(`rate ${rate} is not a positive number`);
    if (!(burst >= 1 && Number.isInteger(burst)))
      throw new SourceLimitError(`burst ${burst} is not a whole number of at least 1`);
    this.table = new AddressTable(options.capacity ?? 4096);
    this.tokens = new Float64Array(this.table.capacity);
    this.lastMs = new Float64Array(this.table.capacity);
    this.perMs = rate / 1000;
    this.burst = burst;
  }

  /** Sources currently remembered. */
  get sources(): number {
    return this.table.size;
  }

  /** Whether the source (4 or 16 bytes at buf[off]) may have an answer at `nowMs`; takes a token if so. */
  allow(family: 4 | 6, buf: Uint8Array, off: number, nowMs: number): boolean {
    const slot = this.table.claim(family, buf, off, this.idleFirst);
    let tokens: number;
    if (this.table.fresh) {
      tokens = this.burst;
    } else {
      const elapsed = Math.max(0, nowMs - this.lastMs[slot]!);
      tokens = Math.min(this.burst, this.tokens[slot]! + elapsed * this.perMs);
    }
    this.lastMs[slot] = nowMs;
    if (tokens < 1) {
      this.tokens[slot] = tokens;
      return false;
    }
    this.tokens[slot] = tokens - 1;
    return true;
  }

  /** Eviction order: the source idle the longest goes first. */
  private readonly idleFirst = (a: number, b: number): boolean => this.lastMs[a]! < this.lastMs[b]!;
}
