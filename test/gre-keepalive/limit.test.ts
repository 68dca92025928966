/**
 * The reflector's defences against spoofed requesters, pure parts: the per-source token bucket on a fake
 * clock, its bounded table, and the view of which answers would wait on neighbour resolution.
 */
import test from 'ava';
import { AddressTable } from '../../src/gre-keepalive/address-table.ts';
import { NeighbourView } from '../../src/gre-keepalive/neighbours.ts';
import { SourceLimitError, SourceLimiter } from '../../src/gre-keepalive/source-limit.ts';
import { parseAddress as parse6 } from '../../src/wire/ipv6.ts';

const v4 = (a: number, b: number, c: number, d: number) => Uint8Array.of(a, b, c, d);
const v6 = (text: string) => parse6(text)!;

test('a source gets its burst at once, then the sustained rate; others are not affected', (t) => {
  const limiter = new SourceLimiter({ rate: 2, burst: 3 });
  const spoofed = v4(192, 0, 2, 99);
  const real = v4(192, 0, 2, 1);
  const answered = (addr: Uint8Array, now: number) => limiter.allow(4, addr, 0, now);
  t.deepEqual(
    [0, 0, 0, 0, 0].map((now) => answered(spoofed, now)),
    [true, true, true, false, false],
  );
  t.true(answered(real, 0), 'another source has its own bucket');
  // 2 per second: one token every 500 ms, never more than the burst after a long silence.
  t.false(answered(spoofed, 499));
  t.true(answered(spoofed, 500));
  t.false(answered(spoofed, 600));
  t.deepEqual(
    [1e6, 1e6, 1e6, 1e6].map((now) => answered(spoofed, now)),
    [true, true, true, false],
  );
});

test('IPv4 and IPv6 sources with the same leading bytes are different sources', (t) => {
  const limiter = new SourceLimiter({ rate: 1, burst: 1 });
  const six = v6('c000:201::');
  t.true(limiter.allow(4, v4(192, 0, 2, 1), 0, 0));
  t.true(limiter.allow(6, six, 0, 0));
  t.false(limiter.allow(6, six, 0, 0));
  t.is(limiter.sources, 2);
});

test('the table never grows past its capacity; a forgotten source starts again with a full bucket', (t) => {
  const limiter = new SourceLimiter({ rate: 1, burst: 1, capacity: 64 });
  const addr = new Uint8Array(16);
  for (let i = 0; i < 10_000; i++) {
    new DataView(addr.buffer).setUint32(12, i);
    limiter.allow(6, addr, 0, i);
  }
  t.true(limiter.sources <= 64, `${limiter.sources} sources remembered`);
  // Source 0 was idle longest and has been forgotten: it is answered again, as a new source.
  new DataView(addr.buffer).setUint32(12, 0);
  t.true(limiter.allow(6, addr, 0, 10_000));
});

test('bad limits are refused', (t) => {
  t.throws(() => new SourceLimiter({ rate: 0, burst: 1 }), { instanceOf: SourceLimitError });
  t.throws(() => new SourceLimiter({ rate: 1, burst: 0.5 }), { instanceOf: SourceLimitError });
  t.throws(() => new SourceLimiter({ rate: Number.NaN, burst: 1 }), { instanceOf: SourceLimitError });
});

test('AddressTable: find what was claimed, at the offset given', (t) => {
  const table = new AddressTable(8);
  const buf = Uint8Array.of(0xff, 10, 0, 0, 1, 0xff);
  const slot = table.claim(4, buf, 1, () => false);
  t.true(table.fresh);
  t.is(table.find(4, v4(10, 0, 0, 1), 0), slot);
  t.is(
    table.claim(4, v4(10, 0, 0, 1), 0, () => false),
    slot,
  );
  t.false(table.fresh);
  t.is(table.find(4, v4(10, 0, 0, 2), 0), -1);
  table.clear();
  t.is(table.find(4, v4(10, 0, 0, 1), 0), -1);
  t.is(table.size, 0);
});

test('NeighbourView: only unresolved on-link addresses wait', (t) => {
  const view = new NeighbourView();
  view.update({
    onLink: [
      { family: 4, addr: v4(192, 0, 2, 2), length: 24 },
      { family: 6, addr: v6('2001:db8:e0::2'), length: 64 },
    ],
    resolved: [
      { family: 4, addr: v4(192, 0, 2, 1) },
      { family: 6, addr: v6('2001:db8:e0::1') },
    ],
  });
  t.false(view.wouldWait(4, v4(192, 0, 2, 1), 0), 'resolved');
  t.true(view.wouldWait(4, v4(192, 0, 2, 99), 0), 'on-link, unresolved');
  t.false(view.wouldWait(4, v4(198, 51, 100, 7), 0), 'off-link: via a gateway');
  t.false(view.wouldWait(6, v6('2001:db8:e0::1'), 0));
  t.true(view.wouldWait(6, v6('2001:db8:e0::99'), 0));
  t.false(view.wouldWait(6, v6('2001:db8:e1::99'), 0));
  // A refresh replaces the facts: the neighbour failed.
  view.update({ onLink: [{ family: 4, addr: v4(192, 0, 2, 2), length: 24 }], resolved: [] });
  t.true(view.wouldWait(4, v4(192, 0, 2, 1), 0));
  // Odd prefix lengths compare the leading bits only.
  view.update({ onLink: [{ family: 4, addr: v4(10, 0, 0, 0), length: 9 }], resolved: [] });
  t.true(view.wouldWait(4, v4(10, 127, 1, 1), 0));
  t.false(view.wouldWait(4, v4(10, 128, 1, 1), 0));
});
