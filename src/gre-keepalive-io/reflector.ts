/**
 * The userland GRE keepalive reflector: raw sockets for IPv4 protocol 47 and
 * IPv6 next header 47, the decision of src/gre-keepalive, and replies sent with
 * the IP header they carry (IP_HDRINCL / IPV6_HDRINCL). No gre device needed,
 * and nothing asks for accept_local: the kernel never routes the inner packet.
 */
import { createDecision, decide, type Policy, VERDICT_NAMES, Verdict } from '../gre-keepalive/index.ts';
import { BatchIo, isNativeSystemError, raw } from '../native/index.ts';
import { IPPROTO_GRE } from '../wire/ipv4.ts';

const SLOTS = 64;
const SLOT_SIZE = 2048;
/** Socket filter: a keepalive request is well under this (outer IP with options + 2 GRE + 128 inner). */
const MAX_REQUEST = 256;
const IPV6_HEADER = 40;

export interface ReflectorCounters {
  /** Packets seen, by verdict name. */
  verdicts: Record<string, number>;
  repliesSent: number;
  replyErrors: number;
}

export class UserlandReflector {
  private readonly decision = createDecision();
  private readonly verdicts = new Float64Array(VERDICT_NAMES.length);
  private repliesSent = 0;
  private replyErrors = 0;
  private readonly ports: BatchIo[] = [];
  private readonly scratch = new Uint8Array(IPV6_HEADER + SLOT_SIZE);
  private readonly tx = Buffer.alloc(SLOTS * 256);
  private readonly txOffsets = new Uint32Array(SLOTS);
  private readonly txLengths = new Uint32Array(SLOTS);
  private readonly txDsts = new Uint8Array(SLOTS * 16);

  constructor(private readonly policy: Policy) {
    for (let i = 0; i < SLOTS; i++) this.txOffsets[i] = i * 256;
  }

  /** Opens the sockets (IPv4, and IPv6 unless `ipv6: false`) and starts answering. */
  start(options: { ipv4?: boolean; ipv6?: boolean } = {}): void {
    try {
      if (options.ipv4 !== false) this.open(4);
      if (options.ipv6 !== false) this.open(6);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private open(family: 4 | 6): void {
    const fd = raw.open(family, IPPROTO_GRE, {
      hdrincl: true,
      maxLength: MAX_REQUEST,
      recvBufferSize: 1 << 20,
    });
    let port: BatchIo;
    try {
      port = new BatchIo(fd, family === 4 ? 'ip4' : 'ip6', SLOTS, SLOT_SIZE, (count) =>
        this.onBatch(port, family, count),
      );
    } catch (err) {
      raw.close(fd);
      throw err;
    }
    this.ports.push(port);
    port.start();
  }

  private onBatch(port: BatchIo, family: 4 | 6, count: number): void {
    const d = this.decision;
    let n = 0;
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
      const off = this.txOffsets[n]!;
      for (let b = 0; b < d.replyLength; b++) this.tx[off + b] = d.reply[b]!;
      this.txLengths[n] = d.replyLength;
      for (let b = 0; b < 16; b++) this.txDsts[n * 16 + b] = d.dst[b]!;
      n++;
    }
    if (n > 0) this.send(port, n);
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

  private send(port: BatchIo, count: number): void {
    let sent = 0;
    try {
      sent = port.send(this.tx, this.txOffsets, this.txLengths, this.txDsts, count);
    } catch (err) {
      if (!isNativeSystemError(err)) throw err;
    }
    this.repliesSent += sent;
    this.replyErrors += count - sent;
  }

  counters(): ReflectorCounters {
    return {
      verdicts: Object.fromEntries(VERDICT_NAMES.map((name, i) => [name, this.verdicts[i]!])),
      repliesSent: this.repliesSent,
      replyErrors: this.replyErrors,
    };
  }

  close(): void {
    for (const port of this.ports.splice(0)) port.close();
  }
}
