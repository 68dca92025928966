import test from 'ava';
import * as eoip from '../../src/wire/eoip.ts';
import * as eoipv6 from '../../src/wire/eoipv6.ts';
import { WireEncodeError, WireStatus } from '../../src/wire/status.ts';
import { hex, ROUTEROS_EOIP_KEEPALIVE, toHex } from '../helpers.ts';

test('decodes the RouterOS keepalive: tid 100, frame length 0', (t) => {
  const h = eoip.create();
  t.is(eoip.decode(ROUTEROS_EOIP_KEEPALIVE, 20, h), WireStatus.OK);
  t.is(h.tunnelId, 100);
  t.is(h.frameLength, 0);
  t.true(eoip.isKeepalive(h));
  t.is(eoip.checkFrame(h, 0), WireStatus.OK);
});

test('length is big-endian, tunnel id little-endian', (t) => {
  const h = eoip.create();
  t.is(eoip.decode(hex('20016400 05b8 3412'), 0, h), WireStatus.OK);
  t.is(h.frameLength, 0x05b8);
  t.is(h.tunnelId, 0x1234);
  const out = Buffer.alloc(8);
  eoip.encode({ frameLength: 42, tunnelId: 200 }, out);
  // Wireshark shows these 4 bytes as gre.key 0x002ac800 for tid 200, length 42.
  t.is(toHex(out), '20016400002ac800');
});

test('tunnel id extremes round trip', (t) => {
  for (const tunnelId of [0, 1, 255, 256, 0x1234, 65535]) {
    const out = Buffer.alloc(8);
    eoip.encode({ frameLength: 60, tunnelId }, out);
    const h = eoip.create();
    t.is(eoip.decode(out, 0, h), WireStatus.OK);
    t.is(h.tunnelId, tunnelId);
  }
});

test('magic is checked byte by byte; short input is truncated', (t) => {
  const h = eoip.create();
  const good = hex('20016400 0000 6400');
  for (let i = 0; i < 4; i++) {
    const b = Buffer.from(good);
    b[i]! ^= 0x01;
    t.is(eoip.decode(b, 0, h), WireStatus.EOIP_BAD_MAGIC, `byte ${i}`);
  }
  for (let end = 0; end < 8; end++) {
    t.is(eoip.decode(good, 0, h, end), WireStatus.EOIP_TRUNCATED, `end ${end}`);
  }
});

test('checkFrame: too short, exceeds data, padding allowed', (t) => {
  t.is(eoip.checkFrame({ frameLength: 13, tunnelId: 1 }, 100), WireStatus.EOIP_FRAME_TOO_SHORT);
  t.is(eoip.checkFrame({ frameLength: 14, tunnelId: 1 }, 14), WireStatus.OK);
  t.is(eoip.checkFrame({ frameLength: 60, tunnelId: 1 }, 59), WireStatus.EOIP_FRAME_EXCEEDS_DATA);
  t.is(eoip.checkFrame({ frameLength: 42, tunnelId: 1 }, 60), WireStatus.OK);
});

test('encode refuses out-of-range values', (t) => {
  t.throws(() => eoip.encode({ frameLength: 1, tunnelId: 65536 }, Buffer.alloc(8)), {
    instanceOf: WireEncodeError,
    message: /eoip\.tunnelId/,
  });
  t.throws(() => eoip.encode({ frameLength: 70000, tunnelId: 1 }, Buffer.alloc(8)), {
    message: /frameLength/,
  });
  t.throws(() => eoip.encode({ frameLength: 0, tunnelId: 1 }, Buffer.alloc(7)), { instanceOf: RangeError });
});

test('EoIPv6: docs/eoip-wire.md examples (tid 1234 -> 43 d2, tid 0 -> 03 00)', (t) => {
  const out = Buffer.alloc(2);
  eoipv6.encode({ tunnelId: 1234 }, out);
  t.is(toHex(out), '43d2');
  eoipv6.encode({ tunnelId: 0 }, out);
  t.is(toHex(out), '0300');
  const h = eoipv6.create();
  t.is(eoipv6.decode(hex('43d2'), 0, h), WireStatus.OK);
  t.is(h.tunnelId, 1234);
  t.is(eoipv6.decode(hex('fffe'), 0, h), WireStatus.EOIPV6_BAD_VERSION);
  t.is(eoipv6.decode(hex('f3ff'), 0, h), WireStatus.OK);
  t.is(h.tunnelId, 4095);
  t.is(eoipv6.decode(hex('43'), 0, h), WireStatus.EOIPV6_TRUNCATED);
  t.true(eoipv6.isKeepalive(2));
  t.false(eoipv6.isKeepalive(16));
  t.throws(() => eoipv6.encode({ tunnelId: 4096 }, out), { message: /eoipv6\.tunnelId/ });
});

test('EoIPv6: every tunnel id round trips', (t) => {
  const out = Buffer.alloc(2);
  const h = eoipv6.create();
  const wrong: number[] = [];
  for (let tunnelId = 0; tunnelId <= eoipv6.EOIPV6_MAX_TUNNEL_ID; tunnelId++) {
    eoipv6.encode({ tunnelId }, out);
    if (eoipv6.decode(out, 0, h) !== WireStatus.OK || h.tunnelId !== tunnelId) wrong.push(tunnelId);
  }
  t.deepEqual(wrong, []);
});
