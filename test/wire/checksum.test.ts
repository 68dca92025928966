import test from 'ava';
import fc from 'fast-check';
import { finishChecksum, internetChecksum, sumWords, sumWordsWide } from '../../src/wire/checksum.ts';
import { hex } from '../helpers.ts';

test('RFC 1071 example bytes sum to the documented value', (t) => {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2 (checksum is its complement).
  const bytes = hex('0001f203f4f5f6f7');
  t.is(finishChecksum(sumWords(bytes, 0, bytes.length)), ~0xddf2 & 0xffff);
});

test('a header carrying its own checksum sums to zero', (t) => {
  const header = hex('450000300000000 0ff2fcf67c0000201c6336402'.replace(/ /g, ''));
  t.is(internetChecksum(header), 0);
});

test('odd length pads the last byte with zero', (t) => {
  t.is(internetChecksum(hex('01')), ~0x0100 & 0xffff);
  t.is(internetChecksum(hex('0102 03')), ~(0x0102 + 0x0300) & 0xffff);
});

test('sums fold correctly over long all-ones input', (t) => {
  const bytes = new Uint8Array(70000).fill(0xff);
  t.is(internetChecksum(bytes), 0);
  const partial = sumWords(bytes, 0, 35000);
  t.is(finishChecksum(sumWords(bytes, 35000, 70000, partial)), 0);
});

test('empty input has checksum 0xffff', (t) => {
  t.is(internetChecksum(new Uint8Array(0)), 0xffff);
});

test('sumWordsWide equals sumWords at every alignment, length and starting sum (random bytes)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.nat(7),
        fc.nat(3000),
        fc.nat(3000),
        fc.nat(0xffff),
        (bytes, shift, a, b, partial) => {
          // A view that starts `shift` bytes into its buffer, as a slot of a receive area does.
          const backing = new Uint8Array(bytes.length + 8);
          const view = backing.subarray(shift, shift + bytes.length);
          view.set(bytes);
          const start = Math.min(a, b, bytes.length);
          const end = Math.min(Math.max(a, b), bytes.length);
          return (
            finishChecksum(sumWordsWide(view, start, end, partial)) ===
            finishChecksum(sumWords(view, start, end, partial))
          );
        },
      ),
      { numRuns: 2000 },
    ),
  );
});

test('sumWordsWide equals sumWords over 9 MB of 0xff and of random bytes (its 4 MB chunks fold exactly)', (t) => {
  const ones = new Uint8Array(9 << 20).fill(0xff);
  t.is(
    finishChecksum(sumWordsWide(ones, 2, ones.length - 6, 7)),
    finishChecksum(sumWords(ones, 2, ones.length - 6, 7)),
  );
  const random = new Uint8Array(9 << 20);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  t.is(
    finishChecksum(sumWordsWide(random, 4, random.length)),
    finishChecksum(sumWords(random, 4, random.length)),
  );
});
