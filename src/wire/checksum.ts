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
