/**
 * RouterOS EoIP keepalive semantics (docs/eoip-keepalive.md), as a pure state
 * machine over an injected clock (milliseconds). The backend owns the timers:
 * it asks `nextDeadline()` when to call `tick()` again, sends a keepalive when
 * tick says so, and applies carrier changes.
 *
 * - One keepalive is sent per interval; nothing is echoed.
 * - Only received keepalives count as liveness (data frames do not).
 * - After interval x retries without a keepalive the carrier drops; the next
 *   keepalive brings it back. Sending continues while down.
 * - Until a keepalive has ever been received, silence does not drop the
 *   carrier: peers configured `!keepalive` (as users of tools that never sent
 *   keepalives have them) keep working. This is the `waiting` state.
 * - `keepalive none` (config null): no sending, no checking, carrier up.
 */
import type { KeepaliveConfig } from './config.ts';

export type LinkState = 'waiting' | 'up' | 'down' | 'off';

export interface KeepaliveStep {
  /** Send one keepalive now. */
  send: boolean;
  /** New carrier value if it changed in this step, else null. */
  carrier: boolean | null;
}

const NO_CHANGE: KeepaliveStep = Object.freeze({ send: false, carrier: null });

export class KeepaliveMachine {
  private config: KeepaliveConfig | null;
  private stateValue: LinkState;
  private lastReceived: number | null = null;
  private nextSend: number;

  constructor(config: KeepaliveConfig | null, now: number) {
    this.config = config;
    this.stateValue = config ? 'waiting' : 'off';
    // The first keepalive goes out at once, as RouterOS does when a tunnel comes up.
    this.nextSend = now;
  }

  get state(): LinkState {
    return this.stateValue;
  }

  /** Whether the tap should have its carrier on. */
  get carrier(): boolean {
    return this.stateValue !== 'down';
  }

  /** Clock time of the last keepalive received, or null if none ever was. */
  get lastKeepalive(): number | null {
    return this.lastReceived;
  }

  private get timeoutMs(): number {
    return this.config ? this.config.interval * this.config.retries * 1000 : Number.POSITIVE_INFINITY;
  }

  /** A keepalive arrived from the peer. Returns the carrier change, if any. */
  received(now: number): boolean | null {
    if (!this.config) return null;
    this.lastReceived = now;
    const wasDown = this.stateValue === 'down';
    this.stateValue = 'up';
    return wasDown ? true : null;
  }

  /** Advances the clock: whether to send a keepalive and whether the carrier changes. */
  tick(now: number): KeepaliveStep {
    const config = this.config;
    if (!config) return NO_CHANGE;
    let send = false;
    if (now >= this.nextSend) {
      send = true;
      // Skip missed slots rather than bursting after a stall.
      const interval = config.interval * 1000;
      const missed = Math.floor((now - this.nextSend) / interval);
      this.nextSend += (missed + 1) * interval;
    }
    let carrier: boolean | null = null;
    if (this.stateValue === 'up' && this.lastReceived !== null && now - this.lastReceived >= this.timeoutMs) {
      this.stateValue = 'down';
      carrier = false;
    }
    return send || carrier !== null ? { send, carrier } : NO_CHANGE;
  }

  /** When tick() next has something to do. */
  nextDeadline(): number {
    if (!this.config) return Number.POSITIVE_INFINITY;
    if (this.stateValue === 'up' && this.lastReceived !== null) {
      return Math.min(this.nextSend, this.lastReceived + this.timeoutMs);
    }
    return this.nextSend;
  }

  /**
   * Applies a new keepalive setting without losing what was heard: a tunnel
   * changed from `none` starts in `waiting`; one changed to `none` is `off`.
   */
  reconfigure(config: KeepaliveConfig | null, now: number): boolean | null {
    const before = this.carrier;
    this.config = config;
    if (!config) this.stateValue = 'off';
    else if (this.stateValue === 'off') this.stateValue = this.lastReceived === null ? 'waiting' : 'up';
    this.nextSend = Math.min(this.nextSend, now);
    if (
      config &&
      this.stateValue === 'up' &&
      this.lastReceived !== null &&
      now - this.lastReceived >= this.timeoutMs
    ) {
      this.stateValue = 'down';
    }
    return this.carrier !== before ? this.carrier : null;
  }
}
