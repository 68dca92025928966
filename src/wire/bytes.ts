/**
 * Big-endian byte helpers shared by the codecs. Plain index arithmetic works
 * on any Uint8Array (Buffer included) and costs no allocation.
 */

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

/**
 * For cold paths only: a 32-bit result above 2^31 returned from a call V8
 * does not inline is boxed on the heap. Per-packet decoders read wide fields
 * with inline arithmetic instead (see DOUBLE_ZERO).
 */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v & 0xff;
}

/** For cold paths only, for the reason given at readU32. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Initial value for a struct field that will hold numbers beyond 31 bits
 * (MACs, IPv4 addresses, GRE keys). It is a double, not a small integer, so
 * V8 gives the field a double representation from the start and later stores
 * update it in place. A field that starts as a small integer must change
 * representation when the first large value arrives, and depending on
 * timing the optimised code may then box every value it stores: a heap
 * allocation per packet.
 */
export const DOUBLE_ZERO = -0;

/** Encoders call this first: a typed array silently ignores writes past its end. */
export function checkRoom(layer: string, buf: Uint8Array, offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || buf.length - offset < length) {
    throw new RangeError(
      `${layer}: ${length} bytes do not fit in a ${buf.length}-byte buffer at offset ${offset}`,
    );
  }
}
