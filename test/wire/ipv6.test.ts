import test from 'ava';
import * as ipv6 from '../../src/wire/ipv6.ts';
import { WireEncodeError, WireStatus } from '../../src/wire/status.ts';
import { hex, toHex } from '../helpers.ts';

const SRC = '20010db8000000000000000000000001';
const DST = '20010db8000000000000000000000002';

/** Fixed header: tc 0xb8, flow 0x12345, next header `nh`, hop limit 255. */
function fixed(nh: number, payloadLength: number): string {
  return `6b812345 ${payloadLength.toString(16).padStart(4, '0')} ${nh.toString(16).padStart(2, '0')} ff ${SRC} ${DST}`;
}

const HBH = '3c00 0104 00000000'; // hop-by-hop -> dest opts; PadN(4)
const DEST = '2b00 0104 00000000'; // dest opts -> routing
const ROUTING = '2c02 0000 00000000 20010db8000000000000000000000009'; // type 0, segleft 0, one address -> fragment
const FRAG = '2f00 0000 12345678'; // fragment -> GRE, offset 0, M=0
const GRE = '00000800';

test('decodes the fixed header', (t) => {
  const h = ipv6.create();
  t.is(ipv6.decode(hex(fixed(47, 4) + GRE), 0, h), WireStatus.OK);
  t.is(h.trafficClass, 0xb8);
  t.is(h.flowLabel, 0x12345);
  t.is(h.payloadLength, 4);
  t.is(h.hopLimit, 255);
  t.is(h.upperProtocol, 47);
  t.is(h.extensionCount, 0);
  t.is(h.headerLength, 40);
  t.is(ipv6.formatAddress(h.src), '2001:db8::1');
  t.is(ipv6.formatAddress(h.dst), '2001:db8::2');
});

test('walks hop-by-hop, destination, routing and fragment headers to the upper protocol', (t) => {
  const exts = HBH + DEST + ROUTING + FRAG;
  const bytes = hex(fixed(0, hex(exts).length + 4) + exts + GRE);
  const h = ipv6.create();
  t.is(ipv6.decode(bytes, 0, h), WireStatus.OK);
  t.is(h.extensionCount, 4);
  t.deepEqual(
    h.extensions.slice(0, 4).map((e) => [e.type, e.body.length + 2]),
    [
      [0, 8],
      [60, 8],
      [43, 24],
      [44, 8],
    ],
  );
  t.is(h.upperProtocol, 47);
  t.is(h.headerLength, 40 + 48);
  t.true(h.hasFragmentHeader);
  t.is(h.fragmentId, 0x12345678);
  t.is(h.fragmentOffset, 0);
  t.false(h.moreFragments);
  const out = Buffer.alloc(ipv6.encodingLength(h));
  t.is(ipv6.encode(h, out), 88);
  t.is(toHex(out), toHex(bytes.subarray(0, 88)));
});

test('a later fragment stops the walk at the fragment header', (t) => {
  const frag = '2f00 0b29 0000beef'; // offset 0x165 (8-byte units), M=1
  const bytes = hex(`${fixed(44, 16) + frag}0102030405060708`);
  const h = ipv6.create();
  t.is(ipv6.decode(bytes, 0, h), WireStatus.OK);
  t.is(h.fragmentOffset, 0x165);
  t.true(h.moreFragments);
  t.is(h.upperProtocol, 47);
  t.is(h.headerLength, 48);
});

test('authentication header length is in 4-octet units', (t) => {
  const ah = '2f04 0000 00000001 00000002 0000 0000 00000000'; // len 4 -> (4+2)*4 = 24 bytes
  const bytes = hex(fixed(51, 28) + ah + GRE);
  const h = ipv6.create();
  t.is(ipv6.decode(bytes, 0, h), WireStatus.OK);
  t.is(h.headerLength, 64);
  t.is(h.upperProtocol, 47);
  const out = Buffer.alloc(64);
  ipv6.encode(h, out);
  t.is(toHex(out), toHex(bytes.subarray(0, 64)));
});

test('rejects a hop-by-hop header that is not first', (t) => {
  const bytes = hex(`${fixed(60, 20)}0000 0104 00000000 2f00 0104 00000000${GRE}`);
  t.is(ipv6.decode(bytes, 0, ipv6.create()), WireStatus.IPV6_BAD_EXTENSION_ORDER);
});

test('rejects a chain longer than MAX_EXTENSIONS', (t) => {
  const ext = '3c00 0104 00000000';
  const chain = ext.repeat(ipv6.MAX_EXTENSIONS + 1);
  const bytes = hex(fixed(60, hex(chain).length) + chain);
  t.is(ipv6.decode(bytes, 0, ipv6.create()), WireStatus.IPV6_TOO_MANY_EXTENSIONS);
});

test('extension past the payload length vs past the capture', (t) => {
  const h = ipv6.create();
  const bytes = hex(`${fixed(60, 4)}2f00 0104 00000000${GRE}`);
  t.is(ipv6.decode(bytes, 0, h), WireStatus.IPV6_BAD_PAYLOAD_LENGTH);
  const full = hex(`${fixed(60, 12)}2f00 0104 00000000${GRE}`);
  for (let end = 0; end < 48; end++)
    t.is(ipv6.decode(full, 0, h, end), WireStatus.IPV6_TRUNCATED, `end ${end}`);
  t.is(ipv6.decode(full, 0, h, 48), WireStatus.OK);
});

test('rejects version other than 6', (t) => {
  const bytes = hex(fixed(47, 0));
  bytes[0] = 0x4b;
  t.is(ipv6.decode(bytes, 0, ipv6.create()), WireStatus.IPV6_BAD_VERSION);
});

test('fragmentBody builds what decode reads', (t) => {
  const h = ipv6.create();
  h.extensionCount = 1;
  h.extensions[0] = { type: 44, body: ipv6.fragmentBody(185, true, 0xdeadbeef), reserved: 0 };
  h.upperProtocol = 47;
  h.payloadLength = 8;
  const out = Buffer.alloc(48);
  ipv6.encode(h, out);
  const back = ipv6.create();
  t.is(ipv6.decode(out, 0, back), WireStatus.OK);
  t.is(back.fragmentOffset, 185);
  t.true(back.moreFragments);
  t.is(back.fragmentId, 0xdeadbeef);
});

test('encode refuses unencodable extension bodies', (t) => {
  const h = ipv6.create();
  h.extensionCount = 1;
  h.extensions[0] = { type: 60, body: new Uint8Array(5), reserved: 0 };
  t.throws(() => ipv6.encode(h, new Uint8Array(100)), { instanceOf: WireEncodeError, message: /length 7/ });
  h.extensions[0] = { type: 44, body: new Uint8Array(4), reserved: 0 };
  t.throws(() => ipv6.encode(h, new Uint8Array(100)), { message: /fragment body/ });
  h.extensions[0] = { type: 6, body: new Uint8Array(6), reserved: 0 };
  t.throws(() => ipv6.encode(h, new Uint8Array(100)), { message: /not an extension/ });
  h.extensionCount = 0;
  h.flowLabel = 0x100000;
  t.throws(() => ipv6.encode(h, new Uint8Array(100)), { message: /flowLabel/ });
});

test('RFC 5952 formatting and parsing', (t) => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:a:b:0:c', 'fe80::a:b:0:c'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, canonical] of cases) {
    const addr = ipv6.parseAddress(input);
    t.truthy(addr, input);
    t.is(ipv6.formatAddress(addr!), canonical, input);
  }
  for (const bad of [
    '1::2::3',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '::1.2.3.256',
    ':::',
  ]) {
    t.is(ipv6.parseAddress(bad), null, bad);
  }
});
