/**
 * src/daemon/: `greoip daemon`: control socket and protocol, plans and their atomic apply, state file, runtime paths.
 * May import: src/backend, src/config, src/eoip, src/log, src/native, src/netlink.
 */
/** The CLI side of the control socket: one request, one reply, and errors worded for the user. */
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import type { Reply, Request } from './protocol.ts';

/** The daemon could not be asked: the message says why in the user's terms. */
export class ClientError extends Error {
  override name = 'ClientError';
}

/** Nothing listens on the socket: no daemon runs in this network namespace. */
export class NoDaemonError extends ClientError {
  override name = 'NoDaemonError';
}

/** Sends one request; rejects with NoDaemonError when nothing listens on `socket`, ClientError otherwise. */
export function request(socket: string, req: Request, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buffered = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      fn();
    };
    const lost = () =>
      new ClientError(
        `the daemon closed the connection without a reply (it may be out of file descriptors; see ${dirname(socket)}/daemon.log or its journal)`,
      );
    const timer = setTimeout(() => {
      settle(() =>
        reject(
          new ClientError(`no reply from the daemon within ${timeoutMs / 1000} s (it may still be working)`),
        ),
      );
    }, timeoutMs);
    let connected = false;
    conn.setEncoding('utf8');
    conn.on('connect', () => {
      connected = true;
      conn.write(`${JSON.stringify(req)}\n`);
    });
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      settle(() => {
        try {
          resolve(JSON.parse(buffered.slice(0, nl)) as Reply);
        } catch {
          reject(new ClientError('the daemon sent a reply that is not JSON'));
        }
      });
    });
    conn.on('close', () => settle(() => reject(lost())));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      settle(() => {
        if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
          reject(new NoDaemonError(`no greoip daemon is running in this network namespace (${socket})`));
        } else if (err.code === 'EACCES' || err.code === 'EPERM') {
          reject(
            new ClientError(`permission denied: the control socket ${socket} is root-only (run as root)`),
          );
        } else if (connected || err.code === 'EPIPE' || err.code === 'ECONNRESET') {
          reject(lost());
        } else {
          reject(new ClientError(`cannot reach the daemon at ${socket}: ${err.code ?? err.message}`));
        }
      });
    });
  });
}
