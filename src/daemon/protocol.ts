/**
 * The control protocol between the CLI and the daemon: one JSON object per
 * line each way over a unix socket. Requests carry an `op`; replies are
 * `{ ok: true, ... }` or `{ ok: false, error, field? }`.
 */
import type { TunnelStatus } from '../backend/types.ts';
import type { AddConfig } from '../config/tunnel.ts';
import type { TunnelChanges } from '../config/validate.ts';

export type Request =
  | { op: 'add'; config: AddConfig }
  | { op: 'change'; name: string; changes: TunnelChanges }
  | { op: 'del'; name: string }
  | { op: 'list' }
  | { op: 'status' }
  | { op: 'flush' }
  | { op: 'shutdown' };

export interface DaemonStatus {
  pid: number;
  version: string;
  netns: string;
  startedAt: string;
  configFile: string | null;
  tunnels: number;
  unmatchedDrops: Record<string, number>;
}

export type Reply =
  | { ok: true; tunnel?: TunnelStatus; tunnels?: TunnelStatus[]; status?: DaemonStatus }
  | { ok: false; error: string; field?: string };

/** Operations anyone who can reach the socket may ask; everything else needs root. */
export const READ_ONLY_OPS = new Set<Request['op']>(['list', 'status']);

/** Largest request line accepted: a config is a few hundred bytes. */
export const MAX_LINE = 64 * 1024;
