import test from 'ava';
import * as ethernet from '../../src/wire/ethernet.ts';
import { formatMac, parseMac } from '../../src/wire/format.ts';
import { WireEncodeError, WireStatus } from '../../src/wire/status.ts';
import { hex, toHex } from '../helpers.ts';

const PLAIN = hex('ffffffffffff 020000000001 0806');
const DOT1Q = hex('d2747f6e37e3 920007959b7a 8100 a064 0800');
const QINQ = hex('d2747f6e37e3 920007959b7a 88a8 000a 8100 1014 86dd');

test('decodes an untagged header', (t) => {
  const h = ethernet.create();
  t.is(ethernet.decode(PLAIN, 0, h), WireStatus.OK);
  t.is(h.dst, 0xffffffffffff);
  t.is(h.src, 0x020000000001);
  t.is(h.tagCount, 0);
  t.is(h.etherType, ethernet.EtherType.ARP);
  t.is(h.headerLength, 14);
});

test('decodes an 802.1Q tag: VID, priority, DEI', (t) => {
  const h = ethernet.create();
  t.is(ethernet.decode(DOT1Q, 0, h), WireStatus.OK);
  t.is(h.tagCount, 1);
  t.is(h.tagTpid[0], 0x8100);
  t.is(ethernet.vlanId(h.tagTci[0]!), 100);
  t.is(ethernet.vlanPriority(h.tagTci[0]!), 5);
  t.false(ethernet.vlanDropEligible(h.tagTci[0]!));
  t.is(h.etherType, 0x0800);
  t.is(h.headerLength, 18);
});

test('decodes QinQ (802.1ad outer, 802.1Q inner)', (t) => {
  const h = ethernet.create();
  t.is(ethernet.decode(QINQ, 0, h), WireStatus.OK);
  t.is(h.tagCount, 2);
  t.deepEqual([h.tagTpid[0], h.tagTpid[1]], [0x88a8, 0x8100]);
  t.deepEqual([ethernet.vlanId(h.tagTci[0]!), ethernet.vlanId(h.tagTci[1]!)], [10, 20]);
  t.true(ethernet.vlanDropEligible(h.tagTci[1]!));
  t.is(h.etherType, 0x86dd);
  t.is(h.headerLength, 22);
});

test('a third tag is refused', (t) => {
  const h = ethernet.create();
  const three = hex('d2747f6e37e3 920007959b7a 88a8 000a 8100 0014 8100 0015 0800');
  t.is(ethernet.decode(three, 0, h), WireStatus.ETH_TOO_MANY_TAGS);
});

test('round trips each layout at an offset', (t) => {
  for (const frame of [PLAIN, DOT1Q, QINQ]) {
    const h = ethernet.create();
    t.is(ethernet.decode(frame, 0, h), WireStatus.OK);
    const out = Buffer.alloc(frame.length + 3);
    t.is(ethernet.encode(h, out, 3), frame.length);
    t.is(ethernet.encodingLength(h), frame.length);
    t.is(toHex(out.subarray(3)), toHex(frame));
  }
});

test('truncation at every offset is reported, never thrown', (t) => {
  for (const frame of [PLAIN, DOT1Q, QINQ]) {
    const h = ethernet.create();
    for (let end = 0; end < frame.length; end++) {
      t.is(ethernet.decode(frame, 0, h, end), WireStatus.ETH_TRUNCATED, `end ${end}`);
    }
  }
});

test('MAC helpers are exact for 48-bit values', (t) => {
  const buf = new Uint8Array(6);
  for (const mac of [0, 1, 0xffffffffffff, 0x800000000000, 0x0123456789ab]) {
    ethernet.writeMac(buf, 0, mac);
    t.is(ethernet.readMac(buf, 0), mac);
  }
});

test('encode refuses impossible values, naming the field', (t) => {
  const h = ethernet.create();
  h.etherType = 0x10000;
  t.throws(() => ethernet.encode(h, new Uint8Array(14)), {
    instanceOf: WireEncodeError,
    message: /etherType/,
  });
  h.etherType = 0x0800;
  h.tagCount = 3;
  t.throws(() => ethernet.encode(h, new Uint8Array(40)), { message: /tagCount/ });
  h.tagCount = 0;
  t.throws(() => ethernet.encode(h, new Uint8Array(13)), { instanceOf: RangeError, message: /do not fit/ });
});

test('wide fields are range-checked inline with a named error', (t) => {
  const h = ethernet.create();
  h.src = 2 ** 48;
  t.throws(() => ethernet.encode(h, new Uint8Array(14)), {
    instanceOf: WireEncodeError,
    message: /ethernet\.src/,
  });
  h.src = 0;
  h.dst = Number.NaN;
  t.throws(() => ethernet.encode(h, new Uint8Array(14)), { message: /ethernet\.dst/ });
});

test('MAC text helpers', (t) => {
  t.is(formatMac(0x0123456789ab), '01:23:45:67:89:ab');
  t.is(formatMac(0), '00:00:00:00:00:00');
  t.is(parseMac('01:23:45:67:89:AB'), 0x0123456789ab);
  t.is(parseMac('01-23-45-67-89-ab'), 0x0123456789ab);
  for (const bad of ['01:23:45:67:89', '01:23:45:67:89:ag', '0123456789ab', ''])
    t.is(parseMac(bad), null, bad);
});
