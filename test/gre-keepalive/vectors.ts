/**
 * The shared keepalive corpus (docs/keepalive.md): run through the TS core
 * and through every BPF program, which must agree on verdict and reply bytes.
 * Expected replies are built with the packet builders, never by the core.
 */
import { Verdict } from '../../src/gre-keepalive/index.ts';
import * as build from '../../src/wire/build.ts';
import { EtherType } from '../../src/wire/ethernet.ts';
import { GreProto, setChecksum as greSetChecksum } from '../../src/wire/gre.ts';
import { Ipv4Flags, setChecksum as ipv4SetChecksum, parseAddress as p4 } from '../../src/wire/ipv4.ts';
import { fragmentBody, parseAddress as p6 } from '../../src/wire/ipv6.ts';

export type Layout = 'outer-l3' | 'outer-l2' | 'inner-l3';

export interface VectorPolicy {
  mode?: 'strict' | 'nat';
  peers?: string[];
  local?: string | null;
  remote?: string | null;
}

export interface Vector {
  name: string;
  layout: Layout;
  hex: string;
  policy?: VectorPolicy;
  expect: { verdict: number; replyHex?: string };
}

// The verdict numbers are the specification's (docs/keepalive.md), shared with bpf/include/gre_keepalive_decide.h.
const V = Verdict;

const A = p4('192.0.2.1')!; // the router asking
const B = p4('198.51.100.2')!; // us
const A6 = p6('2001:db8::1')!;
const B6 = p6('2001:db8::2')!;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const MAC_US = 0x020000000002;
const MAC_ROUTER = 0x020000000001;

/** Inner keepalive B -> A (what comes back), IPv4. */
function inner4(
  src = B,
  dst = A,
  greOpts: Partial<build.GreOptions> = {},
  payload = new Uint8Array(0),
): Uint8Array {
  return build.ipv4Packet(
    { src, dst, ttl: 255 },
    47,
    build.grePayload({ protocol: GreProto.KEEPALIVE, ...greOpts }, payload),
  );
}

function inner6(
  src = B6,
  dst = A6,
  protocol: number = GreProto.IPV6,
  extensions: build.Ipv6Options['extensions'] = [],
): Uint8Array {
  return build.ipv6Packet(
    { src, dst, hopLimit: 255, extensions },
    47,
    build.grePayload({ protocol }, new Uint8Array(0)),
  );
}

function outer4(
  inner: Uint8Array,
  o: Partial<build.Ipv4Options> = {},
  greOpts: Partial<build.GreOptions> = {},
): Uint8Array {
  return build.ipv4Packet(
    { src: A, dst: B, ttl: 255, ...o },
    47,
    build.grePayload({ protocol: GreProto.IPV4, ...greOpts }, inner),
  );
}

function outer6(
  inner: Uint8Array,
  extensions: build.Ipv6Options['extensions'] = [],
  src = A6,
  dst = B6,
): Uint8Array {
  return build.ipv6Packet(
    { src, dst, hopLimit: 255, extensions },
    47,
    build.grePayload({ protocol: GreProto.IPV6 }, inner),
  );
}

function eth(ip: Uint8Array, type: number, tags: [number, number][] = []): Uint8Array {
  return build.ethernetFrame(MAC_US, MAC_ROUTER, type, ip, tags);
}

function reply(
  name: string,
  layout: Layout,
  packet: Uint8Array,
  expected: Uint8Array,
  policy?: VectorPolicy,
): Vector {
  return {
    name,
    layout,
    hex: hex(packet),
    ...(policy ? { policy } : {}),
    expect: { verdict: V.REPLY, replyHex: hex(expected) },
  };
}

function ignored(
  name: string,
  layout: Layout,
  packet: Uint8Array,
  verdict: number,
  policy?: VectorPolicy,
): Vector {
  return { name, layout, hex: hex(packet), ...(policy ? { policy } : {}), expect: { verdict } };
}

const cisco = inner4();
const hbh = { type: 0, body: new Uint8Array(6), reserved: 0 };
const dstOpts = { type: 60, body: new Uint8Array(6), reserved: 0 };
const natInner = inner4(B, p4('192.168.88.1')!);
const natExpected = inner4(B, A);
const natInner6 = inner6(B6, p6('fd00::1')!);
const badChecksum = Buffer.from(cisco);
badChecksum[10]! ^= 0xff;
const innerFragment = build.ipv4Packet(
  { src: B, dst: A, flags: Ipv4Flags.MORE_FRAGMENTS },
  47,
  build.grePayload({ protocol: 0 }, new Uint8Array(0)),
);
const longInner = Buffer.from(cisco);
longInner[3] = 60; // total length says 60; only 24 bytes follow in the outer packet
ipv4SetChecksum(longInner, 0);
const greChecksummed = build.grePayload(
  { protocol: GreProto.IPV4, checksum: true, key: 7, sequence: 9 },
  cisco,
);
greSetChecksum(greChecksummed, 0, greChecksummed.length);

export const VECTORS: Vector[] = [
  reply('cisco ipv4 (docs worked example)', 'outer-l3', build.greKeepaliveRequest4(A, B), cisco),
  reply(
    'cisco ipv4 on the underlay NIC',
    'outer-l2',
    eth(build.greKeepaliveRequest4(A, B), EtherType.IPV4),
    cisco,
  ),
  reply(
    'ipv4 on a QinQ-tagged underlay',
    'outer-l2',
    eth(build.greKeepaliveRequest4(A, B), EtherType.IPV4, [
      [EtherType.QINQ, 10],
      [EtherType.VLAN, 20],
    ]),
    cisco,
  ),
  reply(
    'outer GRE with C, K and S',
    'outer-l3',
    build.ipv4Packet({ src: A, dst: B, ttl: 255 }, 47, greChecksummed),
    cisco,
  ),
  reply(
    'inner GRE with a key (OpenBSD style payload)',
    'outer-l3',
    outer4(inner4(B, A, { key: 0x1234 }, new Uint8Array(16).fill(7))),
    inner4(B, A, { key: 0x1234 }, new Uint8Array(16).fill(7)),
  ),
  reply(
    'outer IPv4 options',
    'outer-l3',
    outer4(cisco, { options: Buffer.from('0101 0101'.replace(/ /g, ''), 'hex') }),
    cisco,
  ),
  reply(
    'huawei outer protocol 0x0004',
    'outer-l3',
    outer4(cisco, {}, { protocol: GreProto.HUAWEI_IPV4 }),
    cisco,
  ),
  reply('mikrotik gre6 (inner 0x86dd)', 'outer-l3', build.greKeepaliveRequest6(A6, B6), inner6()),
  reply('gre6 with inner protocol 0', 'outer-l3', build.greKeepaliveRequest6(A6, B6, 0), inner6(B6, A6, 0)),
  reply(
    'gre6 on the underlay NIC',
    'outer-l2',
    eth(build.greKeepaliveRequest6(A6, B6), EtherType.IPV6),
    inner6(),
  ),
  reply('gre6 with outer extension headers', 'outer-l3', outer6(inner6(), [hbh, dstOpts]), inner6()),
  reply(
    'gre6 with inner extension headers',
    'outer-l3',
    outer6(inner6(B6, A6, GreProto.IPV6, [dstOpts])),
    inner6(B6, A6, GreProto.IPV6, [dstOpts]),
  ),
  reply('nat: private inner destination rewritten to the peer', 'outer-l3', outer4(natInner), natExpected, {
    mode: 'nat',
  }),
  ignored('strict: private inner destination refused', 'outer-l3', outer4(natInner), V.THIRD_PARTY),
  reply('nat gre6: ULA inner destination rewritten', 'outer-l3', outer6(natInner6), inner6(), {
    mode: 'nat',
  }),
  ignored(
    'open relay: public third-party destination (strict)',
    'outer-l3',
    outer4(inner4(B, p4('203.0.113.77')!)),
    V.THIRD_PARTY,
  ),
  ignored(
    'open relay: public third-party destination (nat)',
    'outer-l3',
    outer4(inner4(B, p4('203.0.113.77')!)),
    V.THIRD_PARTY,
    { mode: 'nat' },
  ),
  ignored('forged inner source', 'outer-l3', outer4(inner4(p4('198.51.100.99')!, A)), V.FORGED_SOURCE),
  ignored('forged inner source gre6', 'outer-l3', outer6(inner6(p6('2001:db8::99')!, A6)), V.FORGED_SOURCE),
  ignored('peer not in the allow-list', 'outer-l3', build.greKeepaliveRequest4(A, B), V.PEER_NOT_ALLOWED, {
    peers: ['203.0.113.0/24', '2001:db8:ffff::/48'],
  }),
  reply('peer in the allow-list', 'outer-l3', build.greKeepaliveRequest4(A, B), cisco, {
    peers: ['203.0.113.0/24', '192.0.2.0/25'],
  }),
  ignored('gre6 peer not allowed', 'outer-l3', build.greKeepaliveRequest6(A6, B6), V.PEER_NOT_ALLOWED, {
    peers: ['2001:db8:ffff::/48'],
  }),
  ignored('inner packet too large', 'outer-l3', outer4(inner4(B, A, {}, new Uint8Array(200))), V.TOO_LARGE),
  ignored(
    'gre data (inner udp)',
    'outer-l3',
    outer4(build.ipv4Packet({ src: B, dst: A }, 17, new Uint8Array(8))),
    V.NOT_KEEPALIVE,
  ),
  ignored(
    'inner gre carrying ipv4, not a keepalive',
    'outer-l3',
    outer4(
      build.ipv4Packet(
        { src: B, dst: A },
        47,
        build.grePayload({ protocol: GreProto.IPV4 }, new Uint8Array(0)),
      ),
    ),
    V.NOT_KEEPALIVE,
  ),
  ignored(
    'eoip (gre version 1)',
    'outer-l3',
    build.eoipPacket({ src: A, dst: B }, 100, new Uint8Array(0)),
    V.NOT_KEEPALIVE,
  ),
  ignored(
    'gre transparent ethernet',
    'outer-l3',
    build.ipv4Packet(
      { src: A, dst: B },
      47,
      build.grePayload({ protocol: GreProto.TEB }, new Uint8Array(60)),
    ),
    V.NOT_KEEPALIVE,
  ),
  ignored('not gre: udp', 'outer-l3', build.ipv4Packet({ src: A, dst: B }, 17, new Uint8Array(8)), V.NOT_GRE),
  ignored('not ip on the underlay: arp', 'outer-l2', eth(new Uint8Array(28), EtherType.ARP), V.NOT_GRE),
  ignored('outer fragment', 'outer-l3', outer4(cisco, { flags: Ipv4Flags.MORE_FRAGMENTS }), V.FRAGMENT),
  ignored('inner fragment', 'outer-l3', outer4(innerFragment), V.FRAGMENT),
  ignored(
    'outer ipv6 fragment',
    'outer-l3',
    outer6(inner6(), [{ type: 44, body: fragmentBody(0, true, 5), reserved: 0 }]),
    V.FRAGMENT,
  ),
  ignored('inner checksum wrong', 'outer-l3', outer4(badChecksum), V.MALFORMED),
  ignored('inner total length beyond the outer packet', 'outer-l3', outer4(longInner), V.MALFORMED),
  ignored(
    'truncated outer gre',
    'outer-l3',
    build.ipv4Packet({ src: A, dst: B }, 47, Buffer.from('0000', 'hex')),
    V.MALFORMED,
  ),
  ignored('inner family does not match outer gre protocol', 'outer-l3', outer4(inner6()), V.MALFORMED),
  reply('inner-l3: decapsulated keepalive, no tunnel addresses configured', 'inner-l3', cisco, cisco),
  reply('inner-l3: tunnel addresses match', 'inner-l3', cisco, cisco, {
    local: '198.51.100.2',
    remote: '192.0.2.1',
  }),
  ignored('inner-l3: source is not our tunnel address', 'inner-l3', cisco, V.FORGED_SOURCE, {
    local: '198.51.100.3',
    remote: '192.0.2.1',
  }),
  ignored('inner-l3: destination is not the tunnel peer', 'inner-l3', cisco, V.THIRD_PARTY, {
    local: '198.51.100.2',
    remote: '192.0.2.9',
  }),
  reply('inner-l3 gre6', 'inner-l3', inner6(), inner6(), { local: '2001:db8::2', remote: '2001:db8::1' }),
  ignored(
    'inner-l3: plain ipv4 data',
    'inner-l3',
    build.ipv4Packet({ src: B, dst: A }, 1, new Uint8Array(8)),
    V.NOT_GRE,
  ),
];

// ---------------------------------------------------------------------------------------------------
// Added with the eBPF programs (bpf/, test/bpf/): edge cases of the parsers both engines implement —
// IPv4 option walking, IPv6 extension chains, GRE bits, VLAN stacks, family mismatches, the inner-l3
// policy (nat rewrite, allow-list on the inner destination) and LPM prefixes. Append-only block.
// ---------------------------------------------------------------------------------------------------

/** An IPv4 packet (protocol 47) whose payload is given as raw bytes: GRE headers the builder will not make. */
function rawGre4(
  src: number,
  dst: number,
  greBytes: string,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return build.ipv4Packet({ src, dst, ttl: 255 }, 47, Buffer.concat([Buffer.from(greBytes, 'hex'), payload]));
}

/** Ethernet with three VLAN tags (the builder stops at two). */
function eth3Tags(ip: Uint8Array): Uint8Array {
  const head = Buffer.from('020000000002020000000001' + '8100000a' + '81000014' + '8100001e' + '0800', 'hex');
  return Buffer.concat([head, ip]);
}

const innerWithOptions = (options: string) =>
  build.ipv4Packet(
    { src: B, dst: A, ttl: 255, options: Buffer.from(options, 'hex') },
    47,
    build.grePayload({ protocol: GreProto.KEEPALIVE }, new Uint8Array(0)),
  );
const inner6Fragment = inner6(B6, A6, GreProto.IPV6, [
  { type: 44, body: fragmentBody(0, true, 9), reserved: 0 },
]);
const authHeader = { type: 51, body: new Uint8Array(10), reserved: 0 };
const bothTunnelAddresses4 = { local: '198.51.100.2', remote: '192.0.2.1' };
const bothTunnelAddresses6 = { local: '2001:db8::2', remote: '2001:db8::1' };
const inner4Gre6Proto = inner4(B, A, { protocol: GreProto.IPV6 });

VECTORS.push(
  reply(
    'outer ipv4 option with a length (router alert)',
    'outer-l3',
    outer4(cisco, { options: Buffer.from('94040000', 'hex') }),
    cisco,
  ),
  ignored(
    'outer ipv4 option with length 0',
    'outer-l3',
    outer4(cisco, { options: Buffer.from('07000000', 'hex') }),
    V.MALFORMED,
  ),
  ignored(
    'inner ipv4 option running past its header',
    'outer-l3',
    outer4(innerWithOptions('01440800')),
    V.MALFORMED,
  ),
  reply(
    'inner ipv4 options (nop, nop, end)',
    'outer-l3',
    outer4(innerWithOptions('01010000')),
    innerWithOptions('01010000'),
  ),
  ignored('ipv6 hop-by-hop options not first', 'outer-l3', outer6(inner6(), [dstOpts, hbh]), V.MALFORMED),
  reply(
    'gre6 atomic fragment (offset 0, no more fragments)',
    'outer-l3',
    outer6(inner6(), [{ type: 44, body: fragmentBody(0, false, 7), reserved: 0 }]),
    inner6(),
  ),
  ignored('gre6 inner fragment', 'outer-l3', outer6(inner6Fragment), V.FRAGMENT),
  reply('gre6 with an authentication header', 'outer-l3', outer6(inner6(), [authHeader]), inner6()),
  ignored('outer gre with the routing bit', 'outer-l3', rawGre4(A, B, '40000800', cisco), V.NOT_KEEPALIVE),
  ignored(
    'outer gre version 1 (pptp) with protocol 0x0800',
    'outer-l3',
    rawGre4(A, B, '00010800', cisco),
    V.NOT_KEEPALIVE,
  ),
  ignored('inner gre version 1', 'outer-l3', outer4(rawGre4(B, A, '00010000')), V.NOT_KEEPALIVE),
  ignored('inner gre truncated', 'outer-l3', outer4(rawGre4(B, A, '0000')), V.MALFORMED),
  ignored(
    'inner gre with a key, truncated',
    'outer-l3',
    outer4(rawGre4(B, A, '20000000' + '0000')),
    V.MALFORMED,
  ),
  ignored(
    'ipv6 keepalive inside ipv4 gre (0x86dd): the families differ',
    'outer-l3',
    outer4(inner6(), {}, { protocol: GreProto.IPV6 }),
    V.MALFORMED,
  ),
  ignored(
    'ipv4 keepalive inside gre6 (0x0800): the families differ',
    'outer-l3',
    build.ipv6Packet(
      { src: A6, dst: B6, hopLimit: 255 },
      47,
      build.grePayload({ protocol: GreProto.IPV4 }, cisco),
    ),
    V.MALFORMED,
  ),
  reply(
    'gre6 behind one 802.1Q tag',
    'outer-l2',
    eth(build.greKeepaliveRequest6(A6, B6), EtherType.IPV6, [[EtherType.VLAN, 7]]),
    inner6(),
  ),
  ignored('three vlan tags', 'outer-l2', eth3Tags(build.greKeepaliveRequest4(A, B)), V.NOT_GRE),
  reply(
    'inner-l3 nat: private destination rewritten to the configured remote',
    'inner-l3',
    natInner,
    natExpected,
    { mode: 'nat', ...bothTunnelAddresses4 },
  ),
  ignored(
    'inner-l3 strict: private destination refused',
    'inner-l3',
    natInner,
    V.THIRD_PARTY,
    bothTunnelAddresses4,
  ),
  reply('inner-l3 nat gre6: ULA destination rewritten', 'inner-l3', natInner6, inner6(), {
    mode: 'nat',
    ...bothTunnelAddresses6,
  }),
  ignored('inner-l3: peer (inner destination) not in the allow-list', 'inner-l3', cisco, V.PEER_NOT_ALLOWED, {
    peers: ['203.0.113.0/24'],
    ...bothTunnelAddresses4,
  }),
  reply('inner-l3: peer allowed by its prefix', 'inner-l3', cisco, cisco, {
    peers: ['192.0.2.0/24'],
    ...bothTunnelAddresses4,
  }),
  reply(
    'inner-l3: ipv4 keepalive whose inner gre protocol is 0x86dd',
    'inner-l3',
    inner4Gre6Proto,
    inner4Gre6Proto,
    bothTunnelAddresses4,
  ),
  ignored('inner-l3: too large', 'inner-l3', inner4(B, A, {}, new Uint8Array(120)), V.TOO_LARGE),
  ignored(
    'inner-l3: ipv6 that is not gre',
    'inner-l3',
    build.ipv6Packet({ src: B6, dst: A6 }, 58, new Uint8Array(8)),
    V.NOT_GRE,
  ),
  ignored(
    'inner-l3: not ip at all',
    'inner-l3',
    Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    V.NOT_GRE,
  ),
  reply('allow-list with a /0 prefix', 'outer-l3', build.greKeepaliveRequest4(A, B), cisco, {
    peers: ['0.0.0.0/0'],
  }),
  reply(
    'ipv6 allow-list, prefix not on a byte boundary',
    'outer-l3',
    build.greKeepaliveRequest6(A6, B6),
    inner6(),
    {
      peers: ['2001:db8::/33'],
    },
  ),
  ignored(
    'ipv6 allow-list, a near miss',
    'outer-l3',
    build.greKeepaliveRequest6(A6, B6),
    V.PEER_NOT_ALLOWED,
    { peers: ['2001:db8::100/120', '192.0.2.1'] },
  ),
);
