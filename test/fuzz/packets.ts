/**
 * The datapath fuzzer's packets and their expected fate. A seeded generator
 * makes whole IPv4 packets (protocol 47: GRE of any kind, EoIP) and IPv6
 * packets (next header 97: EoIPv6), random and mutated, always with a valid
 * outer header so the kernel delivers them; the oracle says what the daemon
 * must do with each: drop it in the socket filter, count it as an unmatched
 * drop by reason, or hand it to the fuzz tunnel (frame, keepalive or error).
 * No I/O: the sender (sender.ts) and the unit test use it alike.
 */
import {
  createRxResult,
  type DatapathTunnel,
  DROP_REASON_NAMES,
  receive4,
  receive6,
} from '../../src/eoip/datapath.ts';
import { remoteKey, TunnelTable } from '../../src/eoip/table.ts';
import * as build from '../../src/wire/build.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';

/** xorshift32: the same packets for the same seed, in the sender and in a re-run. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return this.u32() % max;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** The addresses and tunnels of the namespace under fuzz (a) and of the sender's (b). */
export interface FuzzSpec {
  /** a's address (the tunnels' local) and a second address of a's that no tunnel uses. */
  a4: string;
  a4other: string;
  a6: string;
  a6other: string;
  /** b's address: the tunnels' remote. */
  b4: string;
  b6: string;
  /** The fuzz tunnels (remote b, local a): the packets' target. */
  fuzzTid4: number;
  fuzzTid6: number;
  /** The ping tunnels (remote b, local a): never to be hit by a fuzz packet. */
  pingTid4: number;
  pingTid6: number;
  /**
   * Tunnels without a local address whose remote sends nothing. Their raw
   * socket is bound to no address, so it sees packets to a's other address
   * too; made first, it is the socket that counts unmatched drops.
   */
  unbound: { family: 4 | 6; tunnelId: number; remote: string }[];
}

/** What the daemon must make of a packet. */
export type Fate =
  /** Dropped by the raw socket's counting filter in the kernel, counted under drop:<reason>. */
  | 'filter:not_eoip'
  | 'filter:truncated'
  | `drop:${string}`
  | 'tunnel:rxPackets'
  | 'tunnel:rxKeepalives'
  | 'tunnel:rxErrors';

export interface FuzzPacket {
  family: 4 | 6;
  /** The whole packet, outer header included. */
  bytes: Uint8Array;
  /** Destination, 4 or 16 bytes. */
  dst: Uint8Array;
  fate: Fate;
  /** The fuzz tunnel's counters grow by this frame's length (delivered frames only). */
  frameBytes: number;
}

interface OracleTunnel extends DatapathTunnel {
  name: 'fuzz' | 'ping' | 'unbound';
}

function v4bytes(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export class PacketFactory {
  private readonly rng: Rng;
  private readonly table = new TunnelTable<OracleTunnel>();
  private readonly rx = createRxResult<OracleTunnel>();
  private readonly a4: number;
  private readonly a4other: number;
  private readonly b4: number;
  private readonly a6: Uint8Array;
  private readonly a6other: Uint8Array;
  private readonly b6: Uint8Array;

  constructor(
    private readonly spec: FuzzSpec,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    this.a4 = ipv4.parseAddress(spec.a4)!;
    this.a4other = ipv4.parseAddress(spec.a4other)!;
    this.b4 = ipv4.parseAddress(spec.b4)!;
    this.a6 = ipv6.parseAddress(spec.a6)!;
    this.a6other = ipv6.parseAddress(spec.a6other)!;
    this.b6 = ipv6.parseAddress(spec.b6)!;
    const add = (
      name: OracleTunnel['name'],
      family: 4 | 6,
      tunnelId: number,
      remote: string,
      local: boolean,
    ) =>
      this.table.add({
        name,
        family,
        tunnelId,
        ...remoteKey(family, remote),
        local4: local && family === 4 ? this.a4 : -1,
        local6: local && family === 6 ? this.a6 : null,
      });
    add('fuzz', 4, spec.fuzzTid4, spec.b4, true);
    add('fuzz', 6, spec.fuzzTid6, spec.b6, true);
    add('ping', 4, spec.pingTid4, spec.b4, true);
    add('ping', 6, spec.pingTid6, spec.b6, true);
    for (const u of spec.unbound) add('unbound', u.family, u.tunnelId, u.remote, false);
  }

  /** The next packet; never one the ping tunnels would take. */
  next(): FuzzPacket {
    for (;;) {
      const p = this.rng.int(2) === 0 ? this.make4() : this.make6();
      if (p !== null) return p;
    }
  }

  private frame(): Uint8Array {
    return this.rng.bytes(14 + this.rng.int(this.rng.int(8) === 0 ? 1400 : 120));
  }

  /** Flips 1-4 bytes of `bytes` from `from` on. */
  private mutate(bytes: Uint8Array, from: number): void {
    if (bytes.length <= from) return;
    for (let n = 1 + this.rng.int(4); n > 0; n--)
      bytes[from + this.rng.int(bytes.length - from)] = this.rng.u32() & 0xff;
  }

  private make4(): FuzzPacket | null {
    const rng = this.rng;
    const { fuzzTid4 } = this.spec;
    let src = this.b4;
    let dst = this.a4;
    let payload: Uint8Array;
    switch (rng.int(7)) {
      case 0: // GRE that is not EoIP: another protocol type, any flags
        payload = build.grePayload(
          {
            protocol: rng.int(0x10000),
            ...(rng.int(2) ? { key: rng.u32() } : {}),
            checksum: rng.int(2) === 1,
          },
          rng.bytes(rng.int(64)),
        );
        break;
      case 1: // random bytes as a GRE payload
        payload = rng.bytes(rng.int(80));
        break;
      case 2: // EoIP with a random tunnel id
        payload = build.eoipPayload(rng.int(0x10000), this.frame());
        break;
      case 3: // the fuzz tunnel's id from a spoofed source
        // Any unicast host of 198.18.0.0/15: a source the kernel delivers (no martian).
        src = (0xc6120000 + rng.int(0x20000)) >>> 0;
        payload = build.eoipPayload(fuzzTid4, this.frame());
        break;
      case 4: // the fuzz tunnel, to a's other address
        dst = this.a4other;
        payload = build.eoipPayload(fuzzTid4, this.frame());
        break;
      case 5: {
        // the fuzz tunnel: frames, keepalives, and frame lengths that lie
        payload = build.eoipPayload(fuzzTid4, rng.int(6) === 0 ? new Uint8Array(0) : this.frame());
        const lie = rng.int(4);
        if (lie === 1) payload[5] = 1 + rng.int(13); // frame too short (length 1-13)
        if (lie === 2) payload[4] = 0xff; // frame length beyond the data
        if (lie === 3) payload = payload.subarray(0, rng.int(8)); // truncated EoIP header
        break;
      }
      default: // a valid EoIP packet with bytes changed
        payload = build.eoipPayload(rng.int(2) ? fuzzTid4 : rng.int(0x10000), this.frame());
        this.mutate(payload, 0);
        break;
    }
    const bytes = build.ipv4Packet({ src, dst, ttl: 64, identification: rng.int(0x10000) }, 47, payload);
    return this.judge4(bytes, v4bytes(dst));
  }

  private make6(): FuzzPacket | null {
    const rng = this.rng;
    const { fuzzTid6 } = this.spec;
    let src = this.b6;
    let dst = this.a6;
    let payload: Uint8Array;
    switch (rng.int(6)) {
      case 0: // random bytes (the version nibble too)
        payload = rng.bytes(rng.int(80));
        break;
      case 1: // EoIPv6 with a random tunnel id
        payload = build.eoipv6Payload(rng.int(0x1000), this.frame());
        break;
      case 2: // the fuzz tunnel's id from a spoofed source
        src = Uint8Array.from(this.b6);
        src.set(rng.bytes(8), 8);
        payload = build.eoipv6Payload(fuzzTid6, this.frame());
        break;
      case 3: // the fuzz tunnel, to a's other address
        dst = this.a6other;
        payload = build.eoipv6Payload(fuzzTid6, this.frame());
        break;
      case 4: // the fuzz tunnel: frames, keepalives, short frames, a lone byte
        payload = build.eoipv6Payload(
          fuzzTid6,
          rng.pick([new Uint8Array(0), rng.bytes(1 + rng.int(13)), this.frame()]),
        );
        if (rng.int(8) === 0) payload = payload.subarray(0, 1);
        break;
      default: // a valid EoIPv6 packet with bytes changed
        payload = build.eoipv6Payload(rng.int(2) ? fuzzTid6 : rng.int(0x1000), this.frame());
        this.mutate(payload, 0);
        break;
    }
    const bytes = build.ipv6Packet({ src, dst, hopLimit: 64 }, 97, payload);
    return this.judge6(bytes, src, dst);
  }

  /** The socket filter (4 bytes after the IPv4 header are 20 01 64 00), then the datapath. */
  private judge4(bytes: Uint8Array, dst: Uint8Array): FuzzPacket | null {
    const ihl = (bytes[0]! & 0x0f) * 4;
    const magic =
      bytes.length >= ihl + 4 &&
      bytes[ihl] === 0x20 &&
      bytes[ihl + 1] === 0x01 &&
      bytes[ihl + 2] === 0x64 &&
      bytes[ihl + 3] === 0x00;
    if (!magic) return { family: 4, bytes, dst, fate: 'filter:not_eoip', frameBytes: 0 };
    const verdict = receive4(bytes, 0, bytes.length, this.table, this.rx);
    return this.fate(4, bytes, dst, verdict);
  }

  /** The socket filter (at least 2 bytes, low nibble of the first one 3), then the datapath. */
  private judge6(bytes: Uint8Array, src: Uint8Array, dst: Uint8Array): FuzzPacket | null {
    const payload = bytes.subarray(40);
    if (payload.length < 2) return { family: 6, bytes, dst, fate: 'filter:truncated', frameBytes: 0 };
    if ((payload[0]! & 0x0f) !== 3) return { family: 6, bytes, dst, fate: 'filter:not_eoip', frameBytes: 0 };
    const verdict = receive6(payload, 0, payload.length, src, 0, dst, 0, this.table, this.rx);
    return this.fate(6, bytes, dst, verdict);
  }

  private fate(family: 4 | 6, bytes: Uint8Array, dst: Uint8Array, verdict: number): FuzzPacket | null {
    const tunnel = this.rx.tunnel;
    // Never a packet for a tunnel other than the fuzz tunnels (the pings must not be disturbed).
    if (tunnel !== null && tunnel.name !== 'fuzz') return null;
    if (verdict >= 0) {
      const fate: Fate = tunnel ? 'tunnel:rxErrors' : `drop:${DROP_REASON_NAMES[verdict]}`;
      return { family, bytes, dst, fate, frameBytes: 0 };
    }
    if (this.rx.keepalive) return { family, bytes, dst, fate: 'tunnel:rxKeepalives', frameBytes: 0 };
    return { family, bytes, dst, fate: 'tunnel:rxPackets', frameBytes: this.rx.frameLength };
  }
}

/** Expected counts: `${family}/${fate}` -> packets, plus delivered bytes per family. */
export type Tally = Record<string, number>;

export function tally(into: Tally, p: FuzzPacket): void {
  const key = `${p.family}/${p.fate}`;
  into[key] = (into[key] ?? 0) + 1;
  if (p.fate === 'tunnel:rxPackets')
    into[`${p.family}/tunnel:rxBytes`] = (into[`${p.family}/tunnel:rxBytes`] ?? 0) + p.frameBytes;
}
