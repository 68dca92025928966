/**
 * Value validators shared by the `eoip` command line (eoip-args.ts) and the
 * daemon's config file (file.ts), so both give the same messages.
 *
 * Every validator takes an `unknown` (command-line values are strings, file
 * values may be numbers, strings, booleans or tables) and either returns the
 * normalised value or throws a ValidationError whose `detail` describes the
 * problem without naming the field: each caller prefixes its own label
 * (`tid: ...` on the command line, `tunnels[2].tunnel-id: ...` in a file).
 */
import {
  type BackendName,
  DEFAULTS,
  type Family,
  type KeepaliveConfig,
  LIMITS,
  type TunnelConfig,
} from '../eoip/config.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';

/** The canonical names of a tunnel's fields, as the command line spells them. */
export type FieldName =
  | 'name'
  | 'tunnel-id'
  | 'local'
  | 'remote'
  | 'ttl'
  | 'tos'
  | 'link'
  | 'keepalive'
  | 'mtu'
  | 'backend';

/** The canonical field name of each TunnelConfig property (family is derived, never given). */
export const FIELD_OF = {
  name: 'name',
  tunnelId: 'tunnel-id',
  local: 'local',
  remote: 'remote',
  ttl: 'ttl',
  tos: 'tos',
  link: 'link',
  keepalive: 'keepalive',
  mtu: 'mtu',
  backend: 'backend',
} as const satisfies Record<Exclude<keyof TunnelConfig, 'family'>, FieldName>;

export const BACKENDS: readonly BackendName[] = ['userland', 'kernel', 'ebpf'];

export const RANGES = {
  ttl: { min: 1, max: 255 },
  tos: { min: 0, max: 255 },
  mtu: { min: LIMITS.minMtu, max: LIMITS.maxMtu },
  eoipTunnelId: { min: 0, max: LIMITS.eoipMaxTunnelId },
  eoipv6TunnelId: { min: 0, max: LIMITS.eoipv6MaxTunnelId },
  keepaliveInterval: { min: 1, max: LIMITS.keepaliveMaxInterval },
  keepaliveRetries: { min: 1, max: LIMITS.keepaliveMaxRetries },
} as const;

/** A bad value: `field` is the canonical field, `detail` the problem, without the field's name. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(
    readonly field: FieldName,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** How a value appears in a message: strings quoted, numbers bare, structures by kind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a table';
  return `a ${typeof value}`;
}

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;

/**
 * An integer within [min, max]. Accepts a number, a bigint, or a string of
 * decimal digits (no leading zeros, so no one mistakes it for octal) or 0x hex.
 */
export function integerInRange(
  field: FieldName,
  value: unknown,
  min: number,
  max: number,
  what = '',
  suffix = '',
): number {
  const prefix = what === '' ? '' : `${what} `;
  let n: number;
  let shown: string;
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new ValidationError(field, `${prefix}${describe(value)} is not an integer`);
    n = value;
    shown = String(value);
  } else if (typeof value === 'bigint') {
    n =
      value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number.NaN
        : Number(value);
    shown = String(value);
  } else if (typeof value === 'string' && (DECIMAL.test(value) || HEX.test(value))) {
    n = Number(value);
    if (!Number.isSafeInteger(n)) n = Number.NaN;
    shown = value;
  } else {
    throw new ValidationError(field, `${prefix}${describe(value)} is not an integer`);
  }
  if (!(n >= min && n <= max))
    throw new ValidationError(field, `${prefix}${shown} is out of range ${min}-${max}${suffix}`);
  return n;
}

/**
 * A Linux interface name, as the kernel's dev_valid_name() accepts it: 1-15
 * bytes, not "." or "..", no '/', ':' or whitespace. Control characters and
 * '%' (the kernel would take it as a name template) are refused as well.
 */
export function validateInterfaceName(value: unknown, field: FieldName = 'name'): string {
  if (typeof value !== 'string')
    throw new ValidationError(field, `${describe(value)} is not an interface name`);
  if (value === '') throw new ValidationError(field, 'must not be empty');
  const bytes = new TextEncoder().encode(value).length;
  if (bytes > LIMITS.nameMaxBytes) {
    throw new ValidationError(
      field,
      `${describe(value)} is ${bytes} bytes long, the limit is ${LIMITS.nameMaxBytes}`,
    );
  }
  if (value === '.' || value === '..') throw new ValidationError(field, `${describe(value)} is not allowed`);
  for (const bad of ['/', ':', '%']) {
    if (value.includes(bad)) throw new ValidationError(field, `${describe(value)} must not contain '${bad}'`);
  }
  if (/\s/.test(value)) throw new ValidationError(field, `${describe(value)} must not contain whitespace`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      throw new ValidationError(field, `${describe(value)} must not contain control characters`);
    }
  }
  return value;
}

export function validateName(value: unknown): string {
  return validateInterfaceName(value, 'name');
}

/** The underlay link: an interface name or index (digits are a valid name too). */
export function validateLink(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
  return validateInterfaceName(value, 'link');
}

export interface ParsedAddress {
  /** Canonical text: dotted quad, or RFC 5952 for IPv6. */
  text: string;
  family: Family;
  unspecified: boolean;
  multicast: boolean;
  /** IPv4-mapped IPv6 (::ffff:a.b.c.d). */
  mapped: boolean;
}

/** Parses an IPv4 or IPv6 address into canonical text and its family. */
export function parseIpAddress(field: FieldName, value: unknown): ParsedAddress {
  if (typeof value === 'string') {
    const v4 = ipv4.parseAddress(value);
    if (v4 !== null) {
      return {
        text: ipv4.formatAddress(v4),
        family: 4,
        unspecified: v4 === 0,
        multicast: v4 >>> 28 === 0xe || v4 === 0xffffffff,
        mapped: false,
      };
    }
    const v6 = ipv6.parseAddress(value);
    if (v6 !== null) {
      return {
        text: ipv6.formatAddress(v6),
        family: 6,
        unspecified: v6.every((b) => b === 0),
        multicast: v6[0] === 0xff,
        mapped: v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff,
      };
    }
  }
  throw new ValidationError(field, `${describe(value)} is not an IPv4 or IPv6 address`);
}

function unicastOnly(field: FieldName, value: unknown, addr: ParsedAddress): void {
  if (addr.multicast) {
    throw new ValidationError(field, `${describe(value)} is a multicast or broadcast address`);
  }
  if (addr.mapped) {
    const v4 = addr.text.slice('::ffff:'.length);
    throw new ValidationError(field, `${describe(value)} is an IPv4-mapped IPv6 address; write it as ${v4}`);
  }
}

/** The remote: a unicast address, canonicalised; its family selects EoIP or EoIPv6. */
export function validateRemote(value: unknown): { remote: string; family: Family } {
  const addr = parseIpAddress('remote', value);
  if (addr.unspecified) throw new ValidationError('remote', `${describe(value)} is the unspecified address`);
  unicastOnly('remote', value, addr);
  return { remote: addr.text, family: addr.family };
}

/**
 * The local address: canonicalised; "any" and the unspecified address (as
 * iproute2 reads them) give null, letting the kernel choose.
 */
export function validateLocal(value: unknown): { local: string | null; family: Family | null } {
  if (value === 'any') return { local: null, family: null };
  const addr = parseIpAddress('local', value);
  if (addr.unspecified) return { local: null, family: addr.family };
  unicastOnly('local', value, addr);
  return { local: addr.text, family: addr.family };
}

/** Family of a canonical (already validated) address. */
export function familyOf(address: string): Family {
  return address.includes(':') ? 6 : 4;
}

/** 0-65535 for EoIP; with family 6 (an IPv6 remote), 0-4095 for EoIPv6. */
export function validateTunnelId(value: unknown, family: Family | null = null): number {
  const { min, max } = RANGES.eoipTunnelId;
  const tid = integerInRange('tunnel-id', value, min, max);
  if (family === 6) checkTunnelIdForFamily(tid, 6);
  return tid;
}

export function checkTunnelIdForFamily(tunnelId: number, family: Family): void {
  const { min, max } = family === 6 ? RANGES.eoipv6TunnelId : RANGES.eoipTunnelId;
  if (tunnelId < min || tunnelId > max) {
    const why = family === 6 ? ' for EoIPv6 (selected by the IPv6 remote)' : '';
    throw new ValidationError('tunnel-id', `${tunnelId} is out of range ${min}-${max}${why}`);
  }
}

/** Local and remote must be of one family. */
export function checkSameFamily(local: string | null, remote: string): void {
  if (local === null) return;
  const lf = familyOf(local);
  const rf = familyOf(remote);
  if (lf !== rf) {
    throw new ValidationError('local', `${local} is IPv${lf} but remote ${remote} is IPv${rf}`);
  }
}

export function validateTtl(value: unknown): number {
  return integerInRange('ttl', value, RANGES.ttl.min, RANGES.ttl.max);
}

export function validateTos(value: unknown): number {
  return integerInRange('tos', value, RANGES.tos.min, RANGES.tos.max);
}

export function validateMtu(value: unknown): number {
  return integerInRange('mtu', value, RANGES.mtu.min, RANGES.mtu.max);
}

export function validateBackend(value: unknown): BackendName {
  if (typeof value === 'string' && (BACKENDS as readonly string[]).includes(value))
    return value as BackendName;
  throw new ValidationError('backend', `${describe(value)} is not one of ${BACKENDS.join(', ')}`);
}

const KEEPALIVE_TEXT = /^(-?[0-9]+s?|0[xX][0-9a-fA-F]+)(?:,(-?[0-9]+|0[xX][0-9a-fA-F]+))?$/;

function keepaliveInterval(value: unknown): number {
  // RouterOS writes `keepalive=10s,10`: allow the seconds suffix.
  if (typeof value === 'string' && /^[0-9]+s$/.test(value)) value = value.slice(0, -1);
  const { min, max } = RANGES.keepaliveInterval;
  const hint = value === 0 || value === '0' ? " (use 'none' to turn keepalives off)" : '';
  return integerInRange('keepalive', value, min, max, 'interval', hint);
}

function keepaliveRetries(value: unknown): number {
  const { min, max } = RANGES.keepaliveRetries;
  return integerInRange('keepalive', value, min, max, 'retries');
}

/**
 * `none` (null), `SECS` or `SECS,RETRIES` as on the command line (SECS may
 * carry RouterOS's `s` suffix; RETRIES defaults to 10, as in RouterOS). The
 * config file may also give a number of seconds, `false`, or a table
 * `{interval, retries?}`.
 */
export function validateKeepalive(value: unknown): KeepaliveConfig | null {
  if (value === 'none' || value === false) return null;
  if (typeof value === 'number' || typeof value === 'bigint') {
    return { interval: keepaliveInterval(value), retries: DEFAULTS.keepalive.retries };
  }
  if (typeof value === 'string') {
    const m = KEEPALIVE_TEXT.exec(value);
    if (m === null) {
      throw new ValidationError('keepalive', `${describe(value)} is not none, SECS or SECS,RETRIES`);
    }
    const interval = keepaliveInterval(m[1]);
    const retries = m[2] === undefined ? DEFAULTS.keepalive.retries : keepaliveRetries(m[2]);
    return { interval, retries };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)) {
    const table = value as Record<string, unknown>;
    for (const key of Object.keys(table)) {
      if (key !== 'interval' && key !== 'retries') {
        throw new ValidationError(
          'keepalive',
          `unknown key ${JSON.stringify(key)}${suggest(key, ['interval', 'retries'])} (expected interval, retries)`,
        );
      }
    }
    if (table.interval === undefined) throw new ValidationError('keepalive', 'interval is required');
    const interval = keepaliveInterval(table.interval);
    const retries =
      table.retries === undefined ? DEFAULTS.keepalive.retries : keepaliveRetries(table.retries);
    return { interval, retries };
  }
  throw new ValidationError('keepalive', `${describe(value)} is not none, SECS or SECS,RETRIES`);
}

/** Optimal-string-alignment edit distance, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    d.push([i]);
  }
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** ` (did you mean "x"?)` for a near miss among `candidates`, else ''. */
export function suggest(word: string, candidates: readonly string[]): string {
  if (word.length > 64) return '';
  let best: string | null = null;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(word.length / 2)));
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist <= bestDistance && (best === null || dist < bestDistance)) {
      best = c;
      bestDistance = dist;
    }
  }
  return best === null ? '' : ` (did you mean ${JSON.stringify(best)}?)`;
}

/** Fields to change on a tunnel (never its name). `local: null` clears it (`local any`). */
export type TunnelChanges = Partial<Omit<TunnelConfig, 'name'>>;

/** Everything a tunnel needs before defaults: what `eoip add` or a file entry gives. */
export interface TunnelInput {
  name: string;
  tunnelId: number;
  remote: string;
  local?: string | null | undefined;
  ttl?: number | undefined;
  tos?: number | undefined;
  link?: string | null | undefined;
  keepalive?: KeepaliveConfig | null | undefined;
  mtu?: number | undefined;
  backend?: BackendName | undefined;
}

/**
 * Validates each given field (idempotent on values a validator returned),
 * fills DEFAULTS, derives the family from the remote, and checks what spans
 * fields (the tunnel id's range for the family; local and remote of one family).
 */
export function completeTunnel(input: TunnelInput): TunnelConfig {
  const { remote, family } = validateRemote(input.remote);
  const config: TunnelConfig = {
    name: validateName(input.name),
    tunnelId: validateTunnelId(input.tunnelId),
    family,
    local: input.local == null ? null : validateLocal(input.local).local,
    remote,
    ttl: input.ttl === undefined ? DEFAULTS.ttl : validateTtl(input.ttl),
    tos: input.tos === undefined ? DEFAULTS.tos : validateTos(input.tos),
    link: input.link == null ? null : validateLink(input.link),
    keepalive:
      input.keepalive === undefined
        ? { ...DEFAULTS.keepalive }
        : input.keepalive === null
          ? null
          : validateKeepalive(input.keepalive),
    mtu: input.mtu === undefined ? DEFAULTS.mtu : validateMtu(input.mtu),
    backend: input.backend === undefined ? DEFAULTS.backend : validateBackend(input.backend),
  };
  checkTunnel(config);
  return config;
}

/** fe80::/10: an address that means something only on one link. */
function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/** A link-local address names no interface by itself: the tunnel must say which link it is on. */
export function checkScope(config: Pick<TunnelConfig, 'local' | 'remote' | 'link'>): void {
  if (config.link !== null) return;
  for (const field of ['remote', 'local'] as const) {
    const address = config[field];
    if (address !== null && isLinkLocal(address)) {
      throw new ValidationError(
        field,
        `${address} is link-local: give link (the underlay interface it is reached through)`,
      );
    }
  }
}

/** The checks spanning fields, on a whole config. */
export function checkTunnel(config: TunnelConfig): void {
  checkTunnelIdForFamily(config.tunnelId, config.family);
  checkSameFamily(config.local, config.remote);
  checkScope(config);
}
