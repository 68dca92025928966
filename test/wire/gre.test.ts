import test from 'ava';
import * as gre from '../../src/wire/gre.ts';
import { WireEncodeError, WireStatus } from '../../src/wire/status.ts';
import { hex, toHex } from '../helpers.ts';

const PAYLOAD = hex('4500001c000100004001f7cf0a0000010a000002 0800f7ff00000000');

/** Builds a GRE packet by hand (independently of the encoder) for each flag set. */
function build(c: boolean, k: boolean, s: boolean): Buffer {
  const parts = [
    hex(`${((c ? 0x80 : 0) | (k ? 0x20 : 0) | (s ? 0x10 : 0)).toString(16).padStart(2, '0')}00 0800`),
  ];
  if (c) parts.push(hex('0000 0000'));
  if (k) parts.push(hex('0a0b0c0d'));
  if (s) parts.push(hex('00000102'));
  parts.push(PAYLOAD);
  const packet = Buffer.concat(parts);
  if (c) packet.writeUInt16BE(gre.computeChecksum(packet, 0, packet.length), 4);
  return packet;
}

for (const c of [false, true]) {
  for (const k of [false, true]) {
    for (const s of [false, true]) {
      const name = `${c ? 'C' : '-'}${k ? 'K' : '-'}${s ? 'S' : '-'}`;
      test(`flags ${name}: fields, length, checksum and exact round trip`, (t) => {
        const packet = build(c, k, s);
        const h = gre.create();
        t.is(gre.decode(packet, 0, h), WireStatus.OK);
        t.is(h.checksumPresent, c);
        t.is(h.keyPresent, k);
        t.is(h.sequencePresent, s);
        t.is(h.protocol, 0x0800);
        t.is(h.headerLength, 4 + 4 * (Number(c) + Number(k) + Number(s)));
        t.is(h.key, k ? 0x0a0b0c0d : 0);
        t.is(h.sequence, s ? 0x102 : 0);
        if (c) t.true(gre.checksumValid(packet, 0, packet.length));
        const out = Buffer.alloc(packet.length);
        t.is(gre.encode(h, out), h.headerLength);
        t.is(gre.encodingLength(h), h.headerLength);
        PAYLOAD.copy(out, h.headerLength);
        t.is(toHex(out), toHex(packet));
        for (let end = 0; end < h.headerLength; end++)
          t.is(gre.decode(packet, 0, h, end), WireStatus.GRE_TRUNCATED);
      });
    }
  }
}

test('RFC 2784: bits 1-5 set means discard; bits 6-12 are ignored but kept', (t) => {
  const h = gre.create();
  for (const bit of [0x4000, 0x0800, 0x0400]) {
    const b = hex('00000800');
    b.writeUInt16BE(bit, 0);
    t.is(gre.decode(b, 0, h), WireStatus.GRE_RESERVED_BITS, bit.toString(16));
  }
  for (const bit of [0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010, 0x0008]) {
    const b = hex('00000800');
    b.writeUInt16BE(bit, 0);
    t.is(gre.decode(b, 0, h), WireStatus.OK, bit.toString(16));
    t.is(h.reserved0, bit);
    const out = Buffer.alloc(4);
    gre.encode(h, out);
    t.is(toHex(out), toHex(b));
  }
});

test('only version 0 is GRE', (t) => {
  const h = gre.create();
  for (let v = 1; v < 8; v++) t.is(gre.decode(hex(`000${v}0800`), 0, h), WireStatus.GRE_BAD_VERSION);
  t.is(gre.peekVersion(hex('2001 6400'), 0), 1);
  t.is(gre.peekVersion(hex('20'), 0), -1);
});

test('checksum reserved1 field survives a round trip', (t) => {
  const b = hex('80000800 0000 abcd');
  const h = gre.create();
  t.is(gre.decode(b, 0, h), WireStatus.OK);
  t.is(h.reserved1, 0xabcd);
  const out = Buffer.alloc(8);
  gre.encode(h, out);
  t.is(toHex(out), toHex(b));
});

test('setChecksum makes checksumValid true over odd-length payloads', (t) => {
  const b = Buffer.concat([hex('80000800 0000 0000'), hex('0102030405')]);
  gre.setChecksum(b, 0, b.length);
  t.true(gre.checksumValid(b, 0, b.length));
  b[9]! ^= 1;
  t.false(gre.checksumValid(b, 0, b.length));
});

test('encode refuses what is not GRE', (t) => {
  const h = gre.create();
  h.version = 1;
  t.throws(() => gre.encode(h, new Uint8Array(16)), { instanceOf: WireEncodeError, message: /gre\.version/ });
  h.version = 0;
  h.reserved0 = 0x4000;
  t.throws(() => gre.encode(h, new Uint8Array(16)), { message: /reserved0/ });
  h.reserved0 = 0;
  h.key = 2 ** 32;
  t.throws(() => gre.encode(h, new Uint8Array(16)), { message: /gre\.key/ });
  h.key = 0;
  h.sequence = 1.5;
  t.throws(() => gre.encode(h, new Uint8Array(16)), { message: /gre\.sequence/ });
});
