/**
 * A probed tunnel's state, as Cisco's `keepalive PERIOD RETRIES` and the
 * vendors' "timeout = interval x retries": up -> down once RETRIES intervals
 * passed without an answer and at least RETRIES probes went unanswered (a
 * stalled sender that probed less decides nothing); the last of them gets
 * half an interval to be answered. Down -> up at the next answer. Time comes
 * from the caller (milliseconds, monotonic); the caller runs check() at
 * deadlineMs and after each tick.
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
  private readonly startMs: number;

  constructor(
    readonly retries: number,
    readonly intervalMs: number,
    nowMs: number,
    initial: ProbeState = 'up',
  ) {
    if (!Number.isInteger(retries) || retries < 1)
      throw new RangeError(`retries ${retries} is not at least 1`);
    if (!(intervalMs > 0)) throw new RangeError(`interval ${intervalMs} ms is not positive`);
    this.state = initial;
    this.sinceMs = nowMs;
    this.startMs = nowMs;
  }

  /** When silence turns into down: RETRIES intervals after the last answer (or the start), + half an interval. */
  get deadlineMs(): number {
    return (this.lastAnswerMs ?? this.startMs) + this.retries * this.intervalMs + this.intervalMs / 2;
  }

  /** A probe is about to be sent. */
  tick(_nowMs: number): void {
    this.sent++;
    this.unanswered++;
  }

  /** Up -> down when the deadline has passed with RETRIES probes unanswered. */
  check(nowMs: number): Transition {
    if (this.state === 'up' && this.unanswered >= this.retries && nowMs >= this.deadlineMs)
      return this.set('down', nowMs);
    return null;
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
