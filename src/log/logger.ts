/**
 * src/log/: structured event logs for the long-running commands: JSON lines off a terminal, text on one.
 * May import: nothing else of greoip.
 */
/**
 * One line per event: a level, a short message and fields (tunnel, state, reason, ...). JSON lines
 * when the output is not a terminal (journald and log shippers parse them), readable text on a
 * terminal; `--log-format json|text` overrides. Events are things that happen a few times a day
 * (carrier changes, reloads, refusals): nothing here is meant to be called per packet, and
 * `RepeatLimiter` bounds what could repeat.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;
export type LogFormatOption = (typeof LOG_FORMATS)[number];
export type LogFormat = Exclude<LogFormatOption, 'auto'>;

export type LogValue = string | number | boolean | null | undefined | readonly string[];
export type LogFields = Readonly<Record<string, LogValue>>;

/** Where lines go: process.stderr, or anything with write() (tests). */
export interface LogSink {
  write(line: string): unknown;
  readonly isTTY?: boolean;
}

export interface LoggerOptions {
  /** Who logs: "daemon", "gre-keepalive". Becomes the `component` field. */
  component: string;
  /** auto (default): text on a terminal, JSON otherwise. */
  format?: LogFormatOption;
  /** Least severe level written (default info). */
  level?: LogLevel;
  sink?: LogSink;
  /** Wall clock (injected for tests). */
  now?: () => Date;
}

/** A bad --log-format or --log-level value; `option` names the flag. */
export class LogOptionError extends Error {
  override name = 'LogOptionError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

export function parseLogFormat(value: string): LogFormatOption {
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormatOption;
  throw new LogOptionError(
    '--log-format',
    `${JSON.stringify(value)} is not one of ${LOG_FORMATS.join(', ')}`,
  );
}

export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new LogOptionError('--log-level', `${JSON.stringify(value)} is not one of ${LOG_LEVELS.join(', ')}`);
}

/** The format `auto` stands for on this sink. */
export function resolveLogFormat(format: LogFormatOption, sink: LogSink): LogFormat {
  if (format !== 'auto') return format;
  return sink.isTTY === true ? 'text' : 'json';
}

/** Field names every line has; a caller's field of the same name gets a trailing underscore. */
const RESERVED = new Set(['time', 'level', 'component', 'msg']);

export class Logger {
  readonly format: LogFormat;
  readonly level: LogLevel;
  private readonly threshold: number;
  private readonly sink: LogSink;
  private readonly now: () => Date;
  private readonly component: string;
  private readonly bound: LogFields;

  constructor(options: LoggerOptions, bound: LogFields = {}) {
    this.sink = options.sink ?? process.stderr;
    this.format = resolveLogFormat(options.format ?? 'auto', this.sink);
    this.level = options.level ?? 'info';
    this.threshold = LOG_LEVELS.indexOf(this.level);
    this.now = options.now ?? (() => new Date());
    this.component = options.component;
    this.bound = bound;
  }

  /** A logger that adds `fields` to every line (for instance the tunnel name). */
  child(fields: LogFields): Logger {
    return new Logger(
      { component: this.component, format: this.format, level: this.level, sink: this.sink, now: this.now },
      { ...this.bound, ...fields },
    );
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold;
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const time = this.now();
    const merged: Record<string, LogValue> = {};
    for (const source of [this.bound, fields]) {
      for (const [key, value] of Object.entries(source)) {
        if (value === undefined) continue;
        merged[RESERVED.has(key) ? `${key}_` : key] = value;
      }
    }
    const line =
      this.format === 'json'
        ? `${JSON.stringify({ time: time.toISOString(), level, component: this.component, msg, ...merged })}\n`
        : `${textLine(time, level, this.component, msg, merged)}\n`;
    try {
      this.sink.write(line);
    } catch {
      // A log that cannot be written (a full disk, a closed pipe) is lost, never fatal.
    }
  }
}

function textLine(
  time: Date,
  level: LogLevel,
  component: string,
  msg: string,
  fields: Record<string, LogValue>,
) {
  const clock = time.toTimeString().slice(0, 8);
  const parts = [`${clock} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}`];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${textValue(value)}`);
  return parts.join(' ');
}

function textValue(value: LogValue): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

export interface RepeatLimiterOptions {
  /** Lines allowed per key in one window (default 5). */
  burst?: number;
  /** Window length in milliseconds (default one minute). */
  windowMs?: number;
  /** Monotonic clock in milliseconds (injected for tests). */
  now?: () => number;
}

/**
 * Bounds events that an outside party can repeat (refused requests, failing sends): at most `burst`
 * lines per key per window; when a later window opens, one line says how many were suppressed. Keys
 * are few and fixed (an operation and a reason), never addresses, so the table stays small.
 */
export class RepeatLimiter {
  private readonly burst: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, { start: number; seen: number }>();

  constructor(
    private readonly logger: Logger,
    options: RepeatLimiterOptions = {},
  ) {
    this.burst = options.burst ?? 5;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? (() => performance.now());
  }

  log(key: string, level: LogLevel, msg: string, fields?: LogFields): void {
    const now = this.now();
    let w = this.windows.get(key);
    if (w && now - w.start >= this.windowMs) {
      const suppressed = w.seen - this.burst;
      if (suppressed > 0) this.logger.log(level, 'repeated lines suppressed', { key, suppressed });
      w = undefined;
    }
    if (!w) {
      w = { start: now, seen: 0 };
      this.windows.set(key, w);
    }
    w.seen++;
    if (w.seen <= this.burst) this.logger.log(level, msg, fields);
  }
}
