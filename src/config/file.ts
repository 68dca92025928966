/**
 * The daemon's config file, YAML (.yaml, .yml) or TOML (.toml):
 *
 *   tunnels:
 *     - name: eoip-hq
 *       tunnel-id: 100        # also tunnelId, tunnel_id or tid
 *       local: 192.0.2.1
 *       remote: 198.51.100.2
 *       keepalive: 10,10      # or none, or {interval: 10, retries: 10}
 *       mtu: 1500
 *       ttl: 255
 *       tos: 0
 *       link: eth0
 *       backend: userland     # or kernel, or ebpf
 *   gre-keepalive:          # optional: gre tunnels to probe (gre-keepalive probe)
 *     - device: gre1
 *       interval: 10
 *       retries: 3
 *
 * Unknown keys, duplicate names and duplicate (family, remote, tunnel id)
 * pairs are errors. Values go through the same validators as the `eoip`
 * command line, so both give the same messages, here prefixed by the path
 * (`tunnels[2].tunnel-id: 70000 is out of range 0-65535`).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';

/**
 * The parsers are loaded on first use: a daemon without a config file (and
 * every eoip command) starts without them, and a restarted daemon's start is
 * on the path of traffic coming back.
 */
const load = createRequire(import.meta.url);
type Toml = typeof import('smol-toml');
type Yaml = typeof import('yaml');
let toml: Toml | undefined;
let yaml: Yaml | undefined;
const tomlParser = (): Toml => {
  toml ??= load('smol-toml') as Toml;
  return toml;
};
const yamlParser = (): Yaml => {
  yaml ??= load('yaml') as Yaml;
  return yaml;
};

import type { TunnelConfig } from '../eoip/config.ts';
import { ProbeConfigError, type ProbeTarget, parseProbeEntries } from '../gre-keepalive/probe-config.ts';
import {
  completeTunnel,
  describe,
  FIELD_OF,
  type FieldName,
  suggest,
  type TunnelInput,
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

export { type ConfigDiff, diffConfigs } from './diff.ts';

export type ConfigFormat = 'yaml' | 'toml';

export interface ConfigErrorInfo {
  /** The file, when read by loadConfigFile. */
  file?: string | undefined;
  /** The offending value's path, e.g. `tunnels[2].tunnel-id`. */
  path?: string | undefined;
  /** 1-based position of a syntax error. */
  line?: number | undefined;
  column?: number | undefined;
}

/** A bad config file: syntax (with line and column) or content (with the field path). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly file: string | null;
  readonly path: string | null;
  readonly line: number | null;
  readonly column: number | null;
  constructor(message: string, info: ConfigErrorInfo = {}, options?: ErrorOptions) {
    super(message, options);
    this.file = info.file ?? null;
    this.path = info.path ?? null;
    this.line = info.line ?? null;
    this.column = info.column ?? null;
  }
}

/** Spellings the file accepts besides each field's canonical name and its TunnelConfig property name. */
const ALIASES: Partial<Record<FieldName, string[]>> = { 'tunnel-id': ['tunnel_id', 'tid'] };

/** The keys a tunnel entry may have, and the field each one sets (derived from FIELD_OF). */
const TUNNEL_KEYS: Readonly<Record<string, FieldName>> = Object.fromEntries(
  Object.entries(FIELD_OF).flatMap(([property, field]) =>
    [...new Set([field, property, ...(ALIASES[field] ?? [])])].map((key) => [key, field]),
  ),
);

const EXPECTED_KEYS =
  'name, tunnel-id (or tunnelId, tid), local, remote, ttl, tos, link, keepalive, mtu, backend';

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function syntaxError(format: ConfigFormat, message: string, line?: number, column?: number): ConfigError {
  const first = (message.split('\n')[0] ?? '')
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/^Invalid TOML document: /, '');
  const where =
    line === undefined ? '' : column === undefined ? `line ${line}: ` : `line ${line}, column ${column}: `;
  return new ConfigError(`${where}${format.toUpperCase()} syntax error: ${first}`, { line, column });
}

function parseText(text: string, format: ConfigFormat): unknown {
  if (format === 'toml') {
    const { parse, TomlError } = tomlParser();
    try {
      return parse(text, { integersAsBigInt: 'asNeeded', maxDepth: 64 });
    } catch (err) {
      if (err instanceof TomlError) throw syntaxError(format, err.message, err.line, err.column);
      throw syntaxError(format, err instanceof Error ? err.message : String(err));
    }
  }
  const doc = yamlParser().parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    const pos = error.linePos?.[0];
    throw syntaxError(format, error.message, pos?.line, pos?.col);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw syntaxError(format, err instanceof Error ? err.message : String(err));
  }
}

/** Validates one tunnel entry; `at` is its path, e.g. `tunnels[2]`. */
function parseTunnel(entry: unknown, at: string): { config: TunnelConfig; keys: Map<FieldName, string> } {
  if (!isTable(entry)) {
    throw new ConfigError(`${at}: expected a table of tunnel settings, got ${describe(entry)}`, { path: at });
  }
  /** The key the entry used for each field, so messages name what the user wrote. */
  const keys = new Map<FieldName, string>();
  for (const key of Object.keys(entry)) {
    const field = TUNNEL_KEYS[key];
    if (field === undefined || !Object.hasOwn(TUNNEL_KEYS, key)) {
      throw new ConfigError(
        `${at}.${key}: unknown key${suggest(key, Object.keys(TUNNEL_KEYS))} (expected ${EXPECTED_KEYS})`,
        { path: `${at}.${key}` },
      );
    }
    const earlier = keys.get(field);
    if (earlier !== undefined) {
      throw new ConfigError(`${at}.${key}: duplicates ${earlier} (give the tunnel id once)`, {
        path: `${at}.${key}`,
      });
    }
    keys.set(field, key);
  }
  const pathOf = (field: FieldName): string => `${at}.${keys.get(field) ?? field}`;
  const check = <T>(run: () => T): T => {
    try {
      return run();
    } catch (err) {
      if (err instanceof ValidationError) {
        throw new ConfigError(`${pathOf(err.field)}: ${err.detail}`, { path: pathOf(err.field) });
      }
      throw err;
    }
  };
  const get = (field: FieldName): unknown => {
    const key = keys.get(field);
    return key === undefined ? undefined : entry[key];
  };
  for (const field of ['name', 'tunnel-id', 'remote'] as const) {
    if (get(field) === undefined)
      throw new ConfigError(`${pathOf(field)}: required`, { path: pathOf(field) });
  }
  const optional = <T>(
    field: FieldName,
    validate: (value: unknown) => T,
    nullable = false,
  ): T | null | undefined => {
    const value = get(field);
    if (value === undefined) return undefined;
    if (value === null && nullable) return null;
    return check(() => validate(value));
  };
  const input: TunnelInput = {
    name: check(() => validateName(get('name'))),
    remote: check(() => validateRemote(get('remote'))).remote,
    tunnelId: check(() => validateTunnelId(get('tunnel-id'))),
    local: optional('local', (v) => validateLocal(v).local, true),
    ttl: optional('ttl', validateTtl) ?? undefined,
    tos: optional('tos', validateTos) ?? undefined,
    link: optional('link', validateLink, true),
    keepalive: optional('keepalive', validateKeepalive),
    mtu: optional('mtu', validateMtu) ?? undefined,
    backend: optional('backend', validateBackend) ?? undefined,
  };
  return { config: check(() => completeTunnel(input)), keys };
}

/** A whole config file: its tunnels and the gre tunnels it probes. */
export interface ConfigDocument {
  tunnels: TunnelConfig[];
  probes: ProbeTarget[];
}

/** Parses a config file's text into validated tunnels. Throws ConfigError. */
export function parseConfigFile(text: string, format: ConfigFormat): TunnelConfig[] {
  return parseConfigDocument(text, format).tunnels;
}

/** Parses a config file's text into validated tunnels and probes. Throws ConfigError. */
export function parseConfigDocument(text: string, format: ConfigFormat): ConfigDocument {
  if (format !== 'yaml' && format !== 'toml') {
    throw new ConfigError(`unknown config format ${describe(format)} (expected yaml or toml)`);
  }
  const root = parseText(text.replace(/^\uFEFF/, ''), format);
  if (root === null || root === undefined) return { tunnels: [], probes: [] };
  if (!isTable(root)) {
    throw new ConfigError(`top level: expected a table with a "tunnels" list, got ${describe(root)}`);
  }
  for (const key of Object.keys(root)) {
    if (key !== 'tunnels' && key !== 'gre-keepalive') {
      throw new ConfigError(
        `${key}: unknown key${suggest(key, ['tunnels', 'gre-keepalive'])} (expected tunnels, gre-keepalive)`,
        { path: key },
      );
    }
  }
  let probes: ProbeTarget[];
  try {
    probes = parseProbeEntries(root['gre-keepalive']);
  } catch (err) {
    if (err instanceof ProbeConfigError) throw new ConfigError(err.message, { path: err.path });
    throw err;
  }
  const list = root.tunnels;
  if (list === undefined || list === null) return { tunnels: [], probes };
  if (!Array.isArray(list)) {
    throw new ConfigError(`tunnels: expected a list of tunnels, got ${describe(list)}`, { path: 'tunnels' });
  }
  const tunnels: TunnelConfig[] = [];
  const byName = new Map<string, number>();
  const byPeer = new Map<string, number>();
  list.forEach((entry: unknown, i) => {
    const at = `tunnels[${i}]`;
    const { config, keys } = parseTunnel(entry, at);
    const namePath = `${at}.${keys.get('name')}`;
    const sameName = byName.get(config.name);
    if (sameName !== undefined) {
      throw new ConfigError(`${namePath}: ${describe(config.name)} is already used by tunnels[${sameName}]`, {
        path: namePath,
      });
    }
    byName.set(config.name, i);
    const peer = `${config.family}/${config.remote}/${config.tunnelId}`;
    const samePeer = byPeer.get(peer);
    if (samePeer !== undefined) {
      const tidPath = `${at}.${keys.get('tunnel-id')}`;
      const other = tunnels[samePeer]!.name;
      throw new ConfigError(
        `${tidPath}: ${config.tunnelId} with remote ${config.remote} is already used by tunnels[${samePeer}] (${describe(other)})`,
        { path: tidPath },
      );
    }
    byPeer.set(peer, i);
    tunnels.push(config);
  });
  return { tunnels, probes };
}

/** The format a file's extension names, or null. */
export function formatOf(path: string): ConfigFormat | null {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.toml') return 'toml';
  return null;
}

/** Reads and parses a config file, its format chosen by extension. Errors name the file. */
export async function loadConfigFile(path: string): Promise<TunnelConfig[]> {
  return (await loadConfigDocument(path)).tunnels;
}

/** loadConfigFile, with the file's probes too. */
export async function loadConfigDocument(path: string): Promise<ConfigDocument> {
  const format = formatOf(path);
  if (format === null) {
    throw new ConfigError(`${path}: unknown config format (expected a .yaml, .yml or .toml file)`, {
      file: path,
    });
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`${path}: cannot read: ${reason}`, { file: path }, { cause: err });
  }
  try {
    return parseConfigDocument(text, format);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(
        `${path}: ${err.message}`,
        {
          file: path,
          path: err.path ?? undefined,
          line: err.line ?? undefined,
          column: err.column ?? undefined,
        },
        { cause: err },
      );
    }
    throw err;
  }
}
