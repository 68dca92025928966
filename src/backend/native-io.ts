/**
 * The I/O the userland backend needs, as a narrow interface over the native
 * addon (src/native): persistent taps, raw sockets and batched transfers.
 */
import type { Family } from '../eoip/config.ts';
import {
  type BatchArea,
  BatchIo,
  batchArea,
  isNativeSystemError,
  link,
  raw,
  SendList,
  TunOffload,
  tap,
} from '../native/index.ts';

export { SendList };

import { IPPROTO_ETHERIP, IPPROTO_GRE } from '../wire/ipv4.ts';

/** Socket buffers big enough to ride out a burst while JS is busy elsewhere. */
const SOCKET_BUFFER_BYTES = 4 << 20;

/** A file descriptor polled by the addon, with its receive slots. */
export interface BatchPort {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  /** 16 bytes per slot: source address (IPv6 sockets). */
  readonly rxSrc: Uint8Array;
  /** 16 bytes per slot: destination address (IPv6 sockets, from IPV6_PKTINFO). */
  readonly rxDst: Uint8Array;
  readonly slotSize: number;
  /**
   * Packets the socket's filter dropped before they reached us, by datapath DropReason
   * ([bad IP header, fragment, not EoIP, truncated]); null when the kernel would not load the
   * counting filter (the plain one drops them uncounted).
   */
  filterDrops(): number[] | null;
  /** Tap ports: frames read carry a virtio_net_hdr (VNET_HDR_LENGTH bytes) in front. */
  readonly vnetHdr: boolean;
  /** Tap ports: the offloads the kernel took ('tso+uso', 'tso', 'csum', 'off'). */
  readonly offload: string;
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
  /**
   * Creates (or attaches to) a persistent tap. `onGone` is called once, with the errno, if the
   * device is deleted under us: the port has stopped polling and only close() is left to do.
   */
  openTap(
    name: string,
    slots: number,
    slotSize: number,
    onBatch: (count: number) => void,
    onGone: (errno: number) => void,
    /** Open with IFF_VNET_HDR and ask for checksum, TSO and USO offloads (probed, falling back). */
    offload: boolean,
    /** Frames land this many bytes into their slot (room for a tunnel header in front, in place). */
    headroom: number,
  ): BatchPort;
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
  /** Sends messages [0, count) of `list`; returns how many the kernel took (0 when the first failed). */
  sendList(port: BatchPort, list: SendList, count: number): number;
}

/** A BatchIo with the fd it polls and one-message send arrays for single writes. */
class Port implements BatchPort {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  readonly rxSrc: Uint8Array;
  readonly rxDst: Uint8Array;
  private countersClosed = false;
  vnetHdr = false;
  offload = 'off';

  constructor(
    readonly fd: number,
    readonly io: BatchIo,
    readonly slotSize: number,
    /** The counting filter's counters, or -1. */
    readonly countersFd = -1,
  ) {
    this.rxBuffer = io.rxBuffer;
    this.rxLengths = io.rxLengths;
    this.rxSrc = io.rxSrc;
    this.rxDst = io.rxDst;
  }

  filterDrops(): number[] | null {
    return this.countersFd < 0 ? null : raw.filterDrops(this.countersFd);
  }
  start(): void {
    this.io.start();
  }
  stop(): void {
    this.io.stop();
  }
  close(): void {
    this.io.close();
    if (this.countersFd >= 0 && !this.countersClosed) {
      raw.close(this.countersFd);
      this.countersClosed = true;
    }
  }
}

function port(p: BatchPort): Port {
  return p as Port;
}

/** Sends through a port; a failing first message (no route, full queue) counts as nothing sent. */
function sendBatch(
  p: Port,
  buf: Buffer,
  offsets: Uint32Array,
  lengths: Uint32Array,
  dsts: Uint8Array,
  count: number,
): number {
  try {
    return p.io.send(buf, offsets, lengths, dsts, count);
  } catch (err) {
    if (isNativeSystemError(err)) return 0;
    throw err;
  }
}

/**
 * The most the kernel takes of checksum + TSO + USO (USO needs Linux 6.2), else checksum + TSO,
 * else checksum only, else none (frames still carry the header, with nothing to do in it).
 */
function probeOffloads(fd: number): string {
  const { CSUM, TSO4, TSO6, USO4, USO6 } = TunOffload;
  const tries: [number, string][] = [
    [CSUM | TSO4 | TSO6 | USO4 | USO6, 'tso+uso'],
    [CSUM | TSO4 | TSO6, 'tso'],
    [CSUM, 'csum'],
  ];
  for (const [flags, mode] of tries) {
    try {
      tap.setOffload(fd, flags);
      return mode;
    } catch (err) {
      if (!isNativeSystemError(err)) throw err;
    }
  }
  return 'off';
}

/** The counting filter if the kernel takes it, else the plain one stays (see filterDrops). */
function countingFilter(fd: number, family: Family, onRefused: (reason: string) => void): number {
  try {
    return raw.attachCountingFilter(fd, family);
  } catch (err) {
    onRefused((err as Error).message);
    return -1;
  }
}

export function nativeIo(onFilterRefused: (reason: string) => void = () => {}): NativeIo {
  let tapArea: { area: BatchArea; slots: number; slotSize: number } | null = null;
  return {
    linkExists: (name) => link.exists(name),
    openTap(name, slots, slotSize, onBatch, onGone, offload, headroom) {
      const handle = tap.open(name, true, offload);
      try {
        const mode = offload ? probeOffloads(handle.fd) : 'off';
        // All taps receive into one area: a tunnel costs no receive memory of its own.
        if (!tapArea || tapArea.slots < slots || tapArea.slotSize !== slotSize)
          tapArea = { area: batchArea(slots, slotSize), slots, slotSize };
        const kind = offload ? 'tap-vnet' : 'tap';
        const io = new BatchIo(handle.fd, kind, slots, slotSize, onBatch, onGone, tapArea.area, headroom);
        const port = new Port(handle.fd, io, slotSize);
        port.vnetHdr = offload;
        port.offload = mode;
        return port;
      } catch (err) {
        raw.close(handle.fd);
        throw err;
      }
    },
    deleteTap(name, p) {
      p.close();
      try {
        tap.delete(name);
      } catch (err) {
        if (!(isNativeSystemError(err) && err.code === 'ENODEV')) throw err;
      }
    },
    setMtu: (name, mtu) => link.setMtu(name, mtu),
    setUp: (name, up) => link.setUp(name, up),
    setCarrier: (p, on) => tap.setCarrier(port(p).fd, on),
    openRaw(family, options, slots, slotSize, onBatch) {
      const fd = raw.open(family, family === 4 ? IPPROTO_GRE : IPPROTO_ETHERIP, {
        ttl: options.ttl,
        tos: options.tos,
        ...(options.link ? { device: options.link } : {}),
        ...(options.local ? { bindAddress: options.local } : {}),
        eoipFilter: true,
        recvBufferSize: SOCKET_BUFFER_BYTES,
        sendBufferSize: SOCKET_BUFFER_BYTES,
      });
      const counters = countingFilter(fd, family, onFilterRefused);
      try {
        return new Port(
          fd,
          new BatchIo(fd, family === 4 ? 'ip4' : 'ip6', slots, slotSize, onBatch),
          slotSize,
          counters,
        );
      } catch (err) {
        raw.close(fd);
        if (counters >= 0) raw.close(counters);
        throw err;
      }
    },
    send: (p, buf, offsets, lengths, dsts, count) => sendBatch(port(p), buf, offsets, lengths, dsts, count),
    sendList(p, list, count) {
      try {
        return port(p).io.sendList(list, count);
      } catch (err) {
        if (isNativeSystemError(err)) return 0;
        throw err;
      }
    },
  };
}
