/**
 * Removing an interface the daemon can prove it made: the interface of that
 * name must still have the ifindex recorded when it was made (ifindexes are
 * allocated cyclically per namespace, so a re-created interface of the same
 * name has another). Works for any kind (tap, eoip link) over rtnetlink.
 */

import { deleteLinkRequest, getLinkRequest, parseLink } from '../netlink/link.ts';
import type { NetlinkError } from '../netlink/socket.ts';
import { RtnlSocket } from '../netlink/socket.ts';

export type Removal = 'removed' | 'absent' | 'not-ours';

export class InterfaceRemover {
  private rtnl: RtnlSocket | null = null;
  private seq = Math.floor(Math.random() * 0x7fffffff);

  private socket(): RtnlSocket {
    this.rtnl ??= new RtnlSocket();
    return this.rtnl;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  /** The ifindex of the interface named `name`, or null. */
  indexOf(name: string): number | null {
    const seq = this.nextSeq();
    try {
      const [msg] = this.socket().request(getLinkRequest(seq, name), seq, false);
      return msg === undefined ? null : parseLink(msg).index;
    } catch (err) {
      if ((err as NetlinkError).code === 'ENODEV') return null;
      throw err;
    }
  }

  /** Deletes the interface `name` if it still has ifindex `ifindex` (null: it cannot be proven ours). */
  remove(name: string, ifindex: number | null): Removal {
    const index = this.indexOf(name);
    if (index === null) return 'absent';
    if (ifindex === null || index !== ifindex) return 'not-ours';
    const seq = this.nextSeq();
    try {
      this.socket().request(deleteLinkRequest(seq, index), seq, false);
    } catch (err) {
      if ((err as NetlinkError).code === 'ENODEV') return 'absent';
      throw err;
    }
    return 'removed';
  }

  close(): void {
    this.rtnl?.close();
    this.rtnl = null;
  }
}
