/**
 * Taking a probed gre device's carrier away when its peer is gone, and giving
 * it back, so the routing stack and routing daemons see the tunnel down:
 *
 *   proto-down  IFLA_PROTO_DOWN, where the kernel supports it on the device:
 *               the link stays administratively up, its carrier goes off.
 *   admin       otherwise: administrative down, then up. The kernel removes
 *               the link's routes (and, without keep_addr_on_down, its IPv6
 *               addresses) when it goes down; they are read just before and
 *               put back after the link is up again. What the kernel kept is
 *               left alone (re-adding it is EEXIST).
 */
import { NetlinkError, type RtnlTransport } from '../backend/rtnl.ts';
import { dumpAddressesRequest, parseAddress, readdRequest } from '../netlink/address.ts';
import { adminStateRequest, protoDownRequest } from '../netlink/gre.ts';
import type { NetlinkMessage } from '../netlink/message.ts';
import { dumpRoutesRequest, isConfiguredRouteVia, readdRouteRequest } from '../netlink/route.ts';

export type CarrierMethod = 'proto-down' | 'admin';

const EEXIST = 17;
const EOPNOTSUPP = 95;

export interface CarrierChange {
  method: CarrierMethod;
  /** admin: addresses and routes read before going down. */
  saved?: { addresses: number; routes: number };
  /** admin, going up: how many of them had to be put back (the rest the kernel kept). */
  restored?: { addresses: number; routes: number };
  /** admin, going up: what could not be put back, with the kernel's reason. */
  failed?: string[];
}

interface Saved {
  method: CarrierMethod;
  addresses: NetlinkMessage[];
  routes: NetlinkMessage[];
}

export class CarrierControl {
  private readonly saved = new Map<number, Saved>();
  private seq = 1;

  constructor(private readonly rtnl: RtnlTransport) {}

  /** Devices this control has taken down (ifindex). */
  get downDevices(): number[] {
    return [...this.saved.keys()];
  }

  private request(message: (seq: number) => Buffer, dump = false): NetlinkMessage[] {
    const seq = this.seq++;
    return this.rtnl.request(message(seq), seq, dump);
  }

  down(index: number): CarrierChange {
    if (this.saved.has(index)) return { method: this.saved.get(index)!.method };
    try {
      this.request((seq) => protoDownRequest(seq, index, true));
      this.saved.set(index, { method: 'proto-down', addresses: [], routes: [] });
      return { method: 'proto-down' };
    } catch (err) {
      if (!(err instanceof NetlinkError) || err.errno !== EOPNOTSUPP) throw err;
    }
    const addresses: NetlinkMessage[] = [];
    const routes: NetlinkMessage[] = [];
    for (const family of [4, 6] as const) {
      for (const msg of this.request((seq) => dumpAddressesRequest(seq, family), true))
        if (parseAddress(msg)?.ifindex === index) addresses.push(copy(msg));
      for (const msg of this.request((seq) => dumpRoutesRequest(seq, family), true))
        if (isConfiguredRouteVia(msg, index)) routes.push(copy(msg));
    }
    this.request((seq) => adminStateRequest(seq, index, false));
    this.saved.set(index, { method: 'admin', addresses, routes });
    return { method: 'admin', saved: { addresses: addresses.length, routes: routes.length } };
  }

  /** Gives the carrier back; a device this control did not take down is left alone (null). */
  up(index: number): CarrierChange | null {
    const s = this.saved.get(index);
    if (s === undefined) return null;
    if (s.method === 'proto-down') {
      this.request((seq) => protoDownRequest(seq, index, false));
      this.saved.delete(index);
      return { method: 'proto-down' };
    }
    this.request((seq) => adminStateRequest(seq, index, true));
    this.saved.delete(index);
    const failed: string[] = [];
    const put = (msg: NetlinkMessage, build: (m: NetlinkMessage, seq: number) => Buffer, what: string) => {
      try {
        this.request((seq) => build(msg, seq));
        return 1;
      } catch (err) {
        if (err instanceof NetlinkError && err.errno === EEXIST) return 0;
        failed.push(`${what}: ${(err as Error).message}`);
        return 0;
      }
    };
    // Addresses first: a route through a gateway needs the gateway's prefix on the link.
    let addresses = 0;
    for (const a of s.addresses) addresses += put(a, readdRequest, 'address');
    let routes = 0;
    for (const r of s.routes) routes += put(r, readdRouteRequest, 'route');
    return { method: 'admin', restored: { addresses, routes }, failed };
  }
}

/** Dump messages are views into one datagram: keep a copy of what outlives it. */
function copy(msg: NetlinkMessage): NetlinkMessage {
  return { ...msg, payload: Buffer.from(msg.payload) };
}
