/**
 * The kernel backend: tunnels are eoip / eoipv6 links of greoip's kernel
 * modules (kmod/), created, changed, listed and deleted over rtnetlink. The
 * kernel does the datapath and the RouterOS keepalive; this only configures
 * and reads back state and counters, so the links keep working while no
 * daemon runs.
 *
 * A link of the same name and kind found at create time (left by a daemon
 * that stopped, or made with eoipctl or the old `eoip` tool) is taken over
 * and reconfigured rather than refused: that is how a restart keeps traffic
 * flowing.
 */
import type { TunnelConfig } from '../eoip/config.ts';
import type { LinkState } from '../eoip/keepalive.ts';
import { isNativeSystemError, link as nativeLink } from '../native/index.ts';
import {
  changeLinkRequest,
  deleteLinkRequest,
  type EoipKind,
  type EoipLinkSpec,
  getLinkRequest,
  type LinkInfo,
  newLinkRequest,
  parseLink,
} from '../netlink/link.ts';
import { type NetlinkError, RtnlSocket, type RtnlTransport } from '../netlink/socket.ts';
import {
  BackendError,
  type TunnelBackend,
  type TunnelStateChange,
  type TunnelStatus,
  zeroCounters,
} from './types.ts';

export interface KernelBackendOptions {
  /** Defaults to a NETLINK_ROUTE socket in the caller's network namespace. */
  transport?: RtnlTransport;
  /** Underlay interface name to ifindex (default: SIOCGIFINDEX through the addon). */
  indexOf?: (name: string) => number;
  /**
   * Called once per carrier or keepalive state change of a tunnel (the daemon logs it). The module
   * runs the keepalive machine, so the backend learns of changes by reading the links every
   * `watchIntervalMs` (default 1000) while it has tunnels: one dump per interval, not per tunnel.
   */
  onStateChange?: (change: TunnelStateChange) => void;
  watchIntervalMs?: number;
}

/** What to tell a user whose kernel does not know the eoip kinds. */
export const MODULE_MISSING_HINT =
  'load it with "modprobe eoip eoipv6", or build and install it with "greoip kmod install" ' +
  '(needs linux-headers for this kernel; see kmod/README.md)';

/** extack attribute names as the module words them, to the config field at fault. */
const FIELD_OF_ATTRIBUTE: [RegExp, string][] = [
  [/^IFLA_GRE_IKEY\b|already has this remote/, 'tunnel-id'],
  [/^IFLA_GRE_REMOTE\b/, 'remote'],
  [/^IFLA_GRE_LOCAL\b/, 'local'],
  [/^IFLA_GRE_TTL\b/, 'ttl'],
  [/^IFLA_GRE_TOS\b/, 'tos'],
  [/^IFLA_GRE_LINK\b/, 'link'],
  [/^IFLA_EOIP_KA_/, 'keepalive'],
  [/^IFLA_MTU\b|MTU/i, 'mtu'],
];

export function kindOf(config: TunnelConfig): EoipKind {
  return config.family === 6 ? 'eoipv6' : 'eoip';
}

function stateOf(info: LinkInfo): LinkState {
  const ka = info.eoip?.keepaliveState;
  if (ka) return ka;
  // A module that does not report its keepalive state: the carrier tells up from down.
  if (info.eoip?.keepaliveInterval === 0) return 'off';
  return info.carrier ? 'up' : 'down';
}

export class KernelBackend implements TunnelBackend {
  readonly name = 'kernel' as const;
  readonly countersSurviveRestart = true;
  private readonly rtnl: RtnlTransport;
  private readonly indexOf: (name: string) => number;
  private readonly tunnels = new Map<string, TunnelConfig>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly onStateChange: ((change: TunnelStateChange) => void) | null;
  private readonly watchIntervalMs: number;
  /** The state and carrier last reported (or first seen) per tunnel. */
  private readonly seen = new Map<string, { state: LinkState; carrier: boolean }>();
  private watchTimer: NodeJS.Timeout | null = null;

  constructor(options: KernelBackendOptions = {}) {
    this.rtnl = options.transport ?? new RtnlSocket();
    this.indexOf = options.indexOf ?? ((n) => nativeLink.getIndex(n));
    this.onStateChange = options.onStateChange ?? null;
    this.watchIntervalMs = options.watchIntervalMs ?? 1000;
  }

  /** Remembers a tunnel's state as the baseline for changes, and starts watching if nobody does. */
  private track(st: TunnelStatus): void {
    this.seen.set(st.config.name, { state: st.state, carrier: st.carrier });
    if (this.onStateChange === null || this.watchTimer !== null) return;
    this.watchTimer = setInterval(() => this.checkStates(), this.watchIntervalMs);
    this.watchTimer.unref();
  }

  /**
   * Reads every tunnel's link once and reports each tunnel whose carrier or keepalive state moved
   * since the last look. A failed read is skipped: the next interval tries again.
   */
  checkStates(): void {
    if (this.onStateChange === null || this.tunnels.size === 0) return;
    let statuses: TunnelStatus[];
    try {
      statuses = this.list();
    } catch {
      return;
    }
    for (const st of statuses) {
      const before = this.seen.get(st.config.name);
      this.seen.set(st.config.name, { state: st.state, carrier: st.carrier });
      if (before === undefined || (before.state === st.state && before.carrier === st.carrier)) continue;
      this.onStateChange({
        tunnel: st.config.name,
        backend: 'kernel',
        previous: before.state,
        state: st.state,
        carrier: st.carrier,
        cause: st.state === 'up' ? 'keepalive' : st.state === 'down' ? 'timeout' : 'config',
      });
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private spec(config: TunnelConfig): EoipLinkSpec {
    return {
      kind: kindOf(config),
      name: config.name,
      mtu: config.mtu,
      tunnelId: config.tunnelId,
      local: config.local,
      remote: config.remote,
      ttl: config.ttl,
      tos: config.tos,
      linkIndex: config.link === null ? 0 : this.underlayIndex(config.link),
      keepaliveInterval: config.keepalive?.interval ?? 0,
      keepaliveRetries: config.keepalive?.retries ?? 1,
    };
  }

  private underlayIndex(name: string): number {
    try {
      return this.indexOf(name);
    } catch (err) {
      if (isNativeSystemError(err) && err.code === 'ENODEV') {
        throw new BackendError(`link: no interface named ${name}`, 'link');
      }
      throw err;
    }
  }

  /** The link of that name, or null when there is none. */
  private find(name: string): LinkInfo | null {
    const seq = this.nextSeq();
    try {
      const [msg] = this.rtnl.request(getLinkRequest(seq, name), seq, false);
      return msg === undefined ? null : parseLink(msg);
    } catch (err) {
      if ((err as NetlinkError).code === 'ENODEV') return null;
      throw err;
    }
  }

  private perform(message: (seq: number) => Buffer, config: TunnelConfig): void {
    const seq = this.nextSeq();
    try {
      this.rtnl.request(message(seq), seq, false);
    } catch (err) {
      throw explain(err, config);
    }
  }

  async create(config: TunnelConfig): Promise<TunnelStatus> {
    if (this.tunnels.has(config.name)) throw new BackendError(`tunnel ${config.name} exists`, 'name');
    const spec = this.spec(config);
    const existing = this.find(config.name);
    if (existing === null) {
      this.perform((seq) => newLinkRequest(seq, spec), config);
    } else if (existing.kind === spec.kind) {
      this.perform((seq) => changeLinkRequest(seq, existing.index, spec), config);
    } else {
      throw new BackendError(
        `name: interface ${config.name} exists already (${existing.kind ?? 'not a tunnel'}, not ${spec.kind})`,
        'name',
      );
    }
    this.tunnels.set(config.name, config);
    const st = this.statusOf(config);
    this.track(st);
    return st;
  }

  async change(name: string, next: TunnelConfig): Promise<TunnelStatus> {
    const old = this.tunnels.get(name);
    if (!old) throw new BackendError(`no tunnel named ${name}`, 'name');
    if (next.name !== name) throw new BackendError('a tunnel cannot be renamed: delete and add it', 'name');
    const current = this.find(name);
    if (current === null)
      throw new BackendError(`interface ${name} has gone (deleted outside greoip)`, 'name');
    if (kindOf(next) === kindOf(old)) {
      this.perform((seq) => changeLinkRequest(seq, current.index, this.spec(next)), next);
    } else {
      // eoip <-> eoipv6 is another kind: a new link, the old one back if it fails.
      this.perform((seq) => deleteLinkRequest(seq, current.index), old);
      try {
        this.perform((seq) => newLinkRequest(seq, this.spec(next)), next);
      } catch (err) {
        this.perform((seq) => newLinkRequest(seq, this.spec(old)), old);
        throw err;
      }
    }
    this.tunnels.set(name, next);
    const st = this.statusOf(next);
    this.track(st);
    return st;
  }

  async delete(name: string): Promise<void> {
    const config = this.tunnels.get(name);
    if (!config) throw new BackendError(`no tunnel named ${name}`, 'name');
    const current = this.find(name);
    if (current !== null) this.perform((seq) => deleteLinkRequest(seq, current.index), config);
    this.tunnels.delete(name);
    this.seen.delete(name);
  }

  list(): TunnelStatus[] {
    const byName = this.dump();
    return [...this.tunnels.values()].map((config) => status(config, byName.get(config.name) ?? null));
  }

  /** eoip/eoipv6 links of this namespace by name (ours and any others). */
  dump(): Map<string, LinkInfo> {
    const seq = this.nextSeq();
    const out = new Map<string, LinkInfo>();
    for (const msg of this.rtnl.request(getLinkRequest(seq, null), seq, true)) {
      const info = parseLink(msg);
      if (info.eoip !== null) out.set(info.name, info);
    }
    return out;
  }

  /**
   * Deletes the eoip/eoipv6 link of that name if there is one, whether or not
   * this backend manages it (greoip cleanup after a daemon stopped). Returns
   * whether a link was deleted; another kind of interface is left alone.
   */
  removeLink(name: string): boolean {
    const current = this.find(name);
    if (current === null || current.eoip === null) return false;
    const seq = this.nextSeq();
    this.rtnl.request(deleteLinkRequest(seq, current.index), seq, false);
    return true;
  }

  private statusOf(config: TunnelConfig): TunnelStatus {
    return status(config, this.find(config.name));
  }

  unmatchedDrops(): Record<string, number> {
    return {};
  }

  /** The links stay unless asked: the kernel runs them, daemon or not. */
  async close(options: { keepInterfaces: boolean }): Promise<void> {
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.watchTimer = null;
    if (!options.keepInterfaces) {
      for (const name of [...this.tunnels.keys()]) await this.delete(name).catch(() => undefined);
    }
    this.rtnl.close();
  }
}

/** A tunnel's status from its link; a link that vanished reads as down with zero counters. */
function status(config: TunnelConfig, info: LinkInfo | null): TunnelStatus {
  const counters = zeroCounters();
  if (info?.stats) {
    counters.rxPackets = info.stats.rxPackets;
    counters.rxBytes = info.stats.rxBytes;
    counters.txPackets = info.stats.txPackets;
    counters.txBytes = info.stats.txBytes;
    counters.rxErrors = info.stats.rxErrors;
    counters.txErrors = info.stats.txErrors + info.stats.txDropped;
  }
  if (info?.eoip) {
    counters.rxKeepalives = info.eoip.keepalivesReceived;
    counters.txKeepalives = info.eoip.keepalivesSent;
  }
  return {
    config,
    backend: 'kernel',
    state: info === null ? 'down' : stateOf(info),
    carrier: info?.carrier ?? false,
    lastKeepaliveAgoMs: info?.eoip?.lastKeepaliveAgoMs ?? null,
    counters,
  };
}

/** A kernel refusal in the user's terms: the field at fault, and what to do when the module is missing. */
function explain(err: unknown, config: TunnelConfig): Error {
  const e = err as Partial<NetlinkError>;
  if (e.name !== 'NetlinkError') return err as Error;
  const kind = kindOf(config);
  if (e.code === 'EOPNOTSUPP' && /unknown device type/i.test(e.extack ?? 'unknown device type')) {
    return new BackendError(
      `backend: the kernel does not know link kind "${kind}": ${kind}.ko is not loaded; ${MODULE_MISSING_HINT}`,
      'backend',
    );
  }
  if (e.code === 'EPERM') return new BackendError(`kernel backend: ${e.message} (needs CAP_NET_ADMIN)`);
  if (e.code === 'EEXIST' && e.extack === null) {
    return new BackendError(`name: interface ${config.name} exists already`, 'name');
  }
  const text = e.extack ?? e.message ?? String(err);
  const field = FIELD_OF_ATTRIBUTE.find(([re]) => re.test(text))?.[1];
  return new BackendError(`${field ? `${field}: ` : ''}the kernel refused ${config.name}: ${text}`, field);
}
