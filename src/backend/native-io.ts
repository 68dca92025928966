/**
 * The I/O the userland backend needs, as a narrow interface over the native
 * addon (src/native): persistent taps, raw sockets and batched transfers.
 */
import type { Family } from '../eoip/config.ts';

/** A file descriptor polled by the addon, with its receive slots. */
export interface BatchPort {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  /** 16 bytes per slot: source address (IPv6 sockets). */
  readonly rxSrc: Uint8Array;
  /** 16 bytes per slot: destination address (IPv6 sockets, from IPV6_PKTINFO). */
  readonly rxDst: Uint8Array;
  readonly slotSize: number;
  start(): void;
  stop(): void;
  close(): void;
}

export interface RawOptions {
  local: string | null;
  link: string | null;
  ttl: number;
  tos: number;
}

export interface NativeIo {
  linkExists(name: string): boolean;
  /** Creates (or attaches to) a persistent tap. */
  openTap(name: string, slots: number, slotSize: number, onBatch: (count: number) => void): BatchPort;
  /** Closes the port and removes the tap device. */
  deleteTap(name: string, port: BatchPort): void;
  setMtu(name: string, mtu: number): void;
  setUp(name: string, up: boolean): void;
  setCarrier(port: BatchPort, on: boolean): void;
  openRaw(
    family: Family,
    options: RawOptions,
    slots: number,
    slotSize: number,
    onBatch: (count: number) => void,
  ): BatchPort;
  /** Sends `count` messages; returns how many the kernel took. */
  send(
    port: BatchPort,
    buf: Buffer,
    offsets: Uint32Array,
    lengths: Uint32Array,
    dsts: Uint8Array,
    count: number,
  ): number;
  /** Writes one frame to a tap; false if the kernel would not take it. */
  writeFrame(port: BatchPort, buf: Buffer, off: number, len: number): boolean;
}

export function nativeIo(): NativeIo {
  throw new Error('native I/O is not wired yet');
}
