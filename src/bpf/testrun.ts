/**
 * Runs packets through a BPF program with BPF_PROG_TEST_RUN, driving bpftool (no native libbpf
 * binding): the object is loaded once with its maps pinned in a private directory, policies are written
 * into its maps, and each run is one bpftool process (`bpftool batch`: counters, run, counters), since
 * process start-up dominates. Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for a bpffs mount).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Policy } from '../gre-keepalive/index.ts';
import {
  COUNTER_SLOTS,
  type ConfigExtras,
  encodeConfig,
  PEER_VALUE,
  peerKeys,
  readHostU32,
  readHostU64,
} from './maps.ts';

const run = promisify(execFile);

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

export class BpfToolError extends Error {
  override name = 'BpfToolError';
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(`bpftool ${args.join(' ')}: ${stderr.trim() || 'failed'}`);
  }
}

/** Room left in data_out for programs that grow the packet (keepalive_tc pushes an Ethernet header). */
const DATA_OUT_SLACK = 512;
const BPFFS = '/sys/fs/bpf';
let instances = 0;

interface JsonMapEntry {
  key: string[];
  values?: { cpu: number; value: string[] }[];
  value?: string[];
}

interface BatchEntry {
  command: string[];
  output: unknown;
}

const hexTokens = (b: Uint8Array): string[] => Array.from(b, (x) => x.toString(16).padStart(2, '0'));
const parseHex = (tokens: string[]): Buffer => Buffer.from(tokens.map((t) => Number.parseInt(t, 16)));

/** Sums a per-CPU counter map dump into one total per slot. */
function sumCounters(dump: JsonMapEntry[]): bigint[] {
  const totals: bigint[] = new Array(COUNTER_SLOTS).fill(0n);
  for (const entry of dump) {
    const slot = readHostU32(parseHex(entry.key));
    if (slot >= COUNTER_SLOTS) continue;
    const values = entry.values ?? (entry.value ? [{ cpu: 0, value: entry.value }] : []);
    for (const v of values) totals[slot]! += readHostU64(parseHex(v.value));
  }
  return totals;
}

export class BpfTestRunner {
  /** Program names (as pinned) in load order. */
  readonly programs: string[] = [];
  private inserted: [string, Buffer][] = [];
  private lastConfig = '';
  private runs = 0;

  private constructor(
    readonly object: string,
    readonly type: BpfProgramType,
    /** Pin root: progs/ and maps/ below. */
    readonly pinDir: string,
    /** What open() mounted (a tmpfs for the scratch files, a bpffs when /sys/fs/bpf is none), innermost last. */
    private readonly mounts: string[],
    /**
     * Scratch files (packets in and out): a private tmpfs mounted under the temp directory when the mount
     * works (a file per packet on a disk-backed /tmp costs more than the run itself), else the directory.
     */
    readonly workDir: string,
    readonly bpftool: string,
  ) {}

  /**
   * Loads every program of `object` (`bpftool prog loadall ... type T pinmaps DIR`): the verifier runs
   * here, so a rejected program throws a BpfToolError carrying the verifier log.
   */
  static async open(object: string, type: BpfProgramType, bpftool = 'bpftool'): Promise<BpfTestRunner> {
    const n = instances++;
    const tag = `greoip-test-${process.pid}-${n}`;
    const workDir = await mkdtemp(join(tmpdir(), `${tag}-`));
    const mounts: string[] = [];
    try {
      const scratch = ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'greoip-test', workDir];
      if (
        await run('mount', scratch).then(
          () => true,
          () => false,
        )
      )
        mounts.push(workDir);
      let pinRoot = BPFFS;
      if (!(await isBpffs(BPFFS))) {
        pinRoot = join(workDir, 'bpffs');
        await mkdir(pinRoot);
        await run('mount', ['-t', 'bpf', 'bpf', pinRoot]);
        mounts.push(pinRoot);
      }
      const pinDir = join(pinRoot, tag);
      await mkdir(pinDir);
      const runner = new BpfTestRunner(object, type, pinDir, mounts, workDir, bpftool);
      await runner.tool([
        'prog',
        'loadall',
        object,
        join(pinDir, 'progs'),
        'type',
        type,
        'pinmaps',
        join(pinDir, 'maps'),
      ]);
      runner.programs.push(...(await readdir(join(pinDir, 'progs'))).sort());
      return runner;
    } catch (error) {
      await cleanup(join(BPFFS, tag), mounts, workDir);
      throw error;
    }
  }

  /** The first (for our objects: the only) program. */
  get program(): string {
    return this.programs[0]!;
  }

  progPath(prog: string = this.program): string {
    return join(this.pinDir, 'progs', prog);
  }

  mapPath(map: string): string {
    return join(this.pinDir, 'maps', map);
  }

  /** Writes ka_config and replaces the allow-list entries (one bpftool process; skipped when unchanged). */
  async setPolicy(policy: Policy, extras: ConfigExtras = {}): Promise<void> {
    const config = encodeConfig(policy, extras);
    const peers = peerKeys(policy);
    const signature = `${config.toString('hex')}|${peers.map(([m, k]) => `${m}:${k.toString('hex')}`).join(',')}`;
    if (signature === this.lastConfig) return;
    const lines: string[] = [];
    for (const [map, key] of this.inserted)
      lines.push(`map delete pinned ${this.mapPath(map)} key hex ${hexTokens(key).join(' ')}`);
    lines.push(
      `map update pinned ${this.mapPath('ka_config')} key hex 00 00 00 00 value hex ${hexTokens(config).join(' ')}`,
    );
    for (const [map, key] of peers) {
      lines.push(
        `map update pinned ${this.mapPath(map)} key hex ${hexTokens(key).join(' ')} value hex ${hexTokens(PEER_VALUE).join(' ')}`,
      );
    }
    this.lastConfig = '';
    await this.batch(lines);
    this.inserted = peers;
    this.lastConfig = signature;
  }

  /** ka_counters summed over CPUs, one total per slot. */
  async counters(): Promise<bigint[]> {
    const out = (await this.tool(
      ['map', 'dump', 'pinned', this.mapPath('ka_counters')],
      true,
    )) as JsonMapEntry[];
    return sumCounters(out);
  }

  /** One BPF_PROG_TEST_RUN of `data` (repeat 1). */
  async run(prog: string, data: Uint8Array): Promise<BpfRunResult> {
    const { inFile, outFile, args } = await this.prepareRun(prog, data, 1);
    const result = (await this.tool(args, true)) as { retval: number; duration: number };
    return { retval: result.retval, dataOut: await readOutput(outFile, inFile), durationNs: result.duration };
  }

  /** One run plus the counter delta it caused, in a single bpftool process. */
  async runCounted(prog: string, data: Uint8Array): Promise<BpfCountedRunResult> {
    const { inFile, outFile, args } = await this.prepareRun(prog, data, 1);
    const dump = `map dump pinned ${this.mapPath('ka_counters')}`;
    const entries = await this.batch([dump, args.join(' '), dump]);
    const before = sumCounters(entries[0]!.output as JsonMapEntry[]);
    const result = entries[1]!.output as { retval: number; duration: number };
    const after = sumCounters(entries[2]!.output as JsonMapEntry[]);
    return {
      retval: result.retval,
      dataOut: await readOutput(outFile, inFile),
      durationNs: result.duration,
      counterDelta: after.map((v, i) => v - before[i]!),
    };
  }

  /**
   * Many single runs and the counter delta of each, in as few bpftool processes as possible (`chunk`
   * runs per batch). The policy in the maps applies to all of them.
   */
  async runManyCounted(
    prog: string,
    packets: readonly Uint8Array[],
    chunk = 256,
  ): Promise<BpfCountedRunResult[]> {
    const results: BpfCountedRunResult[] = [];
    const dump = `map dump pinned ${this.mapPath('ka_counters')}`;
    for (let start = 0; start < packets.length; start += chunk) {
      // One scratch directory per batch, removed in one go: per-file bookkeeping costs more than the runs.
      const dir = join(this.workDir, `many-${this.runs++}`);
      await mkdir(dir);
      try {
        const slice = packets.slice(start, start + chunk);
        const runs = await Promise.all(slice.map((p, i) => this.prepareRun(prog, p, 1, dir, i)));
        const lines = [dump];
        for (const r of runs) lines.push(r.args.join(' '), dump);
        const entries = await this.batch(lines);
        const outputs = await Promise.all(runs.map((r) => readFile(r.outFile)));
        let before = sumCounters(entries[0]!.output as JsonMapEntry[]);
        for (let i = 0; i < runs.length; i++) {
          const result = entries[1 + 2 * i]!.output as { retval: number; duration: number };
          const after = sumCounters(entries[2 + 2 * i]!.output as JsonMapEntry[]);
          results.push({
            retval: result.retval,
            dataOut: outputs[i]!,
            durationNs: result.duration,
            counterDelta: after.map((v, j) => v - before[j]!),
          });
          before = after;
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return results;
  }

  /**
   * Mean kernel time per run over `repeat` runs, in ns. The kernel does not restore the packet between
   * repetitions: a program that rewrites it (a REPLY) sees its own output from the second run on.
   */
  async timeRun(prog: string, data: Uint8Array, repeat: number): Promise<number> {
    const { args } = await this.prepareRun(prog, data, repeat);
    const result = (await this.tool(args, true)) as { duration: number };
    return result.duration;
  }

  /** Unpins everything (the kernel frees programs and maps with their last pin) and removes scratch files. */
  async close(): Promise<void> {
    await cleanup(this.pinDir, this.mounts, this.workDir);
  }

  private async prepareRun(
    prog: string,
    data: Uint8Array,
    repeat: number,
    dir = this.workDir,
    n = this.runs++,
  ) {
    const inFile = join(dir, `in-${n}`);
    const outFile = join(dir, `out-${n}`);
    await writeFile(inFile, data);
    const args = [
      'prog',
      'run',
      'pinned',
      this.progPath(prog),
      'data_in',
      inFile,
      'data_out',
      outFile,
      'data_size_out',
      String(data.length + DATA_OUT_SLACK),
      'repeat',
      String(repeat),
    ];
    return { inFile, outFile, args };
  }

  private async tool(args: string[], json = false): Promise<unknown> {
    const argv = json ? ['-j', ...args] : args;
    try {
      const { stdout } = await run(this.bpftool, argv, { maxBuffer: 64 * 1024 * 1024 });
      return json ? JSON.parse(stdout) : stdout;
    } catch (error) {
      throw toolError(argv, error);
    }
  }

  private async batch(lines: string[]): Promise<BatchEntry[]> {
    const file = join(this.workDir, `batch-${this.runs++}`);
    await writeFile(file, `${lines.join('\n')}\n`);
    const argv = ['-j', 'batch', 'file', file];
    try {
      const { stdout } = await run(this.bpftool, argv, { maxBuffer: 64 * 1024 * 1024 });
      return JSON.parse(stdout) as BatchEntry[];
    } catch (error) {
      throw toolError([...argv, `(${lines.length} commands, the first: ${lines[0]})`], error);
    } finally {
      await rm(file, { force: true });
    }
  }
}

async function readOutput(outFile: string, inFile: string): Promise<Buffer> {
  try {
    return await readFile(outFile);
  } finally {
    await rm(inFile, { force: true });
    await rm(outFile, { force: true });
  }
}

function toolError(args: string[], error: unknown): Error {
  const e = error as { stderr?: string; stdout?: string; message?: string };
  // With -j, bpftool reports errors as JSON on stdout ({"error": ...}, per command in a batch).
  const errors: string[] = [];
  try {
    const parsed = JSON.parse(e.stdout ?? '') as unknown;
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      const out = (item as { output?: { error?: string }; error?: string }) ?? {};
      const message = out.error ?? out.output?.error;
      if (message) errors.push(message);
    }
  } catch {
    // not JSON: fall back to the raw streams
  }
  const raw = [e.stderr, errors.length > 0 ? '' : e.stdout].filter((s) => s && s.trim() !== '').join('\n');
  const detail = [...errors, raw].filter((s) => s !== '').join('\n') || e.message || String(error);
  return new BpfToolError(args, detail.length > 4000 ? `${detail.slice(0, 4000)}...` : detail);
}

async function isBpffs(path: string): Promise<boolean> {
  try {
    const mounts = await readFile('/proc/mounts', 'utf8');
    return mounts.split('\n').some((line) => {
      const [, target, fstype] = line.split(' ');
      return target === path && fstype === 'bpf';
    });
  } catch {
    return false;
  }
}

/** Removes the pins (unmounting a private bpffs drops them too), then the scratch mounts and directory. */
async function cleanup(pinDir: string, mounts: string[], workDir: string): Promise<void> {
  await rm(pinDir, { recursive: true, force: true }).catch(() => undefined);
  for (const target of [...mounts].reverse()) await run('umount', [target]).catch(() => undefined);
  await rm(workDir, { recursive: true, force: true });
}
