/**
 * What to probe, as the command line and the daemon's config file say it: a
 * gre/ip6gre device (everything else read from it), or an underlay-only pair
 * of addresses; with the interval, retries, hooks and carrier choice. The
 * config file's `gre-keepalive:` list is validated here, each mistake named by
 * its path (`gre-keepalive[1].retries: ...`). Pure.
 */
import { compileProbe, PROBE_LAYOUTS, type ProbeLayout, type ProbeSpec, ProbeSpecError } from './probe.ts';

export interface ProbeTarget {
  /** A gre/ip6gre device: addresses, keys, TTL, TOS, checksum and underlay are read from it. */
  device?: string;
  /** Without a device: the underlay-only probe. */
  spec?: ProbeSpec;
  /** IPv6: which GRE6 layout (default gre6-mikrotik). */
  layout?: ProbeLayout;
  intervalMs: number;
  retries: number;
  /** Shell commands run on a change (environment: GRE_KEEPALIVE_STATE, _TUNNEL, _DEVICE, _LOCAL, _REMOTE). */
  onDown?: string;
  onUp?: string;
  /** Device probes: take the device's carrier away while down (default true). */
  carrier?: boolean;
}

/** Cisco's defaults: `keepalive 10 3`. */
export const DEFAULT_INTERVAL_S = 10;
export const DEFAULT_RETRIES = 3;
/** Intervals below a second are for tests; Cisco allows up to 32767 s. */
export const INTERVAL_RANGE_S = [0.1, 32767] as const;
export const RETRIES_RANGE = [1, 255] as const;

/** The display name of a target, unique within a prober. */
export function targetName(t: ProbeTarget): string {
  return t.device ?? `${t.spec!.local}->${t.spec!.remote}`;
}

export class ProbeConfigError extends Error {
  override name = 'ProbeConfigError';
  constructor(
    /** e.g. `gre-keepalive[1].retries` */
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const KEYS = [
  'device',
  'local',
  'remote',
  'key',
  'ttl',
  'layout',
  'interval',
  'retries',
  'on-down',
  'on-up',
  'carrier',
] as const;

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'string' ? `"${v}"` : String(v);
}

function numberIn(path: string, v: unknown, [min, max]: readonly [number, number], integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new ProbeConfigError(
      path,
      `${describe(v)} is not ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
    );
  return v;
}

function text(path: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new ProbeConfigError(path, `${describe(v)} is not a non-empty string`);
  return v;
}

/** The config file's `gre-keepalive:` value: a list of probes. */
export function parseProbeEntries(value: unknown, at = 'gre-keepalive'): ProbeTarget[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value))
    throw new ProbeConfigError(at, `expected a list of probes, got ${describe(value)}`);
  const targets: ProbeTarget[] = [];
  const names = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const here = `${at}[${i}]`;
    const target = parseEntry(entry, here);
    const name = targetName(target);
    const earlier = names.get(name);
    if (earlier !== undefined)
      throw new ProbeConfigError(here, `${name} is already probed by ${at}[${earlier}]`);
    names.set(name, i);
    targets.push(target);
  });
  return targets;
}

function parseEntry(entry: unknown, at: string): ProbeTarget {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new ProbeConfigError(at, `expected a table (device, or local and remote), got ${describe(entry)}`);
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!(KEYS as readonly string[]).includes(key))
      throw new ProbeConfigError(`${at}.${key}`, `unknown key (expected ${KEYS.join(', ')})`);
  }
  const p = (key: string) => `${at}.${key}`;
  const target: ProbeTarget = {
    intervalMs: Math.round(
      (e.interval === undefined
        ? DEFAULT_INTERVAL_S
        : numberIn(p('interval'), e.interval, INTERVAL_RANGE_S, false)) * 1000,
    ),
    retries:
      e.retries === undefined ? DEFAULT_RETRIES : numberIn(p('retries'), e.retries, RETRIES_RANGE, true),
  };
  if (e['on-down'] !== undefined) target.onDown = text(p('on-down'), e['on-down']);
  if (e['on-up'] !== undefined) target.onUp = text(p('on-up'), e['on-up']);
  if (e.carrier !== undefined) {
    if (typeof e.carrier !== 'boolean')
      throw new ProbeConfigError(p('carrier'), `${describe(e.carrier)} is not true or false`);
    target.carrier = e.carrier;
  }
  let layout: ProbeLayout | undefined;
  if (e.layout !== undefined) {
    if (e.layout === 'gre' || !PROBE_LAYOUTS.includes(e.layout as ProbeLayout))
      throw new ProbeConfigError(p('layout'), `${describe(e.layout)} is not gre6-mikrotik or gre6`);
    layout = e.layout as ProbeLayout;
  }
  if (e.device !== undefined) {
    for (const key of ['local', 'remote', 'key', 'ttl'] as const)
      if (e[key] !== undefined) throw new ProbeConfigError(p(key), 'read from the device; only without one');
    target.device = text(p('device'), e.device);
    if (!/^[^\s/]{1,15}$/.test(target.device))
      throw new ProbeConfigError(p('device'), `${describe(e.device)} is not an interface name`);
    if (layout) target.layout = layout;
    return target;
  }
  if (e.local === undefined || e.remote === undefined)
    throw new ProbeConfigError(at, 'give device, or local and remote');
  const key = e.key === undefined ? null : numberIn(p('key'), e.key, [0, 0xffffffff], true);
  const spec: ProbeSpec = {
    local: text(p('local'), e.local),
    remote: text(p('remote'), e.remote),
    okey: key,
    ikey: key,
    ttl: e.ttl === undefined ? 255 : numberIn(p('ttl'), e.ttl, [1, 255], true),
    ...(layout ? { layout } : {}),
  };
  try {
    compileProbe(spec);
  } catch (err) {
    if (err instanceof ProbeSpecError)
      throw new ProbeConfigError(p(err.field), err.message.slice(err.field.length + 2));
    throw err;
  }
  target.spec = spec;
  return target;
}
