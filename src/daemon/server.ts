/**
 * `greoip daemon`: one process, many tunnels, for the network namespace it
 * runs in. It listens on a root-only unix socket, applies requests to the
 * backends, records its tunnels in a state file, reloads its config file on
 * SIGHUP (applying only the difference) and shuts down on SIGTERM leaving the
 * interfaces in place with carrier off.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { TunnelBackend, TunnelStatus } from '../backend/types.ts';
import { resolveTunnel } from '../config/tunnel.ts';
import type { BackendName, TunnelConfig } from '../eoip/config.ts';
import { VERSION } from '../version.ts';
import { netnsId, type RuntimePaths } from './paths.ts';
import { peerUid } from './peer.ts';
import { FieldError, type Plan, planChanges, wantedAdding, wantedChanging, wantedWithout } from './plan.ts';
import { type DaemonStatus, MAX_LINE, READ_ONLY_OPS, type Reply, type Request } from './protocol.ts';
import { readState, writeState } from './state.ts';

export interface DaemonOptions {
  paths: RuntimePaths;
  backends: Partial<Record<BackendName, TunnelBackend>>;
  /** Tunnels from a config file, reloaded on SIGHUP; null to restore from the state file. */
  configFile: string | null;
  loadConfig: (path: string) => Promise<TunnelConfig[]>;
  /** After a config file (at start or on SIGHUP) was applied whole: what else it configures (probes). */
  onConfigApplied?: () => Promise<void>;
  log: (line: string) => void;
}

export class DaemonError extends Error {
  override name = 'DaemonError';
}

export class Daemon {
  private server: Server | null = null;
  private readonly tunnels = new Map<string, TunnelConfig>();
  private readonly startedAt = new Date();
  /** Requests and reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: DaemonOptions) {}

  async start(): Promise<void> {
    const { paths } = this.opts;
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    await chmod(paths.dir, 0o700);
    await this.claimSocket();
    // A config file's entries come complete from its loader; the state file's are re-checked whole.
    const initial = this.opts.configFile
      ? await this.opts.loadConfig(this.opts.configFile)
      : ((await readState(paths.state)) ?? []).map((entry) =>
          resolveTunnel({ kind: 'entry', config: entry }, []),
        );
    try {
      await this.applyPlan(planChanges(this.configs(), initial));
    } catch (err) {
      await this.closeBackends(false);
      throw err;
    }
    await this.listen();
    await writeFile(paths.pid, `${process.pid}\n`, { mode: 0o600 });
    await this.persist();
    this.opts.log(
      `started in ${netnsId()} with ${this.tunnels.size} tunnel(s); control socket ${paths.socket}`,
    );
    if (this.opts.configFile) await this.opts.onConfigApplied?.();
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

  private serve(conn: Socket): void {
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE) {
        this.reply(conn, { ok: false, error: 'request too large' });
        conn.end();
        return;
      }
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.enqueue(() => this.handleLine(conn, line)).catch(() => conn.destroy());
        nl = buffered.indexOf('\n');
      }
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
      request = JSON.parse(line) as Request;
    } catch {
      this.reply(conn, { ok: false, error: 'request is not JSON' });
      return;
    }
    if (!READ_ONLY_OPS.has(request.op) && peerUid(conn) !== 0) {
      this.reply(conn, { ok: false, error: 'permission denied: only root may change tunnels' });
      return;
    }
    try {
      this.reply(conn, await this.handle(request));
    } catch (err) {
      // BackendError, FieldError, ArgsError and ValidationError all name the field at fault.
      const field = (err as { field?: unknown }).field;
      this.reply(conn, {
        ok: false,
        error: (err as Error).message,
        ...(typeof field === 'string' ? { field } : {}),
      });
    }
  }

  private reply(conn: Socket, reply: Reply): void {
    if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`);
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
        for (const name of [...this.tunnels.keys()]) await this.delete(name);
        return { ok: true };
      case 'shutdown':
        setImmediate(() => void this.stop('shutdown requested'));
        return { ok: true };
      default:
        return { ok: false, error: `unknown operation ${(request as { op: string }).op}` };
    }
  }

  private backend(name: BackendName): TunnelBackend {
    const backend = this.opts.backends[name];
    if (!backend) throw new FieldError(`the ${name} backend is not available in this daemon`, 'backend');
    return backend;
  }

  list(): TunnelStatus[] {
    const out: TunnelStatus[] = [];
    for (const backend of Object.values(this.opts.backends)) if (backend) out.push(...backend.list());
    return out.sort((a, b) => a.config.name.localeCompare(b.config.name));
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

  private configs(): TunnelConfig[] {
    return [...this.tunnels.values()];
  }

  /** The backend's status of one of our tunnels. */
  private statusOf(name: string): TunnelStatus | undefined {
    const config = this.tunnels.get(name);
    if (!config) return undefined;
    return this.backend(config.backend)
      .list()
      .find((s) => s.config.name === name);
  }

  /** Creates a complete, checked config. */
  private async add(config: TunnelConfig): Promise<TunnelStatus> {
    const status = await this.backend(config.backend).create(config);
    this.tunnels.set(config.name, config);
    await this.persist();
    this.opts.log(`added ${describe(config)}`);
    return status;
  }

  /** Applies a complete, checked config to the tunnel of the same name. */
  private async change(next: TunnelConfig): Promise<TunnelStatus> {
    const name = next.name;
    const old = this.tunnels.get(name)!;
    let status: TunnelStatus;
    if (next.backend === old.backend) {
      status = await this.backend(old.backend).change(name, next);
    } else {
      // Moving between backends: create in the new one first, so a failure changes nothing.
      await this.backend(old.backend).delete(name);
      try {
        status = await this.backend(next.backend).create(next);
      } catch (err) {
        await this.backend(old.backend).create(old);
        throw err;
      }
    }
    this.tunnels.set(name, next);
    await this.persist();
    this.opts.log(`changed ${describe(next)}`);
    return status;
  }

  private async delete(name: string): Promise<void> {
    const config = this.tunnels.get(name);
    if (!config) throw new FieldError(`name: no tunnel named ${name}`, 'name');
    await this.backend(config.backend).delete(name);
    this.tunnels.delete(name);
    await this.persist();
    this.opts.log(`deleted ${name}`);
  }

  /**
   * Takes the steps of a plan and returns the status of each tunnel added or
   * changed. If a step fails, the steps already taken are undone and the
   * error rethrown.
   */
  private async applyPlan(plan: Plan): Promise<Map<string, TunnelStatus>> {
    const done = new Map<string, TunnelStatus>();
    const undo: (() => Promise<unknown>)[] = [];
    try {
      for (const name of plan.remove) {
        const old = this.tunnels.get(name)!;
        await this.delete(name);
        undo.push(() => this.add(old));
      }
      for (const next of plan.change) {
        const old = this.tunnels.get(next.name)!;
        done.set(next.name, await this.change(next));
        undo.push(() => this.change(old));
      }
      for (const config of plan.add) {
        done.set(config.name, await this.add(config));
        undo.push(() => this.delete(config.name));
      }
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw err;
    }
    return done;
  }

  /** SIGHUP: reload the config file; an invalid file leaves everything as it is. */
  reload(): Promise<void> {
    return this.enqueue(async () => {
      const file = this.opts.configFile;
      if (!file) {
        this.opts.log('SIGHUP: no config file to reload (started without --config)');
        return;
      }
      try {
        const wanted = await this.opts.loadConfig(file);
        await this.applyPlan(planChanges(this.configs(), wanted));
        this.opts.log(`reloaded ${file}: ${this.tunnels.size} tunnel(s)`);
        await this.opts.onConfigApplied?.();
      } catch (err) {
        this.opts.log(`reload of ${file} refused, running tunnels untouched: ${(err as Error).message}`);
      }
    });
  }

  private async persist(): Promise<void> {
    await writeState(this.opts.paths.state, [...this.tunnels.values()]);
  }

  private async closeBackends(keepInterfaces: boolean): Promise<void> {
    for (const backend of Object.values(this.opts.backends)) await backend?.close({ keepInterfaces });
  }

  /** Stops serving; interfaces stay in place with carrier off, the state file stays for a restart. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.queue;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.closeBackends(true);
    await rm(this.opts.paths.socket, { force: true });
    await rm(this.opts.paths.pid, { force: true });
    this.opts.log(`stopped (${reason}); ${this.tunnels.size} interface(s) kept with carrier off`);
  }
}

function describe(c: TunnelConfig): string {
  const ka = c.keepalive ? `${c.keepalive.interval},${c.keepalive.retries}` : 'none';
  return `${c.name} (${c.family === 6 ? 'eoipv6' : 'eoip'} tid ${c.tunnelId} remote ${c.remote}${c.local ? ` local ${c.local}` : ''} keepalive ${ka} mtu ${c.mtu}, ${c.backend})`;
}
