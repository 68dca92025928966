/**
 * The EoIP datapath corpus shared by the TypeScript datapath (src/eoip/datapath.ts) and the eBPF
 * programs (bpf/eoip_decap.c, bpf/eoip_encap.c): a tunnel table, received packets that exercise every
 * drop reason and delivery, and frames to send. test/bpf/eoip.test.ts runs each through both engines.
 */
import * as build from '../../src/wire/build.ts';
import { EtherType } from '../../src/wire/ethernet.ts';
import { parseAddress as v4 } from '../../src/wire/ipv4.ts';
import { parseAddress as v6 } from '../../src/wire/ipv6.ts';

export interface CorpusTunnel {
  name: string;
  family: 4 | 6;
  tunnelId: number;
  remote: string;
  /** Configured local address, or null (any local address). */
  local: string | null;
  /** The address the kernel would choose as source (what the eBPF datapath sends from and expects as destination). */
  resolvedLocal: string;
  ttl: number;
  tos: number;
}

export const LOCAL4 = '192.0.2.1';
export const LOCAL6 = '2001:db8::1';

export const CORPUS_TUNNELS: readonly CorpusTunnel[] = [
  {
    name: 'a',
    family: 4,
    tunnelId: 100,
    remote: '198.51.100.2',
    local: LOCAL4,
    resolvedLocal: LOCAL4,
    ttl: 255,
    tos: 0,
  },
  {
    name: 'b',
    family: 4,
    tunnelId: 200,
    remote: '198.51.100.3',
    local: null,
    resolvedLocal: LOCAL4,
    ttl: 64,
    tos: 0x10,
  },
  {
    name: 'c',
    family: 6,
    tunnelId: 1234,
    remote: '2001:db8::2',
    local: LOCAL6,
    resolvedLocal: LOCAL6,
    ttl: 255,
    tos: 0,
  },
  {
    name: 'd',
    family: 6,
    tunnelId: 7,
    remote: '2001:db8::3',
    local: null,
    resolvedLocal: LOCAL6,
    ttl: 200,
    tos: 0xb8,
  },
];

export interface RxCase {
  name: string;
  family: 4 | 6;
  /** The whole IP packet as it arrives (IPv4 header or IPv6 header first). */
  packet: Uint8Array;
  /** Bytes after the IP packet inside the Ethernet frame (padding). */
  trailer?: Uint8Array;
}

export interface TxCase {
  name: string;
  tunnel: string;
  /** The Ethernet frame the stack sends into the tap. */
  frame: Uint8Array;
}

const MAC_A = 0x020000000001;
const MAC_B = 0x020000000002;

function arpFrame(): Uint8Array {
  return build.ethernetFrame(0xffffffffffff, MAC_A, EtherType.ARP, new Uint8Array(28).fill(9));
}

function ipv4Frame(payloadLength: number, seed = 1): Uint8Array {
  const payload = new Uint8Array(payloadLength).map((_, i) => (i * 7 + seed) & 0xff);
  const ip = build.ipv4Packet({ src: v4('10.0.0.1')!, dst: v4('10.0.0.2')! }, 1, payload);
  return build.ethernetFrame(MAC_B, MAC_A, EtherType.IPV4, ip);
}

function ipv6Frame(payloadLength: number): Uint8Array {
  const payload = new Uint8Array(payloadLength).map((_, i) => (i * 13) & 0xff);
  const ip = build.ipv6Packet({ src: v6('fd00::1')!, dst: v6('fd00::2')! }, 58, payload);
  return build.ethernetFrame(MAC_B, MAC_A, EtherType.IPV6, ip);
}

function eoip4(
  tid: number,
  frame: Uint8Array,
  src: string,
  dst = LOCAL4,
  o: Partial<build.Ipv4Options> = {},
) {
  return build.eoipPacket({ src: v4(src)!, dst: v4(dst)!, ttl: 255, ...o }, tid, frame);
}

function eoip6(tid: number, frame: Uint8Array, src: string, dst = LOCAL6): Uint8Array {
  return build.eoipv6Packet({ src: v6(src)!, dst: v6(dst)!, hopLimit: 255 }, tid, frame);
}

/** An EoIP packet whose header fields are set by hand (length field, magic). */
function rawEoip4(
  payload: Uint8Array,
  src = '198.51.100.2',
  dst = LOCAL4,
  o: Partial<build.Ipv4Options> = {},
) {
  return build.ipv4Packet({ src: v4(src)!, dst: v4(dst)!, ttl: 255, ...o }, 47, payload);
}

function eoipHeader(tid: number, frameLength: number): Uint8Array {
  return Uint8Array.of(0x20, 0x01, 0x64, 0x00, frameLength >>> 8, frameLength & 0xff, tid & 0xff, tid >>> 8);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function withChecksumBroken(p: Uint8Array): Uint8Array {
  const out = Uint8Array.from(p);
  out[10]! ^= 0x55;
  return out;
}

const A = '198.51.100.2';
const B = '198.51.100.3';
const C = '2001:db8::2';
const D = '2001:db8::3';

export const RX_CASES: readonly RxCase[] = [
  { name: 'eoip: ARP frame to tunnel a', family: 4, packet: eoip4(100, arpFrame(), A) },
  { name: 'eoip: 98-byte IPv4 frame to tunnel a', family: 4, packet: eoip4(100, ipv4Frame(64), A) },
  { name: 'eoip: 1514-byte frame to tunnel a', family: 4, packet: eoip4(100, ipv4Frame(1480), A) },
  { name: 'eoip: IPv6 frame to tunnel b (any local)', family: 4, packet: eoip4(200, ipv6Frame(100), B) },
  {
    name: 'eoip: outer IPv4 options',
    family: 4,
    packet: eoip4(100, ipv4Frame(64), A, LOCAL4, { options: Uint8Array.of(1, 1, 1, 0) }),
  },
  {
    name: 'eoip: Ethernet padding after the packet',
    family: 4,
    packet: eoip4(100, ipv4Frame(64), A),
    trailer: new Uint8Array(18),
  },
  {
    name: 'eoip: bytes after the frame length inside the packet',
    family: 4,
    packet: rawEoip4(concat(eoipHeader(100, 98), ipv4Frame(64), new Uint8Array(10).fill(0xee))),
  },
  { name: 'eoip: keepalive to tunnel a', family: 4, packet: eoip4(100, new Uint8Array(0), A) },
  { name: 'eoip: keepalive to tunnel b', family: 4, packet: eoip4(200, new Uint8Array(0), B) },
  {
    name: 'eoip: frame length 5',
    family: 4,
    packet: rawEoip4(concat(eoipHeader(100, 5), new Uint8Array(5))),
  },
  {
    name: 'eoip: frame length beyond the data',
    family: 4,
    packet: rawEoip4(concat(eoipHeader(100, 200), ipv4Frame(64))),
  },
  { name: 'eoip: unknown tunnel id', family: 4, packet: eoip4(999, ipv4Frame(64), A) },
  {
    name: 'eoip: known tunnel id, wrong source',
    family: 4,
    packet: eoip4(100, ipv4Frame(64), '203.0.113.9'),
  },
  {
    name: 'eoip: configured local, other destination',
    family: 4,
    packet: eoip4(100, ipv4Frame(64), A, '192.0.2.99'),
  },
  {
    name: 'eoip: any local, other local destination',
    family: 4,
    packet: eoip4(200, ipv4Frame(64), B, '192.0.2.99'),
  },
  {
    name: 'gre: plain GRE carrying IPv4',
    family: 4,
    packet: rawEoip4(
      concat(Uint8Array.of(0, 0, 0x08, 0), build.ipv4Packet({ src: 1, dst: 2 }, 1, new Uint8Array(8))),
    ),
  },
  {
    name: 'gre: PPTP (version 1, 0x880b)',
    family: 4,
    packet: rawEoip4(Uint8Array.of(0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9)),
  },
  { name: 'eoip: 6 bytes of header', family: 4, packet: rawEoip4(eoipHeader(100, 0).subarray(0, 6)) },
  { name: 'eoip: 2 bytes of header', family: 4, packet: rawEoip4(eoipHeader(100, 0).subarray(0, 2)) },
  {
    name: 'eoip: fragment (more fragments)',
    family: 4,
    packet: eoip4(100, ipv4Frame(64), A, LOCAL4, { flags: 1 }),
  },
  { name: 'eoip: bad header checksum', family: 4, packet: withChecksumBroken(eoip4(100, ipv4Frame(64), A)) },
  {
    name: 'eoip: tiny frame (adjust_room minimum)',
    family: 4,
    packet: rawEoip4(concat(eoipHeader(100, 18), ipv4Frame(64).subarray(0, 18))),
  },
  {
    name: 'udp: not a tunnel packet',
    family: 4,
    packet: build.ipv4Packet({ src: v4(A)!, dst: v4(LOCAL4)! }, 17, new Uint8Array(40)),
  },
  { name: 'eoipv6: ARP frame to tunnel c', family: 6, packet: eoip6(1234, arpFrame(), C) },
  { name: 'eoipv6: 1514-byte frame to tunnel c', family: 6, packet: eoip6(1234, ipv4Frame(1480), C) },
  { name: 'eoipv6: IPv4 frame to tunnel d (any local)', family: 6, packet: eoip6(7, ipv4Frame(200), D) },
  {
    name: 'eoipv6: Ethernet padding after the packet',
    family: 6,
    packet: eoip6(1234, ipv4Frame(64), C),
    trailer: new Uint8Array(6),
  },
  { name: 'eoipv6: keepalive to tunnel c', family: 6, packet: eoip6(1234, new Uint8Array(0), C) },
  { name: 'eoipv6: frame of 5 bytes', family: 6, packet: eoip6(1234, new Uint8Array(5), C) },
  { name: 'eoipv6: unknown tunnel id', family: 6, packet: eoip6(99, ipv4Frame(64), C) },
  {
    name: 'eoipv6: known tunnel id, wrong source',
    family: 6,
    packet: eoip6(1234, ipv4Frame(64), '2001:db8::99'),
  },
  {
    name: 'eoipv6: configured local, other destination',
    family: 6,
    packet: eoip6(1234, ipv4Frame(64), C, '2001:db8::77'),
  },
  {
    name: 'eoipv6: any local, other local destination',
    family: 6,
    packet: eoip6(7, ipv4Frame(64), D, '2001:db8::77'),
  },
  {
    name: 'eoipv6: version nibble not 3',
    family: 6,
    packet: build.ipv6Packet(
      { src: v6(C)!, dst: v6(LOCAL6)! },
      97,
      concat(Uint8Array.of(0x44, 0xd2), ipv4Frame(64)),
    ),
  },
  {
    name: 'eoipv6: one byte of header',
    family: 6,
    packet: build.ipv6Packet({ src: v6(C)!, dst: v6(LOCAL6)! }, 97, Uint8Array.of(0x43)),
  },
  {
    name: 'udp6: not a tunnel packet',
    family: 6,
    packet: build.ipv6Packet({ src: v6(C)!, dst: v6(LOCAL6)! }, 17, new Uint8Array(40)),
  },
];

export const TX_CASES: readonly TxCase[] = [
  { name: 'eoip: 98-byte IPv4 frame', tunnel: 'a', frame: ipv4Frame(64) },
  { name: 'eoip: IPv6 frame (outer family differs)', tunnel: 'b', frame: ipv6Frame(100) },
  { name: 'eoip: 1472-byte frame (max for MTU 1458)', tunnel: 'a', frame: ipv4Frame(1438) },
  { name: 'eoip: 1514-byte frame (over max: slow path)', tunnel: 'a', frame: ipv4Frame(1480) },
  { name: 'eoip: ARP frame (not IP: through the resend end)', tunnel: 'a', frame: arpFrame() },
  { name: 'eoipv6: ARP frame (not IP: through the resend end)', tunnel: 'd', frame: arpFrame() },
  { name: 'eoipv6: IPv4 frame (outer family differs)', tunnel: 'c', frame: ipv4Frame(64) },
  { name: 'eoipv6: IPv6 frame, traffic class', tunnel: 'd', frame: ipv6Frame(300) },
  { name: 'eoipv6: 1458-byte frame (max for MTU 1444)', tunnel: 'c', frame: ipv4Frame(1424) },
  { name: 'eoipv6: 1459-byte frame (over max: slow path)', tunnel: 'c', frame: ipv4Frame(1425) },
];

/** Largest frame on the fast path per tunnel in the corpus: a 1500-byte underlay. */
export function corpusMaxFrame(family: 4 | 6): number {
  return family === 4 ? 1500 - 28 : 1500 - 42;
}
