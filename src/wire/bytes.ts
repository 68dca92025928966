/**
 * Big-endian byte helpers shared by the codecs. Plain index arithmetic works
 * on any Uint8Array (Buffer included) and costs no allocation.
 */

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v & 0xff;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Encoders call this first: a typed array silently ignores writes past its end. */
export function checkRoom(layer: string, buf: Uint8Array, offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || buf.length - offset < length) {
    throw new RangeError(
      `${layer}: ${length} bytes do not fit in a ${buf.length}-byte buffer at offset ${offset}`,
    );
  }
}
