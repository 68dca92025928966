/**
 * The control protocol between the CLI and the daemon: one JSON object per
 * line each way over a unix socket. Requests carry an `op`; replies are
 * `{ ok: true, ... }` or `{ ok: false, error, field? }`. parseRequest checks
 * the shape of what arrives; the values of a tunnel's fields are checked by
 * src/config (resolveTunnel), as for the command line and config files.
 */
import type { TunnelStatus } from '../backend/types.ts';
import { CHANGEABLE_FIELDS } from '../config/diff.ts';
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

/** A request of the wrong shape; `field` is where in the request. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

const OPS: readonly Request['op'][] = ['add', 'change', 'del', 'list', 'status', 'flush', 'shutdown'];

/** The keys a tunnel's fields may have in a request (TunnelConfig's; family is derived and ignored). */
const CONFIG_KEYS: ReadonlySet<string> = new Set(['name', ...CHANGEABLE_FIELDS]);
const CHANGE_KEYS: ReadonlySet<string> = new Set(CHANGEABLE_FIELDS);

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function table(value: unknown, at: string, keys: ReadonlySet<string>): Record<string, unknown> {
  if (!isTable(value)) throw new ProtocolError(`${at}: expected an object, got ${kindOf(value)}`, at);
  for (const key of Object.keys(value)) {
    if (!keys.has(key)) {
      throw new ProtocolError(
        `${at}.${key}: unknown field (expected ${[...keys].join(', ')})`,
        `${at}.${key}`,
      );
    }
  }
  return value;
}

function name(value: unknown, at: string): string {
  if (typeof value !== 'string')
    throw new ProtocolError(`${at}: expected a string, got ${kindOf(value)}`, at);
  return value;
}

function only(request: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(request)) {
    if (key !== 'op' && !keys.includes(key)) {
      throw new ProtocolError(`${key}: unknown field for ${String(request.op)}`, key);
    }
  }
}

/**
 * A parsed JSON line as a Request of the right shape. Field values are not
 * validated here (resolveTunnel does it), only that they are where they belong.
 */
export function parseRequest(value: unknown): Request {
  if (!isTable(value)) {
    throw new ProtocolError(`request: expected a JSON object with an "op", got ${kindOf(value)}`, 'request');
  }
  const op = value.op;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
    const shown = typeof op === 'string' ? JSON.stringify(op) : kindOf(op);
    throw new ProtocolError(`op: unknown operation ${shown} (expected ${OPS.join(', ')})`, 'op');
  }
  switch (op as Request['op']) {
    case 'add': {
      only(value, ['config']);
      const config = table(value.config, 'config', CONFIG_KEYS);
      for (const key of ['tunnelId', 'remote'] as const) {
        if (config[key] === undefined) throw new ProtocolError(`config.${key}: required`, `config.${key}`);
      }
      if (config.name !== undefined && config.name !== null) name(config.name, 'config.name');
      return {
        op: 'add',
        config: { ...config, name: (config.name as string | null | undefined) ?? null } as AddConfig,
      };
    }
    case 'change': {
      only(value, ['name', 'changes']);
      const changes = table(value.changes, 'changes', CHANGE_KEYS);
      return { op: 'change', name: name(value.name, 'name'), changes: changes as TunnelChanges };
    }
    case 'del':
      only(value, ['name']);
      return { op: 'del', name: name(value.name, 'name') };
    default:
      only(value, []);
      return { op } as Request;
  }
}
