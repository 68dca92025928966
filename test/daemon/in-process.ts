/**
 * A real Daemon (its control socket, plans and state file in a temporary
 * directory) over the in-memory backend and a host described by a table,
 * and a raw client that writes bytes and reads reply lines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { RuntimePaths } from '../../src/daemon/paths.ts';
import type { Host } from '../../src/daemon/preflight.ts';
import { Daemon } from '../../src/daemon/server.ts';
import type { TunnelConfig } from '../../src/eoip/config.ts';
import { Logger } from '../../src/log/logger.ts';
import { MemoryBackend } from './memory-backend.ts';

export const IDENTITY = { cookie: '77', bootId: 'test-boot' };

export interface InProcess {
  daemon: Daemon;
  backend: MemoryBackend;
  paths: RuntimePaths;
  /** What the daemon logged, one parsed JSON line per event. */
  logs: LogEvent[];
}

export interface LogEvent {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export async function startInProcess(
  t: ExecutionContext,
  options: {
    config?: () => TunnelConfig[];
    host?: Partial<Host>;
    /** Another daemon's directory, to start where it stopped. */
    dir?: string;
    backend?: MemoryBackend;
    retryMs?: number;
  } = {},
): Promise<InProcess> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'greoip-daemon-')));
  const paths: RuntimePaths = {
    dir,
    socket: join(dir, 'control.sock'),
    state: join(dir, 'state.json'),
    pid: join(dir, 'daemon.pid'),
  };
  const backend = options.backend ?? new MemoryBackend();
  const logs: LogEvent[] = [];
  const daemon = new Daemon({
    paths,
    backends: { userland: backend },
    configFile: options.config ? join(dir, 'tunnels.yaml') : null,
    loadConfig: async () => options.config!(),
    log: new Logger({
      component: 'daemon',
      format: 'json',
      sink: { write: (line: string) => logs.push(JSON.parse(line) as LogEvent) },
    }),
    identity: IDENTITY,
    host: { interfaceIndex: () => null, canBind: () => true, ...options.host },
    ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
  });
  await daemon.start();
  t.teardown(async () => {
    await daemon.stop('test over');
    await rm(dir, { recursive: true, force: true });
  });
  return { daemon, backend, paths, logs };
}

/** A connection that collects reply lines. */
export class RawClient {
  readonly replies: unknown[] = [];
  private buffered = '';
  private readonly conn: Socket;
  private wake: () => void = () => undefined;
  closed = false;

  constructor(socket: string) {
    this.conn = createConnection(socket);
    this.conn.setEncoding('utf8');
    this.conn.on('data', (chunk: string) => {
      this.buffered += chunk;
      let start = 0;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n', start)) {
        this.replies.push(JSON.parse(this.buffered.slice(start, nl)));
        start = nl + 1;
      }
      this.buffered = this.buffered.slice(start);
      this.wake();
    });
    this.conn.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.conn.on('error', () => undefined);
  }

  write(bytes: string): void {
    this.conn.write(bytes);
  }

  /** Waits until `count` replies arrived (or the connection closed, or 30 s passed). */
  async until(count: number, timeoutMs = 30_000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.replies;
  }

  close(): void {
    this.conn.destroy();
  }
}

/** One request line, one reply. */
export async function ask(socket: string, line: string): Promise<Record<string, unknown>> {
  const client = new RawClient(socket);
  client.write(`${line}\n`);
  const [reply] = await client.until(1);
  client.close();
  return reply as Record<string, unknown>;
}
