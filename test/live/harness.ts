/**
 * Live test harness: greoip daemons and the built CLI inside a lab of two
 * network namespaces joined by veth (test/netns.ts; traffic never leaves them).
 * Everything a test creates is removed by t.teardown.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import type { TunnelStatus } from '../../src/backend/types.ts';
import { ip } from '../../src/demo/netns.ts';
import { REPO_DIR, tempDir } from '../helpers.ts';
import { type VethPair, vethPair } from '../netns.ts';

export const GREOIP = `${REPO_DIR}dist/cli/greoip.js`;
export const EOIP = `${REPO_DIR}dist/cli/eoip.js`;

export interface Lab {
  pair: VethPair;
  runtime: string;
  env: NodeJS.ProcessEnv;
  daemons: Map<string, ChildProcess>;
  logs: Map<string, string>;
}

/**
 * Two namespaces (test/netns.ts) joined by veth, with documentation addresses and a private runtime
 * dir; t.teardown kills every process in them (daemons included), deletes them and the runtime dir.
 */
export function createLab(t: ExecutionContext, tag: string): Lab {
  const runtime = tempDir(t, 'greoip-live-');
  const pair = vethPair(t, tag, {
    v4: ['192.0.2.1', '192.0.2.2'],
    v6: ['2001:db8:e0::1', '2001:db8:e0::2'],
    dev: ['veth-a', 'veth-b'],
  });
  return {
    pair,
    runtime,
    env: { ...process.env, GREOIP_RUNTIME_DIR: runtime },
    daemons: new Map(),
    logs: new Map(),
  };
}

export function run(
  lab: Lab,
  netns: string,
  argv: string[],
  input?: string,
): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync('/usr/sbin/ip', ['netns', 'exec', netns, ...argv], {
      encoding: 'utf8',
      env: lab.env,
      input,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    return { status: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs `eoip ARGS` in a namespace; throws with stderr on failure unless `allowFail`. */
export function eoip(lab: Lab, netns: string, args: string[], allowFail = false) {
  const r = run(lab, netns, [process.execPath, EOIP, ...args]);
  if (r.status !== 0 && !allowFail) throw new Error(`eoip ${args.join(' ')} in ${netns}: ${r.stderr}`);
  return r;
}

export function list(lab: Lab, netns: string): TunnelStatus[] {
  return JSON.parse(eoip(lab, netns, ['list', '--json']).stdout) as TunnelStatus[];
}

/** Starts `greoip daemon [args]` in a namespace and waits until it answers. */
export async function startDaemon(
  lab: Lab,
  netns: string,
  args: string[] = [],
  wrapper: string[] = [],
): Promise<ChildProcess> {
  const d = spawn(
    '/usr/sbin/ip',
    ['netns', 'exec', netns, ...wrapper, process.execPath, GREOIP, 'daemon', ...args],
    {
      env: lab.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  lab.logs.set(netns, '');
  d.stderr?.on('data', (chunk: Buffer) => lab.logs.set(netns, `${lab.logs.get(netns)}${chunk}`));
  lab.daemons.set(netns, d);
  for (let i = 0; i < 200; i++) {
    if (d.exitCode !== null) throw new Error(`daemon in ${netns} exited: ${lab.logs.get(netns)}`);
    if (
      run(lab, netns, [process.execPath, EOIP, 'list']).status === 0 &&
      (lab.logs.get(netns) ?? '').includes('started')
    )
      return d;
    await sleep(100);
  }
  throw new Error(`daemon in ${netns} did not start: ${lab.logs.get(netns)}`);
}

export async function stopDaemon(
  lab: Lab,
  netns: string,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  const d = lab.daemons.get(netns);
  if (!d) return null;
  const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
  d.kill(signal);
  const code = await exited;
  lab.daemons.delete(netns);
  return code;
}

/** Adds a tunnel on both sides and gives the taps addresses `inner.{1,2}/prefix`. */
export function tunnelPair(
  lab: Lab,
  name: string,
  tid: number,
  family: 4 | 6,
  inner: [string, string],
  extra: string[] = [],
): void {
  const { a, b } = lab.pair;
  const under = (s: typeof a) => (family === 4 ? s.v4 : s.v6);
  for (const [me, peer, addr] of [
    [a, b, inner[0]],
    [b, a, inner[1]],
  ] as const) {
    eoip(lab, me.netns, [
      'add',
      'name',
      name,
      'tid',
      String(tid),
      'local',
      under(me),
      'remote',
      under(peer),
      ...extra,
    ]);
    ip(['addr', 'add', addr, 'dev', name], me.netns);
    ip(['link', 'set', name, 'up'], me.netns);
  }
}

export function linkInfo(netns: string, dev: string): { flags: string[]; operstate: string; mtu: number } {
  return (
    JSON.parse(ip(['-j', 'link', 'show', 'dev', dev], netns)) as {
      flags: string[];
      operstate: string;
      mtu: number;
    }[]
  )[0]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until something in `netns` listens on TCP `port` (a server spawned just before, e.g. iperf3 -s). */
export async function waitListening(lab: Lab, netns: string, port: number): Promise<void> {
  await waitFor(`a TCP listener on port ${port} in ${netns}`, () => {
    const out = run(lab, netns, ['ss', '-Hltn', `sport = :${port}`]);
    return out.status === 0 && out.stdout.trim() !== '';
  });
}
