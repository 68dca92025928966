/** Who is on the other end of a control connection (SO_PEERCRED, through the native addon). */
import type { Socket } from 'node:net';
import { peerCred } from './index.ts';

/** The peer's uid, or -1 when it cannot be told (then nothing privileged is allowed). */
export function peerUid(conn: Socket): number {
  // libuv keeps the descriptor on the handle; Node has no public API for peer credentials.
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return -1;
  try {
    return peerCred(fd).uid;
  } catch {
    return -1;
  }
}
