/**
 * Property tests: decode(encode(x)) == x for every codec, and any bytes at
 * all (random, or mutated real packets) yield a value or a typed status:
 * never an exception, and whatever decodes re-encodes exactly.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { readCapture } from '../../src/pcap/index.ts';
import * as build from '../../src/wire/build.ts';
import * as eoip from '../../src/wire/eoip.ts';
import * as eoipv6 from '../../src/wire/eoipv6.ts';
import * as ethernet from '../../src/wire/ethernet.ts';
import * as gre from '../../src/wire/gre.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';
import * as packet from '../../src/wire/packet.ts';
import { WIRE_STATUS_COUNT, WireStatus } from '../../src/wire/status.ts';
import { fuzzRuns } from '../fuzz/runs.ts';
import { CAPTURE_FILES, CAPTURES_DIR, CISCO_KEEPALIVE_REQUEST } from '../helpers.ts';

const RUNS = fuzzRuns(2000);
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Copies a header struct into plain data, so deepEqual compares values only. */
function plain<T extends object>(h: T): unknown {
  return JSON.parse(JSON.stringify(h, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

test('ethernet: decode(encode(x)) == x', (t) => {
  const arb = fc.record({
    dst: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    src: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    tags: fc.array(fc.tuple(fc.constantFrom(0x8100, 0x88a8, 0x9100), u16), { maxLength: 2 }),
    // Not a TPID, or the type itself would read as another tag.
    etherType: u16.filter((x) => !ethernet.isVlanTpid(x)),
  });
  fc.assert(
    fc.property(arb, (x) => {
      const bytes = build.ethernetFrame(x.dst, x.src, x.etherType, new Uint8Array(0), x.tags);
      const h = ethernet.create();
      if (ethernet.decode(bytes, 0, h) !== WireStatus.OK) return false;
      return (
        h.dst === x.dst &&
        h.src === x.src &&
        h.etherType === x.etherType &&
        h.tagCount === x.tags.length &&
        x.tags.every(([tpid, tci], i) => h.tagTpid[i] === tpid && h.tagTci[i] === tci)
      );
    }),
    RUNS,
  );
  t.pass('property held for every generated value');
});

test('ipv4: decode(encode(x)) == x, options included', (t) => {
  const arb = fc.record({
    tos: u8,
    identification: u16,
    flags: fc.integer({ min: 0, max: 7 }),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
    ttl: u8,
    protocol: u8,
    checksum: u16,
    src: u32,
    dst: u32,
    nops: fc.integer({ min: 0, max: 10 }).map((n) => n * 4),
    extra: u16,
  });
  fc.assert(
    fc.property(arb, (x) => {
      const { nops, extra, ...fields } = x;
      const h = ipv4.create();
      Object.assign(h, { ...fields, optionsLength: nops, totalLength: 20 + nops + extra });
      if (h.totalLength > 0xffff) h.totalLength = 0xffff;
      h.options.fill(1, 0, nops); // NOPs: always well formed
      const out = new Uint8Array(ipv4.encodingLength(h));
      ipv4.encode(h, out);
      const back = ipv4.create();
      if (ipv4.decode(out, 0, back) !== WireStatus.OK) return false;
      h.headerLength = 20 + nops;
      return JSON.stringify(plain(back)) === JSON.stringify(plain(h));
    }),
    RUNS,
  );
  t.pass('property held for every generated value');
});

test('ipv6: decode(encode(x)) == x with extension chains', (t) => {
  const ext = fc.oneof(
    fc.record({ type: fc.constantFrom(43, 60), units: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ type: fc.constant(44), units: fc.constant(0) }),
  );
  const arb = fc.record({
    trafficClass: u8,
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: u8,
    hbh: fc.boolean(),
    exts: fc.array(ext, { maxLength: 5 }),
    upper: fc.constantFrom(47, 97, 6, 17, 59),
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  });
  fc.assert(
    fc.property(arb, (x) => {
      const list = [...(x.hbh ? [{ type: 0, units: 0 }] : []), ...x.exts].map((e) => ({
        type: e.type,
        body: e.type === 44 ? ipv6.fragmentBody(0, false, 7) : new Uint8Array(6 + e.units * 8).fill(e.units),
        reserved: 0,
      }));
      const bytes = build.ipv6Packet({ ...x, extensions: list }, x.upper, new Uint8Array(3));
      const h = ipv6.create();
      if (ipv6.decode(bytes, 0, h) !== WireStatus.OK) return false;
      const again = new Uint8Array(ipv6.encodingLength(h));
      ipv6.encode(h, again);
      return (
        h.upperProtocol === x.upper &&
        h.extensionCount === list.length &&
        h.trafficClass === x.trafficClass &&
        h.flowLabel === x.flowLabel &&
        Buffer.from(again).equals(Buffer.from(bytes.subarray(0, again.length)))
      );
    }),
    RUNS,
  );
  t.pass('property held for every generated value');
});

test('gre: decode(encode(x)) == x', (t) => {
  const arb = fc.record({
    checksumPresent: fc.boolean(),
    keyPresent: fc.boolean(),
    sequencePresent: fc.boolean(),
    reserved0: fc.integer({ min: 0, max: 0x7f }).map((b) => b << 3),
    version: fc.constant(0),
    protocol: u16,
    checksum: u16,
    reserved1: u16,
    key: u32,
    sequence: u32,
  });
  fc.assert(
    fc.property(arb, (x) => {
      const h = { ...x, headerLength: 0 };
      h.headerLength = gre.encodingLength(h);
      if (!h.checksumPresent) Object.assign(h, { checksum: 0, reserved1: 0 });
      if (!h.keyPresent) h.key = 0;
      if (!h.sequencePresent) h.sequence = 0;
      const out = new Uint8Array(h.headerLength);
      gre.encode(h, out);
      const back = gre.create();
      return gre.decode(out, 0, back) === WireStatus.OK && JSON.stringify(back) === JSON.stringify(h);
    }),
    RUNS,
  );
  t.pass('property held for every generated value');
});

test('eoip and eoipv6: decode(encode(x)) == x', (t) => {
  fc.assert(
    fc.property(u16, u16, (frameLength, tunnelId) => {
      const out = new Uint8Array(8);
      eoip.encode({ frameLength, tunnelId }, out);
      const back = eoip.create();
      return (
        eoip.decode(out, 0, back) === WireStatus.OK &&
        back.frameLength === frameLength &&
        back.tunnelId === tunnelId
      );
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4095 }), (tunnelId) => {
      const out = new Uint8Array(2);
      eoipv6.encode({ tunnelId }, out);
      const back = eoipv6.create();
      return eoipv6.decode(out, 0, back) === WireStatus.OK && back.tunnelId === tunnelId;
    }),
    RUNS,
  );
  t.pass('properties held for every generated value');
});

/** Dissects arbitrary bytes: a valid status, never a throw, and an exact re-encoding of what was decoded. */
function dissectsSafely(bytes: Uint8Array, link: packet.LinkLayer, d: packet.Dissection): boolean {
  const status = packet.dissect(bytes, link, d);
  return (
    Number.isInteger(status) && status >= 0 && status < WIRE_STATUS_COUNT && packet.reencodesExactly(d, bytes)
  );
}

test('random bytes: every codec returns a status and the dissector never throws', (t) => {
  const d = packet.createDissection();
  const structs = { eth: ethernet.create(), ip4: ipv4.create(), ip6: ipv6.create(), gre: gre.create() };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, eth) => {
      const statuses = [
        ethernet.decode(bytes, 0, structs.eth),
        ipv4.decode(bytes, 0, structs.ip4),
        ipv6.decode(bytes, 0, structs.ip6),
        gre.decode(bytes, 0, structs.gre),
        eoip.decode(bytes, 0, eoip.create()),
        eoipv6.decode(bytes, 0, eoipv6.create()),
      ];
      return (
        statuses.every((s) => s >= 0 && s < WIRE_STATUS_COUNT) &&
        dissectsSafely(bytes, eth ? 'ethernet' : 'ip', d)
      );
    }),
    fuzzRuns(10000),
  );
  t.pass('no exception in 10000 random inputs');
});

test('random bytes behind valid IPv4/IPv6 + GRE-family headers reach every layer safely', (t) => {
  const d = packet.createDissection();
  const a6 = ipv6.parseAddress('2001:db8::1')!;
  const prefixes = [
    (tail: Uint8Array) => build.ipv4Packet({ src: 1, dst: 2 }, 47, tail),
    (tail: Uint8Array) =>
      build.ipv4Packet({ src: 1, dst: 2 }, 47, Buffer.concat([Buffer.from('20016400', 'hex'), tail])),
    (tail: Uint8Array) => build.ipv6Packet({ src: a6, dst: a6 }, 97, tail),
    (tail: Uint8Array) => build.ipv6Packet({ src: a6, dst: a6 }, 47, tail),
    (tail: Uint8Array) =>
      build.ipv4Packet({ src: 1, dst: 2 }, 47, build.grePayload({ protocol: 0x0800 }, tail)),
  ];
  const seen = new Set<number>();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: prefixes.length - 1 }),
      fc.uint8Array({ maxLength: 120 }),
      (which, tail) => {
        const bytes = prefixes[which]!(tail);
        const ok = dissectsSafely(bytes, 'ip', d);
        seen.add(d.status);
        return ok;
      },
    ),
    fuzzRuns(10000),
  );
  t.true(seen.size >= 6, `reached ${seen.size} distinct statuses`);
});

test('mutated real packets: flipped bytes and cut ends never throw and re-encode exactly', (t) => {
  const samples = [
    CISCO_KEEPALIVE_REQUEST,
    build.greKeepaliveRequest6(ipv6.parseAddress('::1')!, ipv6.parseAddress('::2')!),
  ];
  const ethernetSamples = CAPTURE_FILES.flatMap((f) =>
    readCapture(readFileSync(CAPTURES_DIR + f)).map((r) => r.data),
  );
  const d = packet.createDissection();
  const mutation = fc.record({
    which: fc.nat(),
    flips: fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 6 }),
    cut: fc.nat(),
  });
  const mutate = (src: Uint8Array, m: { flips: [number, number][]; cut: number }) => {
    const bytes = Buffer.from(src);
    for (const [at, value] of m.flips) bytes[at % bytes.length] = value;
    return bytes.subarray(0, bytes.length - (m.cut % 4 === 0 ? m.cut % bytes.length : 0));
  };
  fc.assert(
    fc.property(mutation, (m) => dissectsSafely(mutate(samples[m.which % samples.length]!, m), 'ip', d)),
    fuzzRuns(5000),
  );
  fc.assert(
    fc.property(mutation, (m) =>
      dissectsSafely(mutate(ethernetSamples[m.which % ethernetSamples.length]!, m), 'ethernet', d),
    ),
    fuzzRuns(5000),
  );
  t.true(ethernetSamples.length > 70);
});
