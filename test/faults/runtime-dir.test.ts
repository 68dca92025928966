/**
 * Fault: the runtime directory full, then read-only, under a running daemon
 * (issue 12, defect 4). Every change either happens with its state written
 * or not at all: the CLI's answer matches the interfaces, the error names the
 * state file, no temporary file is left, and a restart restores exactly what
 * the CLI reported.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import {
  addNetns,
  daemonPid,
  eoipIn,
  greoipIn,
  identity,
  linkOf,
  runtimeDir,
  runtimeRoot,
  spawnDaemon,
  stopDaemonIn,
} from './helpers.ts';

function mount(args: string[]): void {
  execFileSync('mount', args, { stdio: 'ignore' });
}

/** The runtime root on its own small tmpfs, unmounted at the end. */
function smallRuntime(t: import('ava').ExecutionContext): { root: string; env: NodeJS.ProcessEnv } {
  const runtime = runtimeRoot(t);
  mount(['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'greoip-fault', runtime.root]);
  t.teardown(() => execFileSync('umount', ['-l', runtime.root], { stdio: 'ignore' }));
  return runtime;
}

function names(ns: string, env: NodeJS.ProcessEnv): string[] {
  const r = eoipIn(ns, env, ['list', '--json']);
  return (JSON.parse(r.stdout) as { config: { name: string } }[]).map((s) => s.config.name);
}

/** Checks that add and del fail cleanly while the state cannot be written. */
function refusedWhole(
  t: import('ava').ExecutionContext,
  ns: string,
  root: string,
  env: NodeJS.ProcessEnv,
): void {
  const state = join(runtimeDir(root, ns), 'state.json');
  const e1 = identity(ns, 'e1');
  const add = eoipIn(ns, env, ['add', 'name', 'e2', 'tid', '2', 'remote', '192.0.2.9']);
  t.is(add.status, 1);
  t.true(add.stderr.includes(`cannot write the state file ${state}`), add.stderr);
  t.is(linkOf(ns, 'e2'), undefined, 'the refused tunnel has no interface');
  const del = eoipIn(ns, env, ['del', 'name', 'e1']);
  t.is(del.status, 1);
  t.true(del.stderr.includes(`cannot write the state file ${state}`), del.stderr);
  t.deepEqual(identity(ns, 'e1'), e1, 'the tunnel to delete is still there, the same interface');
  t.deepEqual(names(ns, env), ['e1']);
  t.deepEqual(
    readdirSync(runtimeDir(root, ns)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary state file left',
  );
}

test.serial('runtime directory full: add and del fail whole, naming the state file', async (t) => {
  requireRoot();
  const { root, env } = smallRuntime(t);
  const ns = addNetns(t, 'full');
  t.is(eoipIn(ns, env, ['add', 'name', 'e1', 'tid', '1', 'remote', '192.0.2.9']).status, 0);
  const pid = daemonPid(root, ns);
  const filler = join(root, 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
  } catch {
    // dd stops at ENOSPC: the disk is full
  }
  refusedWhole(t, ns, root, env);
  rmSync(filler);
  t.is(daemonPid(root, ns), pid, 'the same daemon, still running');
  t.is(eoipIn(ns, env, ['add', 'name', 'e3', 'tid', '3', 'remote', '192.0.2.9']).status, 0);
  // A restart restores exactly what the CLI reported.
  await stopDaemonIn(root, ns, 'SIGKILL');
  t.is(greoipIn(ns, env, ['status']).status, 1);
  t.is(eoipIn(ns, env, ['add', 'name', 'e4', 'tid', '4', 'remote', '192.0.2.9']).status, 0);
  t.deepEqual(names(ns, env), ['e1', 'e3', 'e4']);
});

test.serial('runtime directory read-only: add and del fail whole, naming the state file', async (t) => {
  requireRoot();
  const { root, env } = smallRuntime(t);
  const ns = addNetns(t, 'ro');
  // Started directly, its log in a pipe: a file open for writing would keep the remount from succeeding.
  await spawnDaemon(t, ns, env);
  t.is(eoipIn(ns, env, ['add', 'name', 'e1', 'tid', '1', 'remote', '192.0.2.9']).status, 0);
  mount(['-o', 'remount,ro', root]);
  refusedWhole(t, ns, root, env);
  mount(['-o', 'remount,rw', root]);
  t.is(eoipIn(ns, env, ['del', 'name', 'e1']).status, 0);
  t.is(linkOf(ns, 'e1'), undefined);
  t.deepEqual(names(ns, env), []);
});
