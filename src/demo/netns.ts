/** Small wrappers over iproute2 for the demo and the live tests: namespaces, veth, addresses. */
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';

const IP = '/usr/sbin/ip';

export function ip(args: string[], netns?: string): string {
  const argv = netns ? ['netns', 'exec', netns, IP, ...args] : args;
  return execFileSync(IP, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function netnsExists(name: string): boolean {
  return ip(['netns', 'list'])
    .split('\n')
    .some((line) => line.split(' ')[0] === name);
}

/** Runs a command inside a namespace and returns its stdout. */
export function inNetns(netns: string, argv: string[], input?: string, env?: NodeJS.ProcessEnv): string {
  return execFileSync(IP, ['netns', 'exec', netns, ...argv], {
    encoding: 'utf8',
    input,
    env: env ?? process.env,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export function spawnInNetns(netns: string, argv: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(IP, ['netns', 'exec', netns, ...argv], options);
}

export interface VethPair {
  a: { netns: string; dev: string; v4: string; v6: string };
  b: { netns: string; dev: string; v4: string; v6: string };
}

/** Two fresh namespaces joined by a veth pair, addressed with /24 and /64 prefixes, everything up. */
export function createPair(pair: VethPair): void {
  for (const side of [pair.a, pair.b]) {
    if (netnsExists(side.netns)) throw new Error(`network namespace ${side.netns} already exists`);
  }
  ip(['netns', 'add', pair.a.netns]);
  try {
    ip(['netns', 'add', pair.b.netns]);
    ip([
      'link',
      'add',
      pair.a.dev,
      'netns',
      pair.a.netns,
      'type',
      'veth',
      'peer',
      'name',
      pair.b.dev,
      'netns',
      pair.b.netns,
    ]);
    for (const side of [pair.a, pair.b]) {
      ip(['link', 'set', 'lo', 'up'], side.netns);
      ip(['addr', 'add', `${side.v4}/24`, 'dev', side.dev], side.netns);
      ip(['addr', 'add', `${side.v6}/64`, 'dev', side.dev, 'nodad'], side.netns);
      ip(['link', 'set', side.dev, 'up'], side.netns);
    }
  } catch (err) {
    destroyPair(pair);
    throw err;
  }
}

/** Deleting a namespace removes every interface in it (veth, taps). Never throws. */
export function destroyPair(pair: VethPair): void {
  for (const side of [pair.a, pair.b]) {
    try {
      if (netnsExists(side.netns)) ip(['netns', 'del', side.netns]);
    } catch {
      // already gone
    }
  }
}
