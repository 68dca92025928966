/**
 * Fault: a network namespace deleted while its daemon's state stays in
 * /run/greoip/net-<inode>, and a new namespace with the same inode (issue 12,
 * defect 1). The new namespace's daemon must not bring the old tunnels back,
 * and `greoip cleanup` there must not delete interfaces of the same names
 * that a user made by hand.
 */
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import {
  addNetns,
  daemonLog,
  eoipIn,
  files,
  greoipIn,
  identity,
  linkOf,
  replaceNetns,
  runtimeDir,
  runtimeRoot,
  stopDaemonIn,
} from './helpers.ts';

/** A namespace whose stopped daemon left tunnels ghost1 and ghost2 in its state file. */
async function leaveGhosts(
  t: import('ava').ExecutionContext,
  root: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const old = addNetns(t, 'old');
  for (const [name, tid] of [
    ['ghost1', '77'],
    ['ghost2', '78'],
  ] as const) {
    const r = eoipIn(old, env, ['add', 'name', name, 'tid', tid, 'remote', '192.0.2.77']);
    t.is(r.status, 0, r.stderr);
  }
  await stopDaemonIn(root, old);
  return old;
}

test.serial(
  'a daemon in a namespace that reuses a deleted one’s inode adopts none of its tunnels',
  async (t) => {
    requireRoot();
    const { root, env } = runtimeRoot(t);
    const old = await leaveGhosts(t, root, env);
    const { fresh, reused } = await replaceNetns(t, old, root);
    t.log(`inode reused by the kernel: ${reused}`);
    // The user of the new namespace makes a tap of the old name by hand.
    ip(['tuntap', 'add', 'dev', 'ghost1', 'mode', 'tap'], fresh);
    const mine = identity(fresh, 'ghost1');

    const add = eoipIn(fresh, env, ['add', 'name', 'mine', 'tid', '5', 'remote', '192.0.2.5']);
    t.is(add.status, 0, add.stderr);
    const log = daemonLog(root, fresh);
    t.regex(
      log,
      /"msg":"state file of another network namespace not adopted".*"moved_to":"[^"]*state\.json\.foreign-/,
    );
    t.regex(log, /"msg":"started".*"tunnels":0.*\n.*"msg":"tunnel added","tunnel":"mine"/);
    const listed = eoipIn(fresh, env, ['list', '--json']);
    t.deepEqual(
      (JSON.parse(listed.stdout) as { config: { name: string } }[]).map((s) => s.config.name),
      ['mine'],
    );
    t.is(linkOf(fresh, 'ghost2'), undefined, 'the old tunnel was not re-created');
    t.deepEqual(identity(fresh, 'ghost1'), mine, 'the hand-made tap is untouched');
    t.true(files(runtimeDir(root, fresh)).some((f) => f.startsWith('state.json.foreign-')));
  },
);

test.serial('greoip cleanup in a namespace that reuses a deleted one’s inode removes nothing', async (t) => {
  requireRoot();
  const { root, env } = runtimeRoot(t);
  const old = await leaveGhosts(t, root, env);
  const { fresh, reused } = await replaceNetns(t, old, root);
  t.log(`inode reused by the kernel: ${reused}`);
  for (const name of ['ghost1', 'ghost2']) ip(['tuntap', 'add', 'dev', name, 'mode', 'tap'], fresh);
  const before = ['ghost1', 'ghost2'].map((n) => identity(fresh, n));

  const cleaned = greoipIn(fresh, env, ['cleanup']);
  t.is(cleaned.status, 0, cleaned.stderr);
  t.regex(cleaned.stdout, /^removed 0 interface\(s\)/);
  t.regex(cleaned.stderr, /left by another network namespace/);
  t.deepEqual(
    ['ghost1', 'ghost2'].map((n) => identity(fresh, n)),
    before,
    'the hand-made taps are still there, unchanged',
  );
});

test.serial(
  'in its own namespace, cleanup removes only the interfaces the daemon can prove it made',
  async (t) => {
    requireRoot();
    const { root, env } = runtimeRoot(t);
    const ns = addNetns(t, 'own');
    for (const [name, tid] of [
      ['made1', '1'],
      ['made2', '2'],
    ] as const) {
      t.is(eoipIn(ns, env, ['add', 'name', name, 'tid', tid, 'remote', '192.0.2.9']).status, 0);
    }
    await stopDaemonIn(root, ns, 'SIGKILL');
    // made2 is deleted and a tap of the same name made by hand: another ifindex, not greoip's.
    ip(['link', 'del', 'made2'], ns);
    ip(['tuntap', 'add', 'dev', 'made2', 'mode', 'tap'], ns);
    const cleaned = greoipIn(ns, env, ['cleanup']);
    t.is(cleaned.status, 0, cleaned.stderr);
    t.regex(cleaned.stdout, /^removed 1 interface\(s\)/);
    t.regex(cleaned.stderr, /left alone .*: made2/);
    t.is(linkOf(ns, 'made1'), undefined);
    t.not(linkOf(ns, 'made2'), undefined);
  },
);
