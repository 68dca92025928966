/**
 * What the fault tests share beyond test/live/harness.ts: bare namespaces
 * with a private runtime directory, the daemon a namespace runs (found by its
 * pid file), a new namespace that takes over a deleted one's inode, and
 * interface facts read back with iproute2.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { tempDir } from '../helpers.ts';
import { EOIP, GREOIP, sleep } from '../live/harness.ts';
import { Netns } from '../netns.ts';

export function inode(netns: string): number {
  return statSync(`/run/netns/${netns}`).ino;
}

/** A private runtime root, removed at the end of the test. */
export function runtimeRoot(t: ExecutionContext): { root: string; env: NodeJS.ProcessEnv } {
  const root = tempDir(t, 'greoip-fault-');
  return { root, env: { ...process.env, GREOIP_RUNTIME_DIR: root } };
}

/** Kills every process in a namespace, then deletes it. Never throws. */
export function removeNetns(netns: string): void {
  try {
    const pids = execFileSync('/usr/sbin/ip', ['netns', 'pids', netns], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split(/\s+/)
      .filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    ip(['netns', 'del', netns]);
  } catch {
    // already gone
  }
}

/** A throwaway namespace (test/netns.ts), removed with its processes when the test ends; its name. */
export function addNetns(t: ExecutionContext, tag: string): string {
  return Netns.create(t, tag).name;
}

/**
 * A new namespace in place of one just deleted, with the same nsfs inode
 * when the kernel hands it out again (it usually does); otherwise the
 * runtime directory keyed by the old inode is renamed to the new one's, which
 * is exactly what a daemon in a reused inode would find. Returns whether the
 * inode was really reused.
 */
export async function replaceNetns(
  t: ExecutionContext,
  old: string,
  root: string,
): Promise<{ fresh: string; reused: boolean }> {
  const target = inode(old);
  removeNetns(old);
  for (let attempt = 0; attempt < 40; attempt++) {
    await sleep(50);
    const candidate = Netns.create(t, 'new');
    if (inode(candidate.name) === target) return { fresh: candidate.name, reused: true };
    candidate.delete();
  }
  const fresh = addNetns(t, 'new');
  renameSync(join(root, `net-${target}`), join(root, `net-${inode(fresh)}`));
  return { fresh, reused: false };
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function runIn(netns: string, env: NodeJS.ProcessEnv, argv: string[], uid?: number): Run {
  const prefix = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  // Under c8 a child writes coverage to a root-owned directory: another user would only add a warning.
  const childEnv = uid === undefined ? env : { ...env, NODE_V8_COVERAGE: undefined };
  const r = spawnSync('/usr/sbin/ip', ['netns', 'exec', netns, ...prefix, ...argv], {
    encoding: 'utf8',
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export const eoipIn = (netns: string, env: NodeJS.ProcessEnv, args: string[], uid?: number): Run =>
  runIn(netns, env, [process.execPath, EOIP, ...args], uid);

export const greoipIn = (netns: string, env: NodeJS.ProcessEnv, args: string[], uid?: number): Run =>
  runIn(netns, env, [process.execPath, GREOIP, ...args], uid);

/** The runtime directory of the one namespace that used `root`. */
export function runtimeDir(root: string, netns: string): string {
  return join(root, `net-${inode(netns)}`);
}

/** The pid of the namespace's daemon, from its pid file. */
export function daemonPid(root: string, netns: string): number {
  return Number(readFileSync(join(runtimeDir(root, netns), 'daemon.pid'), 'utf8'));
}

export function daemonLog(root: string, netns: string): string {
  try {
    return readFileSync(join(runtimeDir(root, netns), 'daemon.log'), 'utf8');
  } catch {
    return '';
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the namespace's daemon with `signal` and waits until it is gone. */
export async function stopDaemonIn(
  root: string,
  netns: string,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const pid = daemonPid(root, netns);
  process.kill(pid, signal);
  for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  if (alive(pid)) throw new Error(`daemon ${pid} in ${netns} did not stop`);
}

export interface Link {
  ifname: string;
  ifindex: number;
  address: string;
  flags: string[];
  linkinfo?: { info_kind?: string };
}

export function links(netns: string): Link[] {
  return JSON.parse(ip(['-d', '-j', 'link', 'show'], netns)) as Link[];
}

export function linkOf(netns: string, name: string): Link | undefined {
  return links(netns).find((l) => l.ifname === name);
}

/** What tells one interface from another of the same name: its ifindex and MAC address. */
export function identity(netns: string, name: string): { ifindex: number; address: string } | undefined {
  const l = linkOf(netns, name);
  return l === undefined ? undefined : { ifindex: l.ifindex, address: l.address };
}

export function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

export interface DaemonProcess {
  child: ChildProcess;
  log: () => string;
}

/** Starts `greoip daemon ARGS` in a namespace (log kept in memory) and waits until it has started. */
export async function spawnDaemon(
  t: ExecutionContext,
  netns: string,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): Promise<DaemonProcess> {
  const child = spawn('/usr/sbin/ip', ['netns', 'exec', netns, process.execPath, GREOIP, 'daemon', ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  for (let i = 0; i < 300 && !/"msg":"started"/.test(log); i++) {
    if (child.exitCode !== null) throw new Error(`daemon in ${netns} exited: ${log}`);
    await sleep(50);
  }
  if (!/"msg":"started"/.test(log)) throw new Error(`daemon in ${netns} did not start: ${log}`);
  return { child, log: () => log };
}
