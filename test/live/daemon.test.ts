/**
 * The daemon as operators meet it: auto-start by `eoip add`, abbreviations,
 * clear errors that leave state intact, a root-only control socket, a config
 * file reloaded on SIGHUP (only the difference applied; an invalid file
 * refused), restarts that keep interfaces and addresses, one daemon per
 * network namespace, `eoip del` and `greoip cleanup`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import {
  createLab,
  EOIP,
  eoip,
  GREOIP,
  linkInfo,
  list,
  run,
  sleep,
  startDaemon,
  stopDaemon,
  waitFor,
} from './harness.ts';

function addrs(netns: string, dev: string): string[] {
  const info = JSON.parse(ip(['-j', '-4', 'addr', 'show', 'dev', dev], netns)) as {
    addr_info: { local: string }[];
  }[];
  return info[0]!.addr_info.map((a) => a.local);
}

test.serial(
  'eoip add starts the daemon, accepts abbreviations and names tunnels; errors name the field and change nothing',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'cli');
    const { a, b } = lab.pair;
    // No daemon yet: `add` starts one in this namespace.
    t.is(eoip(lab, a.netns, ['a', 'tid', '5', 'rem', b.v4]).stdout, 'eoip0\n');
    t.is(
      eoip(lab, a.netns, ['add', 'n', 'named', 'tu', '6', 'remote', b.v4, 'k', '5,2', 'mt', '1400']).stdout,
      'named\n',
    );
    const before = list(lab, a.netns);
    t.deepEqual(
      before.map((s) => [s.config.name, s.config.tunnelId, s.config.keepalive, s.config.mtu, s.config.ttl]),
      [
        ['eoip0', 5, { interval: 10, retries: 10 }, 1500, 255],
        ['named', 6, { interval: 5, retries: 2 }, 1400, 255],
      ],
    );
    t.is(linkInfo(a.netns, 'named').mtu, 1400);

    const dup = eoip(lab, a.netns, ['add', 'name', 'other', 'tid', '5', 'remote', b.v4], true);
    t.is(dup.status, 1);
    t.regex(dup.stderr, /tunnel-id: 5 with remote 192\.0\.2\.2 is already used by eoip0/);
    const range = eoip(lab, a.netns, ['add', 'tid', '5000', 'remote', b.v6], true);
    t.regex(range.stderr, /tid: 5000 is out of range 0-4095 for EoIPv6/);
    const ambiguous = eoip(lab, a.netns, ['add', 't', '5', 'remote', b.v4], true);
    t.regex(ambiguous.stderr, /ambiguous 't'/);
    const badChange = eoip(lab, a.netns, ['set', 'name', 'named', 'mtu', '10'], true);
    t.regex(badChange.stderr, /mtu/);
    const missing = eoip(lab, a.netns, ['del', 'name', 'nope'], true);
    t.regex(missing.stderr, /no tunnel named nope/);
    t.deepEqual(
      list(lab, a.netns).map((x) => x.config),
      before.map((x) => x.config),
      'failed commands left every tunnel as it was',
    );
    t.is(linkInfo(a.netns, 'named').mtu, 1400);

    // change applies in place; del removes the tunnel and its interface.
    eoip(lab, a.netns, ['change', 'name', 'named', 'keepalive', 'none', 'ttl', '64']);
    const changed = list(lab, a.netns).find((s) => s.config.name === 'named')!;
    t.is(changed.config.keepalive, null);
    t.is(changed.config.ttl, 64);
    t.is(changed.state, 'off');
    eoip(lab, a.netns, ['del', 'name', 'eoip0']);
    t.throws(() => linkInfo(a.netns, 'eoip0'));
    t.deepEqual(
      list(lab, a.netns).map((s) => s.config.name),
      ['named'],
    );
    const table = eoip(lab, a.netns, ['list']).stdout;
    t.regex(table, /^NAME\s+TYPE\s+TID\s+LOCAL\s+REMOTE\s+MTU\s+KEEPALIVE\s+STATE/);
    t.regex(table, /named\s+eoip\s+6\s+any\s+192\.0\.2\.2\s+1400\s+none\s+off/);
  },
);

test.serial('the control socket is root-only: by file mode, and by SO_PEERCRED behind it', async (t) => {
  requireRoot();
  const lab = createLab(t, 'perm');
  const { a, b } = lab.pair;
  await startDaemon(lab, a.netns);
  eoip(lab, a.netns, ['add', 'name', 'x', 'tid', '1', 'remote', b.v4]);
  const dir = readdirSync(lab.runtime).map((d) => join(lab.runtime, d))[0]!;
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(statSync(join(dir, 'control.sock')).mode & 0o777, 0o600);
  const asNobody = (args: string[]) =>
    run(lab, a.netns, [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      EOIP,
      ...args,
    ]);
  const denied = asNobody(['del', 'name', 'x']);
  t.is(denied.status, 1);
  t.regex(denied.stderr, /EACCES|permission denied/i);
  // Open the file permissions: the daemon still refuses a non-root peer by its credentials.
  chmodSync(lab.runtime, 0o755);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'control.sock'), 0o666);
  const refused = asNobody(['del', 'name', 'x']);
  t.is(refused.status, 1);
  t.regex(refused.stderr, /permission denied: only root may change tunnels/);
  t.is(asNobody(['list']).status, 0, 'reading is allowed');
  t.deepEqual(
    list(lab, a.netns).map((s) => s.config.name),
    ['x'],
  );
});

test.serial(
  'config file: started from it, SIGHUP applies only the difference, an invalid file is refused',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'cfg');
    const { a, b } = lab.pair;
    const file = join(lab.runtime, 'tunnels.yaml');
    writeFileSync(
      file,
      `tunnels:\n  - name: keep\n    tunnel-id: 10\n    remote: ${b.v4}\n    keepalive: none\n  - name: gone\n    tid: 11\n    remote: ${b.v4}\n`,
    );
    const daemon = await startDaemon(lab, a.netns, ['--config', file]);
    t.deepEqual(
      list(lab, a.netns).map((s) => s.config.name),
      ['gone', 'keep'],
    );
    ip(['addr', 'add', '198.51.100.1/24', 'dev', 'keep'], a.netns);
    ip(['link', 'set', 'keep', 'up'], a.netns);
    // Traffic on `keep` so that its counters show whether it was recreated.
    run(lab, a.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '198.51.100.2']);
    const txBefore = list(lab, a.netns).find((s) => s.config.name === 'keep')!.counters.txPackets;
    t.true(txBefore > 0);

    writeFileSync(file, `tunnels:\n  - name: keep\n    tunnel-id: 70000\n    remote: ${b.v4}\n`);
    daemon.kill('SIGHUP');
    await waitFor('the refusal in the log', () => (lab.logs.get(a.netns) ?? '').includes('refused'));
    t.regex(lab.logs.get(a.netns)!, /tunnels\[0\]\.tunnel-id: 70000 is out of range 0-65535/);
    t.deepEqual(
      list(lab, a.netns).map((s) => s.config.name),
      ['gone', 'keep'],
      'running tunnels untouched',
    );

    writeFileSync(
      file,
      `tunnels:\n  - name: keep\n    tunnel-id: 10\n    remote: ${b.v4}\n    keepalive: none\n  - name: new6\n    tid: 12\n    remote: ${b.v6}\n    mtu: 1400\n`,
    );
    daemon.kill('SIGHUP');
    await waitFor('the reload', () => (lab.logs.get(a.netns) ?? '').includes('reloaded'));
    const after = list(lab, a.netns);
    t.deepEqual(
      after.map((s) => s.config.name),
      ['keep', 'new6'],
    );
    const keep = after.find((s) => s.config.name === 'keep')!;
    t.true(keep.counters.txPackets >= txBefore, 'unchanged tunnel kept its counters: not recreated');
    t.deepEqual(addrs(a.netns, 'keep'), ['198.51.100.1']);
    t.throws(() => linkInfo(a.netns, 'gone'), undefined, 'removed tunnel took its interface');
    t.is(after.find((s) => s.config.name === 'new6')!.config.family, 6);
  },
);

test.serial(
  'SIGTERM keeps interfaces (carrier off, addresses intact); a restart restores the tunnels; cleanup removes all',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'rst');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    // Two daemons, two namespaces, one runtime root: separate sockets.
    t.is(readdirSync(lab.runtime).filter((d) => d.startsWith('net-')).length, 2);
    eoip(lab, a.netns, ['add', 'name', 'persist', 'tid', '3', 'remote', b.v4]);
    ip(['addr', 'add', '198.51.100.1/24', 'dev', 'persist'], a.netns);
    ip(['link', 'set', 'persist', 'up'], a.netns);
    t.is(await stopDaemon(lab, a.netns), 0);
    const kept = linkInfo(a.netns, 'persist');
    t.true(kept.flags.includes('NO-CARRIER'), 'carrier off while no daemon runs');
    t.deepEqual(addrs(a.netns, 'persist'), ['198.51.100.1']);
    await startDaemon(lab, a.netns);
    await waitFor('carrier back', () => !linkInfo(a.netns, 'persist').flags.includes('NO-CARRIER'));
    t.deepEqual(
      list(lab, a.netns).map((s) => s.config.name),
      ['persist'],
    );
    t.deepEqual(addrs(a.netns, 'persist'), ['198.51.100.1'], 'addresses survived the restart');

    const cleaned = run(lab, a.netns, [process.execPath, GREOIP, 'cleanup']);
    t.is(cleaned.status, 0, cleaned.stderr);
    t.regex(cleaned.stdout, /removed every tunnel/);
    t.throws(() => linkInfo(a.netns, 'persist'));
    await sleep(300);
    t.regex(eoip(lab, a.netns, ['list']).stdout, /^no tunnels/);
    // Without a daemon, cleanup works from the state file.
    await startDaemon(lab, a.netns);
    eoip(lab, a.netns, ['add', 'name', 'orphan', 'tid', '4', 'remote', b.v4]);
    t.is(await stopDaemon(lab, a.netns, 'SIGKILL'), null);
    t.is(run(lab, a.netns, [process.execPath, GREOIP, 'cleanup']).status, 0);
    t.throws(() => linkInfo(a.netns, 'orphan'));
    t.is(
      execFileSync('/usr/sbin/ip', ['netns', 'exec', a.netns, 'ip', '-o', 'link', 'show', 'type', 'tun'], {
        encoding: 'utf8',
      }),
      '',
    );
  },
);

test.serial('the daemon needs no capability beyond CAP_NET_ADMIN and CAP_NET_RAW', async (t) => {
  requireRoot();
  const lab = createLab(t, 'caps');
  const { a, b } = lab.pair;
  // Root, but with every other capability gone from the bounding set (and so from the daemon).
  const onlyNet = ['setpriv', '--bounding-set=-all,+net_admin,+net_raw', '--inh-caps=-all'];
  for (const side of [a, b]) await startDaemon(lab, side.netns, [], onlyNet);
  // `ip netns exec` and setpriv both exec: the child's pid is the daemon's own (other tests' daemons run too).
  const pid = lab.daemons.get(a.netns)!.pid!;
  t.regex(run(lab, a.netns, ['cat', `/proc/${pid}/cmdline`]).stdout, /greoip\.js\0daemon/);
  const capEff = /CapEff:\s+([0-9a-f]+)/.exec(run(lab, a.netns, ['cat', `/proc/${pid}/status`]).stdout)![1]!;
  // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
  t.is(BigInt(`0x${capEff}`), (1n << 12n) | (1n << 13n), `CapEff ${capEff}`);
  for (const [me, peer, addr] of [
    [a, b, '198.51.100.1/24'],
    [b, a, '198.51.100.2/24'],
  ] as const) {
    eoip(lab, me.netns, ['add', 'name', 'capped', 'tid', '1', 'remote', peer.v4]);
    ip(['addr', 'add', addr, 'dev', 'capped'], me.netns);
    ip(['link', 'set', 'capped', 'up'], me.netns);
  }
  const ping = run(lab, a.netns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.51.100.2']);
  t.regex(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
});
