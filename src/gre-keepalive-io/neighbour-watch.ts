/**
 * Keeps a NeighbourView (src/gre-keepalive/neighbours.ts) current: every
 * refresh dumps the links, addresses and neighbour tables of this network
 * namespace over rtnetlink. A dump of a few hundred entries takes the kernel
 * microseconds; a failed refresh keeps the previous facts and is counted.
 */

import { type NeighbourFacts, NeighbourView, type OnLinkPrefix } from '../gre-keepalive/neighbours.ts';
import { dumpAddressesRequest, parseAddress } from '../netlink/address.ts';
import { getLinkRequest, parseLink } from '../netlink/link.ts';
import { dumpNeighboursRequest, NUD_RESOLVED, parseNeighbour } from '../netlink/neighbour.ts';
import { RtnlSocket } from '../netlink/socket.ts';

/** Links whose neighbours need no resolution (gre, ip6gre, loopback, point-to-point). */
const IFF_LOOPBACK = 0x8;
const IFF_NOARP = 0x80;
export const NEIGHBOUR_REFRESH_MS = 500;

export class NeighbourWatch {
  readonly view = new NeighbourView();
  refreshes = 0;
  refreshErrors = 0;
  private rtnl: RtnlSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private seq = 1;

  /** Reads the facts once (throws when rtnetlink cannot be opened), then every `intervalMs`. */
  start(intervalMs = NEIGHBOUR_REFRESH_MS): void {
    this.rtnl = new RtnlSocket();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  refresh(): void {
    if (this.rtnl === null) return;
    try {
      this.view.update(this.read(this.rtnl));
      this.refreshes++;
    } catch {
      this.refreshErrors++;
    }
  }

  private read(rtnl: RtnlSocket): NeighbourFacts {
    const resolves = new Set<number>();
    let seq = this.seq++;
    for (const msg of rtnl.request(getLinkRequest(seq, null), seq, true)) {
      const link = parseLink(msg);
      if ((link.flags & (IFF_NOARP | IFF_LOOPBACK)) === 0) resolves.add(link.index);
    }
    const onLink: OnLinkPrefix[] = [];
    const resolved: NeighbourFacts['resolved'] = [];
    for (const family of [4, 6] as const) {
      seq = this.seq++;
      for (const msg of rtnl.request(dumpAddressesRequest(seq, family), seq, true)) {
        const a = parseAddress(msg);
        if (a !== null && resolves.has(a.ifindex))
          onLink.push({ family, addr: a.address, length: a.prefixLength });
      }
      seq = this.seq++;
      for (const msg of rtnl.request(dumpNeighboursRequest(seq, family), seq, true)) {
        const n = parseNeighbour(msg);
        if (n !== null && (n.state & NUD_RESOLVED) !== 0) resolved.push({ family, addr: n.addr });
      }
    }
    return { onLink, resolved };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.rtnl?.close();
    this.rtnl = null;
  }
}
