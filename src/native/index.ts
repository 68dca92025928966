/**
 * src/native/: typed wrappers over the native addon (native/src): taps, raw sockets, batched I/O, netlink and BPF syscalls.
 * May import: nothing else of greoip (the addon holds no protocol logic either).
 */
/**
 * Typed wrappers over the native addon (native/src/*.cc): tap devices, raw IP sockets, link ioctls and
 * batched I/O. A thin syscall layer with no protocol logic; every failing call throws an Error whose
 * `code` is the errno name ('EPERM', 'ENODEV', ...), `syscall` the failing call ('TUNSETIFF',
 * 'sendmmsg', ...) and `errno` the negated errno, like Node's own system errors.
 *
 * The addon is loaded on first use, so importing this module never fails on a machine without it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the addon lives, relative to the package root. */
export const NATIVE_ADDON_RELATIVE_PATH = 'native/build/Release/greoip.node';

/** The shape of every error the addon throws for a failing system call. */
export interface NativeSystemError extends Error {
  code: string;
  syscall: string;
  errno: number;
}

export function isNativeSystemError(error: unknown): error is NativeSystemError {
  return (
    error instanceof Error &&
    typeof (error as Partial<NativeSystemError>).code === 'string' &&
    typeof (error as Partial<NativeSystemError>).syscall === 'string'
  );
}

export interface TapHandle {
  /** Non-blocking, close-on-exec fd of /dev/net/tun attached to the tap. */
  fd: number;
  /** The interface name the kernel settled on (fills in templates such as "tap%d"). */
  name: string;
}

export type RawFamily = 4 | 6;

export interface RawOptions {
  /** IP_TTL / IPV6_UNICAST_HOPS, 1..255. */
  ttl?: number;
  /** IP_TOS / IPV6_TCLASS, 0..255. */
  tos?: number;
  /** SO_BINDTODEVICE. */
  device?: string;
  /** bind() to this local address (IPv4 or IPv6 literal, matching the family). */
  bindAddress?: string;
  /** Classic BPF admission filter: IPv4, the 4 bytes after the header are 20 01 64 00; IPv6, (byte0 & 0x0f) == 3. */
  eoipFilter?: boolean;
  /** Send packets with the IP header the caller built (IP_HDRINCL / IPV6_HDRINCL). */
  hdrincl?: boolean;
  /** Classic BPF admission filter: only packets of at most this many bytes (IPv4 packet / IPv6 payload). */
  maxLength?: number;
  /** SO_RCVBUFFORCE (falls back to SO_RCVBUF). */
  recvBufferSize?: number;
  /** SO_SNDBUFFORCE (falls back to SO_SNDBUF). */
  sendBufferSize?: number;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** 'ip4' and 'ip6' use recvmmsg/sendmmsg on a raw socket; 'tap' uses read()/write() on a tap fd. */
/** `tap-vnet`: a tap opened with vnetHdr; sends put a zero virtio_net_hdr before each frame. */
export type BatchKind = 'ip4' | 'ip6' | 'tap' | 'tap-vnet';

export interface BatchStats {
  /** onBatch calls. */
  rxBatches: number;
  /** Messages delivered to onBatch. */
  rxPackets: number;
  /** Failed receive calls and poll errors (EAGAIN is not an error). */
  rxErrors: number;
  /** Messages longer than slotSize, delivered cut to slotSize. */
  rxTruncated: number;
  /** Messages handed to the kernel by send(). */
  txPackets: number;
  /** send() calls that threw on their first message. */
  txErrors: number;
  /** Messages a send() call did not take because the socket or tap was full (EAGAIN, ENOBUFS). */
  txDropped: number;
}

/** The batch callback: `count` messages are in slots 0..count-1 of the receive area until it returns. */
export type OnBatch = (count: number) => void;
/** A receive area: slots of slotSize bytes, and per slot a length and two 16-byte addresses. */
export interface BatchArea {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  readonly rxSrc: Uint8Array;
  readonly rxDst: Uint8Array;
}

/**
 * A receive area several BatchIo can share (taps: one process reads one batch at a time and
 * consumes it in onBatch). Pages are mapped on first use, so an idle area costs no memory.
 */
export function batchArea(slots: number, slotSize: number): BatchArea {
  return loadNative().batchArea(slots, slotSize);
}

/**
 * For a long-running daemon: a fixed glibc mmap threshold and one malloc arena, so memory freed
 * after a reload of many tunnels goes back to the system instead of staying fragmented.
 */
export function mallocTuneForDaemon(): void {
  loadNative().mallocTuneForDaemon();
}

/** The fd failed for good (a tap whose device was deleted): polling has stopped. Gets the errno. */
export type OnError = (errno: number) => void;

interface NativeBatchIo {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  readonly rxSrc: Uint8Array;
  readonly rxDst: Uint8Array;
  start(): void;
  stop(): void;
  close(): void;
  send(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, dsts: Uint8Array, count: number): number;
  sendList(list: NativeSendList, count: number): number;
  stats(): BatchStats;
}

interface NativeSendList {
  readonly pieceBuf: Uint8Array;
  readonly pieceOff: Uint32Array;
  readonly pieceLen: Uint32Array;
  readonly msgEnd: Uint32Array;
  readonly dsts: Uint8Array;
  setBuffer(index: number, buf: Uint8Array): void;
}

interface NativeAddon {
  tapOpen(name: string, persist: boolean, vnetHdr?: boolean): TapHandle;
  tapSetOffload(fd: number, flags: number): void;
  tapSetPersist(fd: number, on: boolean): void;
  tapSetCarrier(fd: number, on: boolean): void;
  tapDelete(name: string): void;
  linkSetMtu(name: string, mtu: number): void;
  linkSetUp(name: string, up: boolean): void;
  linkGetIndex(name: string): number;
  linkExists(name: string): boolean;
  rawOpen(family: RawFamily, protocol: number, opts: RawOptions): number;
  rawAttachCountingFilter(fd: number, family: RawFamily): number;
  rawFilterDrops(countersFd: number): number[];
  close(fd: number): void;
  peerCred(fd: number): PeerCredentials;
  netnsCookie(): bigint;
  netlinkOpen(): number;
  netlinkSend(fd: number, message: Uint8Array): void;
  netlinkRecv(fd: number, timeoutMs: number): Buffer | null;
  unixDatagramSend(path: string, message: Buffer): void;
  BatchIo: new (
    fd: number,
    kind: BatchKind,
    slots: number,
    slotSize: number,
    onBatch: OnBatch,
    onError?: OnError,
    area?: BatchArea,
    headroom?: number,
  ) => NativeBatchIo;
  SendList: new (maxMessages: number, maxPieces: number) => NativeSendList;
  batchArea(slots: number, slotSize: number): BatchArea;
  mallocTuneForDaemon(): void;
}

let addon: NativeAddon | undefined;

/**
 * The addon's path: the first ancestor of this module holding native/build/Release/greoip.node (works
 * from src/native/ and from a bundle in dist/), else where the package root says it should be.
 */
export function nativeAddonPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let expected: string | undefined;
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, NATIVE_ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    if (expected === undefined && existsSync(join(dir, 'native', 'binding.gyp'))) expected = candidate;
    if (dir === parse(dir).root) break;
  }
  return expected ?? join(here, '..', '..', NATIVE_ADDON_RELATIVE_PATH);
}

/** Loads an addon file; a missing one gives an error naming the path and the build command. */
export function openNativeAddon(path: string): NativeAddon {
  if (!existsSync(path)) {
    const error = new Error(
      `greoip native addon not found at ${path}: run npm run build:native (needs g++, make, python3)`,
    ) as NodeJS.ErrnoException;
    error.code = 'ERR_GREOIP_NATIVE_MISSING';
    throw error;
  }
  return createRequire(import.meta.url)(path) as NativeAddon;
}

/** The loaded addon (loaded once, on first use). */
export function loadNative(): NativeAddon {
  // GREOIP_NATIVE_ADDON selects another build, e.g. the sanitized one (scripts/build-native-sanitized.sh).
  addon ??= openNativeAddon(process.env.GREOIP_NATIVE_ADDON || nativeAddonPath());
  return addon;
}

/** Tap devices through /dev/net/tun (IFF_TAP | IFF_NO_PI; fds are O_NONBLOCK | O_CLOEXEC). */
/** TUNSETOFFLOAD bits (linux/if_tun.h). */
export const TunOffload = {
  CSUM: 0x01,
  TSO4: 0x02,
  TSO6: 0x04,
  TSO_ECN: 0x08,
  USO4: 0x20,
  USO6: 0x40,
} as const;

export const tap = {
  /** Creates the tap, or attaches to the existing persistent tap of that name; `persist` sets TUNSETPERSIST. */
  open(name: string, persist = false, vnetHdr = false): TapHandle {
    return loadNative().tapOpen(name, persist, vnetHdr);
  },
  /** TUNSETOFFLOAD with TUN_F_* bits (see TunOffload); throws EINVAL for bits the kernel lacks. */
  setOffload(fd: number, flags: number): void {
    loadNative().tapSetOffload(fd, flags);
  },
  setPersist(fd: number, on: boolean): void {
    loadNative().tapSetPersist(fd, on);
  },
  /** TUNSETCARRIER: off shows NO-CARRIER / operstate DOWN while the link stays administratively up. */
  setCarrier(fd: number, on: boolean): void {
    loadNative().tapSetCarrier(fd, on);
  },
  /** Deletes a persistent tap (attach, TUNSETPERSIST 0, close). ENODEV when absent, EBUSY when attached. */
  delete(name: string): void {
    loadNative().tapDelete(name);
  },
};

/** Raw IP sockets: non-blocking, close-on-exec, the kernel builds the outer header and fragments (DF clear). */
export const raw = {
  open(family: RawFamily, protocol: number, opts: RawOptions = {}): number {
    return loadNative().rawOpen(family, protocol, opts);
  },
  close(fd: number): void {
    loadNative().close(fd);
  },
  /**
   * Replaces the socket's filter with the eBPF twin of `eoipFilter`, which counts what it drops
   * (needs CAP_BPF or CAP_SYS_ADMIN). Returns the counters' fd, for filterDrops; close it with the
   * socket.
   */
  attachCountingFilter(fd: number, family: RawFamily): number {
    return loadNative().rawAttachCountingFilter(fd, family);
  },
  /** What the counting filter dropped: [bad IP header, fragment, not EoIP, truncated]. */
  filterDrops(countersFd: number): number[] {
    return loadNative().rawFilterDrops(countersFd);
  },
};

/** Interface control (SIOC* ioctls) in the calling process's network namespace. */
export const link = {
  setMtu(name: string, mtu: number): void {
    loadNative().linkSetMtu(name, mtu);
  },
  setUp(name: string, up: boolean): void {
    loadNative().linkSetUp(name, up);
  },
  /** The ifindex; throws ENODEV when there is no such interface. */
  getIndex(name: string): number {
    return loadNative().linkGetIndex(name);
  },
  exists(name: string): boolean {
    return loadNative().linkExists(name);
  },
};

/**
 * A NETLINK_ROUTE socket (extended and capped acks on). Bytes only: messages are built and parsed in
 * src/netlink/. recv() blocks the thread up to `timeoutMs`: for the control plane, never the datapath.
 */
export const netlink = {
  open(): number {
    return loadNative().netlinkOpen();
  },
  send(fd: number, message: Uint8Array): void {
    loadNative().netlinkSend(fd, message);
  },
  /** One datagram (possibly several netlink messages), or null when none arrived in time. */
  recv(fd: number, timeoutMs: number): Buffer | null {
    return loadNative().netlinkRecv(fd, timeoutMs);
  },
};

/**
 * One datagram to a unix datagram socket: an absolute path, or `@name` for an abstract socket (as
 * $NOTIFY_SOCKET gives them). Node's dgram module has no AF_UNIX.
 */
export function unixDatagramSend(path: string, message: Buffer): void {
  loadNative().unixDatagramSend(path, message);
}

/** close(2) on any fd the addon returned. */
export function close(fd: number): void {
  loadNative().close(fd);
}

/** SO_PEERCRED of a connected unix socket (for a net.Socket: `socket._handle.fd`). */
export function peerCred(fd: number): PeerCredentials {
  return loadNative().peerCred(fd);
}

/**
 * SO_NETNS_COOKIE: the calling thread's network namespace as a number the
 * kernel never reuses within a boot (Linux 5.14+), unlike the nsfs inode.
 */
export function netnsCookie(): bigint {
  return loadNative().netnsCookie();
}

/**
 * Batched I/O on one fd. Receiving: after start(), each time the fd is readable the addon drains up to
 * `slots` messages per batch into `rxBuffer` (slot i at i * slotSize, length in rxLengths[i], source and
 * destination address in rxSrc/rxDst[i * 16..]) and calls onBatch(count) once per batch; it keeps going
 * while batches are full, up to a bounded number of batches per wake-up. The slots are reused: copy out
 * what must outlive the callback. Addresses: ip4 uses the first 4 of 16 bytes (source from the kernel,
 * destination from the IPv4 header, which ip4 messages include); ip6 gives the payload only, source
 * from msg_name and destination from IPV6_PKTINFO; tap leaves both alone.
 *
 * BatchIo owns the fd once close() is called; a BatchIo dropped without close() leaks the fd.
 */
export class BatchIo {
  readonly rxBuffer: Buffer;
  readonly rxLengths: Uint32Array;
  readonly rxSrc: Uint8Array;
  readonly rxDst: Uint8Array;
  readonly #native: NativeBatchIo;

  constructor(
    fd: number,
    kind: BatchKind,
    slots: number,
    slotSize: number,
    onBatch: OnBatch,
    onError?: OnError,
    /** Receive into this shared area (see batchArea) instead of one of its own. */
    area?: BatchArea,
    /**
     * Each message lands this many bytes into its slot (at most slotSize - 1 bytes long): room for a
     * header written in front of it in place. rxLengths count the message only.
     */
    headroom = 0,
  ) {
    this.#native = new (loadNative().BatchIo)(fd, kind, slots, slotSize, onBatch, onError, area, headroom);
    this.rxBuffer = this.#native.rxBuffer;
    this.rxLengths = this.#native.rxLengths;
    this.rxSrc = this.#native.rxSrc;
    this.rxDst = this.#native.rxDst;
  }

  /** Starts polling the fd (a polling BatchIo keeps the event loop alive). */
  start(): void {
    this.#native.start();
  }

  /** Stops polling; idempotent. */
  stop(): void {
    this.#native.stop();
  }

  /**
   * Stops polling and closes the fd; idempotent. Later send()/start() throw EBADF. The receive
   * area's pages are returned at once (rxBuffer reads as zeros) and the callbacks are released.
   */
  close(): void {
    this.#native.close();
  }

  /**
   * Sends messages buf[offsets[i] .. offsets[i] + lengths[i]) for i < count, to the address in
   * dsts[i * 16..] (ip4: its first 4 bytes; tap: ignored). Returns how many the kernel took: fewer than
   * `count` when the socket is full (EAGAIN/ENOBUFS) or when a later message failed (resend the rest to
   * see its error). Throws when the first message fails.
   */
  send(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, dsts: Uint8Array, count: number): number {
    return this.#native.send(buf, offsets, lengths, dsts, count);
  }

  /**
   * Sends messages [0, count) of `list` (see SendList), with send()'s return and error semantics.
   * Sockets: one sendmmsg; taps: one writev per message (a tap-vnet message begins with its
   * virtio_net_hdr, which send() adds by itself).
   */
  sendList(list: SendList, count: number): number {
    return this.#native.sendList(list.native, count);
  }

  stats(): BatchStats {
    return this.#native.stats();
  }
}

/**
 * Messages made of pieces (scatter-gather I/O) for BatchIo.sendList, described in typed arrays
 * filled in place: piece p lies in buffer pieceBuf[p] (bound with setBuffer) at pieceOff[p], pieceLen[p]
 * bytes long; message i is pieces msgEnd[i - 1] (0 for i = 0) up to msgEnd[i], sent to the address at
 * dsts[i * 16..] (sockets). Every piece is checked against its buffer on each send. A message has at
 * most 1024 pieces.
 */
export class SendList {
  readonly pieceBuf: Uint8Array;
  readonly pieceOff: Uint32Array;
  readonly pieceLen: Uint32Array;
  readonly msgEnd: Uint32Array;
  readonly dsts: Uint8Array;
  /** @internal */
  readonly native: NativeSendList;
  readonly #buffers: (Uint8Array | null)[] = [null, null, null, null];

  constructor(maxMessages: number, maxPieces: number) {
    this.native = new (loadNative().SendList)(maxMessages, maxPieces);
    this.pieceBuf = this.native.pieceBuf;
    this.pieceOff = this.native.pieceOff;
    this.pieceLen = this.native.pieceLen;
    this.msgEnd = this.native.msgEnd;
    this.dsts = this.native.dsts;
  }

  /** Binds buffer `index` (0-3); a no-op when it is bound to `buf` already. */
  setBuffer(index: number, buf: Uint8Array): void {
    if (this.#buffers[index] === buf) return;
    this.native.setBuffer(index, buf);
    this.#buffers[index] = buf;
  }
}
