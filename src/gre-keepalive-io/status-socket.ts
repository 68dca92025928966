/**
 * Where `gre-keepalive status` finds the probes running in its network
 * namespace: each prober listens on an abstract unix socket named
 * "greoip-gre-keepalive/<pid>". Abstract sockets belong to the network
 * namespace (any shell in it can reach them, no other can) and vanish with
 * the process. The socket only answers with the status, one JSON line, to
 * root or the prober's own user.
 */
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { peerUid } from '../native/peer.ts';

export const STATUS_PREFIX = 'greoip-gre-keepalive/';

export function statusSocketName(pid = process.pid): string {
  return `\0${STATUS_PREFIX}${pid}`;
}

/** Serves `status()` to every connection; resolves once listening. */
export function serveStatus(status: () => unknown): Promise<Server> {
  const server = createServer((conn) => {
    const uid = peerUid(conn);
    if (uid !== 0 && uid !== process.getuid?.()) {
      conn.end(`${JSON.stringify({ error: 'permission denied: only root or the prober user' })}\n`);
      return;
    }
    conn.end(`${JSON.stringify(status())}\n`);
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(statusSocketName(), () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** The pids of the probers listening in this network namespace (from /proc/net/unix, which is per namespace). */
export function listProbers(): number[] {
  const pids: number[] = [];
  // Abstract names show as "@name"; libuv binds them padded with NULs, shown as more "@".
  const pattern = new RegExp(`^@${STATUS_PREFIX.replace('/', '\\/')}(\\d+)@*$`);
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n')) {
    const m = pattern.exec(line.trim().split(/\s+/)[7] ?? '');
    const pid = m ? Number(m[1]) : 0;
    if (pid > 0 && !pids.includes(pid)) pids.push(pid);
  }
  return pids;
}

/** Asks one prober for its status (rejects after `timeoutMs`). */
export function queryProber(pid: number, timeoutMs = 2000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let data = '';
    const conn = createConnection(statusSocketName(pid));
    conn.setTimeout(timeoutMs, () =>
      conn.destroy(new Error(`prober ${pid} did not answer in ${timeoutMs} ms`)),
    );
    conn.on('data', (chunk) => (data += chunk));
    conn.on('error', reject);
    conn.on('end', () => {
      try {
        resolve(JSON.parse(data));
      } catch {
        reject(new Error(`prober ${pid} answered something that is not JSON`));
      }
    });
  });
}
