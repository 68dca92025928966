/**
 * The `eoip` command line, as users of the eoip kernel-module tool know it:
 *
 *   eoip add [name N] tunnel-id|tid ID [local IP] remote IP [ttl T] [tos T]
 *            [link IF] [keepalive none|SECS[,RETRIES]] [mtu M] [backend userland|kernel|ebpf]
 *   eoip change|set name N [tunnel-id|tid ID] [local IP] [remote IP] [ttl T] [tos T]
 *            [link IF] [keepalive ...] [mtu M]
 *   eoip del|delete name N
 *   eoip list [--json]
 *   eoip version
 *
 * Commands and parameter names may be abbreviated to any unique prefix, as
 * in iproute2 (`eoip a n eoip0 tid 5 rem 10.0.0.2`); an exact match always
 * wins (`tid`, `ttl` and `tos` are exact even though `t` is ambiguous).
 */
import type { Family, KeepaliveConfig } from '../eoip/config.ts';
import type { AddConfig } from './tunnel.ts';
import {
  checkSameFamily,
  checkTunnelIdForFamily,
  type FieldName,
  suggest,
  type TunnelChanges,
  ValidationError,
  validateBackend,
  validateKeepalive,
  validateLink,
  validateLocal,
  validateMtu,
  validateName,
  validateRemote,
  validateTos,
  validateTtl,
  validateTunnelId,
} from './validate.ts';

export type { AddConfig } from './tunnel.ts';
export type { TunnelChanges } from './validate.ts';

export type EoipCommand =
  | { command: 'add'; config: AddConfig }
  | { command: 'change'; name: string; changes: TunnelChanges }
  | { command: 'del'; name: string }
  | { command: 'list'; json: boolean }
  | { command: 'version' }
  | { command: 'help' };

/** What an ArgsError is about: a tunnel field, the command word, or an unrecognised parameter. */
export type ArgsField = FieldName | 'command' | 'parameter';

/** A command-line mistake; the message is one line meant for the user. */
export class ArgsError extends Error {
  override name = 'ArgsError';
  constructor(
    message: string,
    readonly field: ArgsField,
  ) {
    super(message);
  }
}

interface Keyword<T extends string> {
  word: string;
  canonical: T;
}

type CommandName = EoipCommand['command'];

const COMMANDS: readonly Keyword<CommandName>[] = [
  { word: 'add', canonical: 'add' },
  { word: 'change', canonical: 'change' },
  { word: 'set', canonical: 'change' },
  { word: 'del', canonical: 'del' },
  { word: 'delete', canonical: 'del' },
  { word: 'list', canonical: 'list' },
  { word: 'version', canonical: 'version' },
  { word: 'help', canonical: 'help' },
];

const TUNNEL_PARAMS: readonly Keyword<FieldName>[] = [
  { word: 'name', canonical: 'name' },
  { word: 'tunnel-id', canonical: 'tunnel-id' },
  { word: 'tid', canonical: 'tunnel-id' },
  { word: 'local', canonical: 'local' },
  { word: 'remote', canonical: 'remote' },
  { word: 'ttl', canonical: 'ttl' },
  { word: 'tos', canonical: 'tos' },
  { word: 'link', canonical: 'link' },
  { word: 'keepalive', canonical: 'keepalive' },
  { word: 'mtu', canonical: 'mtu' },
  { word: 'backend', canonical: 'backend' },
  { word: '--backend', canonical: 'backend' },
];

const DEL_PARAMS: readonly Keyword<FieldName>[] = [{ word: 'name', canonical: 'name' }];

/**
 * Resolves a possibly abbreviated keyword: an exact match wins, otherwise the
 * prefix must select one canonical keyword (aliases of one keyword, like
 * `del`/`delete`, are not ambiguous with each other).
 */
function matchKeyword<T extends string>(
  token: string,
  table: readonly Keyword<T>[],
  kind: 'command' | 'parameter',
  context: string,
): Keyword<T> {
  const exact = table.find((k) => k.word === token);
  if (exact) return exact;
  const candidates = token === '' ? [] : table.filter((k) => k.word.startsWith(token));
  const canonicals = new Set(candidates.map((k) => k.canonical));
  const first = candidates[0];
  if (first !== undefined && canonicals.size === 1) return first;
  const field = kind === 'command' ? 'command' : 'parameter';
  if (candidates.length > 0) {
    throw new ArgsError(`ambiguous '${token}': ${candidates.map((k) => k.word).join(', ')}`, field);
  }
  const words = table.map((k) => k.word);
  const where = context === '' ? '' : ` for ${context}`;
  throw new ArgsError(
    `unknown ${kind} '${token}'${where}${suggest(token, words)} (expected ${words.join(', ')})`,
    field,
  );
}

interface Given {
  /** The keyword's full spelling as the user chose it (`tid` or `tunnel-id`), used in messages. */
  label: string;
  value: string;
}

/** Reads `keyword value` pairs; null when the user asked for help instead. */
function readParams(
  args: readonly string[],
  table: readonly Keyword<FieldName>[],
  context: string,
): Map<FieldName, Given> | null {
  const given = new Map<FieldName, Given>();
  for (let i = 0; i < args.length; i += 2) {
    const token = args[i]!;
    if (token === 'help' || token === '-h' || token === '--help') return null;
    const keyword = matchKeyword(token, table, 'parameter', context);
    const value = args[i + 1];
    if (value === undefined) throw new ArgsError(`${keyword.word}: missing value`, keyword.canonical);
    const earlier = given.get(keyword.canonical);
    if (earlier !== undefined) {
      const as = earlier.label === keyword.word ? '' : ` (as ${earlier.label} and ${keyword.word})`;
      throw new ArgsError(`${keyword.word}: given more than once${as}`, keyword.canonical);
    }
    given.set(keyword.canonical, { label: keyword.word, value });
  }
  return given;
}

/**
 * Runs a validator, turning its ValidationError into an ArgsError labelled as
 * the user typed the keyword (or by the canonical field, without a label).
 */
function checked<T>(label: string | null, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ValidationError)
      throw new ArgsError(`${label ?? err.field}: ${err.detail}`, err.field);
    throw err;
  }
}

function value<T>(given: Map<FieldName, Given>, field: FieldName, check: (v: string) => T): T | undefined {
  const entry = given.get(field);
  if (entry === undefined) return undefined;
  return checked(entry.label, () => check(entry.value));
}

function labelOf(given: Map<FieldName, Given>, field: FieldName): string {
  return given.get(field)?.label ?? field;
}

/** The fields `add` and `change` share, each validated; `remote` also yields the family. */
function readTunnelFields(given: Map<FieldName, Given>): {
  remote?: { remote: string; family: Family };
  local?: { local: string | null; family: Family | null };
  fields: TunnelChanges;
} {
  const fields: TunnelChanges = {};
  const remote = value(given, 'remote', validateRemote);
  const local = value(given, 'local', validateLocal);
  if (remote !== undefined) {
    fields.remote = remote.remote;
    fields.family = remote.family;
  }
  if (local !== undefined) fields.local = local.local;
  if (remote !== undefined && local?.local != null) {
    const l = local.local;
    checked(labelOf(given, 'local'), () => checkSameFamily(l, remote.remote));
  }
  const tunnelId = value(given, 'tunnel-id', (v) => validateTunnelId(v));
  if (tunnelId !== undefined) {
    if (remote !== undefined)
      checked(labelOf(given, 'tunnel-id'), () => checkTunnelIdForFamily(tunnelId, remote.family));
    fields.tunnelId = tunnelId;
  }
  const ttl = value(given, 'ttl', validateTtl);
  if (ttl !== undefined) fields.ttl = ttl;
  const tos = value(given, 'tos', validateTos);
  if (tos !== undefined) fields.tos = tos;
  const link = value(given, 'link', validateLink);
  if (link !== undefined) fields.link = link;
  const keepalive: KeepaliveConfig | null | undefined = value(given, 'keepalive', validateKeepalive);
  if (keepalive !== undefined) fields.keepalive = keepalive;
  const mtu = value(given, 'mtu', validateMtu);
  if (mtu !== undefined) fields.mtu = mtu;
  const out: ReturnType<typeof readTunnelFields> = { fields };
  if (remote !== undefined) out.remote = remote;
  if (local !== undefined) out.local = local;
  return out;
}

function parseAdd(args: readonly string[]): EoipCommand {
  const given = readParams(args, TUNNEL_PARAMS, 'add');
  if (given === null) return { command: 'help' };
  const name = value(given, 'name', validateName) ?? null;
  const { remote, fields } = readTunnelFields(given);
  if (!given.has('tunnel-id')) throw new ArgsError('tunnel-id: required for add', 'tunnel-id');
  if (remote === undefined) throw new ArgsError('remote: required for add', 'remote');
  const { tunnelId, family: _family, remote: _remote, ...rest } = fields;
  const config: AddConfig = {
    name,
    tunnelId: tunnelId!,
    remote: remote.remote,
    family: remote.family,
    ...rest,
  };
  const backend = value(given, 'backend', validateBackend);
  if (backend !== undefined) config.backend = backend;
  return { command: 'add', config };
}

function parseChange(args: readonly string[]): EoipCommand {
  const given = readParams(args, TUNNEL_PARAMS, 'change');
  if (given === null) return { command: 'help' };
  const name = value(given, 'name', validateName);
  if (name === undefined) throw new ArgsError('name: required for change (which tunnel to change)', 'name');
  const backend = given.get('backend');
  if (backend !== undefined) {
    throw new ArgsError(
      `${backend.label}: cannot be changed on an existing tunnel; delete it and add it again`,
      'backend',
    );
  }
  const { fields } = readTunnelFields(given);
  if (Object.keys(fields).length === 0) {
    throw new ArgsError(`change: nothing to change on ${name}`, 'command');
  }
  return { command: 'change', name, changes: fields };
}

function parseDel(args: readonly string[]): EoipCommand {
  const given = readParams(args, DEL_PARAMS, 'del');
  if (given === null) return { command: 'help' };
  const name = value(given, 'name', validateName);
  if (name === undefined) throw new ArgsError('name: required for del (which tunnel to delete)', 'name');
  return { command: 'del', name };
}

function parseList(args: readonly string[]): EoipCommand {
  let json = false;
  for (const arg of args) {
    if (arg === '--json' || arg === '-j') json = true;
    else if (arg === 'help' || arg === '-h' || arg === '--help') return { command: 'help' };
    else throw new ArgsError(`unknown parameter '${arg}' for list (expected --json)`, 'parameter');
  }
  return { command: 'list', json };
}

/** Parses the arguments after `eoip`. Throws ArgsError on any mistake. */
export function parseEoipArgs(argv: readonly string[]): EoipCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') return { command: 'help' };
  if (first === '-V' || first === '--version') return { command: 'version' };
  if (first.startsWith('-')) throw new ArgsError(`unknown option '${first}'`, 'command');
  const command = matchKeyword(first, COMMANDS, 'command', '').canonical;
  switch (command) {
    case 'add':
      return parseAdd(rest);
    case 'change':
      return parseChange(rest);
    case 'del':
      return parseDel(rest);
    case 'list':
      return parseList(rest);
    case 'version':
      if (rest.length > 0) throw new ArgsError(`unknown parameter '${rest[0]}' for version`, 'parameter');
      return { command: 'version' };
    case 'help':
      return { command: 'help' };
  }
}
