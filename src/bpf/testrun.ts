/**
 * Runs packets through a GRE keepalive program with BPF_PROG_TEST_RUN, through the one loader (libbpf in
 * the addon, src/bpf/loader.ts): the object is loaded once (the verifier runs then), policies are written
 * into its maps, and each run reads the verdict counters before and after. Nothing is pinned: the
 * program and its maps live as long as the runner. Needs root (CAP_BPF, CAP_NET_ADMIN).
 */
import type { Policy } from '../gre-keepalive/index.ts';
import { bpf } from '../native/bpf.ts';
import { BpfObject } from './loader.ts';
import { COUNTER_SLOTS, type ConfigExtras, encodeConfig, PEER_VALUE, peerKeys, readHostU64 } from './maps.ts';

export type BpfProgramType = 'xdp' | 'tc';

export interface BpfRunResult {
  /** The program's return code. */
  retval: number;
  /** The packet after the program (data_out). */
  dataOut: Buffer;
  /** The kernel's run time for this packet. */
  durationNs: number;
}

export interface BpfCountedRunResult extends BpfRunResult {
  /** How much each ka_counters slot grew during the run (summed over CPUs). */
  counterDelta: bigint[];
}

/** Room left in data_out for programs that grow the packet (keepalive_tc pushes an Ethernet header). */
const DATA_OUT_SLACK = 512;
const ZERO_KEY = Buffer.alloc(4);

export class BpfTestRunner {
  /** Program names in load order. */
  readonly programs: string[];
  private inserted: [string, Buffer][] = [];
  private lastConfig = '';
  private readonly cpus = bpf.possibleCpus();

  private constructor(
    readonly object: string,
    readonly type: BpfProgramType,
    private readonly loaded: BpfObject,
  ) {
    this.programs = loaded.programs.map((p) => p.name);
  }

  /** Loads every program of `object` as `type`: a rejected program throws a BpfLoadError carrying the verifier log. */
  static async open(object: string, type: BpfProgramType): Promise<BpfTestRunner> {
    return new BpfTestRunner(object, type, BpfObject.load(object, { progType: type }));
  }

  /** The first (for our objects: the only) program. */
  get program(): string {
    return this.programs[0]!;
  }

  private mapFd(name: string): number {
    return this.loaded.map(name).fd;
  }

  /** Writes ka_config and replaces the allow-list entries (skipped when unchanged). */
  async setPolicy(policy: Policy, extras: ConfigExtras = {}): Promise<void> {
    const config = encodeConfig(policy, extras);
    const peers = peerKeys(policy);
    const signature = `${config.toString('hex')}|${peers.map(([m, k]) => `${m}:${k.toString('hex')}`).join(',')}`;
    if (signature === this.lastConfig) return;
    this.lastConfig = '';
    for (const [map, key] of this.inserted) bpf.mapDelete(this.mapFd(map), key);
    bpf.mapUpdate(this.mapFd('ka_config'), ZERO_KEY, config);
    for (const [map, key] of peers) bpf.mapUpdate(this.mapFd(map), key, PEER_VALUE);
    this.inserted = peers;
    this.lastConfig = signature;
  }

  /** ka_counters summed over CPUs, one total per slot. */
  async counters(): Promise<bigint[]> {
    return this.countersNow();
  }

  private countersNow(): bigint[] {
    const fd = this.mapFd('ka_counters');
    const totals: bigint[] = new Array(COUNTER_SLOTS).fill(0n);
    const key = Buffer.alloc(4);
    for (let slot = 0; slot < COUNTER_SLOTS; slot++) {
      key.writeUInt32LE(slot); // the key is a host-order u32; x86 and arm64 are little-endian
      const values = bpf.mapLookup(fd, key, 8 * this.cpus);
      if (!values) continue;
      for (let cpu = 0; cpu < this.cpus; cpu++)
        totals[slot]! += readHostU64(values.subarray(cpu * 8, cpu * 8 + 8));
    }
    return totals;
  }

  private runOnce(prog: string, data: Uint8Array, repeat: number): BpfRunResult {
    const r = bpf.testRun(this.loaded.program(prog).fd, data, {
      repeat,
      dataSizeOut: data.length + DATA_OUT_SLACK,
    });
    return { retval: r.retval, dataOut: r.data, durationNs: r.duration };
  }

  /** One BPF_PROG_TEST_RUN of `data` (repeat 1). */
  async run(prog: string, data: Uint8Array): Promise<BpfRunResult> {
    return this.runOnce(prog, data, 1);
  }

  /** One run plus the counter delta it caused. */
  async runCounted(prog: string, data: Uint8Array): Promise<BpfCountedRunResult> {
    const before = this.countersNow();
    const result = this.runOnce(prog, data, 1);
    const after = this.countersNow();
    return { ...result, counterDelta: after.map((v, i) => v - before[i]!) };
  }

  /** Many single runs and the counter delta of each; the policy in the maps applies to all of them. */
  async runManyCounted(prog: string, packets: readonly Uint8Array[]): Promise<BpfCountedRunResult[]> {
    const results: BpfCountedRunResult[] = [];
    let before = this.countersNow();
    for (const p of packets) {
      const result = this.runOnce(prog, p, 1);
      const after = this.countersNow();
      results.push({ ...result, counterDelta: after.map((v, i) => v - before[i]!) });
      before = after;
    }
    return results;
  }

  /**
   * Mean kernel time per run over `repeat` runs, in ns. The kernel does not restore the packet between
   * repetitions: a program that rewrites it (a REPLY) sees its own output from the second run on.
   */
  async timeRun(prog: string, data: Uint8Array, repeat: number): Promise<number> {
    return this.runOnce(prog, data, repeat).durationNs;
  }

  /** Closes the program and maps (the kernel frees them with their last fd). */
  async close(): Promise<void> {
    this.loaded.close();
  }
}
