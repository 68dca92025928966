/**
 * Helpers for the native tests: throwaway network namespaces (greoip-t-<random>), veth links between them,
 * and an agent process inside a namespace that drives the native layer (fixtures/agent.ts).
 * Every packet the tests send stays inside namespaces made here.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const AGENT = fileURLToPath(new URL('./fixtures/agent.ts', import.meta.url));

/** The native tests need root: they fail (never skip) without it. */
export function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('test/native needs root (network namespaces, tap devices, raw sockets); run it as root');
  }
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface LinkInfo {
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address: string;
}

export class Netns {
  private constructor(readonly name: string) {}

  static create(): Netns {
    const ns = new Netns(`greoip-t-${randomBytes(4).toString('hex')}`);
    ip('netns', 'add', ns.name);
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
      execFileSync('ip', ['netns', 'exec', this.name, 'cat', '/proc/net/snmp', '/proc/net/snmp6'], {
        encoding: 'utf8',
      }),
      group,
      counter,
    );
  }

  delete(): void {
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

/** Joins a (vA) and b (vB) with a veth pair, addresses, and permanent neighbours (no ARP/ND delay). */
export function veth(a: Netns, b: Netns, v4: [string, string], v6: [string, string]): void {
  a.ip(
    'link',
    'add',
    'vA',
    'address',
    MAC_A,
    'type',
    'veth',
    'peer',
    'name',
    'vB',
    'address',
    MAC_B,
    'netns',
    b.name,
  );
  for (const [ns, dev, mine, peer, peerMac] of [
    [a, 'vA', 0, 1, MAC_B],
    [b, 'vB', 1, 0, MAC_A],
  ] as const) {
    ns.ip('addr', 'add', `${v4[mine]}/24`, 'dev', dev);
    ns.ip('-6', 'addr', 'add', `${v6[mine]}/64`, 'dev', dev, 'nodad');
    ns.ip('link', 'set', dev, 'up');
    ns.ip('neigh', 'replace', v4[peer], 'lladdr', peerMac, 'dev', dev, 'nud', 'permanent');
    ns.ip('-6', 'neigh', 'replace', v6[peer], 'lladdr', peerMac, 'dev', dev, 'nud', 'permanent');
  }
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

/** A fixtures/agent.ts process inside a namespace. */
export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private exited = false;

  private constructor(private readonly child: ChildProcess) {}

  static start(ns: Netns): Promise<Agent> {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', AGENT], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const agent = new Agent(child);
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

export function hex(text: string): string {
  return text.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}

/** 10.1.2.3 -> "0a010203"; IPv6 literals through URL parsing is overkill, so tests give IPv6 as hex. */
export function ipv4Hex(address: string): string {
  return Buffer.from(address.split('.').map(Number)).toString('hex');
}
