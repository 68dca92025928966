/**
 * The active GRE keepalive (issue 16): sends, every interval, the keepalive a
 * router would send for each probed tunnel, reads the answers on raw GRE
 * sockets, runs each tunnel's state machine (src/gre-keepalive) and acts on
 * its changes: the device's carrier (carrier.ts), --on-down/--on-up hooks,
 * a log line. Its status is served on the namespace's abstract status socket.
 *
 * Safety: a probe goes only to the configured remote; a device probe sends
 * nothing while its device is missing, is not a gre/ip6gre link or has no
 * remote, and re-reads the device before every probe, so a changed key or
 * address is followed (and a removed remote stops the probes).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import {
  AnswerForm,
  compileProbe,
  type ProbeLayout,
  ProbeMachine,
  ProbeSchedule,
  ProbeSet,
  type ProbeSpec,
  ProbeSpecError,
  type ProbeState,
  type ProbeTarget,
  type ProbeTunnel,
  targetName,
} from '../gre-keepalive/index.ts';
import { BatchIo, isNativeSystemError, netnsCookie, raw } from '../native/index.ts';
import { type GreLinkInfo, parseGreLink } from '../netlink/gre.ts';
import { getLinkRequest } from '../netlink/link.ts';
import { getRouteRequest, parseRoute } from '../netlink/route.ts';
import { NetlinkError, RtnlSocket, type RtnlTransport } from '../netlink/socket.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { type CarrierChange, CarrierControl, type CarrierMethod, type CarrierStore } from './carrier.ts';
import { serveStatus } from './status-socket.ts';

const SLOTS = 32;
const SLOT_SIZE = 256;
/**
 * Receive filter: the longest answer is re-tunnelled over IPv6 with key and checksum, 4+8 + 40 + 4+4
 * bytes after the outer IPv6 header; over IPv4 the whole packet, 20 + 12 + 20 + 8. Data packets in GRE
 * are almost all longer.
 */
const MAX_ANSWER = 64;
const IPV6_HEADER = 40;
const ENODEV = 19;
const IFF_UP = 0x1;

export class ProbeTargetError extends Error {
  override name = 'ProbeTargetError';
  constructor(
    readonly target: string,
    message: string,
  ) {
    super(`${target}: ${message}`);
  }
}

export interface ProbeStatus {
  pid: number;
  tunnel: string;
  device: string | null;
  family: 4 | 6 | null;
  layout: ProbeLayout | null;
  local: string | null;
  remote: string | null;
  okey: number | null;
  ikey: number | null;
  interval: number;
  retries: number;
  state: ProbeState;
  /** Milliseconds since the last answer; null before the first. */
  lastAnswerAgeMs: number | null;
  /** Milliseconds in the current state. */
  stateAgeMs: number;
  sent: number;
  answers: number;
  tunnelledAnswers: number;
  changes: number;
  /** How the device's carrier follows the state: proto-down, admin, or none. */
  carrier: CarrierMethod | 'none' | null;
  /** Why nothing is being sent right now (the device is gone, not gre, has no remote), else null. */
  error: string | null;
}

export interface ProberOptions {
  /** Monotonic milliseconds (injected for tests). */
  now?: () => number;
  random?: () => number;
  log?: (line: string) => void;
  /** Serve status on the namespace's abstract socket (default true). */
  statusSocket?: boolean;
  /** rtnetlink (default: a socket in this namespace). */
  rtnl?: RtnlTransport;
  /**
   * Where down devices are recorded, for a restarted prober to adopt (default: gre-keepalive/ under
   * GREOIP_RUNTIME_DIR or /run/greoip, named by this namespace's cookie and boot); null: nowhere.
   */
  carrierStore?: CarrierStore | null;
}

function defaultCarrierStore(): CarrierStore | null {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return {
      dir: join(process.env.GREOIP_RUNTIME_DIR ?? '/run/greoip', 'gre-keepalive'),
      namespace: `${netnsCookie()}-${bootId}`,
    };
  } catch {
    return null;
  }
}

interface Probe {
  target: ProbeTarget;
  name: string;
  machine: ProbeMachine;
  schedule: ProbeSchedule;
  timer: NodeJS.Timeout | null;
  /** Runs the state machine's check at its deadline. */
  checkTimer: NodeJS.Timeout | null;
  tunnel: ProbeTunnel | null;
  /** The device's ifindex while known. */
  index: number;
  /** Underlay device name (a gre device's `link`), '' for any. */
  underlay: string;
  /** The device is administratively up (as last read). */
  adminUp: boolean;
  carrier: CarrierMethod | 'none' | null;
  error: string | null;
  hooks: Promise<void>;
}

interface Port {
  family: 4 | 6;
  io: BatchIo;
}

export class Prober {
  private probes: Probe[];
  private set = new ProbeSet([]);
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private readonly rtnl: RtnlTransport;
  private readonly ownsRtnl: boolean;
  private readonly carrier: CarrierControl;
  /** Receiving sockets, one per family (unbound: they see every small GRE packet). */
  private readonly rx = new Map<4 | 6, Port>();
  /** Sending sockets by family and underlay device ('' for any). */
  private readonly tx = new Map<string, BatchIo>();
  private readonly scratch = new Uint8Array(IPV6_HEADER + SLOT_SIZE);
  private readonly txOffsets = Uint32Array.of(0);
  private readonly txLengths = new Uint32Array(1);
  private readonly txDst = new Uint8Array(16);
  private status: Server | null = null;
  private seq = 1;
  private closed = false;
  /** Answers that matched no probe, duplicates and send failures, for the log and status. */
  ignored = 0;
  sendErrors = 0;

  constructor(
    targets: ProbeTarget[],
    private readonly options: ProberOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.log = options.log ?? ((line) => process.stderr.write(`gre-keepalive: ${line}\n`));
    this.rtnl = options.rtnl ?? new RtnlSocket();
    this.ownsRtnl = options.rtnl === undefined;
    this.carrier = new CarrierControl(
      this.rtnl,
      options.carrierStore === undefined ? defaultCarrierStore() : options.carrierStore,
    );
    checkTargets(targets);
    this.probes = targets.map((t) => this.makeProbe(t));
  }

  private makeProbe(target: ProbeTarget): Probe {
    const now = this.now();
    return {
      target,
      name: targetName(target),
      machine: new ProbeMachine(target.retries, target.intervalMs, now),
      schedule: new ProbeSchedule(target.intervalMs, now, this.random()),
      timer: null,
      checkTimer: null,
      tunnel: null,
      index: 0,
      underlay: '',
      adminUp: true,
      carrier: target.device === undefined || target.carrier === false ? 'none' : null,
      error: null,
      hooks: Promise.resolve(),
    };
  }

  /**
   * Reads every device and opens the sockets, then starts probing. `strict` (the command line): refuse
   * (ProbeTargetError) what must not be probed: no such device, not a gre or ip6gre link, no remote,
   * sequence numbers. Otherwise (the daemon) such a probe waits, saying why, until its device is fit.
   */
  async start(options: { strict?: boolean } = {}): Promise<void> {
    try {
      for (const p of this.probes) {
        this.resolve(p);
        if (p.error !== null && options.strict !== false) throw new ProbeTargetError(p.name, p.error);
      }
      if (this.options.statusSocket !== false) this.status = await serveStatus(() => this.statuses());
    } catch (err) {
      await this.close();
      throw err;
    }
    for (const p of this.probes) this.arm(p);
  }

  /**
   * A new set of targets (a config reload): probes whose settings did not change keep running with
   * their state; removed or changed ones stop, giving back any carrier they took; new ones start.
   */
  update(targets: ProbeTarget[]): void {
    checkTargets(targets);
    const old = new Map(this.probes.map((p) => [JSON.stringify(p.target), p]));
    const next = targets.map((t) => {
      const key = JSON.stringify(t);
      const kept = old.get(key);
      old.delete(key);
      return kept ?? this.makeProbe(t);
    });
    for (const p of old.values()) this.retire(p, 'no longer probed');
    const fresh = next.filter((p) => !this.probes.includes(p));
    this.probes = next;
    this.rebuildSet();
    for (const p of fresh) {
      this.resolve(p);
      this.arm(p);
    }
  }

  private retire(p: Probe, why: string): void {
    if (p.timer) clearTimeout(p.timer);
    if (p.checkTimer) clearTimeout(p.checkTimer);
    p.timer = null;
    p.checkTimer = null;
    if (p.index > 0 && this.carrier.downDevices.includes(p.index)) {
      try {
        const change = this.carrier.up(p.index);
        if (change) this.log(`${p.name}: ${why}, carrier on (${describe(change)})`);
      } catch (err) {
        this.log(`${p.name}: could not give the carrier back: ${(err as Error).message}`);
      }
    }
  }

  /** (Re)reads a probe's tunnel. On failure the probe keeps its state, sends nothing and says why. */
  private resolve(p: Probe): void {
    try {
      const spec = p.target.device !== undefined ? this.deviceSpec(p) : p.target.spec!;
      const tunnel = compileProbe(spec);
      if (p.tunnel === null || !sameBytes(p.tunnel.request, tunnel.request)) {
        this.openRx(tunnel.family);
        p.tunnel = tunnel;
        this.rebuildSet();
      }
      p.error = null;
    } catch (err) {
      if (!(err instanceof ProbeTargetError || err instanceof ProbeSpecError || err instanceof NetlinkError))
        throw err;
      const message = err instanceof ProbeTargetError ? err.message.slice(p.name.length + 2) : err.message;
      if (p.error !== message) this.log(`${p.name}: not probing: ${message}`);
      p.error = message;
    }
  }

  private deviceSpec(p: Probe): ProbeSpec {
    const dev = p.target.device!;
    let link: GreLinkInfo;
    try {
      link = parseGreLink(this.request((seq) => getLinkRequest(seq, dev))[0]!);
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV)
        throw new ProbeTargetError(dev, `no network device named ${dev}`);
      throw err;
    }
    const g = link.gre;
    if (g === null) {
      const kind = link.kind ?? 'not a tunnel';
      throw new ProbeTargetError(dev, `is not a gre or ip6gre device (${kind}): keepalives are GRE`);
    }
    if (g.remote === null)
      throw new ProbeTargetError(dev, 'has no remote address: a keepalive needs one peer to go to');
    if (g.oseq)
      throw new ProbeTargetError(
        dev,
        'sends sequence numbers (oseq): probes numbered apart from the device would be dropped by the peer',
      );
    if (p.index === 0 && p.carrier !== 'none') this.adopt(p, link);
    p.index = link.index;
    p.adminUp = (link.flags & IFF_UP) !== 0;
    p.underlay = g.link === 0 ? '' : this.linkName(g.link);
    const local = g.local ?? this.sourceFor(dev, g.remote);
    return {
      local,
      remote: g.remote,
      okey: g.okey,
      ikey: g.ikey,
      // TTL 0 is "inherit": a keepalive's inner TTL is 255, as routers send it.
      ttl: g.ttl === 0 ? 255 : g.ttl,
      tos: g.tos & 0xfc,
      checksum: g.ocsum,
      ...(g.kind === 'ip6gre' ? { layout: p.target.layout ?? 'gre6-mikrotik' } : {}),
    };
  }

  /** A device an earlier prober took down and did not bring back (it was killed): this one's now. */
  private adopt(p: Probe, link: GreLinkInfo): void {
    const down = (link.flags & IFF_UP) === 0 || link.protoDown;
    if (!this.carrier.adopt(link.index, link.name, down)) return;
    p.machine = new ProbeMachine(p.target.retries, p.target.intervalMs, this.now(), 'down');
    p.carrier = this.carrier.methodOf(link.index);
    this.log(`${p.name}: down, as an earlier prober left it; up at the next answer`);
  }

  private linkName(index: number): string {
    for (const m of this.request((seq) => getLinkRequest(seq, null), true)) {
      const l = parseGreLink(m);
      if (l.index === index) return l.name;
    }
    return '';
  }

  /** A device without a local address sends from what the kernel would choose for the remote. */
  private sourceFor(dev: string, remote: string): string {
    const route = parseRoute(this.request((seq) => getRouteRequest(seq, remote))[0]!);
    if (route.prefsrc === null)
      throw new ProbeTargetError(dev, `has no local address and the route to ${remote} names no source`);
    return route.prefsrc;
  }

  private request(build: (seq: number) => Buffer, dump = false) {
    const seq = this.seq++;
    return this.rtnl.request(build(seq), seq, dump);
  }

  private rebuildSet(): void {
    // Index i of the set is probe i; a probe without a tunnel gets one nobody can answer.
    this.set = new ProbeSet(this.probes.map((p) => p.tunnel ?? UNANSWERABLE));
  }

  private openRx(family: 4 | 6): void {
    if (this.rx.has(family)) return;
    const fd = raw.open(family, ipv4.IPPROTO_GRE, { hdrincl: true, maxLength: MAX_ANSWER });
    let io: BatchIo;
    try {
      io = new BatchIo(fd, family === 4 ? 'ip4' : 'ip6', SLOTS, SLOT_SIZE, (count) =>
        this.onBatch(port, count),
      );
    } catch (err) {
      raw.close(fd);
      throw err;
    }
    const port: Port = { family, io };
    this.rx.set(family, port);
    this.tx.set(`${family}/`, io);
    io.start();
  }

  /** The socket a probe leaves by: the receiving one, or one bound to the gre device's underlay. */
  private sender(family: 4 | 6, underlay: string): BatchIo {
    const key = `${family}/${underlay}`;
    let io = this.tx.get(key);
    if (io === undefined) {
      this.openRx(family);
      if (underlay === '') return this.tx.get(key)!;
      // Sends only: the filter lets nothing in (every packet is longer than 0 bytes).
      const fd = raw.open(family, ipv4.IPPROTO_GRE, { hdrincl: true, maxLength: 0, device: underlay });
      try {
        io = new BatchIo(fd, family === 4 ? 'ip4' : 'ip6', 1, 64, () => {});
      } catch (err) {
        raw.close(fd);
        throw err;
      }
      this.tx.set(key, io);
    }
    return io;
  }

  private arm(p: Probe): void {
    if (this.closed) return;
    p.timer = setTimeout(() => this.tick(p), p.schedule.delay(this.now()));
  }

  private tick(p: Probe): void {
    const now = this.now();
    p.schedule.advance(now);
    if (p.target.device !== undefined) this.resolve(p);
    if (p.error === null && p.tunnel !== null) {
      p.machine.tick(now);
      this.send(p, p.tunnel);
      this.check(p);
    }
    this.arm(p);
  }

  /** Runs the state machine's check now, and again at its deadline while it is up. */
  private check(p: Probe): void {
    if (p.checkTimer) clearTimeout(p.checkTimer);
    p.checkTimer = null;
    const change = p.machine.check(this.now());
    if (change) this.changed(p, change);
    if (this.closed || p.machine.state !== 'up') return;
    p.checkTimer = setTimeout(() => this.check(p), Math.max(0, p.machine.deadlineMs - this.now()));
  }

  private send(p: Probe, t: ProbeTunnel): void {
    this.txLengths[0] = t.request.length;
    this.txDst.fill(0);
    this.txDst.set(t.remote);
    try {
      const io = this.sender(t.family, p.underlay);
      if (io.send(t.request, this.txOffsets, this.txLengths, this.txDst, 1) !== 1) this.sendErrors++;
    } catch (err) {
      if (!isNativeSystemError(err)) throw err;
      this.sendErrors++;
    }
  }

  private onBatch(port: Port, count: number): void {
    const now = this.now();
    const io = port.io;
    for (let i = 0; i < count; i++) {
      const len = io.rxLengths[i]!;
      let index: number;
      if (port.family === 4) {
        index = this.set.match(io.rxBuffer, i * SLOT_SIZE, i * SLOT_SIZE + len);
      } else {
        const s = this.scratch;
        // The IPv6 socket gives what follows the header: rebuild the fixed header the matcher reads.
        s[0] = 0x60;
        s[4] = len >>> 8;
        s[5] = len & 0xff;
        s[6] = ipv4.IPPROTO_GRE;
        s[7] = 0;
        for (let b = 0; b < 16; b++) {
          s[8 + b] = io.rxSrc[i * 16 + b]!;
          s[24 + b] = io.rxDst[i * 16 + b]!;
        }
        for (let b = 0; b < len; b++) s[IPV6_HEADER + b] = io.rxBuffer[i * SLOT_SIZE + b]!;
        index = this.set.match(s, 0, IPV6_HEADER + len);
      }
      const p = index >= 0 ? this.probes[index] : undefined;
      if (p === undefined || p.error !== null) {
        this.ignored++;
        continue;
      }
      const change = p.machine.answer(now, this.set.form === AnswerForm.TUNNELLED);
      if (change) this.changed(p, change);
      // The deadline moved with the answer.
      this.check(p);
    }
  }

  private changed(p: Probe, state: 'up' | 'down'): void {
    const t = p.tunnel;
    const m = p.machine;
    const last =
      m.lastAnswerMs === null
        ? 'never answered'
        : `last answer ${((m.sinceMs - m.lastAnswerMs) / 1000).toFixed(2)} s ago`;
    this.log(
      state === 'down'
        ? `${p.name}: down (no answer to ${p.target.retries} keepalives, ${p.target.intervalMs / 1000} s apart; ${last})`
        : `${p.name}: up (answered)`,
    );
    // A device someone else set down stays theirs: taking it "down" and later up would override them.
    const theirs = state === 'down' && !p.adminUp && this.carrier.methodOf(p.index) === null;
    if (theirs) this.log(`${p.name}: carrier left alone: the device is administratively down already`);
    if (p.carrier !== 'none' && p.index > 0 && !theirs) {
      try {
        const change = state === 'down' ? this.carrier.down(p.index, p.name) : this.carrier.up(p.index);
        if (change) {
          p.carrier = change.method;
          this.log(`${p.name}: carrier ${state === 'down' ? 'off' : 'on'} (${describe(change)})`);
        }
      } catch (err) {
        this.log(`${p.name}: could not set the carrier ${state}: ${(err as Error).message}`);
      }
    }
    const hook = state === 'down' ? p.target.onDown : p.target.onUp;
    if (hook) {
      const env = {
        ...process.env,
        GRE_KEEPALIVE_STATE: state,
        GRE_KEEPALIVE_TUNNEL: p.name,
        GRE_KEEPALIVE_DEVICE: p.target.device ?? '',
        GRE_KEEPALIVE_LOCAL: t ? addressText(t.local) : '',
        GRE_KEEPALIVE_REMOTE: t ? addressText(t.remote) : '',
      };
      // One hook at a time per tunnel, in the order of the changes.
      p.hooks = p.hooks.then(() => runHook(hook, env, (line) => this.log(`${p.name}: ${line}`)));
    }
  }

  statuses(): ProbeStatus[] {
    const now = this.now();
    return this.probes.map((p) => {
      const t = p.tunnel;
      const m = p.machine;
      return {
        pid: process.pid,
        tunnel: p.name,
        device: p.target.device ?? null,
        family: t?.family ?? null,
        layout: t?.layout ?? null,
        local: t ? addressText(t.local) : null,
        remote: t ? addressText(t.remote) : null,
        okey: t?.okey ?? null,
        ikey: t?.ikey ?? null,
        interval: p.target.intervalMs / 1000,
        retries: p.target.retries,
        state: m.state,
        lastAnswerAgeMs: m.lastAnswerMs === null ? null : Math.round(now - m.lastAnswerMs),
        stateAgeMs: Math.round(now - m.sinceMs),
        sent: m.sent,
        answers: m.answers,
        tunnelledAnswers: m.tunnelledAnswers,
        changes: m.changes,
        carrier: p.carrier,
        error: p.error,
      };
    });
  }

  /** Stops probing; gives back every carrier it took (a stopped prober must not leave a tunnel down). */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.probes) this.retire(p, 'stopping');
    for (const io of new Set(this.tx.values())) io.close();
    this.tx.clear();
    this.rx.clear();
    await new Promise<void>((resolve) => (this.status ? this.status.close(() => resolve()) : resolve()));
    this.status = null;
    await Promise.all(this.probes.map((p) => p.hooks));
    if (this.ownsRtnl) this.rtnl.close();
  }
}

function checkTargets(targets: ProbeTarget[]): void {
  const names = new Set<string>();
  for (const t of targets) {
    if ((t.device === undefined) === (t.spec === undefined))
      throw new ProbeTargetError('probe', 'give a device or a local and remote address, not both');
    const name = targetName(t);
    if (names.has(name)) throw new ProbeTargetError(name, 'probed twice');
    names.add(name);
  }
}

/** Stands in for a probe whose device is unusable: its answer (all zeros) is no packet anyone sends. */
const UNANSWERABLE: ProbeTunnel = {
  family: 4,
  layout: 'gre',
  local: new Uint8Array(4),
  remote: new Uint8Array(4),
  okey: null,
  ikey: null,
  ttl: 255,
  tos: 0,
  checksum: false,
  request: new Uint8Array(0),
  answer: new Uint8Array(24),
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function addressText(a: Uint8Array): string {
  return a.length === 4
    ? ipv4.formatAddress(new DataView(a.buffer, a.byteOffset).getUint32(0))
    : ipv6.formatAddress(a);
}

function describe(c: CarrierChange): string {
  if (c.method === 'proto-down') return 'IFLA_PROTO_DOWN';
  if (c.saved)
    return `administratively down; ${c.saved.addresses} address(es), ${c.saved.routes} route(s) saved`;
  const r = c.restored!;
  const failed = c.failed?.length ? `; not restored: ${c.failed.join('; ')}` : '';
  return `administratively up; put back ${r.addresses} address(es), ${r.routes} route(s) the kernel had removed${failed}`;
}

function runHook(command: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', (err) => {
      log(`hook "${command}" could not run: ${err.message}`);
      resolve();
    });
    child.once('exit', (code, signal) => {
      if (code !== 0) log(`hook "${command}" exited with ${signal ?? code}`);
      resolve();
    });
  });
}
