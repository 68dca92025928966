/**
 * src/backend/: the tunnel backends behind one interface (types.ts): userland (taps, raw sockets), kernel (eoip.ko), ebpf (TC programs).
 * May import: src/eoip, src/wire, src/native, src/netlink, src/bpf.
 */
/**
 * The eBPF backend: the datapath is two TC programs (bpf/eoip_encap.c on each tunnel's tap egress,
 * bpf/eoip_decap.c on the underlay's ingress), with the userland backend as the slow path. Each tunnel
 * keeps its persistent tap and its keepalive machine in a private UserlandBackend, which also sends
 * what the programs leave on the tap (frames over the underlay MTU, non-IP frames) and receives what
 * they pass up the stack (keepalives, fragments). GSO superframes go through a per-tunnel "segmenter"
 * veth pair (gso_max_segs 1) and come back as segments. Maps and attachments are pinned in
 * BPFFS/greoip/net-COOKIE/eoip, so forwarding continues while no daemon runs and a restarted daemon
 * adopts them (see pinRoot() in src/bpf/loader.ts for where); removing the last tunnel removes the
 * programs, the maps and the directory.
 */
import { writeFileSync } from 'node:fs';
import { EoipBpf } from '../bpf/eoip-datapath.ts';
import { EOIP_MAX_TUNNELS, RX_LOCAL_CONFIGURED, TxRole } from '../bpf/eoip-maps.ts';
import { namespacePinDir, pinnedNames, pinRoot, removePinDir } from '../bpf/loader.ts';
import { attachTc, detachTc, type TcAttachMode } from '../bpf/tc-attach.ts';
import type { TunnelConfig } from '../eoip/config.ts';
import { bpf, ProgType } from '../native/bpf.ts';
import { link as nativeLink } from '../native/index.ts';
import { deleteLinkRequest, getLinkRequest, type LinkInfo, parseLink } from '../netlink/link.ts';
import { addressToBytes, getRouteRequest, newSegmenterRequest, parseRoute } from '../netlink/route.ts';
import { RtnlSocket, type RtnlTransport } from '../netlink/socket.ts';
import { BackendError, type TunnelBackend, type TunnelStatus } from './types.ts';
import { UserlandBackend, type UserlandOptions } from './userland.ts';

/** Outer IPv4 + EoIP, outer IPv6 + EoIPv6: what an inner frame grows by. */
const OVERHEAD = { 4: 20 + 8, 6: 40 + 2 } as const;
const PIN_DIR_NAME = 'eoip';
const ETH_HEADER_LENGTH = 14;

/** What the programs need of the kernel, as `[helper id, name, since]`. */
const REQUIRED_HELPERS: readonly [number, string, string][] = [
  [50, 'bpf_skb_adjust_room', 'Linux 4.13'],
  [38, 'bpf_skb_change_tail', 'Linux 4.9'],
  [39, 'bpf_skb_pull_data', 'Linux 4.9'],
  [152, 'bpf_redirect_neigh', 'Linux 5.10'],
];

export interface EbpfOptions extends UserlandOptions {
  /**
   * The daemon's userland backend, shared as the slow path: one set of raw sockets and one tunnel table,
   * so the userland tunnels' sockets do not count this backend's keepalives as unmatched. Default: a
   * private one.
   */
  slowPath?: UserlandBackend;
  transport?: RtnlTransport;
  /** Where the namespace's pins go (tests); default /sys/fs/bpf/greoip/net-COOKIE/eoip. */
  pinDir?: string;
}

interface EbpfTunnel {
  config: TunnelConfig;
  tapIfindex: number;
  slot: number;
  underlayIfindex: number;
  segmenter: { a: string; b: string; aIndex: number; bIndex: number };
  /** The source address sent from (configured, or the kernel's choice for the route). */
  local: Uint8Array;
  remote: Uint8Array;
  mode: TcAttachMode;
}

/** Names of a tap's segmenter veth ends: GSO frames go into `a`, segments come out of `b`. */
export function segmenterNames(tapIfindex: number): { a: string; b: string } {
  return { a: `eseg${tapIfindex}a`, b: `eseg${tapIfindex}b` };
}

export class EbpfBackend implements TunnelBackend {
  readonly name = 'ebpf' as const;
  /**
   * The fast path's counters are the pinned maps' and outlive the daemon, so the daemon carries no
   * totals over; the slow path's (keepalives, oversized frames) start again at 0 with each daemon.
   */
  readonly countersSurviveRestart = true;
  private readonly slow: UserlandBackend;
  private readonly rtnl: RtnlTransport;
  private readonly tunnels = new Map<string, EbpfTunnel>();
  /** Tunnels per underlay ifindex: its decap program stays attached while any uses it. */
  private readonly underlays = new Map<number, number>();
  private dp: EoipBpf | null = null;
  private pinDir: string | null = null;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;
  private readonly sharedSlowPath: boolean;

  constructor(private readonly options: EbpfOptions = {}) {
    this.slow = options.slowPath ?? new UserlandBackend(options);
    this.sharedSlowPath = options.slowPath !== undefined;
    this.rtnl = options.transport ?? new RtnlSocket();
  }

  /** Why this kernel cannot run the programs, or null when it can. */
  static kernelLacks(): string | null {
    try {
      for (const [id, name, since] of REQUIRED_HELPERS) {
        if (!bpf.probeHelper(ProgType.SCHED_CLS, id)) return `the BPF helper ${name} (${since})`;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPERM') return 'permission to load BPF programs (CAP_BPF and CAP_NET_ADMIN)';
      return `BPF program loading (${(err as Error).message})`;
    }
    return null;
  }

  private ready(): EoipBpf {
    if (this.dp) return this.dp;
    const lacks = EbpfBackend.kernelLacks();
    if (lacks)
      throw new BackendError(`the ebpf backend needs ${lacks}, which this kernel does not offer`, 'backend');
    try {
      this.pinDir = this.options.pinDir ?? namespacePinDir(PIN_DIR_NAME);
    } catch (err) {
      throw new BackendError(
        `the ebpf backend cannot pin its programs: ${(err as Error).message}`,
        'backend',
      );
    }
    try {
      this.dp = EoipBpf.open(this.pinDir);
    } catch (err) {
      throw new BackendError(
        `the ebpf backend's programs did not load: ${(err as Error).message}`,
        'backend',
      );
    }
    return this.dp;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private links(): LinkInfo[] {
    const seq = this.nextSeq();
    return this.rtnl.request(getLinkRequest(seq, null), seq, true).map(parseLink);
  }

  private route(config: TunnelConfig): { oif: number; prefsrc: string | null } {
    const seq = this.nextSeq();
    const oif = config.link ? nativeLink.getIndex(config.link) : 0;
    try {
      const [msg] = this.rtnl.request(getRouteRequest(seq, config.remote, oif), seq, false);
      if (!msg) throw new Error('no answer');
      return parseRoute(msg);
    } catch (err) {
      throw new BackendError(`no route to ${config.remote}: ${(err as Error).message}`, 'remote');
    }
  }

  async create(config: TunnelConfig): Promise<TunnelStatus> {
    this.assertOpen();
    if (this.tunnels.has(config.name)) throw new BackendError(`tunnel ${config.name} exists`, 'name');
    const dp = this.ready();
    const undo: (() => void)[] = [];
    try {
      const status = await this.slow.create(config);
      undo.push(() => void this.slow.delete(config.name));
      const tunnel = this.plan(config, dp);
      this.install(tunnel, dp, undo);
      this.tunnels.set(config.name, tunnel);
      return this.status(status, tunnel);
    } catch (err) {
      for (const step of undo.reverse()) step();
      throw asBackendError(err);
    }
  }

  /** Everything about a tunnel the maps need, from its config and the kernel's routes. */
  private plan(config: TunnelConfig, dp: EoipBpf): EbpfTunnel {
    const route = this.route(config);
    const localText = config.local ?? route.prefsrc;
    if (!localText) throw new BackendError(`no source address towards ${config.remote}: set local`, 'local');
    const tapIfindex = nativeLink.getIndex(config.name);
    const names = segmenterNames(tapIfindex);
    // A tunnel the maps already hold (a restarted daemon) keeps its statistics slot.
    const existing = dp.getTx(tapIfindex);

    return {
      config,
      tapIfindex,
      slot: existing !== null && existing.role === TxRole.TAP ? existing.slot : this.freeSlot(dp),
      underlayIfindex: route.oif,
      segmenter: { ...names, aIndex: 0, bIndex: 0 },
      local: addressToBytes(localText),
      remote: addressToBytes(config.remote),
      mode: 'tcx',
    };
  }

  private freeSlot(dp: EoipBpf): number {
    const used = new Set([...this.tunnels.values()].map((t) => t.slot));
    for (const ifindex of dp.txKeys()) {
      const tx = dp.getTx(ifindex);
      if (tx) used.add(tx.slot);
    }
    for (let slot = 0; slot < EOIP_MAX_TUNNELS; slot++) {
      if (!used.has(slot)) {
        dp.resetStats(slot);
        return slot;
      }
    }
    throw new BackendError(`the ebpf backend holds at most ${EOIP_MAX_TUNNELS} tunnels`);
  }

  private underlayMtu(ifindex: number): number {
    const found = this.links().find((l) => l.index === ifindex);
    if (!found) throw new BackendError(`underlay interface ${ifindex} vanished`, 'link');
    return found.mtu;
  }

  private ensureSegmenter(t: EbpfTunnel, undo: (() => void)[]): void {
    const { a, b } = t.segmenter;
    if (!nativeLink.exists(a)) {
      const seq = this.nextSeq();
      // Segments are at most the tap's MTU plus its Ethernet header.
      this.rtnl.request(newSegmenterRequest(seq, a, b, Math.max(t.config.mtu, 1500)), seq, false);
      undo.push(() => this.deleteLink(a));
      for (const name of [a, b]) {
        // No addresses: nothing of the host's own (router solicitations, MLD) may enter the tunnel.
        try {
          writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
        } catch {
          // IPv6 disabled in this kernel: nothing to silence.
        }
      }
    }
    nativeLink.setUp(a, true);
    nativeLink.setUp(b, true);
    t.segmenter.aIndex = nativeLink.getIndex(a);
    t.segmenter.bIndex = nativeLink.getIndex(b);
  }

  private deleteLink(name: string): void {
    if (!nativeLink.exists(name)) return;
    const seq = this.nextSeq();
    this.rtnl.request(deleteLinkRequest(seq, nativeLink.getIndex(name)), seq, false);
  }

  private writeEntries(t: EbpfTunnel, dp: EoipBpf): void {
    const c = t.config;
    const maxFrame = this.underlayMtu(t.underlayIfindex) - OVERHEAD[c.family];
    const common = {
      family: c.family,
      tunnelId: c.tunnelId,
      slot: t.slot,
      underlayIfindex: t.underlayIfindex,
      maxFrame,
      ttl: c.ttl,
      tos: c.tos,
      local: t.local,
      remote: t.remote,
    };
    const none = { segmenterIfindex: 0, tapIfindex: 0, resendIfindex: 0 };
    // GSO frames: out of a, segments into b. Encapsulated non-IP frames: out of b, into a (resend).
    // When full-size segments would not fit either (tunnel MTU 1500 on a 1500 underlay), GSO frames go
    // straight to the daemon: the tap cuts them for its reader, sparing a trip through the segmenter.
    const segmentsFit = c.mtu + ETH_HEADER_LENGTH <= maxFrame;
    dp.setTx(t.tapIfindex, {
      ...common,
      ...none,
      role: TxRole.TAP,
      segmenterIfindex: segmentsFit ? t.segmenter.aIndex : 0,
      resendIfindex: t.segmenter.bIndex,
    });
    dp.setTx(t.segmenter.bIndex, { ...common, ...none, role: TxRole.SEGMENTS, tapIfindex: t.tapIfindex });
    dp.setTx(t.segmenter.aIndex, { ...common, ...none, role: TxRole.RESEND });
    dp.setRx(c.family, c.tunnelId, t.remote, {
      tapIfindex: t.tapIfindex,
      slot: t.slot,
      flags: c.local ? RX_LOCAL_CONFIGURED : 0,
      local: t.local,
    });
    dp.syncTunnelId(c.family, c.tunnelId);
  }

  private removeEntries(t: EbpfTunnel, dp: EoipBpf): void {
    dp.deleteTx(t.tapIfindex);
    dp.deleteTx(t.segmenter.bIndex);
    dp.deleteTx(t.segmenter.aIndex);
    dp.deleteRx(t.config.family, t.config.tunnelId, t.remote);
    dp.syncTunnelId(t.config.family, t.config.tunnelId);
  }

  private pin(name: string): { dir: string; name: string } {
    return { dir: this.pinDir!, name };
  }

  private install(t: EbpfTunnel, dp: EoipBpf, undo: (() => void)[]): void {
    this.ensureSegmenter(t, undo);
    this.writeEntries(t, dp);
    undo.push(() => this.removeEntries(t, dp));
    t.mode = attachTc(dp.encapFd, t.tapIfindex, 'egress', this.pin(`tap-${t.tapIfindex}-egress`));
    undo.push(() => detachTc(t.tapIfindex, 'egress', this.pin(`tap-${t.tapIfindex}-egress`)));
    attachTc(dp.encapFd, t.segmenter.bIndex, 'ingress', this.pin(`seg-${t.segmenter.bIndex}-ingress`));
    undo.push(() => detachTc(t.segmenter.bIndex, 'ingress', this.pin(`seg-${t.segmenter.bIndex}-ingress`)));
    attachTc(dp.resendFd, t.segmenter.aIndex, 'ingress', this.pin(`seg-${t.segmenter.aIndex}-ingress`));
    undo.push(() => detachTc(t.segmenter.aIndex, 'ingress', this.pin(`seg-${t.segmenter.aIndex}-ingress`)));
    this.holdUnderlay(t.underlayIfindex, dp);
    undo.push(() => this.releaseUnderlay(t.underlayIfindex));
  }

  private holdUnderlay(ifindex: number, dp: EoipBpf): void {
    const n = this.underlays.get(ifindex) ?? 0;
    if (n === 0) attachTc(dp.decapFd, ifindex, 'ingress', this.pin(`underlay-${ifindex}-ingress`));
    this.underlays.set(ifindex, n + 1);
  }

  private releaseUnderlay(ifindex: number): void {
    const n = this.underlays.get(ifindex) ?? 0;
    if (n <= 1) {
      this.underlays.delete(ifindex);
      detachTc(ifindex, 'ingress', this.pin(`underlay-${ifindex}-ingress`));
    } else {
      this.underlays.set(ifindex, n - 1);
    }
  }

  /** `eoip change`: map updates; the programs stay attached. A new underlay moves the decap program. */
  async change(name: string, next: TunnelConfig): Promise<TunnelStatus> {
    this.assertOpen();
    const t = this.tunnels.get(name);
    if (!t) throw new BackendError(`no tunnel named ${name}`, 'name');
    const dp = this.ready();
    const planned = {
      ...this.plan(next, dp),
      slot: t.slot,
      segmenter: t.segmenter,
      mode: t.mode,
    };
    const status = await this.slow.change(name, next);
    try {
      if (planned.underlayIfindex !== t.underlayIfindex) {
        this.holdUnderlay(planned.underlayIfindex, dp);
        this.releaseUnderlay(t.underlayIfindex);
      }
      dp.deleteRx(t.config.family, t.config.tunnelId, t.remote);
      this.writeEntries(planned, dp);
      dp.syncTunnelId(t.config.family, t.config.tunnelId);
    } catch (err) {
      await this.slow.change(name, t.config).catch(() => undefined);
      throw asBackendError(err);
    }
    this.tunnels.set(name, planned);
    return this.status(status, planned);
  }

  async delete(name: string): Promise<void> {
    this.assertOpen();
    const t = this.tunnels.get(name);
    if (!t) throw new BackendError(`no tunnel named ${name}`, 'name');
    this.teardown(t);
    await this.slow.delete(name);
    this.tunnels.delete(name);
    this.releaseIfIdle();
  }

  private teardown(t: EbpfTunnel): void {
    const dp = this.dp!;
    detachTc(t.tapIfindex, 'egress', this.pin(`tap-${t.tapIfindex}-egress`));
    detachTc(t.segmenter.bIndex, 'ingress', this.pin(`seg-${t.segmenter.bIndex}-ingress`));
    detachTc(t.segmenter.aIndex, 'ingress', this.pin(`seg-${t.segmenter.aIndex}-ingress`));
    this.removeEntries(t, dp);
    this.releaseUnderlay(t.underlayIfindex);
    this.deleteLink(t.segmenter.a);
  }

  /** With no tunnel left, nothing of ours stays in the kernel: programs, maps and pins go. */
  private releaseIfIdle(): void {
    if (this.tunnels.size > 0 || !this.dp || !this.pinDir) return;
    this.dp.close();
    this.dp = null;
    removeNamespacePins(this.pinDir);
  }

  list(): TunnelStatus[] {
    return [...this.tunnels.values()].flatMap((t) => {
      const s = this.slow.statusOf(t.config.name);
      return s ? [this.status(s, t)] : [];
    });
  }

  /** Packets no tunnel matched are counted by whoever receives them after the programs: not here. */
  unmatchedDrops(): Record<string, number> {
    return {};
  }

  /** The programs' verdict counters (packets they decapsulated, passed up, or left alone), for status. */
  verdicts(): Record<string, number> {
    return this.dp ? this.dp.verdicts() : {};
  }

  async close(options: { keepInterfaces: boolean }): Promise<void> {
    if (this.closed) return;
    if (!options.keepInterfaces) {
      for (const t of [...this.tunnels.values()]) {
        this.teardown(t);
        this.tunnels.delete(t.config.name);
      }
      this.releaseIfIdle();
    }
    // keepInterfaces: the programs stay attached and pinned, so forwarding goes on without us.
    // A shared slow path is the daemon's userland backend: the daemon closes it.
    if (!this.sharedSlowPath) await this.slow.close(options);
    this.dp?.close();
    this.dp = null;
    this.rtnl.close();
    this.closed = true;
  }

  private status(slow: TunnelStatus, t: EbpfTunnel): TunnelStatus {
    const s = this.dp?.stats(t.slot);
    const c = { ...slow.counters };
    if (s) {
      c.rxPackets += s.rxPackets;
      c.rxBytes += s.rxBytes;
      c.txPackets += s.txPackets;
      c.txBytes += s.txBytes;
      c.rxErrors += s.rxErrors;
      c.txErrors += s.txErrors;
    }
    return {
      ...slow,
      config: t.config,
      backend: 'ebpf',
      mode: t.mode,
      counters: c,
      ...(s ? { fastPath: { ...s } } : {}),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new BackendError('the ebpf backend is closed');
  }
}

/**
 * Removes every attachment recorded under a namespace's pin directory and the directory itself (maps go
 * with their last reference). `greoip cleanup` uses it when no daemon runs.
 */
export function removeNamespacePins(dir: string): void {
  for (const name of pinnedNames(dir)) {
    const m = /^(?:link|filter)-(?:tap|seg|underlay)-(\d+)-(ingress|egress)$/.exec(name);
    if (!m) continue;
    const kind = name.split('-')[1]!;
    try {
      detachTc(Number(m[1]), m[2] as 'ingress' | 'egress', { dir, name: `${kind}-${m[1]}-${m[2]}` });
    } catch {
      // The device is gone: its attachment went with it.
    }
  }
  removePinDir(dir);
}

/**
 * What a stopped daemon's ebpf tunnels leave besides their taps: the segmenter veth pairs, the programs
 * attached to the underlays, the maps and the pins. `greoip cleanup` calls it before deleting the taps.
 */
export function removeEbpfLeftovers(tapNames: readonly string[]): void {
  const rtnl = new RtnlSocket();
  let seq = Math.floor(Math.random() * 0x7fffffff);
  try {
    for (const name of tapNames) {
      if (!nativeLink.exists(name)) continue;
      const { a } = segmenterNames(nativeLink.getIndex(name));
      if (!nativeLink.exists(a)) continue;
      seq = (seq + 1) >>> 0;
      rtnl.request(deleteLinkRequest(seq, nativeLink.getIndex(a)), seq, false);
    }
  } finally {
    rtnl.close();
  }
  let root: string;
  try {
    root = pinRoot();
  } catch {
    return; // no bpffs: nothing was ever pinned
  }
  removeNamespacePins(namespacePinDir(PIN_DIR_NAME, root));
}

function asBackendError(err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  return new BackendError((err as Error).message ?? String(err));
}
