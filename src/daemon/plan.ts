/**
 * The daemon's half of a change: the tunnels there are now and the complete
 * configs wanted (from src/config's resolveTunnel or a config file) give the
 * steps to take. The wanted set is checked as a whole first: unique names,
 * and one tunnel per (family, remote, tunnel id) across all backends (the
 * kernel would otherwise take packets a userland socket expects).
 */

import { diffConfigs } from '../config/diff.ts';
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

/** One step; `remove` carries the config removed, to put it back if a later step fails. */
export type Step =
  | { op: 'add'; config: TunnelConfig }
  | { op: 'change'; config: TunnelConfig }
  | { op: 'remove'; config: TunnelConfig };

export interface Plan {
  steps: Step[];
}

function peerKey(c: TunnelConfig): string {
  return `${c.family}/${c.remote}/${c.tunnelId}`;
}

/**
 * The steps from `current` to `wanted` by name. Each wanted tunnel is checked
 * against the ones before it, so a request's own tunnel goes last to be the
 * one named in a clash.
 *
 * Order: changes and additions first, then removals, because undoing a
 * removal makes a new interface (its addresses and ifindex lost) while undoing
 * an addition or a change loses nothing; so a failing addition never costs a
 * removed tunnel its interface. Only what takes over the (family, remote,
 * tunnel id) of a removed tunnel has to wait for the removal.
 */
export function planChanges(current: readonly TunnelConfig[], wanted: readonly TunnelConfig[]): Plan {
  wanted.forEach((config, i) => {
    checkUnique(config, wanted.slice(0, i));
  });
  const diff = diffConfigs(current, wanted);
  const byName = new Map(wanted.map((t) => [t.name, t]));
  const oldByName = new Map(current.map((t) => [t.name, t]));
  const removed = diff.remove.map((name) => oldByName.get(name)!);
  const freed = new Set(removed.map(peerKey));
  const changes: Step[] = diff.change.map((c) => ({ op: 'change', config: byName.get(c.name)! }));
  const adds: Step[] = diff.add.map((config) => ({ op: 'add', config }));
  const waits = (s: Step) => freed.has(peerKey(s.config));
  return {
    steps: [
      ...changes.filter((s) => !waits(s)),
      ...adds.filter((s) => !waits(s)),
      ...removed.map((config): Step => ({ op: 'remove', config })),
      ...changes.filter(waits),
      ...adds.filter(waits),
    ],
  };
}

/** The wanted sets of `eoip add`, `eoip change` (the new config last) and `eoip del`. */
export function wantedAdding(current: readonly TunnelConfig[], config: TunnelConfig): TunnelConfig[] {
  return [...current, config];
}

export function wantedChanging(current: readonly TunnelConfig[], config: TunnelConfig): TunnelConfig[] {
  return [...current.filter((t) => t.name !== config.name), config];
}

export function wantedWithout(current: readonly TunnelConfig[], name: string): TunnelConfig[] {
  if (!current.some((t) => t.name === name)) throw new FieldError(`name: no tunnel named ${name}`, 'name');
  return current.filter((t) => t.name !== name);
}
