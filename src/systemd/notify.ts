/**
 * src/systemd/: systemd integration: sd_notify readiness and the unit files `greoip install-units` writes.
 * May import: src/native.
 */
/**
 * sd_notify(3) by hand: a datagram of NEWLINE-separated KEY=VALUE lines to the unix socket named in
 * $NOTIFY_SOCKET, sent by the main process (the units use NotifyAccess=main). Without the variable
 * (not started by systemd with Type=notify) every call does nothing.
 */
import { unixDatagramSend } from '../native/index.ts';

export type NotifyState = Readonly<Record<string, string | number>>;

export interface Notifier {
  /** Whether a notification socket was given. */
  readonly active: boolean;
  /** Startup finished: every configured tunnel exists. */
  ready(status?: string): void;
  /** SIGHUP received; `ready()` follows when the reload is done. */
  reloading(status?: string): void;
  /** SIGTERM received; shutting down. */
  stopping(status?: string): void;
  /** Free-form status line shown by `systemctl status`. */
  status(status: string): void;
}

export type Send = (path: string, message: Buffer) => void;

/** A notifier for $NOTIFY_SOCKET (or the `socket` given); `send` is injectable for tests. */
export function createNotifier(socket = process.env.NOTIFY_SOCKET, send: Send = unixDatagramSend): Notifier {
  const path = socket && socket !== '' ? socket : null;
  const notify = (state: NotifyState) => {
    if (path === null) return;
    const text = Object.entries(state)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
      .join('\n');
    send(path, Buffer.from(`${text}\n`));
  };
  const withStatus = (state: NotifyState, status?: string) =>
    notify(status === undefined ? state : { ...state, STATUS: status });
  return {
    active: path !== null,
    ready: (status) => withStatus({ READY: 1, MAINPID: process.pid }, status),
    reloading: (status) => withStatus({ RELOADING: 1, MONOTONIC_USEC: monotonicMicros() }, status),
    stopping: (status) => withStatus({ STOPPING: 1 }, status),
    status: (status) => notify({ STATUS: status }),
  };
}

/** CLOCK_MONOTONIC in microseconds, which systemd wants beside RELOADING=1 (systemd 253+). */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
