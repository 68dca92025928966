/**
 * The userland backend: one persistent tap per tunnel, raw sockets shared by
 * all tunnels of a family and underlay binding, batched I/O through the
 * native addon, and the datapath and keepalive machine of src/eoip.
 */
import { constants } from 'node:os';
import { Coalescer } from '../eoip/coalesce.ts';
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
import {
  completeChecksum,
  createVnetHeader,
  decodeVnetHeader,
  GsoType,
  SegmentError,
  segment,
  VNET_HDR_LENGTH,
  VnetFlags,
} from '../eoip/offload.ts';
import {
  addPiece,
  clearPieces,
  endMessage,
  FRAMES,
  HEADERS,
  hasRoom,
  type PieceList,
  pieceList,
} from '../eoip/pieces.ts';
import { remoteKey, TunnelTable } from '../eoip/table.ts';
import * as eoip from '../wire/eoip.ts';
import * as eoipv6 from '../wire/eoipv6.ts';
import { parseAddress as parse4 } from '../wire/ipv4.ts';
import { parseAddress as parse6 } from '../wire/ipv6.ts';
import { type BatchPort, type NativeIo, nativeIo, SendList } from './native-io.ts';
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
/** A 64 KB TSO superframe (65535 bytes of IP + Ethernet) behind its virtio-net header. */
const TAP_SLOT_SIZE = 65536 + 64;
/** Tap frames are read this far into their slot: the EoIP header is written in front of them in place. */
const TAP_HEADROOM = eoip.EOIP_HEADER_LENGTH;
/** Messages per sendmmsg towards the wire (a batch of superframes is hundreds of segments). */
const TX_MESSAGES = 1024;
/** A segment's header piece at most: tunnel header, Ethernet + VLAN tag, IP and TCP with options. */
const SEGMENT_HEADER_BYTES = eoip.EOIP_HEADER_LENGTH + 18 + 60 + 60;
const ADDRESS_BYTES = 16;
/** How often a tunnel whose tap was deleted looks for an interface of its name again. */
const REATTACH_INTERVAL_MS = 1000;

export interface UserlandOptions {
  /** Monotonic clock in milliseconds (injected for tests). */
  now?: () => number;
  io?: NativeIo;
  /** Events an operator should see (a tap deleted under us, and its return). */
  log?: (line: string) => void;
  /**
   * Tap offloads (IFF_VNET_HDR with checksum, TSO and USO, probed): TSO superframes from the
   * tap are segmented here. Default on; off opens plain taps (GREOIP_TAP_OFFLOAD=off in the daemon).
   */
  tapOffload?: boolean;
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
  /** The tap was deleted under us: `tap` is closed and `watch` looks for the name to return. */
  vanished: boolean;
  watch: NodeJS.Timeout | null;
  /** The last reason a returned interface could not be taken, logged once. */
  reattachError: string | null;
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
  /** A keepalive is built here. */
  tx: Buffer;
  txOffsets: Uint32Array;
  txLengths: Uint32Array;
  txDsts: Uint8Array;
}

/**
 * One direction's outgoing batch: the native list the addon sends from and the same arrays seen
 * as a PieceList (frames in place in a receive area, headers in `headers`).
 */
interface Outgoing {
  send: SendList;
  list: PieceList;
}

function outgoing(messages: number, pieces: number, headerBytes: number): Outgoing {
  const send = new SendList(messages, pieces);
  const headers = Buffer.alloc(headerBytes);
  send.setBuffer(HEADERS, headers);
  return { send, list: pieceList(send, headers) };
}

export class UserlandBackend implements TunnelBackend {
  readonly name = 'userland' as const;
  private readonly io: NativeIo;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly tapOffload: boolean;
  private readonly vnet = createVnetHeader();
  /** Tap to wire: frames and segments of one tap batch, sent by one sendmmsg per full list. */
  private wire: Outgoing | null = null;
  /** Wire to tap: the frames of one socket batch for one tap, coalesced, written in one call. */
  private toTap: (Outgoing & { coalescer: Coalescer }) | null = null;
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
  /**
   * Drops by the sockets' filters (in the kernel, before recvmmsg), counted from the counting
   * socket of each family: what earlier counting sockets saw, and the current one's counts
   * when it took over (its filter had counted the same packets as its predecessor's).
   */
  private readonly filterPast = new Map<Family, Float64Array>();
  private readonly filterSince = new Map<Family, number[]>();
  private readonly rx = createRxResult<UserTunnel>();
  private closed = false;

  constructor(options: UserlandOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
    this.tapOffload = options.tapOffload ?? true;
    let refusalLogged = false;
    this.io =
      options.io ??
      nativeIo((reason) => {
        if (refusalLogged) return;
        refusalLogged = true;
        this.log(
          `packets the socket filter drops are not counted (the kernel refused the counting filter: ${reason})`,
        );
      });
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
    const tap = this.openTapOf(config.name, () => tunnel);
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
      vanished: false,
      watch: null,
      reattachError: null,
    };
    this.io.setCarrier(tap, true);
    return tunnel;
  }

  /** The tunnel is looked up late: the tap is opened before the tunnel object exists. */
  private openTapOf(name: string, tunnel: () => UserTunnel): BatchPort {
    return this.io.openTap(
      name,
      TAP_SLOTS,
      TAP_SLOT_SIZE,
      (count) => this.onTapBatch(tunnel(), count),
      (errno) => this.onTapGone(tunnel(), errno),
      this.tapOffload,
      TAP_HEADROOM,
    );
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
      if (carrier !== null) this.setCarrier(tunnel, carrier);
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
    // A vanished tap is gone already; an interface now bearing its name is not ours to delete.
    if (tunnel.vanished) tunnel.tap.close();
    else this.io.deleteTap(name, tunnel.tap);
  }

  private stopTunnel(tunnel: UserTunnel): void {
    if (tunnel.timer) clearTimeout(tunnel.timer);
    tunnel.timer = null;
    if (tunnel.watch) clearTimeout(tunnel.watch);
    tunnel.watch = null;
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
    const total = Float64Array.from(this.drops);
    for (const past of this.filterPast.values()) for (let i = 0; i < past.length; i++) total[i]! += past[i]!;
    for (const [family, group] of this.counting) {
      const now = group.port.filterDrops();
      const since = this.filterSince.get(family);
      if (now && since) for (let i = 0; i < now.length; i++) total[i]! += now[i]! - since[i]!;
    }
    return Object.fromEntries(DROP_REASON_NAMES.map((name, i) => [name, total[i]!]));
  }

  /** `group` counts the unmatched packets of its family from now on. */
  private countWith(family: Family, group: SocketGroup | undefined): void {
    const previous = this.counting.get(family);
    const since = this.filterSince.get(family);
    const final = previous?.port.filterDrops();
    if (final && since) {
      const past = this.filterPast.get(family) ?? new Float64Array(DROP_REASON_NAMES.length);
      for (let i = 0; i < final.length; i++) past[i]! += final[i]! - since[i]!;
      this.filterPast.set(family, past);
    }
    this.filterSince.delete(family);
    this.counting.delete(family);
    if (!group) return;
    this.counting.set(family, group);
    const start = group.port.filterDrops();
    if (start) this.filterSince.set(family, start);
  }

  async close(options: { keepInterfaces: boolean }): Promise<void> {
    if (this.closed) return;
    for (const tunnel of [...this.tunnels.values()]) {
      this.stopTunnel(tunnel);
      if (options.keepInterfaces || tunnel.vanished) {
        this.setCarrier(tunnel, false);
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
      interface: t.vanished ? 'vanished' : 'present',
      offload: t.vanished ? 'off' : t.tap.offload,
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
      tx: Buffer.alloc(eoip.EOIP_HEADER_LENGTH),
      txOffsets: new Uint32Array(1),
      txLengths: new Uint32Array(1),
      txDsts: new Uint8Array(ADDRESS_BYTES),
    };
    this.groups.set(key, group);
    if (!this.counting.has(group.family)) this.countWith(group.family, group);
    group.port.start();
    return group;
  }

  private releaseGroup(group: SocketGroup): void {
    if (--group.users > 0) return;
    this.groups.delete(group.key);
    if (this.counting.get(group.family) === group) {
      const next = [...this.groups.values()].find((g) => g.family === group.family);
      this.countWith(group.family, next);
    }
    group.port.close();
  }

  private sendKeepalive(tunnel: UserTunnel): void {
    const g = tunnel.group;
    const encapsulate = tunnel.family === 4 ? encapsulate4 : encapsulate6;
    g.txOffsets[0] = 0;
    g.txLengths[0] = encapsulate(tunnel.tunnelId, g.tx, 0, 0, g.tx, 0);
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
    if (!this.toTap) {
      const out = outgoing(SOCKET_SLOTS, 2 * SOCKET_SLOTS, SOCKET_SLOTS * VNET_HDR_LENGTH);
      this.toTap = { ...out, coalescer: new Coalescer(out.list) };
    }
    const toTap = this.toTap;
    toTap.send.setBuffer(FRAMES, buf);
    clearPieces(toTap.list);
    let writing: UserTunnel | null = null;
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
      if (rx.keepalive) {
        this.onKeepalive(tunnel);
        continue;
      }
      if (tunnel.vanished) {
        tunnel.counters.txErrors++;
        continue;
      }
      if (tunnel !== writing) {
        if (writing) this.writeToTap(writing);
        writing = tunnel;
      }
      if (tunnel.tap.vnetHdr) {
        if (!toTap.coalescer.hasRoom()) this.writeToTap(tunnel);
        toTap.coalescer.add(buf, rx.frameOffset, rx.frameLength);
      } else {
        if (!hasRoom(toTap.list, 1, 1, 0)) this.writeToTap(tunnel);
        addPiece(toTap.list, FRAMES, rx.frameOffset, rx.frameLength);
        endMessage(toTap.list, 1, rx.frameLength);
      }
    }
    if (writing) this.writeToTap(writing);
  }

  /** Writes what is queued for `tunnel`'s tap (the open superframe closed first) and counts it. */
  private writeToTap(tunnel: UserTunnel): void {
    const { send, list, coalescer } = this.toTap!;
    coalescer.finish();
    const n = list.messages;
    if (n === 0) return;
    const written = this.io.sendList(tunnel.tap, send, n);
    const c = tunnel.counters;
    for (let i = 0; i < n; i++) {
      if (i < written) {
        c.rxPackets += list.msgFrames[i]!;
        c.rxBytes += list.msgBytes[i]!;
      } else {
        c.txErrors += list.msgFrames[i]!;
      }
    }
    clearPieces(list);
  }

  private onKeepalive(tunnel: UserTunnel): void {
    tunnel.counters.rxKeepalives++;
    const carrier = tunnel.keepalive.received(this.now());
    if (carrier !== null) this.setCarrier(tunnel, carrier);
    if (tunnel.keepalive.state !== tunnel.reportedState) this.reportState(tunnel, 'keepalive');
    this.schedule(tunnel);
  }

  /**
   * Frames from the tap to the wire, one sendmmsg per batch (or per full list). A frame gets its
   * EoIP header written in front of it where it was read (the tap reads TAP_HEADROOM bytes into
   * its slot); with tap offloads a frame may be a TSO/USO superframe, segmented here into frames of
   * the tunnel MTU whose headers are copies and whose payloads stay in place, or a frame whose L4
   * checksum the kernel left to us (NEEDS_CSUM).
   */
  private onTapBatch(tunnel: UserTunnel, count: number): void {
    const tap = tunnel.tap;
    const v4 = tunnel.family === 4;
    const tunnelHeader = v4 ? eoip.EOIP_HEADER_LENGTH : eoipv6.EOIPV6_HEADER_LENGTH;
    const vh = this.vnet;
    const buf = tap.rxBuffer;
    if (!this.wire) this.wire = outgoing(TX_MESSAGES, 2 * TX_MESSAGES, TX_MESSAGES * SEGMENT_HEADER_BYTES);
    const wire = this.wire;
    const list = wire.list;
    wire.send.setBuffer(FRAMES, buf);
    clearPieces(list);
    for (let i = 0; i < count; i++) {
      let off = i * tap.slotSize + TAP_HEADROOM;
      let len = tap.rxLengths[i]!;
      if (tap.vnetHdr) {
        if (len < VNET_HDR_LENGTH) continue;
        decodeVnetHeader(buf, off, vh);
        off += VNET_HDR_LENGTH;
        len -= VNET_HDR_LENGTH;
        if (vh.gsoType !== GsoType.NONE) {
          let made = segment(buf, off, len, vh, list, tunnelHeader);
          if (made === SegmentError.NO_ROOM && list.messages > 0) {
            this.sendToWire(tunnel);
            made = segment(buf, off, len, vh, list, tunnelHeader);
          }
          if (made < 0) {
            tunnel.counters.txErrors++;
            continue;
          }
          for (let m = list.messages - made; m < list.messages; m++) {
            const at = list.pieceOff[m === 0 ? 0 : list.msgEnd[m - 1]!]!;
            const frameLength = list.msgBytes[m]! - tunnelHeader;
            if (v4) eoip.writeHeader(list.headers, at, frameLength, tunnel.tunnelId);
            else eoipv6.writeHeader(list.headers, at, tunnel.tunnelId);
          }
          continue;
        }
        if ((vh.flags & VnetFlags.NEEDS_CSUM) !== 0 && !completeChecksum(buf, off, len, vh)) {
          tunnel.counters.txErrors++;
          continue;
        }
      }
      if (!hasRoom(list, 1, 1, 0)) this.sendToWire(tunnel);
      const at = off - tunnelHeader;
      (v4 ? encapsulate4 : encapsulate6)(tunnel.tunnelId, buf, off, len, buf, at);
      addPiece(list, FRAMES, at, tunnelHeader + len);
      endMessage(list, 1, tunnelHeader + len);
    }
    this.sendToWire(tunnel);
  }

  /** Sends the wire list to `tunnel`'s remote in one sendmmsg and counts it. */
  private sendToWire(tunnel: UserTunnel): void {
    const { send, list } = this.wire!;
    const n = list.messages;
    if (n === 0) return;
    const dsts = send.dsts;
    const dst = tunnel.dst;
    const width = tunnel.family === 4 ? 4 : ADDRESS_BYTES;
    for (let m = 0; m < n; m++) for (let k = 0; k < width; k++) dsts[m * ADDRESS_BYTES + k] = dst[k]!;
    const sent = this.io.sendList(tunnel.group.port, send, n);
    const c = tunnel.counters;
    for (let i = 0; i < sent; i++) c.txBytes += list.msgBytes[i]!;
    c.txPackets += sent;
    c.txErrors += n - sent;
    clearPieces(list);
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
    if (step.carrier !== null) this.setCarrier(tunnel, step.carrier);
    if (tunnel.keepalive.state !== tunnel.reportedState) this.reportState(tunnel, 'timeout');
    this.schedule(tunnel);
  }

  // --- a tap deleted under us ------------------------------------------------------------

  /** Carrier follows the keepalive machine; a vanished tap takes it again when it returns. */
  private setCarrier(tunnel: UserTunnel, on: boolean): void {
    if (!tunnel.vanished) this.io.setCarrier(tunnel.tap, on);
  }

  private onTapGone(tunnel: UserTunnel, errno: number): void {
    if (this.tunnels.get(tunnel.config.name) !== tunnel || tunnel.vanished) return;
    tunnel.vanished = true;
    tunnel.reattachError = null;
    tunnel.tap.close();
    const name = tunnel.config.name;
    this.log(
      `tunnel ${name}: its interface was deleted (${errnoName(errno)}); ` +
        `waiting for an interface named ${name} to take up again`,
    );
    this.watchForTap(tunnel);
  }

  private watchForTap(tunnel: UserTunnel): void {
    tunnel.watch = setTimeout(() => this.reattach(tunnel), REATTACH_INTERVAL_MS);
    tunnel.watch.unref();
  }

  /** Takes a re-created tap of the tunnel's name (`ip tuntap add NAME mode tap`) as its own. */
  private reattach(tunnel: UserTunnel): void {
    tunnel.watch = null;
    const name = tunnel.config.name;
    if (this.tunnels.get(name) !== tunnel || !tunnel.vanished) return;
    if (!this.io.linkExists(name)) {
      this.watchForTap(tunnel);
      return;
    }
    let tap: BatchPort | null = null;
    try {
      tap = this.openTapOf(name, () => tunnel);
      this.io.setMtu(name, tunnel.config.mtu);
      this.io.setUp(name, true);
      this.io.setCarrier(tap, tunnel.keepalive.carrier);
    } catch (err) {
      tap?.close();
      const reason = (err as Error).message;
      if (reason !== tunnel.reattachError) {
        this.log(
          `tunnel ${name}: an interface of that name exists but cannot be its tap (${reason}); still waiting`,
        );
        tunnel.reattachError = reason;
      }
      this.watchForTap(tunnel);
      return;
    }
    tunnel.tap = tap;
    tunnel.vanished = false;
    tunnel.reattachError = null;
    tap.start();
    this.log(`tunnel ${name}: interface ${name} is back, the tunnel runs on it again`);
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

function errnoName(errno: number): string {
  const entry = Object.entries(constants.errno).find(([, value]) => value === errno);
  return entry ? entry[0] : `errno ${errno}`;
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
