/**
 * Where a daemon keeps its control socket and state, and which network
 * namespace it serves. `ip netns exec` shares /run between namespaces, so the
 * directory is keyed by the namespace's inode (daemons in two live namespaces
 * never collide). An inode is reused as soon as its namespace is gone, so the
 * state file also records the namespace's cookie and the boot: a state file
 * whose identity differs was left by another namespace and is never adopted.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { netnsCookie } from '../native/index.ts';

export const DEFAULT_RUNTIME_ROOT = '/run/greoip';

export interface RuntimePaths {
  dir: string;
  socket: string;
  state: string;
  pid: string;
}

/** Identity of the current network namespace, e.g. "net-4026531840". */
export function netnsId(): string {
  return `net-${statSync('/proc/self/ns/net').ino}`;
}

/** GREOIP_RUNTIME_DIR overrides the root (tests, unusual systems). */
export function runtimePaths(root = process.env.GREOIP_RUNTIME_DIR ?? DEFAULT_RUNTIME_ROOT): RuntimePaths {
  const dir = join(root, netnsId());
  return {
    dir,
    socket: join(dir, 'control.sock'),
    state: join(dir, 'state.json'),
    pid: join(dir, 'daemon.pid'),
  };
}

/** A network namespace for as long as the machine runs: its cookie is never reused within one boot. */
export interface NamespaceIdentity {
  /** SO_NETNS_COOKIE, in decimal. */
  cookie: string;
  /** /proc/sys/kernel/random/boot_id: cookies restart with each boot. */
  bootId: string;
}

export function namespaceIdentity(): NamespaceIdentity {
  return {
    cookie: netnsCookie().toString(),
    bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
  };
}

export function sameNamespace(a: NamespaceIdentity, b: NamespaceIdentity): boolean {
  return a.cookie === b.cookie && a.bootId === b.bootId;
}
