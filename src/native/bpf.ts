/**
 * Typed wrappers over the addon's libbpf loader (native/src/bpf.cc): objects, pins, map elements,
 * BPF_PROG_TEST_RUN, TCX links, clsact filters, XDP. Errors are the addon's errno errors; a failed
 * object load also carries libbpf's messages (the verifier log) in `log`.
 */
import { loadNative } from './index.ts';

export interface LoadedProgram {
  name: string;
  section: string;
  fd: number;
}

export interface LoadedMap {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Where libbpf pinned (or found) the map, for maps declared with LIBBPF_PIN_BY_NAME. */
  pinPath: string | null;
}

export interface LoadedObject {
  /** Keeps the object's fds open until close (or garbage collection). */
  handle: unknown;
  programs: LoadedProgram[];
  maps: LoadedMap[];
}

export interface ObjectLoadOptions {
  /** Directory for maps pinned by name: existing pins are reused, missing ones created. */
  pinRoot?: string;
  /** Forces a program type by libbpf section name ('xdp', 'tc') on every program. */
  progType?: string;
}

export interface TestRunResult {
  retval: number;
  duration: number;
  data: Buffer;
}

export interface LinkInfo {
  id: number;
  progId: number;
  type: number;
  ifindex: number;
  attachType: number;
}

interface NativeBpf {
  bpfObjectLoad(path: string, opts: ObjectLoadOptions): LoadedObject;
  bpfObjectClose(handle: unknown): void;
  bpfObjGet(path: string): number;
  bpfObjPin(fd: number, path: string): void;
  bpfProgInfo(fd: number): ProgInfo;
  bpfMapInfo(fd: number): MapInfo;
  bpfMapGetFdById(id: number): number;
  bpfLinkInfo(fd: number): LinkInfo;
  bpfProgGetFdById(id: number): number;
  bpfMapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  bpfMapLookup(fd: number, key: Uint8Array, valueSize: number): Buffer | null;
  bpfMapDelete(fd: number, key: Uint8Array): boolean;
  bpfMapNextKey(fd: number, key: Uint8Array | null, keySize: number): Buffer | null;
  bpfPossibleCpus(): number;
  bpfTestRun(fd: number, data: Uint8Array, opts: { repeat?: number; dataSizeOut?: number }): TestRunResult;
  bpfLinkCreate(progFd: number, ifindex: number, attachType: number): number;
  bpfLinkDetach(fd: number): void;
  bpfTcHookCreate(ifindex: number): boolean;
  bpfTcHookDestroy(ifindex: number): void;
  bpfTcAttach(
    ifindex: number,
    direction: TcDirection,
    progFd: number,
    handle: number,
    priority: number,
  ): void;
  bpfTcDetach(ifindex: number, direction: TcDirection, handle: number, priority: number): boolean;
  bpfTcQuery(ifindex: number, direction: TcDirection, handle: number, priority: number): number;
  bpfXdpAttach(ifindex: number, progFd: number, flags: number): void;
  bpfXdpDetach(ifindex: number, flags: number): void;
  bpfXdpQuery(ifindex: number): { prog: number; skb: number; drv: number; attachMode: number };
  bpfProbeHelper(progType: number, helperId: number): boolean;
}

export type TcDirection = 'ingress' | 'egress';

export interface ProgInfo {
  id: number;
  type: number;
  /** The kernel's name (at most 15 characters). */
  name: string;
  mapIds: number[];
}

export interface MapInfo {
  id: number;
  type: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

function addon(): NativeBpf {
  return loadNative() as unknown as NativeBpf;
}

/** Map update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const MapUpdate = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

/** enum bpf_attach_type values the loader uses (uapi; TCX since Linux 6.6, absent from libbpf 1.1's headers). */
export const AttachType = { XDP: 37, TCX_INGRESS: 46, TCX_EGRESS: 47 } as const;

/** enum bpf_prog_type values. */
export const ProgType = { SCHED_CLS: 3, XDP: 6 } as const;

/** XDP_FLAGS_*. */
export const XdpFlags = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, REPLACE: 16 } as const;

export const bpf = {
  loadObject(path: string, opts: ObjectLoadOptions = {}): LoadedObject {
    return addon().bpfObjectLoad(path, opts);
  },
  closeObject(object: LoadedObject): void {
    addon().bpfObjectClose(object.handle);
  },
  objGet(path: string): number {
    return addon().bpfObjGet(path);
  },
  objPin(fd: number, path: string): void {
    addon().bpfObjPin(fd, path);
  },
  progInfo(fd: number): ProgInfo {
    return addon().bpfProgInfo(fd);
  },
  mapInfo(fd: number): MapInfo {
    return addon().bpfMapInfo(fd);
  },
  mapFdById(id: number): number {
    return addon().bpfMapGetFdById(id);
  },
  linkInfo(fd: number): LinkInfo {
    return addon().bpfLinkInfo(fd);
  },
  progFdById(id: number): number {
    return addon().bpfProgGetFdById(id);
  },
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number = MapUpdate.ANY): void {
    addon().bpfMapUpdate(fd, key, value, flags);
  },
  mapLookup(fd: number, key: Uint8Array, valueSize: number): Buffer | null {
    return addon().bpfMapLookup(fd, key, valueSize);
  },
  mapDelete(fd: number, key: Uint8Array): boolean {
    return addon().bpfMapDelete(fd, key);
  },
  mapNextKey(fd: number, key: Uint8Array | null, keySize: number): Buffer | null {
    return addon().bpfMapNextKey(fd, key, keySize);
  },
  possibleCpus(): number {
    return addon().bpfPossibleCpus();
  },
  testRun(fd: number, data: Uint8Array, opts: { repeat?: number; dataSizeOut?: number } = {}): TestRunResult {
    return addon().bpfTestRun(fd, data, opts);
  },
  linkCreate(progFd: number, ifindex: number, attachType: number): number {
    return addon().bpfLinkCreate(progFd, ifindex, attachType);
  },
  linkDetach(fd: number): void {
    addon().bpfLinkDetach(fd);
  },
  tcHookCreate(ifindex: number): boolean {
    return addon().bpfTcHookCreate(ifindex);
  },
  tcHookDestroy(ifindex: number): void {
    addon().bpfTcHookDestroy(ifindex);
  },
  tcAttach(ifindex: number, direction: TcDirection, progFd: number, handle: number, priority: number): void {
    addon().bpfTcAttach(ifindex, direction, progFd, handle, priority);
  },
  tcDetach(ifindex: number, direction: TcDirection, handle: number, priority: number): boolean {
    return addon().bpfTcDetach(ifindex, direction, handle, priority);
  },
  tcQuery(ifindex: number, direction: TcDirection, handle: number, priority: number): number {
    return addon().bpfTcQuery(ifindex, direction, handle, priority);
  },
  xdpAttach(ifindex: number, progFd: number, flags: number): void {
    addon().bpfXdpAttach(ifindex, progFd, flags);
  },
  xdpDetach(ifindex: number, flags: number): void {
    addon().bpfXdpDetach(ifindex, flags);
  },
  xdpQuery(ifindex: number): { prog: number; skb: number; drv: number; attachMode: number } {
    return addon().bpfXdpQuery(ifindex);
  },
  probeHelper(progType: number, helperId: number): boolean {
    return addon().bpfProbeHelper(progType, helperId);
  },
};
