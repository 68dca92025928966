/**
 * The daemon's record of its tunnels, so a restart restores them and cleanup
 * finds them: each tunnel's config, the ifindex of the interface it made (the
 * proof that an interface of that name is ours) and its counters, under the
 * identity of the network namespace it was written in. Writes go to a
 * temporary file renamed over the record; a write that fails leaves the
 * record as it was and names the file.
 */
import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { TunnelCounters } from '../backend/types.ts';
import { resolveTunnel } from '../config/tunnel.ts';
import type { TunnelConfig } from '../eoip/config.ts';
import type { NamespaceIdentity } from './paths.ts';
import { sameNamespace } from './paths.ts';

const VERSION = 2;

export interface StateEntry {
  config: TunnelConfig;
  /** The interface the daemon created or adopted for this tunnel; null when not known. */
  ifindex: number | null;
  /** Totals when the record was written, carried over by a restart; null when not known. */
  counters: TunnelCounters | null;
}

export interface StateRecord {
  netns: NamespaceIdentity;
  tunnels: StateEntry[];
}

export type StateRead =
  | { kind: 'none' }
  /** Not a state file this version can read: nothing in it can be trusted. */
  | { kind: 'corrupt'; reason: string }
  /** Written in another network namespace (one that is gone, its inode reused). */
  | { kind: 'foreign'; netns: NamespaceIdentity }
  /** Ours; entries that failed validation are left out and described in `problems`. */
  | { kind: 'ours'; tunnels: StateEntry[]; problems: string[] };

/** A state file that cannot be read or written; the message names it. */
export class StateError extends Error {
  override name = 'StateError';
  constructor(
    message: string,
    readonly file: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const COUNTER_KEYS = [
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'rxKeepalives',
  'txKeepalives',
  'rxErrors',
  'txErrors',
] as const satisfies readonly (keyof TunnelCounters)[];

function readCounters(value: unknown): TunnelCounters | null {
  if (!isTable(value)) return null;
  const out = {} as TunnelCounters;
  for (const key of COUNTER_KEYS) {
    const n = value[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return null;
    out[key] = n;
  }
  return out;
}

function readIdentity(value: unknown): NamespaceIdentity | null {
  if (!isTable(value)) return null;
  const { cookie, bootId } = value;
  if (typeof cookie !== 'string' || !/^[0-9]+$/.test(cookie)) return null;
  if (typeof bootId !== 'string' || bootId === '') return null;
  return { cookie, bootId };
}

/** Checks a parsed state file against the namespace reading it. Pure, for tests. */
export function parseState(text: string, identity: NamespaceIdentity): StateRead {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    return { kind: 'corrupt', reason: `not JSON (${(err as Error).message})` };
  }
  if (!isTable(root)) return { kind: 'corrupt', reason: 'not a greoip state file (expected a JSON object)' };
  if (root.version !== VERSION) {
    return { kind: 'corrupt', reason: `version ${JSON.stringify(root.version)} is not ${VERSION}` };
  }
  const netns = readIdentity(root.netns);
  if (netns === null) return { kind: 'corrupt', reason: 'netns: missing or not {cookie, bootId}' };
  if (!sameNamespace(netns, identity)) return { kind: 'foreign', netns };
  if (!Array.isArray(root.tunnels)) return { kind: 'corrupt', reason: 'tunnels: not a list' };
  const tunnels: StateEntry[] = [];
  const problems: string[] = [];
  root.tunnels.forEach((entry: unknown, i) => {
    const at = `tunnels[${i}]`;
    if (!isTable(entry)) {
      problems.push(`${at}: not a table`);
      return;
    }
    let config: TunnelConfig;
    try {
      config = resolveTunnel({ kind: 'entry', config: entry.config }, []);
    } catch (err) {
      problems.push(`${at}.config: ${(err as Error).message}`);
      return;
    }
    const { ifindex } = entry;
    const index = typeof ifindex === 'number' && Number.isInteger(ifindex) && ifindex > 0 ? ifindex : null;
    if (index === null && ifindex !== null) problems.push(`${at}.ifindex: not an interface index`);
    const counters = readCounters(entry.counters);
    if (counters === null && entry.counters !== null) problems.push(`${at}.counters: not a set of counters`);
    tunnels.push({ config, ifindex: index, counters });
  });
  return { kind: 'ours', tunnels, problems };
}

export async function readState(path: string, identity: NamespaceIdentity): Promise<StateRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    throw new StateError(`cannot read the state file ${path}: ${(err as Error).message}`, path, {
      cause: err,
    });
  }
  return parseState(text, identity);
}

/**
 * Moves a state file the daemon will not use to `<path>.<why>-<time>`, kept
 * for the operator (copies it, with `keep`, when the daemon goes on using
 * the good part of it).
 */
export async function setAside(path: string, why: 'corrupt' | 'foreign', keep = false): Promise<string> {
  const aside = `${path}.${why}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await (keep ? copyFile(path, aside) : rename(path, aside));
  return aside;
}

function serialize(record: StateRecord, slack = 0): string {
  const body = JSON.stringify({ version: VERSION, netns: record.netns, tunnels: record.tunnels });
  // Trailing whitespace is valid JSON: room for what a staged record does not know yet.
  return `${body}\n${' '.repeat(slack)}`;
}

/**
 * Writes the state file atomically. `stage` writes a record (padded) to the
 * temporary file first, to prove before a change that its record can be
 * written; `write` then replaces the temporary file's content and renames it
 * over the state file. A failed write removes the temporary file.
 */
export class StateWriter {
  private readonly tmp: string;

  constructor(readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
  }

  private failed(err: unknown): StateError {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code
      ? `${e.code}${e.message ? `: ${e.message.replace(/^[A-Z]+: /, '')}` : ''}`
      : String(err);
    return new StateError(`cannot write the state file ${this.path} (${reason})`, this.path, { cause: err });
  }

  /** Writes `record` padded by `slack` bytes to the temporary file, without replacing the state file. */
  async stage(record: StateRecord, slack: number): Promise<void> {
    try {
      await writeFile(this.tmp, serialize(record, slack), { mode: 0o600 });
    } catch (err) {
      await this.discard();
      throw this.failed(err);
    }
  }

  async write(record: StateRecord): Promise<void> {
    try {
      await writeFile(this.tmp, serialize(record), { mode: 0o600 });
      await rename(this.tmp, this.path);
    } catch (err) {
      await this.discard();
      throw this.failed(err);
    }
  }

  /** Removes the temporary file, if any. */
  async discard(): Promise<void> {
    await rm(this.tmp, { force: true }).catch(() => undefined);
  }
}
