/**
 * `greoip daemon`: one process, many tunnels, for the network namespace it
 * runs in. It listens on a root-only unix socket, applies requests to the
 * backends, records its tunnels in a state file, reloads its config file on
 * SIGHUP (applying only the difference) and shuts down on SIGTERM leaving the
 * interfaces in place with carrier off.
 *
 * Every change (a request, a reload, the start) is one plan (plan.ts),
 * checked against the host first (preflight.ts) and applied whole with its
 * state written, or undone: the previous tunnels and state file stay as they
 * were, and the error names the field or the file.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import {
  type TunnelBackend,
  type TunnelCounters,
  type TunnelStatus,
  zeroCounters,
} from '../backend/types.ts';
import { resolveTunnel } from '../config/tunnel.ts';
import type { BackendName, TunnelConfig } from '../eoip/config.ts';
import { type LogFields, type Logger, type LogLevel, RepeatLimiter } from '../log/logger.ts';
import { peerUid } from '../native/peer.ts';
import { VERSION } from '../version.ts';
import { InterfaceRemover } from './interfaces.ts';
import { type NamespaceIdentity, namespaceIdentity, netnsId, type RuntimePaths } from './paths.ts';
import { FieldError, type Plan, planChanges, wantedAdding, wantedChanging, wantedWithout } from './plan.ts';
import { type Host, preflight, systemHost } from './preflight.ts';
import {
  type DaemonStatus,
  MAX_LINE,
  parseRequest,
  READ_ONLY_OPS,
  type Reply,
  type Request,
} from './protocol.ts';
import { readState, type StateEntry, type StateRecord, StateWriter, setAside } from './state.ts';

export interface DaemonOptions {
  paths: RuntimePaths;
  backends: Partial<Record<BackendName, TunnelBackend>>;
  /** Tunnels from a config file, reloaded on SIGHUP; null to restore from the state file. */
  configFile: string | null;
  loadConfig: (path: string) => Promise<TunnelConfig[]>;
  /** After a config file (at start or on SIGHUP) was applied whole: what else it configures (probes). */
  onConfigApplied?: () => Promise<void>;
  /** Every event the daemon logs goes through this logger (src/log): one line each, with fields. */
  log: Logger;
  /** The namespace's facts (default: the system's). */
  host?: Host;
  identity?: NamespaceIdentity;
  /** How often tunnels that could not be restored are tried again (default 10 s). */
  retryMs?: number;
}

export class DaemonError extends Error {
  override name = 'DaemonError';
}

/** Errors that describe the request or the host; anything else is a bug, logged with its stack. */
const EXPECTED_ERRORS = new Set([
  'FieldError',
  'ArgsError',
  'ValidationError',
  'ConfigError',
  'BackendError',
  'StateError',
  'ProtocolError',
  'NetlinkError',
]);

/** Requests read ahead of the queue per connection before it stops reading. */
const MAX_PENDING = 64;
/** Reply bytes buffered for a slow reader before the daemon stops reading its requests. */
const MAX_UNSENT = 1024 * 1024;
/** Room left in a staged state file for what the change adds (ifindexes, growing counters). */
const STATE_SLACK_BASE = 4096;
const STATE_SLACK_PER_TUNNEL = 160;

/** A tunnel from the state file that could not be restored: kept, listed, retried. */
interface Dormant {
  config: TunnelConfig;
  reason: string;
}

export class Daemon {
  private server: Server | null = null;
  private readonly tunnels = new Map<string, TunnelConfig>();
  /** Interfaces this daemon made or adopted by proof: name to ifindex. */
  private readonly owned = new Map<string, number>();
  /** Counters carried over from before a restart, for backends whose counters restart with it. */
  private readonly base = new Map<string, TunnelCounters>();
  private readonly dormant = new Map<string, Dormant>();
  private readonly startedAt = new Date();
  private readonly host: Host;
  private readonly state: StateWriter;
  private readonly remover = new InterfaceRemover();
  private identity: NamespaceIdentity | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Requests and reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private markStopped: () => void = () => undefined;
  /** Settles once the daemon has stopped, whoever asked (a signal, a shutdown request). */
  readonly stopped = new Promise<void>((resolve) => {
    this.markStopped = resolve;
  });

  /** Refused requests come from outside: a flood of them must not flood the log. */
  private readonly refusals: RepeatLimiter;

  constructor(private readonly opts: DaemonOptions) {
    this.host = opts.host ?? systemHost();
    this.state = new StateWriter(opts.paths.state);
    this.refusals = new RepeatLimiter(opts.log);
  }

  /** The daemon's one way to log: an event, its level and fields. */
  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    this.opts.log.log(level, msg, fields);
  }

  async start(): Promise<void> {
    const { paths } = this.opts;
    try {
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      await chmod(paths.dir, 0o700);
    } catch (err) {
      throw new DaemonError(`cannot use the runtime directory ${paths.dir}: ${(err as Error).message}`);
    }
    await this.claimSocket();
    this.identity = this.opts.identity ?? namespaceIdentity();
    const stored = await this.loadState();
    for (const entry of stored) {
      if (entry.ifindex !== null) this.owned.set(entry.config.name, entry.ifindex);
      if (entry.counters !== null) this.base.set(entry.config.name, entry.counters);
    }
    try {
      if (this.opts.configFile) {
        const wanted = await this.opts.loadConfig(this.opts.configFile);
        await this.applyPlan(planChanges([], wanted));
      } else {
        await this.restore(stored.map((e) => e.config));
      }
      // Recorded before the socket opens: a request can only come after, so writes never overlap.
      await this.state.write(this.record());
      await this.listen();
      await writeFile(paths.pid, `${process.pid}\n`, { mode: 0o600 });
    } catch (err) {
      await this.closeBackends(false);
      this.server?.close();
      throw err;
    }
    if (this.dormant.size > 0) this.scheduleRetry();
    this.log('info', 'started', {
      netns: netnsId(),
      cookie: this.identity.cookie,
      tunnels: this.tunnels.size,
      socket: paths.socket,
    });
    if (this.opts.configFile) await this.opts.onConfigApplied?.();
  }

  /**
   * The state file's tunnels, if it is ours. A file from another namespace or
   * one that cannot be read is set aside (kept for the operator) and nothing
   * of it is adopted: the daemon starts without tunnels.
   */
  private async loadState(): Promise<StateEntry[]> {
    const path = this.opts.paths.state;
    const read = await readState(path, this.identity!);
    switch (read.kind) {
      case 'none':
        return [];
      case 'foreign': {
        const aside = await setAside(path, 'foreign');
        this.log('warn', 'state file of another network namespace not adopted', {
          path,
          cookie: read.netns.cookie,
          boot: read.netns.bootId,
          own_cookie: this.identity!.cookie,
          moved_to: aside,
        });
        return [];
      }
      case 'corrupt': {
        const aside = await setAside(path, 'corrupt');
        this.log('warn', 'state file unusable: starting without tunnels, its interfaces left alone', {
          path,
          reason: read.reason,
          moved_to: aside,
        });
        return [];
      }
      case 'ours':
        if (read.problems.length > 0) {
          const copy = await setAside(path, 'corrupt', true);
          for (const problem of read.problems)
            this.log('warn', 'state entry left out', { path, reason: problem, kept_as: copy });
        }
        return read.tunnels;
    }
  }

  /** Restores each stored tunnel on its own: one that fails is kept dormant and retried. */
  private async restore(configs: TunnelConfig[]): Promise<void> {
    for (const config of configs) {
      try {
        await this.applyPlan(planChanges(this.configs(), wantedAdding(this.configs(), config)), false);
      } catch (err) {
        this.dormant.set(config.name, { config, reason: (err as Error).message });
        this.log('warn', 'tunnel not restored, kept and retried', {
          tunnel: config.name,
          error: (err as Error).message,
          retry_seconds: this.retryMs() / 1000,
        });
      }
    }
  }

  private retryMs(): number {
    return this.opts.retryMs ?? 10_000;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.enqueue(() => this.retryDormant());
    }, this.retryMs());
    this.retryTimer.unref();
  }

  private async retryDormant(): Promise<void> {
    if (this.stopping) return;
    for (const [name, d] of [...this.dormant]) {
      try {
        // The plan holds the dormant tunnel already; bringing it up is a change of it.
        await this.applyPlan({ steps: [{ op: 'change', config: d.config }] }, false);
        this.log('info', 'tunnel restored', { tunnel: name });
      } catch (err) {
        const reason = (err as Error).message;
        if (reason !== d.reason)
          this.log('warn', 'tunnel not restored, kept and retried', { tunnel: name, error: reason });
        d.reason = reason;
      }
    }
    if (this.dormant.size > 0) this.scheduleRetry();
  }

  private async claimSocket(): Promise<void> {
    const { socket } = this.opts.paths;
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(socket);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new DaemonError(`a daemon is already running in this network namespace (${socket})`);
    await rm(socket, { force: true });
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((conn) => this.serve(conn));
      server.once('error', reject);
      server.listen(this.opts.paths.socket, () => {
        chmod(this.opts.paths.socket, 0o600).then(() => resolve(), reject);
      });
      this.server = server;
    });
  }

  /**
   * One connection: lines are requests, answered in order. The size limit is
   * per line; a client that pipelines many requests or does not read its
   * replies is slowed down (its socket paused), never cut off.
   */
  private serve(conn: Socket): void {
    let buffered = '';
    let pending = 0;
    const throttle = () => {
      if (pending >= MAX_PENDING || conn.writableLength > MAX_UNSENT) conn.pause();
      else if (conn.isPaused()) conn.resume();
    };
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('drain', throttle);
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      let start = 0;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n', start)) {
        const line = buffered.slice(start, nl);
        start = nl + 1;
        pending++;
        const done = () => {
          pending--;
          throttle();
        };
        if (line.length > MAX_LINE) {
          this.enqueue(async () =>
            this.reply(conn, { ok: false, error: `request too large (limit ${MAX_LINE} bytes)` }),
          ).then(done, done);
        } else {
          this.enqueue(() => this.handleLine(conn, line)).then(done, () => {
            done();
            conn.destroy();
          });
        }
      }
      buffered = buffered.slice(start);
      if (buffered.length > MAX_LINE) {
        // A line this long can only be refused; say so once and stop reading it.
        this.reply(conn, { ok: false, error: `request too large (limit ${MAX_LINE} bytes)` });
        conn.end();
        buffered = '';
      }
      throttle();
    });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async handleLine(conn: Socket, line: string): Promise<void> {
    let request: Request;
    try {
      request = parseRequest(JSON.parse(line));
    } catch (err) {
      const field = (err as { field?: unknown }).field;
      const error = err instanceof SyntaxError ? 'request is not JSON' : (err as Error).message;
      this.reply(conn, { ok: false, error, ...(typeof field === 'string' ? { field } : {}) });
      return;
    }
    if (!READ_ONLY_OPS.has(request.op) && peerUid(conn) !== 0) {
      this.refusals.log('permission', 'warn', 'request refused', { op: request.op, reason: 'not root' });
      this.reply(conn, { ok: false, error: 'permission denied: only root may change tunnels' });
      return;
    }
    try {
      this.reply(conn, await this.handle(request));
    } catch (err) {
      const e = err as Error & { field?: unknown };
      if (!EXPECTED_ERRORS.has(e.name)) {
        this.log('error', 'internal error', { op: request.op, error: e.stack ?? String(err) });
        this.reply(conn, { ok: false, error: `internal error: $e.message(see the daemon log)` });
        return;
      }
      this.refusals.log(request.op, 'warn', 'request refused', {
        op: request.op,
        error: e.message,
        field: typeof e.field === 'string' ? e.field : undefined,
      });
      this.reply(conn, {
        ok: false,
        error: e.message,
        ...(typeof e.field === 'string' ? { field: e.field } : {}),
      });
    }
  }

  private reply(conn: Socket, reply: Reply): void {
    if (!conn.destroyed && conn.writable) conn.write(`${JSON.stringify(reply)}\n`);
  }

  private async handle(request: Request): Promise<Reply> {
    switch (request.op) {
      case 'list':
        return { ok: true, tunnels: this.list() };
      case 'status':
        return { ok: true, status: this.status() };
      case 'add': {
        const current = this.configs();
        const config = resolveTunnel({ kind: 'add', config: request.config }, current);
        const done = await this.applyPlan(planChanges(current, wantedAdding(current, config)));
        return { ok: true, tunnel: done.get(config.name) ?? this.statusOf(config.name) };
      }
      case 'change': {
        const current = this.configs();
        const next = resolveTunnel({ kind: 'change', name: request.name, changes: request.changes }, current);
        const done = await this.applyPlan(planChanges(current, wantedChanging(current, next)));
        return { ok: true, tunnel: done.get(next.name) ?? this.statusOf(next.name) };
      }
      case 'del': {
        const current = this.configs();
        await this.applyPlan(planChanges(current, wantedWithout(current, request.name)));
        return { ok: true };
      }
      case 'flush':
        await this.applyPlan(planChanges(this.configs(), []));
        return { ok: true };
      case 'shutdown':
        setImmediate(() => void this.stop('shutdown requested'));
        return { ok: true };
    }
  }

  private backend(name: BackendName): TunnelBackend {
    const backend = this.opts.backends[name];
    if (!backend) throw new FieldError(`the ${name} backend is not available in this daemon`, 'backend');
    return backend;
  }

  /** Running and dormant tunnels: what a request is checked against. */
  private configs(): TunnelConfig[] {
    return [...this.tunnels.values(), ...[...this.dormant.values()].map((d) => d.config)];
  }

  private withBase(backend: TunnelBackend, status: TunnelStatus): TunnelStatus {
    const base = backend.countersSurviveRestart ? undefined : this.base.get(status.config.name);
    if (!base) return status;
    const counters = { ...status.counters };
    for (const key of Object.keys(counters) as (keyof TunnelCounters)[]) counters[key] += base[key];
    return { ...status, counters };
  }

  list(): TunnelStatus[] {
    const out: TunnelStatus[] = [];
    for (const backend of Object.values(this.opts.backends)) {
      if (backend) for (const s of backend.list()) out.push(this.withBase(backend, s));
    }
    for (const { config } of this.dormant.values()) {
      out.push({
        config,
        backend: config.backend,
        state: 'down',
        carrier: false,
        lastKeepaliveAgoMs: null,
        counters: { ...(this.base.get(config.name) ?? zeroCounters()) },
      });
    }
    return out.sort((a, b) => a.config.name.localeCompare(b.config.name));
  }

  /** The status of one tunnel, running or dormant. */
  private statusOf(name: string): TunnelStatus | undefined {
    return this.list().find((s) => s.config.name === name);
  }

  private status(): DaemonStatus {
    const drops: Record<string, number> = {};
    for (const backend of Object.values(this.opts.backends)) {
      for (const [k, v] of Object.entries(backend?.unmatchedDrops() ?? {})) drops[k] = (drops[k] ?? 0) + v;
    }
    return {
      pid: process.pid,
      version: VERSION,
      netns: netnsId(),
      startedAt: this.startedAt.toISOString(),
      configFile: this.opts.configFile,
      tunnels: this.tunnels.size,
      unmatchedDrops: drops,
    };
  }

  // --- steps: each changes one tunnel and the daemon's records of it --------------------

  /** Creates a tunnel (or takes a dormant one up) and records the interface it made. */
  private async create(config: TunnelConfig): Promise<TunnelStatus> {
    const backend = this.backend(config.backend);
    const status = await backend.create(config);
    this.tunnels.set(config.name, config);
    this.dormant.delete(config.name);
    const index = this.host.interfaceIndex(config.name);
    if (index === null) this.owned.delete(config.name);
    else this.owned.set(config.name, index);
    return this.withBase(backend, status);
  }

  /** Applies a complete, checked config to the tunnel of the same name. */
  private async modify(next: TunnelConfig): Promise<TunnelStatus> {
    const name = next.name;
    const old = this.tunnels.get(name);
    if (!old) {
      // A dormant tunnel changed: bring it up with the new config, or leave it as it was.
      const dormant = this.dormant.get(name)!;
      try {
        return await this.create(next);
      } catch (err) {
        this.dormant.set(name, dormant);
        throw err;
      }
    }
    let status: TunnelStatus;
    if (next.backend === old.backend) {
      status = await this.backend(old.backend).change(name, next);
    } else {
      // Moving between backends: delete, create; the old one back if that fails.
      await this.backend(old.backend).delete(name);
      try {
        status = await this.backend(next.backend).create(next);
      } catch (err) {
        await this.backend(old.backend).create(old);
        throw err;
      }
      const index = this.host.interfaceIndex(name);
      if (index !== null) this.owned.set(name, index);
    }
    this.tunnels.set(name, next);
    return this.withBase(this.backend(next.backend), status);
  }

  /** Removes a tunnel and its interface (a dormant one's only if it is provably ours). */
  private async destroy(name: string): Promise<void> {
    const config = this.tunnels.get(name);
    if (config) {
      await this.backend(config.backend).delete(name);
      this.tunnels.delete(name);
    } else if (this.dormant.has(name)) {
      this.remover.remove(name, this.owned.get(name) ?? null);
      this.dormant.delete(name);
    } else {
      throw new FieldError(`name: no tunnel named ${name}`, 'name');
    }
    this.owned.delete(name);
    this.base.delete(name);
  }

  /**
   * Takes the steps of a plan and writes the state, or undoes what it did:
   * first the host checks, then (when the plan removes or changes something,
   * which cannot be undone losslessly... see Plan) a staged state file proving
   * the record can be written, then the steps, then the record. Returns the
   * status of each tunnel added or changed.
   */
  private async applyPlan(plan: Plan, retryDormant = true): Promise<Map<string, TunnelStatus>> {
    await preflight(plan, {
      host: this.host,
      owned: this.owned,
      backends: new Set(Object.keys(this.opts.backends) as BackendName[]),
    });
    if (plan.steps.some((s) => s.op !== 'add')) {
      await this.state.stage(
        this.predicted(plan),
        STATE_SLACK_BASE + STATE_SLACK_PER_TUNNEL * this.configs().length,
      );
    }
    const done = new Map<string, TunnelStatus>();
    const undo: (() => Promise<unknown>)[] = [];
    const logs: [string, LogFields][] = [];
    try {
      for (const step of plan.steps) {
        const { config } = step;
        if (step.op === 'add') {
          done.set(config.name, await this.create(config));
          undo.push(() => this.destroy(config.name));
          logs.push(['tunnel added', describe(config)]);
        } else if (step.op === 'change') {
          const old = this.tunnels.get(config.name);
          const wasDormant = this.dormant.get(config.name);
          done.set(config.name, await this.modify(config));
          undo.push(async () => {
            if (old) await this.modify(old);
            else if (wasDormant) {
              await this.destroy(config.name);
              this.dormant.set(config.name, wasDormant);
            }
          });
          logs.push(['tunnel changed', describe(config)]);
        } else {
          const wasDormant = this.dormant.get(config.name);
          const ifindex = this.owned.get(config.name);
          const base = this.base.get(config.name);
          await this.destroy(config.name);
          undo.push(async () => {
            if (wasDormant) this.dormant.set(config.name, wasDormant);
            else await this.create(config);
            if (base) this.base.set(config.name, base);
            if (wasDormant && ifindex !== undefined) this.owned.set(config.name, ifindex);
          });
          logs.push(['tunnel deleted', { tunnel: config.name, backend: config.backend }]);
        }
      }
      await this.state.write(this.record());
    } catch (err) {
      for (const step of undo.reverse()) {
        await step().catch((e: Error) =>
          this.log('error', 'undo failed, state may differ', { error: e.message }),
        );
      }
      await this.state.discard();
      throw err;
    }
    for (const [msg, fields] of logs) this.log('info', msg, fields);
    if (retryDormant && this.dormant.size > 0) this.scheduleRetry();
    return done;
  }

  /** The record after `plan`, as far as it is known before the plan runs. */
  private predicted(plan: Plan): StateRecord {
    const configs = new Map(this.configs().map((c) => [c.name, c]));
    for (const step of plan.steps) {
      if (step.op === 'remove') configs.delete(step.config.name);
      else configs.set(step.config.name, step.config);
    }
    return {
      netns: this.identity!,
      tunnels: [...configs.values()].map((config) => ({
        config,
        ifindex: this.owned.get(config.name) ?? null,
        counters: this.base.get(config.name) ?? zeroCounters(),
      })),
    };
  }

  /** What the state file records now: every tunnel, its interface and its counters. */
  private record(): StateRecord {
    const counters = new Map(this.list().map((s) => [s.config.name, s.counters]));
    return {
      netns: this.identity!,
      tunnels: this.configs().map((config) => ({
        config,
        ifindex: this.owned.get(config.name) ?? null,
        counters: counters.get(config.name) ?? null,
      })),
    };
  }

  /** SIGHUP: reload the config file; an invalid file or a failed change leaves everything as it is. */
  reload(): Promise<void> {
    return this.enqueue(async () => {
      const file = this.opts.configFile;
      if (!file) {
        this.log('warn', 'reload ignored: started without --config');
        return;
      }
      try {
        const wanted = await this.opts.loadConfig(file);
        const plan = planChanges(this.configs(), wanted);
        await this.applyPlan(plan);
        this.log('info', 'config reloaded', { file, tunnels: this.tunnels.size, ...changesOf(plan) });
        await this.opts.onConfigApplied?.();
      } catch (err) {
        const field = (err as { field?: unknown }).field;
        this.log('error', 'config reload refused, running tunnels untouched', {
          file,
          error: (err as Error).message,
          field: typeof field === 'string' ? field : undefined,
        });
      }
    });
  }

  private async closeBackends(keepInterfaces: boolean): Promise<void> {
    for (const backend of Object.values(this.opts.backends)) await backend?.close({ keepInterfaces });
    this.remover.close();
  }

  /** Stops serving; interfaces stay in place with carrier off, the state file stays for a restart. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.queue;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // The counters as they are now, for the next daemon to carry on from.
    await this.state
      .write(this.record())
      .catch((err: Error) => this.log('warn', 'counters not saved', { error: err.message }));
    await this.closeBackends(true);
    await rm(this.opts.paths.socket, { force: true });
    await rm(this.opts.paths.pid, { force: true });
    this.log('info', 'stopped', { reason, tunnels: this.tunnels.size, interfaces: 'kept, carrier off' });
    this.markStopped();
  }
}

/** A tunnel's configuration as log fields. */
function describe(c: TunnelConfig): LogFields {
  return {
    tunnel: c.name,
    kind: c.family === 6 ? 'eoipv6' : 'eoip',
    tunnel_id: c.tunnelId,
    remote: c.remote,
    local: c.local ?? undefined,
    keepalive: c.keepalive ? `${c.keepalive.interval},${c.keepalive.retries}` : 'none',
    mtu: c.mtu,
    backend: c.backend,
  };
}

/** What a plan changes, by tunnel name: the fields of the reload line. */
function changesOf(plan: Plan): { added: string[]; changed: string[]; removed: string[] } {
  const names = (op: string) => plan.steps.filter((s) => s.op === op).map((s) => s.config.name);
  return { added: names('add'), changed: names('change'), removed: names('remove') };
}
