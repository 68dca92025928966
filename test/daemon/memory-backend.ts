/**
 * A tunnel backend that keeps tunnels in memory, for driving the daemon's
 * control protocol and plans in unit tests and the protocol fuzzer without
 * interfaces. `failOn` makes create/change fail for a name, as a kernel
 * refusal would.
 */
import {
  BackendError,
  type TunnelBackend,
  type TunnelStatus,
  zeroCounters,
} from '../../src/backend/types.ts';
import type { TunnelConfig } from '../../src/eoip/config.ts';

export class MemoryBackend implements TunnelBackend {
  readonly name = 'userland' as const;
  readonly tunnels = new Map<string, TunnelConfig>();
  readonly failOn = new Set<string>();
  /** Every create, change and delete, in order. */
  readonly calls: string[] = [];

  private status(config: TunnelConfig): TunnelStatus {
    return {
      config,
      backend: 'userland',
      state: 'waiting',
      carrier: true,
      lastKeepaliveAgoMs: null,
      counters: zeroCounters(),
    };
  }

  async create(config: TunnelConfig): Promise<TunnelStatus> {
    this.calls.push(`create ${config.name}`);
    if (this.failOn.has(config.name)) throw new BackendError(`refused ${config.name}`, 'name');
    if (this.tunnels.has(config.name)) throw new BackendError(`tunnel ${config.name} exists`, 'name');
    this.tunnels.set(config.name, config);
    return this.status(config);
  }

  async change(name: string, next: TunnelConfig): Promise<TunnelStatus> {
    this.calls.push(`change ${name}`);
    if (this.failOn.has(name)) throw new BackendError(`refused ${name}`, 'name');
    if (!this.tunnels.has(name)) throw new BackendError(`no tunnel named ${name}`, 'name');
    this.tunnels.set(name, next);
    return this.status(next);
  }

  async delete(name: string): Promise<void> {
    this.calls.push(`delete ${name}`);
    if (!this.tunnels.delete(name)) throw new BackendError(`no tunnel named ${name}`, 'name');
  }

  list(): TunnelStatus[] {
    return [...this.tunnels.values()].map((c) => this.status(c));
  }

  unmatchedDrops(): Record<string, number> {
    return {};
  }

  async close(): Promise<void> {}
}
