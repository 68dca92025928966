/**
 * Where a daemon keeps its control socket and state. A daemon serves the
 * network namespace it runs in, and `ip netns exec` shares /run between
 * namespaces, so the directory is keyed by the namespace's identity (the
 * inode of /proc/self/ns/net): daemons in two namespaces never collide.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

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
