/**
 * Attaching a TC program so that it outlives the process: a TCX link (bpf_link_create with
 * BPF_TCX_INGRESS/EGRESS, Linux 6.6+) pinned at a path, or on older kernels a direct-action cls_bpf
 * filter on a clsact qdisc, with the program pinned at the path as the record of where it is.
 * Unpinning a TCX link detaches it; a clsact filter is removed by its handle and priority.
 */
import { unlinkSync } from 'node:fs';
import { AttachType, bpf, type TcDirection } from '../native/bpf.ts';
import { closeFd, openPinned } from './loader.ts';

export type TcAttachMode = 'tcx' | 'clsact';

/** Handle and priority of greoip's clsact filters ("e01f": EoIP). */
export const CLSACT_HANDLE = 0xe01f;
export const CLSACT_PRIORITY = 1;

const LINK_PREFIX = 'link';
const FILTER_PREFIX = 'filter';

export interface TcPin {
  /** Directory holding the pins. */
  dir: string;
  /** Name for this attachment, e.g. "tap-12-egress". */
  name: string;
}

function linkPath(p: TcPin): string {
  return `${p.dir}/${LINK_PREFIX}-${p.name}`;
}

function filterPath(p: TcPin): string {
  return `${p.dir}/${FILTER_PREFIX}-${p.name}`;
}

let tcxAvailable: boolean | null = null;

/** Whether the last attach found TCX (null before the first). */
export function tcxSeen(): boolean | null {
  return tcxAvailable;
}

/**
 * Attaches `progFd` to `ifindex` in `direction` and pins the attachment. An existing attachment at the
 * same pin is kept (a restarted daemon adopts it: no gap in forwarding) and its mode returned.
 */
export function attachTc(progFd: number, ifindex: number, direction: TcDirection, pin: TcPin): TcAttachMode {
  const existing = attachedMode(pin);
  if (existing) return existing;
  if (tcxAvailable !== false) {
    try {
      const fd = bpf.linkCreate(
        progFd,
        ifindex,
        direction === 'ingress' ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS,
      );
      try {
        bpf.objPin(fd, linkPath(pin));
      } catch (err) {
        bpf.linkDetach(fd);
        throw err;
      } finally {
        closeFd(fd);
      }
      tcxAvailable = true;
      return 'tcx';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A kernel without TCX refuses the attach type.
      if (code !== 'EINVAL' && code !== 'EOPNOTSUPP') throw err;
      tcxAvailable = false;
    }
  }
  bpf.tcHookCreate(ifindex);
  bpf.tcAttach(ifindex, direction, progFd, CLSACT_HANDLE, CLSACT_PRIORITY);
  try {
    bpf.objPin(progFd, filterPath(pin));
  } catch (err) {
    bpf.tcDetach(ifindex, direction, CLSACT_HANDLE, CLSACT_PRIORITY);
    throw err;
  }
  return 'clsact';
}

/** How the attachment recorded at `pin` is made, or null when there is none. */
export function attachedMode(pin: TcPin): TcAttachMode | null {
  for (const [path, mode] of [
    [linkPath(pin), 'tcx'],
    [filterPath(pin), 'clsact'],
  ] as const) {
    const fd = openPinned(path);
    if (fd !== null) {
      closeFd(fd);
      return mode;
    }
  }
  return null;
}

/**
 * Removes the attachment recorded at `pin` (detaching the TCX link, or deleting the clsact filter on
 * `ifindex`) and its pin. Returns false when there was none. A vanished device is not an error.
 */
export function detachTc(ifindex: number, direction: TcDirection, pin: TcPin): boolean {
  const mode = attachedMode(pin);
  if (mode === 'tcx') {
    const fd = openPinned(linkPath(pin));
    if (fd !== null) {
      try {
        bpf.linkDetach(fd);
      } catch (err) {
        // The device went away first: the link is already defunct.
        if ((err as NodeJS.ErrnoException).code !== 'ENOLINK') throw err;
      } finally {
        closeFd(fd);
      }
    }
    unlinkSync(linkPath(pin));
    return true;
  }
  if (mode === 'clsact') {
    try {
      bpf.tcDetach(ifindex, direction, CLSACT_HANDLE, CLSACT_PRIORITY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENODEV') throw err;
    }
    unlinkSync(filterPath(pin));
    return true;
  }
  return false;
}
