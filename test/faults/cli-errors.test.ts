/**
 * The CLI when things go wrong (issue 12, defects 9 and 12): messages, never
 * stack traces, for a non-root user, a daemon out of descriptors and a long
 * cleanup; the field named, never the system call, for a link-local remote
 * without link, an unassigned local address, a missing link and a name
 * another interface has; counters that carry on over a daemon restart.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import { createLab, list, run, startDaemon, stopDaemon, tunnelPair } from '../live/harness.ts';
import { addNetns, daemonPid, eoipIn, greoipIn, linkOf, links, runtimeRoot, spawnDaemon } from './helpers.ts';

const STACK = /\n\s+at /;

test.serial('a non-root user gets a message, not a stack trace', async (t) => {
  requireRoot();
  const { root, env } = runtimeRoot(t);
  const ns = addNetns(t, 'user');
  t.is(eoipIn(ns, env, ['add', 'name', 'e1', 'tid', '1', 'remote', '192.0.2.9']).status, 0);
  execFileSync('chmod', ['0755', root]);
  for (const argv of [['list'], ['del', 'name', 'e1'], ['add', 'tid', '2', 'remote', '192.0.2.9']]) {
    const r = eoipIn(ns, env, argv, 65534);
    t.is(r.status, 1, argv.join(' '));
    t.regex(
      r.stderr,
      /^eoip: permission denied: the control socket .*control\.sock is root-only \(run as root\)\n$/,
    );
  }
  const status = greoipIn(ns, env, ['status'], 65534);
  t.is(status.status, 1);
  t.regex(status.stderr, /^greoip: permission denied: .* is root-only/);
  t.notRegex(status.stderr, STACK);
});

test.serial(
  'eoip list while the daemon is out of descriptors: a message, and the daemon lives on',
  async (t) => {
    requireRoot();
    const { root, env } = runtimeRoot(t);
    const ns = addNetns(t, 'fds');
    t.is(eoipIn(ns, env, ['add', 'name', 'e1', 'tid', '1', 'remote', '192.0.2.9']).status, 0);
    const pid = daemonPid(root, ns);
    t.true(readdirSync(`/proc/${pid}/fd`).length > 3);
    // A soft limit of fds 0-2, all taken: every accept() fails with EMFILE.
    execFileSync('prlimit', [`--pid=${pid}`, '--nofile=3:']);
    const r = eoipIn(ns, env, ['list']);
    t.is(r.status, 1);
    // libuv may accept and close the connection (its reserve descriptor), or leave it waiting.
    t.regex(
      r.stderr,
      /^eoip: (the daemon closed the connection without a reply \(it may be out of file descriptors; see .*daemon\.log or its journal\)|no reply from the daemon within 10 s \(it may still be working\))\n$/,
    );
    t.notRegex(r.stderr, STACK);
    execFileSync('prlimit', [`--pid=${pid}`, '--nofile=1024:']);
    t.is(eoipIn(ns, env, ['list']).status, 0, 'the daemon answers again');
  },
);

test.serial(
  'greoip cleanup with 600 tunnels (more than 10 s of work) waits for the daemon to remove them all, then it stops',
  async (t) => {
    requireRoot();
    const { root, env } = runtimeRoot(t);
    const ns = addNetns(t, 'many');
    const file = join(root, 'many.yaml');
    const entries: string[] = [];
    for (let i = 0; i < 600; i++)
      entries.push(`  - {name: m${i}, tid: ${i}, remote: 192.0.2.9, keepalive: none}`);
    writeFileSync(file, `tunnels:\n${entries.join('\n')}\n`);
    const daemon = await spawnDaemon(t, ns, env, ['--config', file]);
    t.is(links(ns).filter((l) => l.ifname.startsWith('m')).length, 600);
    const started = Date.now();
    const cleaned = greoipIn(ns, env, ['cleanup']);
    t.log(`cleanup of 600 tunnels: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    t.is(cleaned.status, 0, cleaned.stderr);
    t.regex(cleaned.stdout, /removed every tunnel; the daemon stopped/);
    t.is(links(ns).filter((l) => l.ifname.startsWith('m')).length, 0);
    for (let i = 0; i < 100 && daemon.child.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 50));
    t.is(daemon.child.exitCode, 0, 'the daemon stopped');
    void root;
  },
);

test.serial('eoip errors name the field, never the system call', async (t) => {
  requireRoot();
  const { env } = runtimeRoot(t);
  const ns = addNetns(t, 'field');
  await spawnDaemon(t, ns, env);
  const cases: [string[], RegExp][] = [
    [
      ['remote', 'fe80::1'],
      /^eoip: remote: fe80::1 is link-local: give link \(the underlay interface it is reached through\)\n$/,
    ],
    [
      ['remote', '192.0.2.9', 'local', '192.0.2.99'],
      /^eoip: local: 192\.0\.2\.99 is not assigned to any interface in this network namespace\n$/,
    ],
    [
      ['remote', '192.0.2.9', 'link', 'nonexist0'],
      /^eoip: link: no interface named nonexist0 in this network namespace\n$/,
    ],
    [
      ['remote', '192.0.2.9', 'name', 'lo'],
      /^eoip: name: an interface named lo exists already and is not a greoip tunnel \(ifindex 1\)\n$/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = eoipIn(ns, env, ['add', 'tid', '5', ...args]);
    t.is(r.status, 1, args.join(' '));
    t.regex(r.stderr, message);
  }
  t.deepEqual(
    links(ns).map((l) => l.ifname),
    ['lo'],
    'nothing was created',
  );
  // With its link, a link-local remote is fine.
  ip(['link', 'add', 'under0', 'type', 'veth', 'peer', 'name', 'under1'], ns);
  t.is(eoipIn(ns, env, ['add', 'name', 'll', 'tid', '5', 'remote', 'fe80::1', 'link', 'under0']).status, 0);
  t.not(linkOf(ns, 'll'), undefined);
});

test.serial('eoip list counters carry on over a daemon restart', async (t) => {
  requireRoot();
  const lab = createLab(t, 'ctr');
  const { a, b } = lab.pair;
  await startDaemon(lab, a.netns);
  await startDaemon(lab, b.netns);
  tunnelPair(lab, 'cnt', 9, 4, ['198.51.100.1/24', '198.51.100.2/24'], ['keepalive', 'none']);
  const ping = (n: number) =>
    run(lab, a.netns, ['ping', '-c', String(n), '-i', '0.05', '-W', '1', '198.51.100.2']);
  ping(40);
  const before = list(lab, a.netns)[0]!.counters;
  t.true(before.txPackets >= 35 && before.rxPackets >= 35, JSON.stringify(before));
  t.is(await stopDaemon(lab, a.netns), 0);
  await startDaemon(lab, a.netns);
  // The totals from before the restart, plus what the tap sent since (IPv6 router solicitations).
  const after = list(lab, a.netns)[0]!.counters;
  for (const key of ['rxPackets', 'rxBytes', 'txPackets', 'txBytes'] as const) {
    t.true(after[key] >= before[key], `${key}: ${after[key]} after the restart, ${before[key]} before`);
  }
  t.regex(ping(5).stdout, / 0% packet loss/);
  const later = list(lab, a.netns)[0]!.counters;
  t.true(later.rxPackets >= before.rxPackets + 5, `${later.rxPackets} after ${before.rxPackets}`);
});
