/**
 * greoip.service's promises, checked on the daemon itself (root, network namespaces): with NOTIFY_SOCKET
 * pointing at a real unix datagram socket it sends READY=1 only once every tunnel of its config exists,
 * RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM, and nothing when its config is
 * refused; under the unit's own capability set it works, and without CAP_NET_RAW it fails, saying so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { REPO_DIR, requireRoot, tempDir } from '../helpers.ts';
import { createLab, GREOIP, list, run, sleep, startDaemon, stopDaemon, tunnelPair } from '../live/harness.ts';
import { Netns } from '../netns.ts';
import { listen } from './listener.ts';

test.before(() => requireRoot());

const TUNNELS = 40;

function config(count: number): string {
  const lines = ['tunnels:'];
  for (let i = 1; i <= count; i++)
    lines.push(`  - name: rdy${i}`, `    tunnel-id: ${i}`, `    remote: 192.0.2.${i}`);
  return `${lines.join('\n')}\n`;
}

function daemon(
  ns: Netns,
  env: NodeJS.ProcessEnv,
  args: string[],
): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    '/usr/sbin/ip',
    ['netns', 'exec', ns.name, process.execPath, GREOIP, 'daemon', ...args],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c;
  });
  return { child, stderr: () => stderr };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );

test.serial(
  'READY=1 only once every configured tunnel exists; RELOADING=1/READY=1 on SIGHUP; STOPPING=1 on SIGTERM',
  async (t) => {
    const ns = Netns.create(t, 'ready');
    const dir = tempDir(t, 'greoip-ready-');
    const file = join(dir, 'tunnels.yaml');
    writeFileSync(file, config(TUNNELS));
    const notify = join(dir, 'notify.sock');
    const listener = await listen(t, notify, ns.name);
    const env = { ...process.env, GREOIP_RUNTIME_DIR: dir, NOTIFY_SOCKET: notify };
    const d = daemon(ns, env, ['--config', file]);

    const ready = await listener.next();
    const lines = ready.text.trim().split('\n');
    t.is(lines[0], 'READY=1', 'the first message is READY=1');
    t.true(lines.includes(`MAINPID=${d.child.pid}`), `${ready.text} (ip netns exec and node exec in place)`);
    const names = Array.from({ length: TUNNELS }, (_, i) => `rdy${i + 1}`);
    t.deepEqual(
      names.filter((n) => !ready.links!.includes(n)),
      [],
      'every tunnel interface existed when READY=1 arrived',
    );

    writeFileSync(file, config(TUNNELS + 1));
    d.child.kill('SIGHUP');
    t.regex((await listener.next()).text, /^RELOADING=1\nMONOTONIC_USEC=\d+\n/);
    const reloaded = await listener.next();
    t.regex(reloaded.text, /^READY=1\n/);
    t.true(reloaded.links!.includes(`rdy${TUNNELS + 1}`), 'READY=1 after the reload had added its tunnel');

    d.child.kill('SIGTERM');
    t.regex((await listener.next()).text, /^STOPPING=1\n/);
    t.is(await exited(d.child), 0, d.stderr());
    t.is(listener.messages.length, 4, listener.messages.map((m) => m.text).join('|'));
  },
);

test.serial(
  'a refused config sends no READY=1: the daemon exits 1 with one JSON error line naming the field',
  async (t) => {
    const ns = Netns.create(t, 'unready');
    const dir = tempDir(t, 'greoip-unready-');
    const file = join(dir, 'tunnels.yaml');
    writeFileSync(file, 'tunnels:\n  - name: bad\n    tunnel-id: 70000\n    remote: 192.0.2.9\n');
    const notify = join(dir, 'notify.sock');
    const listener = await listen(t, notify, ns.name);
    const d = daemon(ns, { ...process.env, GREOIP_RUNTIME_DIR: dir, NOTIFY_SOCKET: notify }, [
      '--config',
      file,
    ]);
    t.is(await exited(d.child), 1);
    await sleep(300); // a datagram sent before the exit would have arrived by now
    t.deepEqual(listener.messages, []);
    const logged = d.stderr().trim().split('\n');
    t.is(logged.length, 1, d.stderr());
    t.like(JSON.parse(logged[0]!), { level: 'error', component: 'daemon', msg: 'start failed' });
    t.regex(JSON.parse(logged[0]!).error, /tunnels\[0\]\.tunnel-id: 70000 is out of range 0-65535/);
  },
);

/** CapabilityBoundingSet of the shipped unit, as setpriv's list (net_admin,net_raw,bpf). */
function unitCapabilities(): string[] {
  const unit = readFileSync(join(REPO_DIR, 'packaging', 'systemd', 'greoip.service'), 'utf8');
  const m = /^CapabilityBoundingSet=(.*)$/m.exec(unit);
  if (!m) throw new Error('greoip.service has no CapabilityBoundingSet');
  return m[1]!
    .trim()
    .split(/\s+/)
    .map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

const CAP_BITS: Record<string, bigint> = { net_admin: 12n, net_raw: 13n, bpf: 39n };

test.serial(
  "under greoip.service's capability set the daemon runs tunnels; without CAP_NET_RAW it refuses to start, naming it",
  async (t) => {
    const caps = unitCapabilities();
    t.deepEqual(caps, ['net_admin', 'net_raw', 'bpf']);
    const lab = createLab(t, 'unitcaps');
    const { a, b } = lab.pair;
    // Root with only the unit's capabilities, as systemd starts it (User= unset, CapabilityBoundingSet=).
    const asUnit = [
      'setpriv',
      `--bounding-set=-all,${caps.map((c) => `+${c}`).join(',')}`,
      '--inh-caps=-all',
    ];
    for (const side of [a, b]) await startDaemon(lab, side.netns, [], asUnit);
    const pid = lab.daemons.get(a.netns)!.pid!;
    const capEff = /CapEff:\s+([0-9a-f]+)/.exec(
      run(lab, a.netns, ['cat', `/proc/${pid}/status`]).stdout,
    )![1]!;
    t.is(
      BigInt(`0x${capEff}`),
      caps.reduce((acc, c) => acc | (1n << CAP_BITS[c]!), 0n),
      `CapEff ${capEff}`,
    );
    tunnelPair(lab, 'unitcap', 7, 4, ['198.51.100.1/24', '198.51.100.2/24']);
    const ping = run(lab, a.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.51.100.2']);
    t.regex(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
    t.is(list(lab, a.netns)[0]!.config.name, 'unitcap');
    await stopDaemon(lab, a.netns);

    const withoutRaw = [
      'setpriv',
      `--bounding-set=-all,${caps
        .filter((c) => c !== 'net_raw')
        .map((c) => `+${c}`)
        .join(',')}`,
      '--inh-caps=-all',
    ];
    const r = run(lab, a.netns, [...withoutRaw, process.execPath, GREOIP, 'daemon', '--log-format', 'text']);
    t.is(r.status, 1);
    t.regex(
      r.stderr,
      /ERROR daemon: start failed error="missing CAP_NET_RAW: the daemon needs CAP_NET_ADMIN \(taps, links\) and CAP_NET_RAW \(raw IP sockets\)/,
    );
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  },
);
