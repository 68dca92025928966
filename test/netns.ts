/**
 * Throwaway network namespaces for the root-only tests: namespaces with unique names, veth pairs between
 * them with IPv4 and IPv6 addresses, and agent processes inside them (native/fixtures/agent.ts driving the
 * addon). Every packet a test sends stays inside namespaces made here. Whatever is made here is removed by
 * t.teardown (processes killed, namespace deleted), so a failed assertion cleans up too.
 * May import node, ava and test/helpers.ts; nothing from src/.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { requireRoot } from './helpers.ts';

const IP = '/usr/sbin/ip';
const AGENT = fileURLToPath(new URL('./native/fixtures/agent.ts', import.meta.url));

export function ip(...args: string[]): string {
  return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface LinkInfo {
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address: string;
}

/** A network namespace named greoip-t-<tag>-<random>, loopback up, removed when the test ends. */
export class Netns {
  private constructor(readonly name: string) {}

  static create(t: ExecutionContext, tag = 'ns'): Netns {
    requireRoot();
    const ns = new Netns(`greoip-t-${tag}-${randomBytes(4).toString('hex')}`);
    ip('netns', 'add', ns.name);
    t.teardown(() => ns.delete());
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  ip(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }

  link(dev: string): LinkInfo {
    const [info] = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as LinkInfo[];
    if (info === undefined) throw new Error(`no link ${dev} in ${this.name}`);
    return info;
  }

  hasLink(dev: string): boolean {
    return (JSON.parse(this.ip('-j', 'link', 'show')) as LinkInfo[]).some((l) => l.ifname === dev);
  }

  /** A counter from /proc/net/snmp ("Ip", "ReasmOKs") or /proc/net/snmp6 ("Ip6ReasmOKs"). */
  snmp(group: string, counter?: string): number {
    return readSnmp(
      execFileSync(IP, ['netns', 'exec', this.name, 'cat', '/proc/net/snmp', '/proc/net/snmp6'], {
        encoding: 'utf8',
      }),
      group,
      counter,
    );
  }

  /**
   * Kills every process inside (agents, daemons, captures, and what the tests did not start themselves,
   * such as a daemon started by `eoip add`), then deletes the namespace with its interfaces. Never throws.
   */
  delete(): void {
    try {
      for (const pid of ip('netns', 'pids', this.name).split(/\s+/).filter(Boolean)) {
        process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // namespace or processes already gone
    }
    try {
      ip('netns', 'delete', this.name);
    } catch {
      // already gone
    }
  }
}

export function readSnmp(text: string, group: string, counter?: string): number {
  const lines = text.split('\n');
  if (counter === undefined) {
    const line = lines.find((l) => l.split(/\s+/)[0] === group);
    if (line === undefined) throw new Error(`no snmp6 counter ${group}`);
    return Number(line.split(/\s+/)[1]);
  }
  const rows = lines.filter((l) => l.startsWith(`${group}:`));
  const names = rows[0]?.split(/\s+/) ?? [];
  const values = rows[1]?.split(/\s+/) ?? [];
  const index = names.indexOf(counter);
  if (index < 0) throw new Error(`no snmp counter ${group} ${counter}`);
  return Number(values[index]);
}

export const MAC_A = '02:00:5e:00:0a:01';
export const MAC_B = '02:00:5e:00:0b:01';

export interface VethOptions {
  /** Addresses of side a and side b, with /24 and /64 prefixes. */
  v4: [string, string];
  v6: [string, string];
  /** Interface names; default vA and vB. */
  dev?: [string, string];
  /** Fixed MACs (MAC_A, MAC_B) and permanent neighbour entries, so no packet waits on ARP or ND. */
  staticNeighbours?: boolean;
}

/** One end of a veth pair: its namespace, interface and addresses. */
export interface VethEnd {
  ns: Netns;
  /** The namespace's name (ns.name). */
  netns: string;
  dev: string;
  v4: string;
  v6: string;
}

export interface VethPair {
  a: VethEnd;
  b: VethEnd;
}

/** Joins a and b with a veth pair, addressed and up; deleting either namespace removes it. */
export function veth(a: Netns, b: Netns, options: VethOptions): VethPair {
  const [devA, devB] = options.dev ?? ['vA', 'vB'];
  const macs = (mac: string) => (options.staticNeighbours ? ['address', mac] : []);
  a.ip(
    'link',
    'add',
    devA,
    ...macs(MAC_A),
    'type',
    'veth',
    'peer',
    'name',
    devB,
    ...macs(MAC_B),
    'netns',
    b.name,
  );
  const pair: VethPair = {
    a: { ns: a, netns: a.name, dev: devA, v4: options.v4[0], v6: options.v6[0] },
    b: { ns: b, netns: b.name, dev: devB, v4: options.v4[1], v6: options.v6[1] },
  };
  for (const [me, peer, peerMac] of [
    [pair.a, pair.b, MAC_B],
    [pair.b, pair.a, MAC_A],
  ] as const) {
    me.ns.ip('addr', 'add', `${me.v4}/24`, 'dev', me.dev);
    me.ns.ip('-6', 'addr', 'add', `${me.v6}/64`, 'dev', me.dev, 'nodad');
    me.ns.ip('link', 'set', me.dev, 'up');
    if (options.staticNeighbours) {
      me.ns.ip('neigh', 'replace', peer.v4, 'lladdr', peerMac, 'dev', me.dev, 'nud', 'permanent');
      me.ns.ip('-6', 'neigh', 'replace', peer.v6, 'lladdr', peerMac, 'dev', me.dev, 'nud', 'permanent');
    }
  }
  return pair;
}

/** Two fresh namespaces (greoip-t-<tag>-a-…, -b-…) joined by veth: the usual two-host test network. */
export function vethPair(t: ExecutionContext, tag: string, options: VethOptions): VethPair {
  return veth(Netns.create(t, `${tag}-a`), Netns.create(t, `${tag}-b`), options);
}

export interface AgentFailure {
  message: string;
  code?: string;
  syscall?: string;
}

export class AgentError extends Error {
  readonly code: string | undefined;
  readonly syscall: string | undefined;
  constructor(failure: AgentFailure) {
    super(failure.message);
    this.code = failure.code;
    this.syscall = failure.syscall;
  }
}

/** A native/fixtures/agent.ts process inside a namespace, stopped when the test ends. */
export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private exited = false;

  private constructor(private readonly child: ChildProcess) {}

  static start(t: ExecutionContext, ns: Netns): Promise<Agent> {
    const child = spawn(IP, ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', AGENT], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const agent = new Agent(child);
    t.teardown(() => agent.stop());
    return new Promise((resolve, reject) => {
      agent.pending.set(0, { resolve: () => resolve(agent), reject });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        agent.stderr += chunk;
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const reply = JSON.parse(line) as { id: number; result?: unknown; error?: AgentFailure };
        const waiter = agent.pending.get(reply.id);
        agent.pending.delete(reply.id);
        if (reply.error) waiter?.reject(new AgentError(reply.error));
        else waiter?.resolve(reply.result);
      });
      child.on('exit', (code, signal) => {
        agent.exited = true;
        const error = new Error(`agent in ${ns.name} exited (${code ?? signal}): ${agent.stderr}`);
        for (const waiter of agent.pending.values()) waiter.reject(error);
        agent.pending.clear();
      });
    });
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`agent exited: ${this.stderr}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
