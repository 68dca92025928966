/**
 * tshark oracle: what greoip encodes must be decoded by Wireshark's
 * dissectors as we intend (EoIP, EoIPv6, GRE flags, keepalives, checksums).
 */
import test from 'ava';
import { LINKTYPE } from '../../src/pcap/index.ts';
import * as build from '../../src/wire/build.ts';
import { EtherType } from '../../src/wire/ethernet.ts';
import { GreProto } from '../../src/wire/gre.ts';
import { parseAddress as v4 } from '../../src/wire/ipv4.ts';
import { parseAddress as v6 } from '../../src/wire/ipv6.ts';
import { tsharkFields } from './tshark.ts';

const A4 = v4('192.0.2.1')!;
const B4 = v4('198.51.100.2')!;
const A6 = v6('2001:db8::1')!;
const B6 = v6('2001:db8::2')!;
const HOST_MAC = 0x020000000001;
const CHECK_IP = ['ip.check_checksum:TRUE'];

/** A well-formed ARP request (who-has 10.0.0.2 tell 10.0.0.1), so tshark finds nothing to warn about. */
function arpRequest(): Uint8Array {
  const body = Buffer.from(
    '0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002'.replace(/ /g, ''),
    'hex',
  );
  return build.ethernetFrame(0xffffffffffff, HOST_MAC, EtherType.ARP, body);
}

/** tshark's gre.key for EoIP: length (big-endian) then the tunnel id's little-endian bytes, read as one u32. */
function eoipKeyAsTshark(frameLength: number, tunnelId: number): string {
  const key = ((frameLength << 16) | ((tunnelId & 0xff) << 8) | (tunnelId >>> 8)) >>> 0;
  return `0x${key.toString(16).padStart(8, '0')}`;
}

test('EoIP data and keepalives: tunnel id, length, inner Ethernet, TTL 255, DF clear', (t) => {
  const frame = arpRequest();
  const cases = [
    { tid: 0x1234, frame },
    { tid: 100, frame },
    { tid: 65535, frame },
    { tid: 100, frame: new Uint8Array(0) },
    { tid: 0, frame: new Uint8Array(0) },
  ];
  const rows = tsharkFields(
    t,
    cases.map((c) => build.eoipPacket({ src: A4, dst: B4 }, c.tid, c.frame)),
    LINKTYPE.RAW,
    [
      'ip.src',
      'ip.dst',
      'ip.ttl',
      'ip.flags.df',
      'ip.checksum.status',
      'gre.flags.version',
      'gre.flags.key',
      'gre.proto',
      'gre.key',
      'eth.type',
      'eth.src',
      'arp.dst.proto_ipv4',
      '_ws.expert.message',
    ],
    CHECK_IP,
  );
  t.is(rows.length, cases.length);
  cases.forEach((c, i) => {
    const row = rows[i]!;
    t.is(row['ip.src'], '192.0.2.1');
    t.is(row['ip.dst'], '198.51.100.2');
    t.is(row['ip.ttl'], '255');
    t.is(row['ip.flags.df'], '0');
    t.is(row['ip.checksum.status'], '1', 'IPv4 header checksum good');
    t.is(row['gre.flags.version'], '1');
    t.is(row['gre.flags.key'], '1');
    t.is(row['gre.proto'], '0x6400');
    t.is(row['gre.key'], eoipKeyAsTshark(c.frame.length, c.tid), `tid ${c.tid}`);
    t.is(row['_ws.expert.message'], '', 'no expert warnings');
    if (c.frame.length > 0) {
      t.is(row['eth.type'], '0x0806');
      t.is(row['eth.src'], '02:00:00:00:00:01');
      t.is(row['arp.dst.proto_ipv4'], '10.0.0.2');
    } else {
      t.is(row['eth.type'], '', 'a keepalive carries no frame');
    }
  });
});

test('EoIP over an Ethernet underlay with an 802.1Q tag', (t) => {
  const ip = build.eoipPacket({ src: A4, dst: B4 }, 200, arpRequest());
  const frame = build.ethernetFrame(0x020000000002, HOST_MAC, EtherType.IPV4, ip, [[EtherType.VLAN, 42]]);
  const [row] = tsharkFields(t, [frame], LINKTYPE.ETHERNET, ['vlan.id', 'eth.type', 'gre.key']);
  t.is(row!['vlan.id'], '42');
  t.is(row!['eth.type'], '0x8100,0x0806', 'outer tagged, inner ARP');
  t.is(row!['gre.key'], eoipKeyAsTshark(42, 200));
});

test('EoIPv6: next header 97, hop limit 255, 12-bit tunnel id in etherip fields', (t) => {
  const frame = arpRequest();
  const tids = [0, 1, 255, 256, 1234, 4095];
  const rows = tsharkFields(
    t,
    tids.map((tid) => build.eoipv6Packet({ src: A6, dst: B6 }, tid, frame)),
    LINKTYPE.RAW,
    [
      'ipv6.src',
      'ipv6.dst',
      'ipv6.nxt',
      'ipv6.hlim',
      'etherip.ver',
      'etherip.reserved',
      'eth.type',
      'eth.src',
    ],
  );
  tids.forEach((tid, i) => {
    const row = rows[i]!;
    t.is(row['ipv6.src'], '2001:db8::1');
    t.is(row['ipv6.dst'], '2001:db8::2');
    t.is(row['ipv6.nxt'], '97');
    t.is(row['ipv6.hlim'], '255');
    // docs/eoip-wire.md (Wireshark): tid = etherip.ver << 8 | (etherip.reserved & 0xff).
    const ver = Number(row['etherip.ver']);
    const reserved = Number(row['etherip.reserved']);
    t.is((ver << 8) | (reserved & 0xff), tid, `tid ${tid}`);
    t.is(reserved >> 8, 3, 'version 3 sits in the low nibble of byte 0');
    t.is(row['eth.type'], '0x0806');
    t.is(row['eth.src'], '02:00:00:00:00:01');
  });
});

test('EoIPv6 keepalive is the bare 2-byte header (Wireshark calls it malformed Ethernet)', (t) => {
  const [row] = tsharkFields(
    t,
    [build.eoipv6Packet({ src: A6, dst: B6 }, 1234, new Uint8Array(0))],
    LINKTYPE.RAW,
    ['ipv6.plen', 'etherip.ver', 'etherip.reserved', '_ws.malformed'],
  );
  t.is(row!['ipv6.plen'], '2');
  t.is(row!['etherip.ver'], '4');
  t.is(row!['etherip.reserved'], '0x03d2');
  t.not(row!['_ws.malformed'], '', 'as docs/eoip-wire.md says Wireshark shows it');
});

test('GRE with every combination of C, K and S', (t) => {
  const inner = build.ipv4Packet({ src: v4('10.0.0.1')!, dst: v4('10.0.0.2')! }, 17, new Uint8Array(8));
  const combos: { checksum: boolean; key?: number; sequence?: number }[] = [];
  for (const c of [false, true]) {
    for (const k of [false, true]) {
      for (const s of [false, true]) {
        combos.push({ checksum: c, ...(k ? { key: 0xdeadbeef } : {}), ...(s ? { sequence: 77 } : {}) });
      }
    }
  }
  const rows = tsharkFields(
    t,
    combos.map((g) =>
      build.ipv4Packet({ src: A4, dst: B4 }, 47, build.grePayload({ protocol: GreProto.IPV4, ...g }, inner)),
    ),
    LINKTYPE.RAW,
    [
      'gre.flags.checksum',
      'gre.flags.key',
      'gre.flags.sequence_number',
      'gre.flags.version',
      'gre.proto',
      'gre.key',
      'gre.sequence_number',
      'gre.checksum.status',
      'ip.dst',
    ],
  );
  combos.forEach((g, i) => {
    const row = rows[i]!;
    const name = JSON.stringify(g);
    t.is(row['gre.flags.checksum'], g.checksum ? '1' : '0', name);
    t.is(row['gre.flags.key'], g.key !== undefined ? '1' : '0', name);
    t.is(row['gre.flags.sequence_number'], g.sequence !== undefined ? '1' : '0', name);
    t.is(row['gre.flags.version'], '0');
    t.is(row['gre.proto'], '0x0800');
    t.is(row['gre.key'], g.key !== undefined ? '0xdeadbeef' : '', name);
    t.is(row['gre.sequence_number'], g.sequence !== undefined ? '77' : '', name);
    t.is(row['gre.checksum.status'], g.checksum ? '1' : '', `${name}: GRE checksum good`);
    t.is(row['ip.dst'], '198.51.100.2,10.0.0.2', 'inner packet decoded');
  });
});

test('GRE keepalive requests: Cisco layout, Huawei 0x0004, MikroTik GRE6', (t) => {
  const v4rows = tsharkFields(
    t,
    [build.greKeepaliveRequest4(A4, B4)],
    LINKTYPE.RAW,
    ['ip.src', 'ip.dst', 'ip.len', 'gre.proto', 'ip.checksum.status'],
    CHECK_IP,
  );
  t.is(v4rows[0]!['ip.src'], '192.0.2.1,198.51.100.2');
  t.is(v4rows[0]!['ip.dst'], '198.51.100.2,192.0.2.1');
  t.is(v4rows[0]!['ip.len'], '48,24');
  t.is(v4rows[0]!['gre.proto'], '0x0800,0x0000');
  t.is(v4rows[0]!['ip.checksum.status'], '1,1');
  const huawei = tsharkFields(
    t,
    [build.greKeepaliveRequest4(A4, B4, { protocol: GreProto.HUAWEI_IPV4 })],
    LINKTYPE.RAW,
    ['gre.proto'],
  );
  t.is(huawei[0]!['gre.proto']!.split(',')[0], '0x0004');
  const v6rows = tsharkFields(t, [build.greKeepaliveRequest6(A6, B6)], LINKTYPE.RAW, [
    'ipv6.src',
    'ipv6.dst',
    'ipv6.plen',
    'gre.proto',
    'frame.len',
  ]);
  t.is(v6rows[0]!['ipv6.src'], '2001:db8::1,2001:db8::2');
  t.is(v6rows[0]!['ipv6.dst'], '2001:db8::2,2001:db8::1');
  t.is(v6rows[0]!['ipv6.plen'], '48,4');
  t.is(v6rows[0]!['gre.proto'], '0x86dd,0x86dd');
  t.is(v6rows[0]!['frame.len'], '88');
});

test('IPv4 options and IPv6 extension headers are where tshark expects them', (t) => {
  const options = Buffer.from('0707040000000000', 'hex'); // Record Route with one empty slot, then END
  const v4pkt = build.ipv4Packet(
    { src: A4, dst: B4, options },
    47,
    build.grePayload({ protocol: GreProto.IPV4 }, new Uint8Array(0)),
  );
  const [r4] = tsharkFields(t, [v4pkt], LINKTYPE.RAW, ['ip.hdr_len', 'ip.opt.type', 'gre.proto'], CHECK_IP);
  t.is(r4!['ip.hdr_len'], '28');
  t.true(r4!['ip.opt.type']!.startsWith('7'), r4!['ip.opt.type']);
  t.is(r4!['gre.proto'], '0x0800');
  const exts = [
    { type: 0, body: new Uint8Array(6), reserved: 0 },
    { type: 60, body: new Uint8Array(6), reserved: 0 },
  ];
  const v6pkt = build.eoipv6Packet({ src: A6, dst: B6, extensions: exts }, 77, arpRequest());
  const [r6] = tsharkFields(t, [v6pkt], LINKTYPE.RAW, [
    'ipv6.nxt',
    'ipv6.hopopts.nxt',
    'ipv6.dstopts.nxt',
    'etherip.reserved',
    'eth.type',
  ]);
  t.is(r6!['ipv6.nxt'], '0');
  t.is(r6!['ipv6.hopopts.nxt'], '60');
  t.is(r6!['ipv6.dstopts.nxt'], '97');
  t.is(Number(r6!['etherip.reserved']) & 0xff, 77);
  t.is(r6!['eth.type'], '0x0806');
});
