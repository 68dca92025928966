/**
 * Outgoing messages made of pieces of a few buffers (scatter-gather), the way the backend hands a
 * batch to the addon (its SendList): piece p lies in buffer pieceBuf[p] at pieceOff[p], pieceLen[p]
 * bytes; message i is pieces msgEnd[i - 1] (0 for i = 0) up to msgEnd[i]. Pure data: the segmenter
 * and the coalescer fill it, the backend sends it.
 */

/** Buffer 0: the receive area the frames lie in (a tap's, or a raw socket's). */
export const FRAMES = 0;
/** Buffer 1: the list's own header area (tunnel and virtio-net headers written for a message). */
export const HEADERS = 1;

export interface PieceList {
  readonly pieceBuf: Uint8Array;
  readonly pieceOff: Uint32Array;
  readonly pieceLen: Uint32Array;
  readonly msgEnd: Uint32Array;
  /** The header area (buffer HEADERS). */
  readonly headers: Uint8Array;
  /** Per message: how many frames it carries (a superframe counts its segments) and their bytes. */
  readonly msgFrames: Uint32Array;
  readonly msgBytes: Uint32Array;
  messages: number;
  pieces: number;
  headersUsed: number;
}

/** A list over the given piece arrays (a SendList's) and header area; empty. */
export function pieceList(
  arrays: { pieceBuf: Uint8Array; pieceOff: Uint32Array; pieceLen: Uint32Array; msgEnd: Uint32Array },
  headers: Uint8Array,
): PieceList {
  const messages = arrays.msgEnd.length;
  return {
    pieceBuf: arrays.pieceBuf,
    pieceOff: arrays.pieceOff,
    pieceLen: arrays.pieceLen,
    msgEnd: arrays.msgEnd,
    headers,
    msgFrames: new Uint32Array(messages),
    msgBytes: new Uint32Array(messages),
    messages: 0,
    pieces: 0,
    headersUsed: 0,
  };
}

/** A list with arrays of its own (tests, and callers without a SendList). */
export function createPieceList(maxMessages: number, maxPieces: number, headerBytes: number): PieceList {
  return pieceList(
    {
      pieceBuf: new Uint8Array(maxPieces),
      pieceOff: new Uint32Array(maxPieces),
      pieceLen: new Uint32Array(maxPieces),
      msgEnd: new Uint32Array(maxMessages),
    },
    new Uint8Array(headerBytes),
  );
}

export function clearPieces(list: PieceList): void {
  list.messages = 0;
  list.pieces = 0;
  list.headersUsed = 0;
}

/** Whether `messages` more messages of `pieces` pieces and `headerBytes` header bytes in all fit. */
export function hasRoom(list: PieceList, messages: number, pieces: number, headerBytes: number): boolean {
  return (
    list.messages + messages <= list.msgEnd.length &&
    list.pieces + pieces <= list.pieceBuf.length &&
    list.headersUsed + headerBytes <= list.headers.length
  );
}

export function addPiece(list: PieceList, buffer: number, off: number, len: number): void {
  const p = list.pieces++;
  list.pieceBuf[p] = buffer;
  list.pieceOff[p] = off;
  list.pieceLen[p] = len;
}

/** Takes `bytes` of the header area; returns where they start. */
export function takeHeader(list: PieceList, bytes: number): number {
  const at = list.headersUsed;
  list.headersUsed = at + bytes;
  return at;
}

/** Ends the message made of the pieces added since the last one. */
export function endMessage(list: PieceList, frames: number, bytes: number): void {
  const m = list.messages++;
  list.msgEnd[m] = list.pieces;
  list.msgFrames[m] = frames;
  list.msgBytes[m] = bytes;
}

/** Message i's bytes, joined (tests and diagnostics; allocates). */
export function joinMessage(list: PieceList, buffers: readonly Uint8Array[], i: number): Uint8Array {
  const start = i === 0 ? 0 : list.msgEnd[i - 1]!;
  const end = list.msgEnd[i]!;
  let len = 0;
  for (let p = start; p < end; p++) len += list.pieceLen[p]!;
  const out = new Uint8Array(len);
  let at = 0;
  for (let p = start; p < end; p++) {
    const off = list.pieceOff[p]!;
    out.set(buffers[list.pieceBuf[p]!]!.subarray(off, off + list.pieceLen[p]!), at);
    at += list.pieceLen[p]!;
  }
  return out;
}
