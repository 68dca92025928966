import test from 'ava';
import * as ipv4 from '../../src/wire/ipv4.ts';
import { WireEncodeError, WireStatus } from '../../src/wire/status.ts';
import { CISCO_KEEPALIVE_REQUEST, hex, ROUTEROS_EOIP_KEEPALIVE, toHex } from '../helpers.ts';

/** Record Route (7, len 7, ptr 4, one slot) + NOP + Router Alert (148) + EOL padding. */
const WITH_OPTIONS = hex(`
  4a 00 00 2c 12 34 40 00 40 2f 00 00 c0 00 02 01 c6 33 64 02
  07 07 04 00 00 00 00 01 94 04 00 00 00 00 00 00
  00 00 08 00 00 00 00 00`);

function withChecksum(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  ipv4.setChecksum(copy, 0);
  return copy;
}

test('decodes the RouterOS keepalive header', (t) => {
  const h = ipv4.create();
  t.is(ipv4.decode(ROUTEROS_EOIP_KEEPALIVE, 0, h), WireStatus.OK);
  t.is(h.headerLength, 20);
  t.is(h.totalLength, 28);
  t.is(h.identification, 0x6700);
  t.is(h.flags, 0);
  t.is(h.fragmentOffset, 0);
  t.is(h.ttl, 0xf7);
  t.is(h.protocol, ipv4.IPPROTO_GRE);
  t.is(h.checksum, 0xe382);
  t.is(ipv4.formatAddress(h.src), '128.140.114.175');
  t.is(ipv4.formatAddress(h.dst), '78.47.55.197');
  t.true(ipv4.checksumValid(ROUTEROS_EOIP_KEEPALIVE, 0));
});

test('decodes options, flags and fragment fields', (t) => {
  const bytes = withChecksum(WITH_OPTIONS);
  const h = ipv4.create();
  t.is(ipv4.decode(bytes, 0, h), WireStatus.OK);
  t.is(h.headerLength, 40);
  t.is(h.optionsLength, 20);
  t.deepEqual(ipv4.optionTypes(h), [7, 1, 148]);
  t.is(h.flags, ipv4.Ipv4Flags.DONT_FRAGMENT);
  t.false(ipv4.isFragment(h));
  t.true(ipv4.checksumValid(bytes, 0));
  const out = Buffer.alloc(40);
  ipv4.encode(h, out, 0);
  t.is(toHex(out), toHex(bytes.subarray(0, 40)));
});

test('fragment fields: MF, offset in 8-byte units, reserved flag kept', (t) => {
  const h = ipv4.create();
  const frag = withChecksum(
    hex('45 00 00 1c ab cd a0 b9 40 2f 00 00 0a 00 00 01 0a 00 00 02 00 00 00 00 00 00 00 00'),
  );
  t.is(ipv4.decode(frag, 0, h), WireStatus.OK);
  t.is(h.flags, ipv4.Ipv4Flags.RESERVED | ipv4.Ipv4Flags.MORE_FRAGMENTS);
  t.is(h.fragmentOffset, 0xb9);
  t.true(ipv4.isFragment(h));
  const out = Buffer.alloc(20);
  ipv4.encode(h, out);
  t.is(toHex(out), toHex(frag.subarray(0, 20)));
});

test('rejects bad version, IHL, total length and options', (t) => {
  const h = ipv4.create();
  const base = Buffer.from(CISCO_KEEPALIVE_REQUEST);
  const bad = (mutate: (b: Buffer) => void) => {
    const b = Buffer.from(base);
    mutate(b);
    return ipv4.decode(b, 0, h);
  };
  t.is(
    bad((b) => (b[0] = 0x65)),
    WireStatus.IPV4_BAD_VERSION,
  );
  t.is(
    bad((b) => (b[0] = 0x44)),
    WireStatus.IPV4_BAD_IHL,
  );
  t.is(
    bad((b) => b.writeUInt16BE(19, 2)),
    WireStatus.IPV4_BAD_TOTAL_LENGTH,
  );
  const badOption = Buffer.from(WITH_OPTIONS);
  badOption[21] = 1; // Record Route with length 1
  t.is(ipv4.decode(badOption, 0, h), WireStatus.IPV4_BAD_OPTIONS);
  badOption[21] = 30; // runs past the header
  t.is(ipv4.decode(badOption, 0, h), WireStatus.IPV4_BAD_OPTIONS);
  const lonelyType = Buffer.from(WITH_OPTIONS);
  lonelyType.fill(1, 20, 39); // NOPs, then a type byte with no room for its length
  lonelyType[39] = 7;
  t.is(ipv4.decode(lonelyType, 0, h), WireStatus.IPV4_BAD_OPTIONS);
});

test('truncation at every offset of the header is reported', (t) => {
  const h = ipv4.create();
  for (let end = 0; end < 40; end++) t.is(ipv4.decode(WITH_OPTIONS, 0, h, end), WireStatus.IPV4_TRUNCATED);
});

test('setChecksum computes what the wire carries; checksumValid detects damage', (t) => {
  const b = Buffer.from(CISCO_KEEPALIVE_REQUEST);
  b.writeUInt16BE(0, 10);
  t.is(ipv4.setChecksum(b, 0), 0xcf67);
  t.is(toHex(b), toHex(CISCO_KEEPALIVE_REQUEST));
  b[8] = 0x40;
  t.false(ipv4.checksumValid(b, 0));
  t.is(ipv4.computeChecksum(CISCO_KEEPALIVE_REQUEST, 24), 0xcf7f);
});

test('encode names the offending field', (t) => {
  const h = ipv4.create();
  h.ttl = 256;
  t.throws(() => ipv4.encode(h, new Uint8Array(20)), { instanceOf: WireEncodeError, message: /ipv4\.ttl/ });
  h.ttl = 64;
  h.src = -1;
  t.throws(() => ipv4.encode(h, new Uint8Array(20)), { message: /ipv4\.src/ });
  h.src = 0;
  h.dst = 2 ** 32;
  t.throws(() => ipv4.encode(h, new Uint8Array(20)), { message: /ipv4\.dst/ });
  h.dst = 0;
  h.optionsLength = 3;
  t.throws(() => ipv4.encode(h, new Uint8Array(40)), { message: /optionsLength/ });
  h.optionsLength = 0;
  h.totalLength = 10;
  t.throws(() => ipv4.encode(h, new Uint8Array(40)), { message: /totalLength/ });
});

test('address text helpers', (t) => {
  t.is(ipv4.parseAddress('192.0.2.1'), 0xc0000201);
  t.is(ipv4.parseAddress('255.255.255.255'), 0xffffffff);
  for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', ''])
    t.is(ipv4.parseAddress(bad), null);
  t.is(ipv4.formatAddress(0xc6336402), '198.51.100.2');
});
