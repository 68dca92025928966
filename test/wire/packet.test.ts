import test from 'ava';
import * as build from '../../src/wire/build.ts';
import { EtherType } from '../../src/wire/ethernet.ts';
import { GreProto } from '../../src/wire/gre.ts';
import { Ipv4Flags, parseAddress as v4 } from '../../src/wire/ipv4.ts';
import { fragmentBody, parseAddress as v6Parse } from '../../src/wire/ipv6.ts';
import * as packet from '../../src/wire/packet.ts';
import { WireStatus } from '../../src/wire/status.ts';
import { CISCO_KEEPALIVE_REQUEST, ROUTEROS_EOIP_KEEPALIVE, toHex } from '../helpers.ts';

const { FrameKind, LayerKind } = packet;
const v6 = (s: string) => v6Parse(s)!;
const A4 = v4('192.0.2.1')!;
const B4 = v4('198.51.100.2')!;
const A6 = v6('2001:db8::1');
const B6 = v6('2001:db8::2');
const ARP_FRAME = build.ethernetFrame(
  0xffffffffffff,
  0x020000000001,
  EtherType.ARP,
  new Uint8Array(28).fill(7),
);

function kinds(d: packet.Dissection): string[] {
  return d.layers.slice(0, d.layerCount).map((l) => packet.LAYER_NAMES[l.kind]);
}

function dissectRaw(bytes: Uint8Array) {
  const d = packet.createDissection();
  packet.dissect(bytes, packet.LinkLayer.IP, d);
  return d;
}

test('the docs/gre-keepalive-packets.md worked example is a GRE keepalive request', (t) => {
  const d = dissectRaw(CISCO_KEEPALIVE_REQUEST);
  t.is(d.status, WireStatus.OK);
  t.is(d.kind, FrameKind.GRE_KEEPALIVE);
  t.deepEqual(kinds(d), ['ipv4', 'gre', 'ipv4', 'gre']);
  t.is(d.layers[2]!.ip4.src, B4);
  t.is(d.layers[2]!.ip4.dst, A4);
  t.true(packet.reencodesExactly(d, CISCO_KEEPALIVE_REQUEST));
});

test('the builder reproduces the worked example byte for byte', (t) => {
  t.is(toHex(build.greKeepaliveRequest4(A4, B4)), toHex(CISCO_KEEPALIVE_REQUEST));
});

test('keepalive variants: keys and checksums, Huawei 0x0004, GRE6 with 0x86DD and 0', (t) => {
  const huawei = build.greKeepaliveRequest4(A4, B4, { protocol: GreProto.HUAWEI_IPV4 });
  const keyed = build.greKeepaliveRequest4(A4, B4, { key: 42, checksum: true, sequence: 7 });
  for (const bytes of [huawei, keyed]) {
    const d = dissectRaw(bytes);
    t.is(d.kind, FrameKind.GRE_KEEPALIVE);
    t.true(packet.reencodesExactly(d, bytes));
  }
  for (const inner of [GreProto.IPV6, GreProto.KEEPALIVE]) {
    const bytes = build.greKeepaliveRequest6(A6, B6, inner);
    const d = dissectRaw(bytes);
    t.is(d.kind, FrameKind.GRE_KEEPALIVE);
    t.deepEqual(kinds(d), ['ipv6', 'gre', 'ipv6', 'gre']);
    t.true(packet.reencodesExactly(d, bytes));
  }
  t.is(build.greKeepaliveRequest6(A6, B6).length, 88, 'MikroTik GRE6 keepalive is 88 bytes');
});

test('a large inner GRE packet is not a keepalive', (t) => {
  const inner = build.ipv4Packet(
    { src: B4, dst: A4 },
    47,
    build.grePayload({ protocol: 0 }, new Uint8Array(200)),
  );
  const bytes = build.ipv4Packet(
    { src: A4, dst: B4 },
    47,
    build.grePayload({ protocol: GreProto.IPV4 }, inner),
  );
  t.is(dissectRaw(bytes).kind, FrameKind.GRE);
});

test('EoIP data and keepalive, from RouterOS and from the builder', (t) => {
  const ka = dissectRaw(ROUTEROS_EOIP_KEEPALIVE);
  t.is(ka.kind, FrameKind.EOIP_KEEPALIVE);
  t.is(ka.layers[1]!.eoip.tunnelId, 100);
  const bytes = build.eoipPacket({ src: A4, dst: B4 }, 0x1234, ARP_FRAME);
  const d = dissectRaw(bytes);
  t.is(d.kind, FrameKind.EOIP);
  t.deepEqual(kinds(d), ['ipv4', 'eoip', 'ethernet']);
  t.is(d.layers[1]!.eoip.tunnelId, 0x1234);
  t.is(d.layers[1]!.eoip.frameLength, ARP_FRAME.length);
  t.is(d.layers[2]!.eth.etherType, EtherType.ARP);
  t.is(d.layers[0]!.ip4.ttl, 255);
  t.true(packet.reencodesExactly(d, bytes));
});

test('EoIP frame shorter than an Ethernet header, or longer than the data, is malformed', (t) => {
  const short = build.ipv4Packet({ src: A4, dst: B4 }, 47, Buffer.from('200164000005010001020304', 'hex'));
  t.is(dissectRaw(short).status, WireStatus.EOIP_FRAME_TOO_SHORT);
  const long = build.ipv4Packet(
    { src: A4, dst: B4 },
    47,
    Buffer.from(`20016400 0040 0100 ${'00'.repeat(20)}`.replace(/ /g, ''), 'hex'),
  );
  t.is(dissectRaw(long).status, WireStatus.EOIP_FRAME_EXCEEDS_DATA);
});

test('EoIP in a first IPv4 fragment is a partial frame; later fragments are opaque', (t) => {
  const whole = build.eoipPacket({ src: A4, dst: B4, flags: Ipv4Flags.MORE_FRAGMENTS }, 7, ARP_FRAME);
  const first = whole.subarray(0, 20 + 8 + 16);
  first[3] = first.length; // total length of the fragment
  const d = dissectRaw(first);
  t.is(d.status, WireStatus.OK);
  t.is(d.kind, FrameKind.EOIP);
  t.true(d.firstFragment);
  t.true(d.partialFrame);
  const later = build.ipv4Packet({ src: A4, dst: B4 }, 47, new Uint8Array(16));
  later[6] = 0x00;
  later[7] = 0x03; // fragment offset 3 (24 bytes)
  t.is(dissectRaw(later).kind, FrameKind.IP_FRAGMENT);
});

test('EoIPv6 data and keepalive, through an extension header chain', (t) => {
  const exts = [
    { type: 0, body: new Uint8Array(6), reserved: 0 },
    { type: 60, body: new Uint8Array(6), reserved: 0 },
  ];
  const data = build.eoipv6Packet({ src: A6, dst: B6, extensions: exts }, 1234, ARP_FRAME);
  const d = dissectRaw(data);
  t.is(d.kind, FrameKind.EOIPV6);
  t.deepEqual(kinds(d), ['ipv6', 'eoipv6', 'ethernet']);
  t.is(d.layers[1]!.eoipv6.tunnelId, 1234);
  t.true(packet.reencodesExactly(d, data));
  const ka = build.eoipv6Packet({ src: A6, dst: B6 }, 4095, new Uint8Array(0));
  const k = dissectRaw(ka);
  t.is(k.kind, FrameKind.EOIPV6_KEEPALIVE);
  t.is(k.layers[1]!.eoipv6.tunnelId, 4095);
});

test('EoIPv6 in a first IPv6 fragment is partial; a later one is opaque', (t) => {
  const first = build.eoipv6Packet(
    { src: A6, dst: B6, extensions: [{ type: 44, body: fragmentBody(0, true, 9), reserved: 0 }] },
    5,
    ARP_FRAME,
  );
  const d = dissectRaw(first);
  t.is(d.kind, FrameKind.EOIPV6);
  t.true(d.partialFrame);
  const later = build.ipv6Packet(
    { src: A6, dst: B6, extensions: [{ type: 44, body: fragmentBody(3, false, 9), reserved: 0 }] },
    97,
    new Uint8Array(8),
  );
  t.is(dissectRaw(later).kind, FrameKind.IP_FRAGMENT);
});

test('GRE version 1 without the EoIP magic is PPTP', (t) => {
  const pptp = build.ipv4Packet({ src: A4, dst: B4 }, 47, Buffer.from('3001880b0000000000000001', 'hex'));
  t.is(dissectRaw(pptp).kind, FrameKind.PPTP);
});

test('GRE carrying transparent Ethernet (gretap) walks into the frame', (t) => {
  const bytes = build.ipv4Packet(
    { src: A4, dst: B4 },
    47,
    build.grePayload({ protocol: GreProto.TEB, key: 9 }, ARP_FRAME),
  );
  const d = dissectRaw(bytes);
  t.is(d.kind, FrameKind.GRE);
  t.deepEqual(kinds(d), ['ipv4', 'gre', 'ethernet']);
  t.true(packet.reencodesExactly(d, bytes));
});

test('Ethernet link with VLAN tags, and trailing padding, re-encode exactly', (t) => {
  const ip = build.eoipPacket({ src: A4, dst: B4 }, 100, new Uint8Array(0));
  const frame = build.ethernetFrame(1, 2, EtherType.IPV4, Buffer.concat([ip, new Uint8Array(10)]), [
    [0x88a8, 10],
    [0x8100, 20],
  ]);
  const d = packet.createDissection();
  t.is(packet.dissect(frame, packet.LinkLayer.ETHERNET, d), WireStatus.OK);
  t.is(d.kind, FrameKind.EOIP_KEEPALIVE);
  t.deepEqual(kinds(d), ['ethernet', 'ipv4', 'eoip']);
  t.true(packet.reencodesExactly(d, frame));
  t.is(packet.underlay(d)!.kind, LayerKind.IPV4);
  t.is(packet.findLayer(d, LayerKind.EOIP)!.eoip.tunnelId, 100);
  t.is(packet.findLayer(d, LayerKind.GRE), null);
});

test('non-IP and non-GRE frames are reported as such', (t) => {
  const d = packet.createDissection();
  packet.dissect(ARP_FRAME, packet.LinkLayer.ETHERNET, d);
  t.is(d.kind, FrameKind.OTHER);
  t.is(d.status, WireStatus.OK);
  const udp = build.ipv4Packet({ src: A4, dst: B4 }, 17, new Uint8Array(8));
  t.is(dissectRaw(udp).kind, FrameKind.IP);
  t.is(dissectRaw(new Uint8Array(0)).status, WireStatus.IPV4_TRUNCATED);
});

test('truncating any vector at every byte never throws, and what decodes re-encodes exactly', (t) => {
  const vectors = [
    CISCO_KEEPALIVE_REQUEST,
    ROUTEROS_EOIP_KEEPALIVE,
    build.greKeepaliveRequest6(A6, B6),
    build.greKeepaliveRequest4(A4, B4, { key: 1, checksum: true, sequence: 2 }),
    build.eoipPacket({ src: A4, dst: B4 }, 3, ARP_FRAME),
    build.eoipv6Packet({ src: A6, dst: B6 }, 3, ARP_FRAME),
  ];
  const d = packet.createDissection();
  let checked = 0;
  for (const bytes of vectors) {
    for (let end = 0; end <= bytes.length; end++) {
      const status = packet.dissect(bytes, packet.LinkLayer.IP, d, end);
      t.true(Number.isInteger(status));
      t.true(packet.reencodesExactly(d, bytes.subarray(0, end)), `end ${end}`);
      checked++;
    }
  }
  t.true(checked > 300);
});

test('GRE inside GRE is read one level deep, the rest stays opaque', (t) => {
  let inner: Uint8Array = build.ipv4Packet({ src: A4, dst: B4 }, 17, new Uint8Array(4));
  for (let i = 0; i < 4; i++) {
    inner = build.ipv4Packet({ src: A4, dst: B4 }, 47, build.grePayload({ protocol: GreProto.IPV4 }, inner));
  }
  const d = dissectRaw(inner);
  t.deepEqual(kinds(d), ['ipv4', 'gre', 'ipv4', 'gre']);
  t.is(d.kind, FrameKind.GRE);
  t.true(packet.reencodesExactly(d, inner));
});
