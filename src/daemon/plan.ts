/**
 * What the daemon checks before it touches a backend: complete, valid
 * configurations (the shared validators of src/config), unique names, and
 * one tunnel per (family, remote, tunnel id) across all backends (the kernel
 * would otherwise take packets a userland socket expects).
 */

import { diffConfigs } from '../config/diff.ts';
import { type AddConfig, applyChanges, applyDefaults, defaultName } from '../config/eoip-args.ts';
import type { TunnelChanges } from '../config/validate.ts';
import type { TunnelConfig } from '../eoip/config.ts';

export class FieldError extends Error {
  override name = 'FieldError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

function checkUnique(config: TunnelConfig, others: readonly TunnelConfig[]): void {
  for (const o of others) {
    if (o.name === config.name) throw new FieldError(`name: ${config.name} exists already`, 'name');
    if (o.family === config.family && o.remote === config.remote && o.tunnelId === config.tunnelId) {
      throw new FieldError(
        `tunnel-id: ${config.tunnelId} with remote ${config.remote} is already used by ${o.name} (${o.backend})`,
        'tunnel-id',
      );
    }
  }
}

/** A new tunnel from `eoip add`: defaults filled, a name chosen if none was given, uniqueness checked. */
export function resolveAdd(add: AddConfig, existing: readonly TunnelConfig[]): TunnelConfig {
  const config = applyDefaults(add, defaultName(existing.map((t) => t.name)));
  checkUnique(config, existing);
  return config;
}

/** A complete config (from a file or the state file) checked against the others. */
export function checkComplete(config: TunnelConfig, others: readonly TunnelConfig[]): TunnelConfig {
  const again = applyChanges(config, {});
  checkUnique(again, others);
  return again;
}

/** `eoip change`: the merged config, re-checked. */
export function resolveChange(
  current: TunnelConfig,
  changes: TunnelChanges,
  others: readonly TunnelConfig[],
): TunnelConfig {
  const next = applyChanges(current, changes);
  checkUnique(next, others);
  return next;
}

export interface Plan {
  remove: string[];
  change: TunnelConfig[];
  add: TunnelConfig[];
}

/** The steps from `current` to `wanted` by name: removals, then changes, then additions. */
export function planChanges(current: readonly TunnelConfig[], wanted: readonly TunnelConfig[]): Plan {
  const diff = diffConfigs(current, wanted);
  const byName = new Map(wanted.map((t) => [t.name, t]));
  return { remove: diff.remove, change: diff.change.map((c) => byName.get(c.name)!), add: diff.add };
}
