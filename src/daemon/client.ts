/** The CLI side of the control socket: one request, one reply. */
import { createConnection } from 'node:net';
import type { Reply, Request } from './protocol.ts';

export class NoDaemonError extends Error {
  override name = 'NoDaemonError';
}

/** Sends one request; rejects with NoDaemonError when nothing listens on `socket`. */
export function request(socket: string, req: Request, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buffered = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no reply from the daemon within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      conn.end();
      try {
        resolve(JSON.parse(buffered.slice(0, nl)) as Reply);
      } catch {
        reject(new Error('the daemon sent a reply that is not JSON'));
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new NoDaemonError(`no greoip daemon is running in this network namespace (${socket})`));
      } else {
        reject(err);
      }
    });
  });
}
