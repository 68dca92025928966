/**
 * What the CLI can learn and do while no daemon runs, from the state file a
 * stopped daemon left: which tunnels it recorded (`eoip list`), and removing
 * the interfaces it can prove it made (`greoip cleanup`). A state file of
 * another network namespace, or one that cannot be read, is never acted on.
 */
import { removeEbpfLeftovers } from '../backend/ebpf.ts';
import { type TunnelStatus, zeroCounters } from '../backend/types.ts';
import { InterfaceRemover } from './interfaces.ts';
import { namespaceIdentity, type RuntimePaths } from './paths.ts';
import { readState, type StateEntry, StateError, StateWriter, setAside } from './state.ts';

/** The stored tunnels of this namespace; a foreign file is set aside, a corrupt one is an error naming it. */
export async function storedTunnels(
  paths: RuntimePaths,
): Promise<{ entries: StateEntry[]; note: string | null }> {
  const identity = namespaceIdentity();
  const read = await readState(paths.state, identity);
  switch (read.kind) {
    case 'none':
      return { entries: [], note: null };
    case 'corrupt':
      throw new StateError(`${paths.state} is not a usable state file (${read.reason})`, paths.state);
    case 'foreign': {
      const aside = await setAside(paths.state, 'foreign');
      return {
        entries: [],
        note: `${paths.state} was left by another network namespace (cookie ${read.netns.cookie}, this one is ${identity.cookie}); moved to ${aside}`,
      };
    }
    case 'ours':
      return {
        entries: read.tunnels,
        note: read.problems.length > 0 ? `${paths.state}: ${read.problems.join('; ')}` : null,
      };
  }
}

/** A stored tunnel as `eoip list` shows it while no daemon runs: stopped, carrier off. */
export function stoppedStatus(entry: StateEntry): TunnelStatus {
  return {
    config: entry.config,
    backend: entry.config.backend,
    state: 'down',
    carrier: false,
    lastKeepaliveAgoMs: null,
    counters: entry.counters ?? zeroCounters(),
  };
}

export interface CleanupResult {
  removed: string[];
  /** Recorded, but the interface of that name is not the one the daemon made. */
  notOurs: string[];
  note: string | null;
}

/** Removes the interfaces a stopped daemon recorded and can prove it made; empties the record. */
export async function cleanupStopped(paths: RuntimePaths): Promise<CleanupResult> {
  const { entries, note } = await storedTunnels(paths);
  const result: CleanupResult = { removed: [], notOurs: [], note };
  if (entries.length === 0) return result;
  // ebpf tunnels leave more than their taps: segmenter veths, attached programs, maps and pins.
  const ebpf = entries.filter((e) => e.config.backend === 'ebpf').map((e) => e.config.name);
  if (ebpf.length > 0) removeEbpfLeftovers(ebpf);
  const remover = new InterfaceRemover();
  try {
    for (const { config, ifindex } of entries) {
      const outcome = remover.remove(config.name, ifindex);
      if (outcome === 'removed') result.removed.push(config.name);
      else if (outcome === 'not-ours') result.notOurs.push(config.name);
    }
  } finally {
    remover.close();
  }
  await new StateWriter(paths.state).write({ netns: namespaceIdentity(), tunnels: [] });
  return result;
}
