/** The difference between two tunnel lists, by name: what a SIGHUP reload applies. */
import type { KeepaliveConfig, TunnelConfig } from '../eoip/config.ts';
import type { TunnelChanges } from './validate.ts';

export interface ConfigDiff {
  /** Tunnels only in the new list, in its order. */
  add: TunnelConfig[];
  /** Names only in the old list, in its order. */
  remove: string[];
  /** Tunnels in both whose fields differ: only the fields that differ, with the new values. */
  change: { name: string; changes: TunnelChanges }[];
}

/** Every field of a tunnel's config but its name: what a change may set and a diff compares. */
export const CHANGEABLE_FIELDS = [
  'tunnelId',
  'family',
  'local',
  'remote',
  'ttl',
  'tos',
  'link',
  'keepalive',
  'mtu',
  'backend',
] as const satisfies readonly Exclude<keyof TunnelConfig, 'name'>[];

function sameKeepalive(a: KeepaliveConfig | null, b: KeepaliveConfig | null): boolean {
  if (a === null || b === null) return a === b;
  return a.interval === b.interval && a.retries === b.retries;
}

/**
 * Compares tunnels by name. A renamed tunnel is a removal and an addition.
 * Changes are reported as they are, including ones a backend may not apply
 * in place (`backend`, `family`): the daemon decides whether to recreate.
 * Apply removals first, then changes, then additions, so a (remote, tunnel
 * id) pair moving from one tunnel to another never exists twice.
 */
export function diffConfigs(old: readonly TunnelConfig[], next: readonly TunnelConfig[]): ConfigDiff {
  const oldByName = new Map(old.map((t) => [t.name, t]));
  const nextNames = new Set(next.map((t) => t.name));
  const diff: ConfigDiff = { add: [], remove: [], change: [] };
  for (const t of old) if (!nextNames.has(t.name)) diff.remove.push(t.name);
  for (const t of next) {
    const before = oldByName.get(t.name);
    if (before === undefined) {
      diff.add.push(t);
      continue;
    }
    const changes: TunnelChanges = {};
    for (const key of CHANGEABLE_FIELDS) {
      if (key === 'keepalive') {
        if (!sameKeepalive(before.keepalive, t.keepalive)) {
          changes.keepalive = t.keepalive === null ? null : { ...t.keepalive };
        }
      } else if (before[key] !== t[key]) {
        (changes as Record<string, unknown>)[key] = t[key];
      }
    }
    if (Object.keys(changes).length > 0) diff.change.push({ name: t.name, changes });
  }
  return diff;
}
