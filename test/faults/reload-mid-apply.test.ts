/**
 * Fault: a config reload that cannot be carried out (issue 12, defect 5):
 * refused before any change when the host lacks what it names (a link), and
 * undone when it fails half-way (the daemon runs out of file descriptors
 * while creating the new tunnels). Either way the tunnel the file removes
 * keeps its interface (same ifindex, address intact), changed tunnels keep
 * their old config and the state file is unchanged.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import { sleep, waitFor } from '../live/harness.ts';
import { addNetns, eoipIn, identity, linkOf, runtimeDir, runtimeRoot, spawnDaemon } from './helpers.ts';

function yaml(tunnels: { name: string; tid: number; extra?: string }[]): string {
  return `tunnels:\n${tunnels.map((x) => `  - name: ${x.name}\n    tid: ${x.tid}\n    remote: 192.0.2.9\n${x.extra ?? ''}`).join('')}`;
}

interface Setup {
  ns: string;
  env: NodeJS.ProcessEnv;
  file: string;
  state: string;
  reload: (content: string) => Promise<string>;
  pid: number;
}

/** A daemon on a config file with e7 (with an address) and e8. */
async function setup(t: import('ava').ExecutionContext): Promise<Setup> {
  const { root, env } = runtimeRoot(t);
  const ns = addNetns(t, 'reload');
  const file = join(root, 'tunnels.yaml');
  writeFileSync(
    file,
    yaml([
      { name: 'e7', tid: 7 },
      { name: 'e8', tid: 8 },
    ]),
  );
  const daemon = await spawnDaemon(t, ns, env, ['--config', file]);
  ip(['addr', 'add', '198.51.100.7/24', 'dev', 'e7'], ns);
  const reload = async (content: string) => {
    const before = daemon.log().length;
    writeFileSync(file, content);
    daemon.child.kill('SIGHUP');
    await waitFor('the reload to finish', () => /reloaded|refused/.test(daemon.log().slice(before)));
    return daemon.log().slice(before);
  };
  // `ip netns exec` execs the daemon: the child's pid is the daemon's.
  return { ns, env, file, state: join(runtimeDir(root, ns), 'state.json'), reload, pid: daemon.child.pid! };
}

function addresses(ns: string, dev: string): string[] {
  const info = JSON.parse(ip(['-j', '-4', 'addr', 'show', 'dev', dev], ns)) as {
    addr_info: { local: string }[];
  }[];
  return info[0]!.addr_info.map((a) => a.local);
}

function configOf(ns: string, env: NodeJS.ProcessEnv, name: string): { ttl: number } {
  const list = JSON.parse(eoipIn(ns, env, ['list', '--json']).stdout) as {
    config: { name: string; ttl: number };
  }[];
  return list.find((s) => s.config.name === name)!.config;
}

test.serial('a reload naming a link that does not exist is refused before it removes anything', async (t) => {
  requireRoot();
  const { ns, state, reload } = await setup(t);
  const e7 = identity(ns, 'e7');
  const record = readFileSync(state, 'utf8');
  const log = await reload(
    yaml([
      { name: 'e8', tid: 8 },
      { name: 'e9', tid: 9, extra: '    link: nonexist0\n' },
    ]),
  );
  t.regex(log, /refused, running tunnels untouched".*"error":"link: no interface named nonexist0/);
  t.deepEqual(identity(ns, 'e7'), e7, 'e7 is the same interface');
  t.deepEqual(addresses(ns, 'e7'), ['198.51.100.7']);
  t.is(linkOf(ns, 'e9'), undefined);
  t.is(readFileSync(state, 'utf8'), record);
});

test.serial(
  'a reload that fails half-way (out of descriptors) is undone, and never removed e7',
  async (t) => {
    requireRoot();
    const { ns, env, state, reload, pid } = await setup(t);
    const e7 = identity(ns, 'e7');
    const record = readFileSync(state, 'utf8');
    // Room for about two more descriptors: the third new tap cannot be opened.
    const open = readdirSync(`/proc/${pid}/fd`).length;
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${open + 3}`]);
    const monitor = spawn('/usr/sbin/ip', ['-n', ns, '-o', 'monitor', 'link'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.teardown(() => monitor.kill());
    let events = '';
    monitor.stdout.on('data', (c: Buffer) => {
      events += c.toString();
    });
    await sleep(200);
    const log = await reload(
      yaml([
        { name: 'e8', tid: 8, extra: '    ttl: 64\n' },
        ...[9, 10, 11, 12, 13, 14].map((tid) => ({ name: `n${tid}`, tid })),
      ]),
    );
    await sleep(200);
    t.regex(
      log,
      /refused, running tunnels untouched".*"error":"[^"]*(EMFILE|descriptor|Too many open files)/i,
    );
    t.regex(events, /: n9[:@]/, 'n9 was created: the reload failed half-way');
    t.regex(events, /Deleted .*: n9[:@]/, 'and removed again');
    t.deepEqual(identity(ns, 'e7'), e7, 'e7 is the same interface');
    t.deepEqual(addresses(ns, 'e7'), ['198.51.100.7']);
    t.is(configOf(ns, env, 'e8').ttl, 255, 'e8 keeps its old config');
    for (const tid of [9, 10, 11, 12, 13, 14]) t.is(linkOf(ns, `n${tid}`), undefined);
    t.is(readFileSync(state, 'utf8'), record);
  },
);
