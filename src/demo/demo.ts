/**
 * src/demo/: `greoip demo`: two namespaces, a daemon in each, EoIP and EoIPv6 between them.
 * May import: nothing else of greoip (it drives the built CLI).
 */
/**
 * `greoip demo`: two network namespaces joined by veth, a greoip daemon in
 * each, an EoIP tunnel and an EoIPv6 tunnel between them, pings across both,
 * live counters and keepalive state, and everything removed on exit.
 *
 * Addresses are documentation prefixes and live only inside the namespaces
 * the demo creates: underlay 192.0.2.0/24 and 2001:db8:d0::/64, EoIP inner
 * 198.51.100.0/24, EoIPv6 inner 203.0.113.0/24.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPair, destroyPair, inNetns, ip, spawnInNetns, type VethPair } from './netns.ts';

export interface DemoOptions {
  /** Seconds to show live counters before cleaning up. */
  duration: number;
  /** The CLI entry points (dist/cli/*.js) the demo runs inside the namespaces. */
  greoip: string;
  eoip: string;
  out: (text: string) => void;
}

/** Namespace names carry the pid, so two demos (or a demo and a test) never share a namespace. */
const RUN = process.pid.toString(36);
const PAIR: VethPair = {
  a: { netns: `greoip-demo-a-${RUN}`, dev: 'veth-demo-a', v4: '192.0.2.1', v6: '2001:db8:d0::1' },
  b: { netns: `greoip-demo-b-${RUN}`, dev: 'veth-demo-b', v4: '192.0.2.2', v6: '2001:db8:d0::2' },
};

const TUNNELS = [
  {
    name: 'eoip-demo',
    tid: '100',
    inner: ['198.51.100.1', '198.51.100.2'],
    under: (s: typeof PAIR.a) => s.v4,
  },
  {
    name: 'eoip6-demo',
    tid: '1234',
    inner: ['203.0.113.1', '203.0.113.2'],
    under: (s: typeof PAIR.a) => s.v6,
  },
];

export async function runDemo(opts: DemoOptions): Promise<void> {
  const runtime = mkdtempSync(join(tmpdir(), 'greoip-demo-'));
  const daemons: ChildProcess[] = [];
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const d of daemons) d.kill('SIGTERM');
    destroyPair(PAIR);
    rmSync(runtime, { recursive: true, force: true });
  };
  const onSignal = () => {
    opts.out('\ninterrupted: removing the demo namespaces\n');
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    step(opts, `creating namespaces ${PAIR.a.netns} and ${PAIR.b.netns}, joined by veth`);
    createPair(PAIR);
    const env = { ...process.env, GREOIP_RUNTIME_DIR: runtime };
    for (const side of [PAIR.a, PAIR.b]) {
      const d = spawnInNetns(side.netns, [process.execPath, ...process.execArgv, opts.greoip, 'daemon'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      d.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().trimEnd().split('\n')) opts.out(`  [${side.netns}] ${line}\n`);
      });
      daemons.push(d);
    }
    await waitForDaemons(env, opts);
    for (const t of TUNNELS) {
      for (const [me, peer, i] of [
        [PAIR.a, PAIR.b, 0],
        [PAIR.b, PAIR.a, 1],
      ] as const) {
        const args = [
          'add',
          'name',
          t.name,
          'tid',
          t.tid,
          'local',
          t.under(me),
          'remote',
          t.under(peer),
          'keepalive',
          '2,3',
        ];
        step(opts, `${me.netns}: eoip ${args.join(' ')}`);
        inNetns(me.netns, [process.execPath, ...process.execArgv, opts.eoip, ...args], undefined, env);
        ip(['addr', 'add', `${t.inner[i]}/24`, 'dev', t.name], me.netns);
        ip(['link', 'set', t.name, 'up'], me.netns);
      }
    }
    for (const t of TUNNELS) {
      step(opts, `${PAIR.a.netns}: ping ${t.inner[1]} through ${t.name}`);
      opts.out(indent(inNetns(PAIR.a.netns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', t.inner[1]!])));
    }
    const rounds = Math.max(1, Math.round(opts.duration / 2));
    for (let r = 0; r < rounds; r++) {
      await sleep(2000);
      step(opts, `live state (${(r + 1) * 2} s)`);
      for (const side of [PAIR.a, PAIR.b]) {
        opts.out(`  ${side.netns}:\n`);
        opts.out(
          indent(
            inNetns(side.netns, [process.execPath, ...process.execArgv, opts.eoip, 'list'], undefined, env),
            4,
          ),
        );
      }
    }
    step(opts, 'done: removing namespaces, daemons and tunnels');
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function waitForDaemons(env: NodeJS.ProcessEnv, opts: DemoOptions): Promise<void> {
  for (const side of [PAIR.a, PAIR.b]) {
    for (let i = 0; ; i++) {
      try {
        inNetns(side.netns, [process.execPath, ...process.execArgv, opts.eoip, 'list'], undefined, env);
        break;
      } catch (err) {
        if (i > 100) throw new Error(`the daemon in ${side.netns} did not start: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  }
}

function step(opts: DemoOptions, text: string): void {
  opts.out(`\n==> ${text}\n`);
}

function indent(text: string, n = 2): string {
  const pad = ' '.repeat(n);
  return `${text
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n')}\n`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
