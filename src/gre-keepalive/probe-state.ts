/**
 * A probed tunnel's state, as Cisco's `keepalive PERIOD RETRIES`: up -> down
 * when RETRIES probes in a row went unanswered (checked at the next tick, so
 * the last probe had a whole interval to be answered), down -> up at the next
 * answer. Counted in probes rather than measured in time, so a late timer or
 * a late answer can never take a tunnel down early. Time comes from the
 * caller (milliseconds, monotonic): it only dates answers and changes.
 */

export type ProbeState = 'up' | 'down';
export type Transition = 'up' | 'down' | null;

export class ProbeMachine {
  state: ProbeState;
  /** Probes sent since the last answer. */
  unanswered = 0;
  sent = 0;
  answers = 0;
  /** Of `answers`, those that came back re-tunnelled (the rest were plain). */
  tunnelledAnswers = 0;
  /** Answers when no probe was outstanding (a copy, or seen twice: plain and re-tunnelled). */
  duplicates = 0;
  lastAnswerMs: number | null = null;
  /** State changes so far, and when the last one happened (start time until then). */
  changes = 0;
  sinceMs: number;

  constructor(
    readonly retries: number,
    nowMs: number,
    initial: ProbeState = 'up',
  ) {
    if (!Number.isInteger(retries) || retries < 1)
      throw new RangeError(`retries ${retries} is not at least 1`);
    this.state = initial;
    this.sinceMs = nowMs;
  }

  /** An interval has passed: decide on the probes so far, then count the one about to be sent. */
  tick(nowMs: number): Transition {
    let change: Transition = null;
    if (this.state === 'up' && this.unanswered >= this.retries) change = this.set('down', nowMs);
    this.sent++;
    this.unanswered++;
    return change;
  }

  /** An answer arrived. Only the first answer to the probes outstanding counts. */
  answer(nowMs: number, tunnelled = false): Transition {
    if (this.unanswered === 0) {
      this.duplicates++;
      return null;
    }
    this.answers++;
    if (tunnelled) this.tunnelledAnswers++;
    this.lastAnswerMs = nowMs;
    this.unanswered = 0;
    return this.state === 'down' ? this.set('up', nowMs) : null;
  }

  private set(state: ProbeState, nowMs: number): Transition {
    this.state = state;
    this.changes++;
    this.sinceMs = nowMs;
    return state;
  }
}

/**
 * When to tick: the first tick at a random phase within the interval (so many tunnels do not probe
 * in step), then every interval after the planned time (a late timer does not shift the schedule).
 * A tick later than a whole interval realigns on now instead of firing a catch-up burst.
 */
export class ProbeSchedule {
  private plannedMs: number;

  constructor(
    readonly intervalMs: number,
    nowMs: number,
    /** A number in [0, 1): the phase of the first tick. */
    random: number,
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`interval ${intervalMs} ms is not positive`);
    this.plannedMs = nowMs + Math.floor(random * intervalMs);
  }

  /** Milliseconds from now to the next tick. */
  delay(nowMs: number): number {
    return Math.max(0, this.plannedMs - nowMs);
  }

  /** A tick happened at `nowMs`: plan the next one. */
  advance(nowMs: number): void {
    this.plannedMs += this.intervalMs;
    if (this.plannedMs <= nowMs) this.plannedMs = nowMs + this.intervalMs;
  }
}
