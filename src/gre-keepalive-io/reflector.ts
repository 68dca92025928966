/**
 * The userland GRE keepalive reflector: raw sockets for IPv4 protocol 47 and
 * IPv6 next header 47, the decision of src/gre-keepalive, and replies sent with
 * the IP header they carry (IP_HDRINCL / IPV6_HDRINCL). No gre device needed,
 * and nothing asks for accept_local: the kernel never routes the inner packet.
 *
 * A spoofed requester cannot hold up anyone else's answer: each source gets
 * a bounded rate of answers (SourceLimiter), and answers that would wait on
 * neighbour resolution (an on-link address the kernel has not resolved, e.g.
 * one nobody holds) leave through sockets of their own, with a small send
 * buffer, so what the kernel queues for them never fills the shared one.
 */
import { createDecision, decide, type Policy, VERDICT_NAMES, Verdict } from '../gre-keepalive/index.ts';
import {
  DEFAULT_SOURCE_LIMIT,
  SourceLimiter,
  type SourceLimitOptions,
} from '../gre-keepalive/source-limit.ts';
import { BatchIo, isNativeSystemError, raw } from '../native/index.ts';
import { IPPROTO_GRE } from '../wire/ipv4.ts';
import { NeighbourWatch } from './neighbour-watch.ts';

const SLOTS = 64;
const SLOT_SIZE = 2048;
/** Socket filter: a keepalive request is well under this (outer IP with options + 2 GRE + 128 inner). */
const MAX_REQUEST = 256;
const IPV6_HEADER = 40;
const REPLY_ROOM = 256;
/** The shared answer socket: room for many answers in flight. */
const SEND_BUFFER = 1 << 20;
/**
 * Answers waiting on neighbour resolution: a few dozen fit; the rest are dropped and counted
 * (the kernel would drop them anyway when resolution fails).
 */
const UNRESOLVED_SEND_BUFFER = 64 << 10;

export interface ReflectorOptions {
  /** Per-source rate limit; null turns it off. Default DEFAULT_SOURCE_LIMIT. */
  limit?: SourceLimitOptions | null;
  /** Milliseconds, monotonic (injected for tests). */
  now?: () => number;
}

export interface ReflectorCounters {
  /** Packets seen, by verdict name. */
  verdicts: Record<string, number>;
  repliesSent: number;
  replyErrors: number;
  /** Valid requests not answered: their source was over its rate. */
  rateLimited: number;
  /** Answers sent through the unresolved-neighbour sockets (included in repliesSent). */
  unresolved: number;
  /** Answers to unresolved neighbours dropped because their sockets were full (included in replyErrors). */
  unresolvedDropped: number;
}

/** One batch of outgoing answers: bytes, lengths and destinations, filled then sent. */
class Outbox {
  readonly tx = Buffer.alloc(SLOTS * REPLY_ROOM);
  readonly offsets = new Uint32Array(SLOTS);
  readonly lengths = new Uint32Array(SLOTS);
  readonly dsts = new Uint8Array(SLOTS * 16);
  count = 0;

  constructor() {
    for (let i = 0; i < SLOTS; i++) this.offsets[i] = i * REPLY_ROOM;
  }

  add(reply: Uint8Array, length: number, dst: Uint8Array): void {
    const n = this.count++;
    const off = n * REPLY_ROOM;
    for (let b = 0; b < length; b++) this.tx[off + b] = reply[b]!;
    this.lengths[n] = length;
    for (let b = 0; b < 16; b++) this.dsts[n * 16 + b] = dst[b]!;
  }

  /** Sends what was added; returns how many the kernel took. */
  flush(port: BatchIo): number {
    const count = this.count;
    this.count = 0;
    if (count === 0) return 0;
    try {
      return port.send(this.tx, this.offsets, this.lengths, this.dsts, count);
    } catch (err) {
      if (!isNativeSystemError(err)) throw err;
      return 0;
    }
  }
}

interface Family {
  family: 4 | 6;
  /** Receives requests and sends the answers whose neighbour is resolved (or off-link). */
  port: BatchIo;
  /** Sends only: answers that will wait on neighbour resolution. */
  unresolvedPort: BatchIo;
}

export class UserlandReflector {
  private readonly decision = createDecision();
  private readonly verdicts = new Float64Array(VERDICT_NAMES.length);
  private repliesSent = 0;
  private replyErrors = 0;
  private rateLimited = 0;
  private unresolvedSent = 0;
  private unresolvedDropped = 0;
  private readonly families: Family[] = [];
  private readonly scratch = new Uint8Array(IPV6_HEADER + SLOT_SIZE);
  private readonly outbox = new Outbox();
  private readonly unresolvedOutbox = new Outbox();
  private readonly limiter: SourceLimiter | null;
  private readonly now: () => number;
  private readonly neighbours = new NeighbourWatch();

  constructor(
    private readonly policy: Policy,
    options: ReflectorOptions = {},
  ) {
    const limit = options.limit === undefined ? DEFAULT_SOURCE_LIMIT : options.limit;
    this.limiter = limit === null ? null : new SourceLimiter(limit);
    this.now = options.now ?? (() => performance.now());
  }

  /** Opens the sockets (IPv4, and IPv6 unless `ipv6: false`) and starts answering. */
  start(options: { ipv4?: boolean; ipv6?: boolean } = {}): void {
    try {
      this.neighbours.start();
      if (options.ipv4 !== false) this.open(4);
      if (options.ipv6 !== false) this.open(6);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private open(family: 4 | 6): void {
    const kind = family === 4 ? 'ip4' : 'ip6';
    const sendOnly = raw.open(family, IPPROTO_GRE, {
      hdrincl: true,
      maxLength: 0, // receives nothing: every packet is longer
      sendBufferSize: UNRESOLVED_SEND_BUFFER,
    });
    let unresolvedPort: BatchIo;
    try {
      unresolvedPort = new BatchIo(sendOnly, kind, 1, 64, () => {});
    } catch (err) {
      raw.close(sendOnly);
      throw err;
    }
    let fd: number;
    try {
      fd = raw.open(family, IPPROTO_GRE, {
        hdrincl: true,
        maxLength: MAX_REQUEST,
        recvBufferSize: 1 << 20,
        sendBufferSize: SEND_BUFFER,
      });
    } catch (err) {
      unresolvedPort.close();
      throw err;
    }
    let port: BatchIo;
    try {
      port = new BatchIo(fd, kind, SLOTS, SLOT_SIZE, (count) => this.onBatch(f, count));
    } catch (err) {
      raw.close(fd);
      unresolvedPort.close();
      throw err;
    }
    const f: Family = { family, port, unresolvedPort };
    this.families.push(f);
    port.start();
  }

  private onBatch(f: Family, count: number): void {
    const { port, family } = f;
    const d = this.decision;
    const now = this.limiter === null ? 0 : this.now();
    for (let i = 0; i < count; i++) {
      const len = port.rxLengths[i]!;
      let verdict: number;
      if (family === 4) {
        verdict = decide(port.rxBuffer, i * SLOT_SIZE, i * SLOT_SIZE + len, 'outer-l3', this.policy, d);
      } else {
        // The IPv6 socket hands over the GRE header on: rebuild the fixed header from msg_name and IPV6_PKTINFO.
        const packetLength = this.rebuildIpv6(port, i, len);
        verdict = decide(this.scratch, 0, packetLength, 'outer-l3', this.policy, d);
      }
      this.verdicts[verdict]!++;
      if (verdict !== Verdict.REPLY) continue;
      if (this.limiter !== null && !this.limiter.allow(d.family, d.dst, 0, now)) {
        this.rateLimited++;
        continue;
      }
      if (this.neighbours.view.wouldWait(d.family, d.dst, 0)) {
        this.unresolvedOutbox.add(d.reply, d.replyLength, d.dst);
      } else {
        this.outbox.add(d.reply, d.replyLength, d.dst);
      }
    }
    const main = this.outbox.count;
    const sent = this.outbox.flush(port);
    const waiting = this.unresolvedOutbox.count;
    const sentWaiting = this.unresolvedOutbox.flush(f.unresolvedPort);
    this.repliesSent += sent + sentWaiting;
    this.replyErrors += main - sent + (waiting - sentWaiting);
    this.unresolvedSent += sentWaiting;
    this.unresolvedDropped += waiting - sentWaiting;
  }

  private rebuildIpv6(port: BatchIo, slot: number, payloadLength: number): number {
    const s = this.scratch;
    s[0] = 0x60;
    s[1] = 0;
    s[2] = 0;
    s[3] = 0;
    s[4] = payloadLength >>> 8;
    s[5] = payloadLength & 0xff;
    s[6] = IPPROTO_GRE;
    s[7] = 64;
    for (let b = 0; b < 16; b++) {
      s[8 + b] = port.rxSrc[slot * 16 + b]!;
      s[24 + b] = port.rxDst[slot * 16 + b]!;
    }
    const from = slot * SLOT_SIZE;
    for (let b = 0; b < payloadLength; b++) s[IPV6_HEADER + b] = port.rxBuffer[from + b]!;
    return IPV6_HEADER + payloadLength;
  }

  counters(): ReflectorCounters {
    return {
      verdicts: Object.fromEntries(VERDICT_NAMES.map((name, i) => [name, this.verdicts[i]!])),
      repliesSent: this.repliesSent,
      replyErrors: this.replyErrors,
      rateLimited: this.rateLimited,
      unresolved: this.unresolvedSent,
      unresolvedDropped: this.unresolvedDropped,
    };
  }

  close(): void {
    for (const f of this.families.splice(0)) {
      f.port.close();
      f.unresolvedPort.close();
    }
    this.neighbours.close();
  }
}
