/**
 * The test bed of bench/userland.mjs and bench/userland-profile.mjs: two network namespaces over
 * veth, greoip daemons or the C forwarder in each, and iperf3/ping between them. Root only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('..', import.meta.url).pathname;
export const GREOIP = join(ROOT, 'dist/cli/greoip.js');
export const EOIP = join(ROOT, 'dist/cli/eoip.js');
/** The node flags of greoip's #! line: the daemon runs as `greoip daemon` would run it. */
export const GREOIP_NODE_FLAGS = readFileSync(GREOIP, 'utf8')
  .split('\n', 1)[0]
  .split(/\s+/)
  .filter((w) => w.startsWith('--'));
const IP = '/usr/sbin/ip';
const TICKS_PER_SECOND = 100;

export const UNDER = {
  a: { v4: '192.0.2.1', v6: '2001:db8:b0::1' },
  b: { v4: '192.0.2.2', v6: '2001:db8:b0::2' },
};
export const INNER = { a: '198.51.100.1', b: '198.51.100.2' };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function sh(argv, opts = {}) {
  return execFileSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
}

export function requireRoot(what) {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${what} needs root (network namespaces, taps, raw sockets)\n`);
    process.exit(1);
  }
}

/** utime + stime of a process (or of one thread: /proc/PID/task/TID) in seconds. */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/**
 * Two namespaces a and b joined by veth-a/veth-b (MTU 1500, addresses UNDER), with helpers to run
 * iperf3, ping, greoip daemons and the forwarder in them. `seconds` is the length of an iperf3 run.
 */
export function createBed({ seconds, prefix = 'bu' }) {
  const id = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
  const NS = { a: `${prefix}-a-${id}`, b: `${prefix}-b-${id}` };
  const work = mkdtempSync(join(tmpdir(), 'greoip-bench-userland-'));
  const children = new Set();
  const inNs = (ns, argv, opts) => sh([IP, 'netns', 'exec', ns, ...argv], opts);

  function spawnNs(ns, argv, env = process.env) {
    const child = spawn(IP, ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.log = '';
    child.stderr.on('data', (c) => (child.log += c));
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  }

  async function stop(child) {
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }

  function cleanup() {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of Object.values(NS)) {
      try {
        for (const pid of sh([IP, 'netns', 'pids', ns]).split(/\s+/).filter(Boolean))
          process.kill(Number(pid), 'SIGKILL');
      } catch {}
      try {
        sh([IP, 'netns', 'del', ns]);
      } catch {}
    }
    rmSync(work, { recursive: true, force: true });
  }

  function setup() {
    for (const ns of Object.values(NS)) sh([IP, 'netns', 'add', ns]);
    sh([IP, 'link', 'add', 'veth-a', 'netns', NS.a, 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', NS.b]);
    for (const side of ['a', 'b']) {
      const ns = NS[side];
      const dev = `veth-${side}`;
      inNs(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      inNs(ns, [IP, 'link', 'set', 'lo', 'up']);
      inNs(ns, [IP, 'addr', 'add', `${UNDER[side].v4}/24`, 'dev', dev]);
      inNs(ns, [IP, 'addr', 'add', `${UNDER[side].v6}/64`, 'dev', dev, 'nodad']);
      inNs(ns, [IP, 'link', 'set', dev, 'up']);
    }
  }

  function buildForwarder() {
    const bin = join(work, 'eoip-fwd');
    sh(['cc', '-O2', '-pthread', '-o', bin, join(ROOT, 'bench/forwarder/eoip-fwd.c')]);
    return bin;
  }

  /** One iperf3 client run from a to `target` (a server in b); the parsed JSON. */
  async function iperf(target, extra) {
    const server = spawnNs(NS.b, ['iperf3', '-s', '-1', '-B', target]);
    await sleep(300);
    try {
      return JSON.parse(
        inNs(NS.a, ['iperf3', '-c', target, '-t', String(seconds), '-J', ...extra], {
          timeout: (seconds + 30) * 1000,
        }),
      );
    } finally {
      await stop(server);
    }
  }

  async function tcpMbps(target, pids) {
    const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
    const r = await iperf(target, []);
    const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
    const bytes = r.end.sum_received.bytes;
    return {
      mbps: r.end.sum_received.bits_per_second / 1e6,
      cpuPerGb: pids.length ? cpu / (bytes / 1e9) : null,
    };
  }

  async function udpPps(target) {
    const r = await iperf(target, ['-u', '-l', '18', '-b', '0']);
    const s = r.end.sum;
    return (s.packets - s.lost_packets) / s.seconds;
  }

  function pingMs(target, interval, count) {
    const out = inNs(NS.a, ['ping', '-q', '-i', String(interval), '-c', String(count), '-W', '1', target]);
    const m = /= [\d.]+\/([\d.]+)\//.exec(out);
    return m ? Number(m[1]) : Number.NaN;
  }

  const daemonEnv = (side, extra = {}) => ({
    ...process.env,
    GREOIP_RUNTIME_DIR: join(work, `run-${side}`),
    ...extra,
  });

  /** A greoip daemon in each namespace (node flags `nodeArgs`, extra environment `env`). */
  async function startDaemons({ nodeArgs = [], env = {} } = {}) {
    const daemons = {};
    for (const side of ['a', 'b']) {
      mkdirSync(join(work, `run-${side}`), { recursive: true });
      daemons[side] = spawnNs(
        NS[side],
        [process.execPath, ...GREOIP_NODE_FLAGS, ...nodeArgs, GREOIP, 'daemon'],
        daemonEnv(side, env),
      );
    }
    for (let i = 0; i < 100 && !['a', 'b'].every((s) => daemons[s].log.includes('started')); i++)
      await sleep(100);
    return daemons;
  }

  const eoip = (side, argv) => inNs(NS[side], [process.execPath, EOIP, ...argv], { env: daemonEnv(side) });

  function tunnelDev(side, name, family, mtu) {
    const peer = side === 'a' ? 'b' : 'a';
    const under = family === 4 ? 'v4' : 'v6';
    eoip(side, [
      'add',
      'name',
      name,
      'tid',
      '7',
      'local',
      UNDER[side][under],
      'remote',
      UNDER[peer][under],
      'keepalive',
      'none',
      'mtu',
      String(mtu),
    ]);
    inNs(NS[side], [IP, 'addr', 'add', `${INNER[side]}/24`, 'dev', name]);
    inNs(NS[side], [IP, 'link', 'set', name, 'up']);
  }

  /**
   * Daemons on both ends with one EoIP (family 4) or EoIPv6 (6) tunnel at MTU 1500 between them;
   * `setMtu` changes the tunnel MTU on both ends, `close` removes it all.
   */
  async function greoip(family, daemonOptions) {
    const daemons = await startDaemons(daemonOptions);
    const name = family === 4 ? 'e4' : 'e6';
    for (const side of ['a', 'b']) tunnelDev(side, name, family, 1500);
    pingMs(INNER.b, 0.2, 3);
    return {
      pids: [daemons.a.pid, daemons.b.pid],
      daemons,
      setMtu(mtu) {
        for (const side of ['a', 'b']) eoip(side, ['set', 'name', name, 'mtu', String(mtu)]);
      },
      async close() {
        for (const side of ['a', 'b']) {
          eoip(side, ['del', 'name', name]);
          await stop(daemons[side]);
        }
      },
    };
  }

  /** eoip-fwd on both ends over taps named f0, as greoip() above. */
  async function forwarder(bin) {
    const fwd = {};
    for (const side of ['a', 'b']) {
      const peer = side === 'a' ? 'b' : 'a';
      inNs(NS[side], [IP, 'tuntap', 'add', 'name', 'f0', 'mode', 'tap']);
      fwd[side] = spawnNs(NS[side], [bin, 'f0', UNDER[side].v4, UNDER[peer].v4, '7']);
      inNs(NS[side], [IP, 'addr', 'add', `${INNER[side]}/24`, 'dev', 'f0']);
      inNs(NS[side], [IP, 'link', 'set', 'f0', 'up']);
    }
    await sleep(300);
    pingMs(INNER.b, 0.2, 3);
    return {
      pids: [fwd.a.pid, fwd.b.pid],
      setMtu(mtu) {
        for (const side of ['a', 'b']) inNs(NS[side], [IP, 'link', 'set', 'f0', 'mtu', String(mtu)]);
      },
      async close() {
        for (const side of ['a', 'b']) {
          await stop(fwd[side]);
          inNs(NS[side], [IP, 'link', 'del', 'f0']);
        }
      },
    };
  }

  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  return {
    NS,
    work,
    inNs,
    spawnNs,
    stop,
    cleanup,
    setup,
    buildForwarder,
    iperf,
    tcpMbps,
    udpPps,
    pingMs,
    daemonEnv,
    startDaemons,
    greoip,
    forwarder,
  };
}
