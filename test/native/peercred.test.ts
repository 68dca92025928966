/** peerCred over a real unix socket made by Node: the server sees the connecting process. */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { peerCred } from '../../src/native/index.ts';
import { requireRoot } from '../helpers.ts';

test.before(requireRoot);

/** Node keeps the fd on the handle; it is not public API. */
function fdOf(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('no fd on the socket handle');
  return fd;
}

test('peerCred: the accepted socket reports the client process (uid 0, this pid)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'greoip-peercred-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'control.sock');

  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer((socket) => {
      resolve(socket);
      server.close();
    });
    server.listen(path);
  });
  const client = net.connect(path);
  t.teardown(() => client.destroy());
  const socket = await accepted;
  t.teardown(() => socket.destroy());

  const cred = peerCred(fdOf(socket));
  t.deepEqual(cred, { pid: process.pid, uid: 0, gid: process.getgid!() });
  // The client sees the server, which is this process too.
  await new Promise<void>((resolve) =>
    client.connecting ? client.once('connect', () => resolve()) : resolve(),
  );
  t.is(peerCred(fdOf(client)).pid, process.pid);

  const error = t.throws(() => peerCred(0 + 1_000_000));
  t.is((error as NodeJS.ErrnoException).code, 'EBADF');
  t.is((error as NodeJS.ErrnoException).syscall, 'getsockopt');
});
