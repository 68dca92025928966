/**
 * The userland backend: one persistent tap per tunnel, raw sockets shared by
 * all tunnels of a family and underlay binding, batched I/O through the
 * native addon, and the datapath and keepalive machine of src/eoip.
 */
import type { Family, KeepaliveConfig, TunnelConfig } from '../eoip/config.ts';
import {
  createRxResult,
  type DatapathTunnel,
  DROP_REASON_NAMES,
  encapsulate4,
  encapsulate6,
  receive4,
  receive6,
} from '../eoip/datapath.ts';
import { KeepaliveMachine, type LinkState } from '../eoip/keepalive.ts';
import { remoteKey, TunnelTable } from '../eoip/table.ts';
import { parseAddress as parse4 } from '../wire/ipv4.ts';
import { parseAddress as parse6 } from '../wire/ipv6.ts';
import { type BatchPort, type NativeIo, nativeIo } from './native-io.ts';
import {
  BackendError,
  type TunnelBackend,
  type TunnelCounters,
  type TunnelStateChange,
  type TunnelStatus,
  zeroCounters,
} from './types.ts';

/** Slots per batch and bytes per slot: a full 65535-byte IPv4 packet fits. */
const SOCKET_SLOTS = 64;
const SOCKET_SLOT_SIZE = 65536;
const TAP_SLOTS = 32;
const TAP_SLOT_SIZE = 65536;
const ADDRESS_BYTES = 16;

export interface UserlandOptions {
  /** Monotonic clock in milliseconds (injected for tests). */
  now?: () => number;
  io?: NativeIo;
  /** Called once per keepalive state change (never per packet): the daemon logs it. */
  onStateChange?: (change: TunnelStateChange) => void;
}

interface UserTunnel extends DatapathTunnel {
  config: TunnelConfig;
  tap: BatchPort;
  group: SocketGroup;
  keepalive: KeepaliveMachine;
  /** The state last passed to onStateChange. */
  reportedState: LinkState;
  counters: TunnelCounters;
  timer: NodeJS.Timeout | null;
  /** Destination slot (16 bytes) pre-filled with the remote address for sends. */
  dst: Uint8Array;
}

/**
 * One raw socket per (family, local address, underlay link, TTL, TOS), shared
 * by the tunnels that agree on all five. Every raw socket of a family gets a
 * copy of every EoIP packet, so a packet is only acted on by the socket of
 * the tunnel it matched.
 */
interface SocketGroup {
  key: string;
  family: Family;
  port: BatchPort;
  users: number;
  tx: Buffer;
  txOffsets: Uint32Array;
  txLengths: Uint32Array;
  txDsts: Uint8Array;
}

export class UserlandBackend implements TunnelBackend {
  readonly name = 'userland' as const;
  private readonly io: NativeIo;
  private readonly now: () => number;
  private readonly onStateChange: (change: TunnelStateChange) => void;
  private readonly tunnels = new Map<string, UserTunnel>();
  private readonly table = new TunnelTable<UserTunnel>();
  private readonly groups = new Map<string, SocketGroup>();
  /**
   * Every raw socket of a family sees every EoIP packet, so packets that match
   * no tunnel are counted by one socket per family only.
   */
  private readonly counting = new Map<Family, SocketGroup>();
  private readonly drops = new Float64Array(DROP_REASON_NAMES.length);
  private readonly rx = createRxResult<UserTunnel>();
  private closed = false;

  constructor(options: UserlandOptions = {}) {
    this.io = options.io ?? nativeIo();
    this.now = options.now ?? (() => performance.now());
    this.onStateChange = options.onStateChange ?? (() => undefined);
  }

  async create(config: TunnelConfig): Promise<TunnelStatus> {
    this.assertOpen();
    if (this.tunnels.has(config.name)) throw new BackendError(`tunnel ${config.name} exists`, 'name');
    const key = keyOf(config);
    const clash = this.table.findSame({ family: config.family, tunnelId: config.tunnelId, ...key });
    if (clash) {
      throw new BackendError(
        `tunnel id ${config.tunnelId} to ${config.remote} is already used by ${clash.config.name}`,
        'tunnel-id',
      );
    }
    const undo: (() => void)[] = [];
    try {
      const group = this.acquireGroup(config);
      undo.push(() => this.releaseGroup(group));
      const tunnel = this.openTunnel(config, group, undo);
      this.table.add(tunnel);
      undo.push(() => this.table.remove(tunnel));
      this.tunnels.set(config.name, tunnel);
      tunnel.tap.start();
      this.schedule(tunnel);
      return this.status(tunnel);
    } catch (err) {
      for (const step of undo.reverse()) step();
      throw asBackendError(err);
    }
  }

  private openTunnel(config: TunnelConfig, group: SocketGroup, undo: (() => void)[]): UserTunnel {
    const existed = this.io.linkExists(config.name);
    const tap = this.io.openTap(config.name, TAP_SLOTS, TAP_SLOT_SIZE, (count) =>
      this.onTapBatch(tunnel, count),
    );
    undo.push(() => (existed ? tap.close() : this.io.deleteTap(config.name, tap)));
    this.io.setMtu(config.name, config.mtu);
    this.io.setUp(config.name, true);
    const key = keyOf(config);
    const local = localOf(config);
    const tunnel: UserTunnel = {
      family: config.family,
      tunnelId: config.tunnelId,
      ...key,
      ...local,
      config,
      tap,
      group,
      keepalive: new KeepaliveMachine(config.keepalive, this.now()),
      reportedState: config.keepalive ? 'waiting' : 'off',
      counters: zeroCounters(),
      timer: null,
      dst: destinationSlot(config.family, key),
    };
    this.io.setCarrier(tap, true);
    return tunnel;
  }

  async change(name: string, next: TunnelConfig): Promise<TunnelStatus> {
    this.assertOpen();
    const tunnel = this.tunnels.get(name);
    if (!tunnel) throw new BackendError(`no tunnel named ${name}`, 'name');
    if (next.name !== name) throw new BackendError('a tunnel cannot be renamed: delete and add it', 'name');
    const old = tunnel.config;
    const rekey = next.family !== old.family || next.remote !== old.remote || next.tunnelId !== old.tunnelId;
    const regroup = groupKey(next) !== tunnel.group.key;
    const key = keyOf(next);
    if (rekey) {
      const clash = this.table.findSame({ family: next.family, tunnelId: next.tunnelId, ...key });
      if (clash && clash !== tunnel) {
        throw new BackendError(
          `tunnel id ${next.tunnelId} to ${next.remote} is already used by ${clash.config.name}`,
          'tunnel-id',
        );
      }
    }
    // Everything that can fail happens before any state changes.
    const group = regroup ? this.acquireGroup(next) : tunnel.group;
    try {
      if (next.mtu !== old.mtu) this.io.setMtu(name, next.mtu);
    } catch (err) {
      if (regroup) this.releaseGroup(group);
      throw asBackendError(err);
    }
    if (rekey) this.table.remove(tunnel);
    Object.assign(tunnel, { family: next.family, tunnelId: next.tunnelId, ...key, ...localOf(next) });
    tunnel.dst = destinationSlot(next.family, key);
    if (rekey) this.table.add(tunnel);
    if (regroup) {
      this.releaseGroup(tunnel.group);
      tunnel.group = group;
    }
    tunnel.config = next;
    if (!sameKeepalive(old.keepalive, next.keepalive)) {
      const carrier = tunnel.keepalive.reconfigure(next.keepalive, this.now());
      if (carrier !== null) this.io.setCarrier(tunnel.tap, carrier);
      this.reportState(tunnel, 'config');
    }
    this.schedule(tunnel);
    return this.status(tunnel);
  }

  async delete(name: string): Promise<void> {
    this.assertOpen();
    const tunnel = this.tunnels.get(name);
    if (!tunnel) throw new BackendError(`no tunnel named ${name}`, 'name');
    this.stopTunnel(tunnel);
    this.io.deleteTap(name, tunnel.tap);
  }

  private stopTunnel(tunnel: UserTunnel): void {
    if (tunnel.timer) clearTimeout(tunnel.timer);
    tunnel.timer = null;
    tunnel.tap.stop();
    this.table.remove(tunnel);
    this.tunnels.delete(tunnel.config.name);
    this.releaseGroup(tunnel.group);
  }

  /** Tunnels of this backend; the ebpf backend's (this is its slow path) list themselves. */
  list(): TunnelStatus[] {
    return [...this.tunnels.values()].filter((t) => t.config.backend !== 'ebpf').map((t) => this.status(t));
  }

  /** One tunnel's status, whichever backend it was created for (the ebpf backend reads its slow path here). */
  statusOf(name: string): TunnelStatus | null {
    const t = this.tunnels.get(name);
    return t ? this.status(t) : null;
  }

  unmatchedDrops(): Record<string, number> {
    return Object.fromEntries(DROP_REASON_NAMES.map((name, i) => [name, this.drops[i]!]));
  }

  async close(options: { keepInterfaces: boolean }): Promise<void> {
    if (this.closed) return;
    for (const tunnel of [...this.tunnels.values()]) {
      this.stopTunnel(tunnel);
      if (options.keepInterfaces) {
        this.io.setCarrier(tunnel.tap, false);
        tunnel.tap.close();
      } else {
        this.io.deleteTap(tunnel.config.name, tunnel.tap);
      }
    }
    this.closed = true;
  }

  private status(t: UserTunnel): TunnelStatus {
    const last = t.keepalive.lastKeepalive;
    return {
      config: t.config,
      backend: 'userland',
      state: t.keepalive.state,
      carrier: t.keepalive.carrier,
      lastKeepaliveAgoMs: last === null ? null : Math.max(0, Math.round(this.now() - last)),
      counters: { ...t.counters },
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new BackendError('the userland backend is closed');
  }

  // --- sockets --------------------------------------------------------------------------

  private acquireGroup(config: TunnelConfig): SocketGroup {
    const key = groupKey(config);
    const existing = this.groups.get(key);
    if (existing) {
      existing.users++;
      return existing;
    }
    const group: SocketGroup = {
      key,
      family: config.family,
      port: this.io.openRaw(
        config.family,
        { local: config.local, link: config.link, ttl: config.ttl, tos: config.tos },
        SOCKET_SLOTS,
        SOCKET_SLOT_SIZE,
        (count) => this.onSocketBatch(group, count),
      ),
      users: 1,
      tx: Buffer.alloc(TAP_SLOTS * TAP_SLOT_SIZE),
      txOffsets: new Uint32Array(TAP_SLOTS),
      txLengths: new Uint32Array(TAP_SLOTS),
      txDsts: new Uint8Array(TAP_SLOTS * ADDRESS_BYTES),
    };
    for (let i = 0; i < TAP_SLOTS; i++) group.txOffsets[i] = i * TAP_SLOT_SIZE;
    this.groups.set(key, group);
    if (!this.counting.has(group.family)) this.counting.set(group.family, group);
    group.port.start();
    return group;
  }

  private releaseGroup(group: SocketGroup): void {
    if (--group.users > 0) return;
    group.port.close();
    this.groups.delete(group.key);
    if (this.counting.get(group.family) === group) {
      this.counting.delete(group.family);
      const next = [...this.groups.values()].find((g) => g.family === group.family);
      if (next) this.counting.set(group.family, next);
    }
  }

  private sendKeepalive(tunnel: UserTunnel): void {
    const g = tunnel.group;
    const encapsulate = tunnel.family === 4 ? encapsulate4 : encapsulate6;
    g.txLengths[0] = encapsulate(tunnel.tunnelId, g.tx, 0, 0, g.tx, g.txOffsets[0]!);
    g.txDsts.set(tunnel.dst, 0);
    if (this.io.send(g.port, g.tx, g.txOffsets, g.txLengths, g.txDsts, 1) === 1)
      tunnel.counters.txKeepalives++;
    else tunnel.counters.txErrors++;
  }

  // --- datapath --------------------------------------------------------------------------

  private onSocketBatch(group: SocketGroup, count: number): void {
    const port = group.port;
    const buf = port.rxBuffer;
    const rx = this.rx;
    for (let i = 0; i < count; i++) {
      const off = i * port.slotSize;
      const len = port.rxLengths[i]!;
      const verdict =
        group.family === 4
          ? receive4(buf, off, len, this.table, rx)
          : receive6(
              buf,
              off,
              len,
              port.rxSrc,
              i * ADDRESS_BYTES,
              port.rxDst,
              i * ADDRESS_BYTES,
              this.table,
              rx,
            );
      const tunnel = rx.tunnel;
      if (verdict >= 0) {
        if (tunnel) {
          if (tunnel.group === group) tunnel.counters.rxErrors++;
        } else if (this.counting.get(group.family) === group) {
          this.drops[verdict]!++;
        }
        continue;
      }
      if (!tunnel || tunnel.group !== group) continue; // another socket of ours delivers it too
      if (rx.keepalive) this.onKeepalive(tunnel);
      else this.deliver(tunnel, buf, rx.frameOffset, rx.frameLength);
    }
  }

  private deliver(tunnel: UserTunnel, buf: Buffer, off: number, len: number): void {
    const written = this.io.writeFrame(tunnel.tap, buf, off, len);
    if (written) {
      tunnel.counters.rxPackets++;
      tunnel.counters.rxBytes += len;
    } else {
      tunnel.counters.txErrors++;
    }
  }

  private onKeepalive(tunnel: UserTunnel): void {
    tunnel.counters.rxKeepalives++;
    const carrier = tunnel.keepalive.received(this.now());
    if (carrier !== null) this.io.setCarrier(tunnel.tap, carrier);
    if (tunnel.keepalive.state !== tunnel.reportedState) this.reportState(tunnel, 'keepalive');
    this.schedule(tunnel);
  }

  private onTapBatch(tunnel: UserTunnel, count: number): void {
    const tap = tunnel.tap;
    const g = tunnel.group;
    const encapsulate = tunnel.family === 4 ? encapsulate4 : encapsulate6;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const len = tap.rxLengths[i]!;
      g.txLengths[n] = encapsulate(
        tunnel.tunnelId,
        tap.rxBuffer,
        i * tap.slotSize,
        len,
        g.tx,
        g.txOffsets[n]!,
      );
      g.txDsts.set(tunnel.dst, n * ADDRESS_BYTES);
      n++;
    }
    const sent = this.io.send(g.port, g.tx, g.txOffsets, g.txLengths, g.txDsts, n);
    for (let i = 0; i < sent; i++) tunnel.counters.txBytes += g.txLengths[i]!;
    tunnel.counters.txPackets += sent;
    tunnel.counters.txErrors += n - sent;
  }

  // --- keepalive timers --------------------------------------------------------------------

  private schedule(tunnel: UserTunnel): void {
    if (tunnel.timer) clearTimeout(tunnel.timer);
    tunnel.timer = null;
    const deadline = tunnel.keepalive.nextDeadline();
    if (!Number.isFinite(deadline)) return;
    const delay = Math.max(0, deadline - this.now());
    tunnel.timer = setTimeout(() => this.onTimer(tunnel), delay);
    tunnel.timer.unref();
  }

  private onTimer(tunnel: UserTunnel): void {
    tunnel.timer = null;
    if (this.tunnels.get(tunnel.config.name) !== tunnel) return;
    const step = tunnel.keepalive.tick(this.now());
    if (step.send) this.sendKeepalive(tunnel);
    if (step.carrier !== null) this.io.setCarrier(tunnel.tap, step.carrier);
    if (tunnel.keepalive.state !== tunnel.reportedState) this.reportState(tunnel, 'timeout');
    this.schedule(tunnel);
  }

  private reportState(tunnel: UserTunnel, cause: TunnelStateChange['cause']): void {
    const previous = tunnel.reportedState;
    const state = tunnel.keepalive.state;
    if (state === previous) return;
    tunnel.reportedState = state;
    this.onStateChange({
      tunnel: tunnel.config.name,
      backend: 'userland',
      previous,
      state,
      carrier: tunnel.keepalive.carrier,
      cause,
    });
  }
}

function keyOf(config: TunnelConfig): { remote4: number; remote6: Uint8Array } {
  try {
    return remoteKey(config.family, config.remote);
  } catch (err) {
    throw new BackendError((err as Error).message, 'remote');
  }
}

function localOf(config: TunnelConfig): { local4: number; local6: Uint8Array | null } {
  if (config.local === null) return { local4: -1, local6: null };
  if (config.family === 4) {
    const local4 = parse4(config.local);
    if (local4 === null) throw new BackendError(`local ${config.local} is not an IPv4 address`, 'local');
    return { local4, local6: null };
  }
  const local6 = parse6(config.local);
  if (local6 === null) throw new BackendError(`local ${config.local} is not an IPv6 address`, 'local');
  return { local4: -1, local6 };
}

function groupKey(config: TunnelConfig): string {
  return `${config.family}|${config.local ?? '*'}|${config.link ?? '*'}|${config.ttl}|${config.tos}`;
}

function destinationSlot(family: Family, key: { remote4: number; remote6: Uint8Array }): Uint8Array {
  const slot = new Uint8Array(ADDRESS_BYTES);
  if (family === 4) {
    slot[0] = key.remote4 >>> 24;
    slot[1] = (key.remote4 >>> 16) & 0xff;
    slot[2] = (key.remote4 >>> 8) & 0xff;
    slot[3] = key.remote4 & 0xff;
  } else {
    slot.set(key.remote6);
  }
  return slot;
}

function sameKeepalive(a: KeepaliveConfig | null, b: KeepaliveConfig | null): boolean {
  return a === b || (a !== null && b !== null && a.interval === b.interval && a.retries === b.retries);
}

function asBackendError(err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  const e = err as NodeJS.ErrnoException;
  return new BackendError(e.message ?? String(err));
}
