/**
 * Live test harness: network namespaces joined by veth (our own test hosts;
 * traffic never leaves them), greoip daemons inside them, and the built CLI.
 * Everything a test creates is removed in its teardown.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { TunnelStatus } from '../../src/backend/types.ts';
import { createPair, destroyPair, ip, type VethPair } from '../../src/demo/netns.ts';
import { REPO_DIR } from '../helpers.ts';

export const GREOIP = `${REPO_DIR}dist/cli/greoip.js`;
export const EOIP = `${REPO_DIR}dist/cli/eoip.js`;

export function requireRoot(t: ExecutionContext): void {
  if (process.getuid?.() !== 0) t.fail('live tests need root (CI runs as root)');
}

let counter = 0;

export interface Lab {
  pair: VethPair;
  runtime: string;
  env: NodeJS.ProcessEnv;
  daemons: Map<string, ChildProcess>;
  logs: Map<string, string>;
}

/** Two namespaces with unique names, 10.x-free documentation addresses, and a private runtime dir. */
export function createLab(t: ExecutionContext, tag: string): Lab {
  const id = `${process.pid.toString(36)}${(counter++).toString(36)}`;
  const pair: VethPair = {
    a: { netns: `gt-${tag}-a-${id}`, dev: 'veth-a', v4: '192.0.2.1', v6: '2001:db8:e0::1' },
    b: { netns: `gt-${tag}-b-${id}`, dev: 'veth-b', v4: '192.0.2.2', v6: '2001:db8:e0::2' },
  };
  createPair(pair);
  const runtime = mkdtempSync(join(tmpdir(), 'greoip-live-'));
  const lab: Lab = {
    pair,
    runtime,
    env: { ...process.env, GREOIP_RUNTIME_DIR: runtime },
    daemons: new Map(),
    logs: new Map(),
  };
  t.teardown(() => {
    for (const d of lab.daemons.values()) d.kill('SIGKILL');
    // Also what the tests did not start themselves, such as a daemon started by `eoip add`.
    for (const side of [pair.a, pair.b]) killNetnsProcesses(side.netns);
    destroyPair(pair);
    rmSync(runtime, { recursive: true, force: true });
  });
  return lab;
}

function killNetnsProcesses(netns: string): void {
  try {
    const pids = execFileSync('/usr/sbin/ip', ['netns', 'pids', netns], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  } catch {
    // namespace or processes already gone
  }
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
