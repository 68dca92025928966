/**
 * From whatever asks for a tunnel to a complete, validated TunnelConfig, in
 * one call (resolveTunnel): an `eoip add` request, an `eoip change` of an
 * existing tunnel, or an entry of the config file or the state file. Defaults
 * are filled and every field and the checks that span fields are run here;
 * what depends on the other tunnels (unique names and peers) is the daemon's
 * plan (src/daemon/plan.ts).
 */
import type { TunnelConfig } from '../eoip/config.ts';
import { ArgsError } from './eoip-args.ts';
import {
  completeTunnel,
  describe,
  type TunnelChanges,
  type TunnelInput,
  ValidationError,
} from './validate.ts';

/** What `eoip add` gives: the name may be left to the daemon (null), the rest defaulted later. */
export type AddConfig = Omit<Partial<TunnelConfig>, 'name' | 'tunnelId' | 'remote' | 'family'> &
  Pick<TunnelConfig, 'tunnelId' | 'remote' | 'family'> & { name: string | null };

/** What asks for a tunnel. */
export type TunnelRequest =
  /** `eoip add`: an unnamed tunnel takes the first free eoipN. */
  | { kind: 'add'; config: AddConfig }
  /** `eoip change`: the named tunnel's fields, replaced by `changes`. */
  | { kind: 'change'; name: string; changes: TunnelChanges }
  /** A state-file entry (or any stored config): untrusted, checked whole. */
  | { kind: 'entry'; config: unknown };

/** A ValidationError becomes an ArgsError with the same message and field. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ValidationError) throw new ArgsError(`${err.field}: ${err.detail}`, err.field);
    throw err;
  }
}

function toInput(config: AddConfig | TunnelConfig, name: string): TunnelInput {
  const { family: _family, ...rest } = config;
  return { ...rest, name };
}

/**
 * The complete, validated config `request` asks for. `existing` are the
 * tunnels there are now: they give the taken names (add) and the tunnel to
 * change (change). Throws ArgsError naming the field.
 */
export function resolveTunnel(request: TunnelRequest, existing: readonly TunnelConfig[]): TunnelConfig {
  switch (request.kind) {
    case 'add':
      return applyDefaults(request.config, defaultName(existing.map((t) => t.name)));
    case 'change': {
      const current = existing.find((t) => t.name === request.name);
      if (current === undefined) throw new ArgsError(`name: no tunnel named ${request.name}`, 'name');
      return applyChanges(current, request.changes);
    }
    case 'entry': {
      const entry = request.config;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new ArgsError(`name: expected a table of tunnel settings, got ${describe(entry)}`, 'name');
      }
      // Every field, the name included, is validated as if typed by a user.
      return applyChanges(entry as TunnelConfig, {});
    }
  }
}

/**
 * Completes what `eoip add` gave: fills DEFAULTS and derives the family from
 * the remote. A tunnel added without a name takes `name` (see defaultName).
 */
export function applyDefaults(partial: AddConfig, name?: string): TunnelConfig {
  const chosen = partial.name ?? name;
  if (chosen === undefined) throw new ArgsError('name: required (none given, no default chosen)', 'name');
  return checked(() => completeTunnel(toInput(partial, chosen)));
}

/** Applies `eoip change` to a tunnel, re-deriving the family and re-checking what spans fields. */
export function applyChanges(current: TunnelConfig, changes: TunnelChanges): TunnelConfig {
  const merged: TunnelConfig = { ...current, ...changes, name: current.name };
  return checked(() => completeTunnel(toInput(merged, current.name)));
}

/** The first of eoip0, eoip1, ... not in `existing`: the daemon's name for an unnamed tunnel. */
export function defaultName(existing: Iterable<string>, prefix = 'eoip'): string {
  const taken = new Set(existing);
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (!taken.has(name)) return name;
  }
}
