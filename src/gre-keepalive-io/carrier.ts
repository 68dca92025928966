/**
 * src/gre-keepalive-io/: the GRE keepalive's sockets and timers: the userland reflector and the active prober.
 * May import: src/gre-keepalive, src/native, src/netlink, src/wire.
 */
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
 *
 * What was taken is also written to a small file per device (under
 * /run/greoip/gre-keepalive/, named by the network namespace's cookie and the
 * ifindex), so a prober killed while a device was down can adopt it when it
 * starts again, and still put its addresses and routes back.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dumpAddressesRequest, parseAddress, readdRequest } from '../netlink/address.ts';
import { adminStateRequest, protoDownRequest } from '../netlink/gre.ts';
import type { NetlinkMessage } from '../netlink/message.ts';
import { dumpRoutesRequest, isConfiguredRouteVia, readdRouteRequest } from '../netlink/route-restore.ts';
import { NetlinkError, type RtnlTransport } from '../netlink/socket.ts';

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

/** Where a down device's record is kept: a directory, and this namespace's identity for the file names. */
export interface CarrierStore {
  dir: string;
  /** Network namespace cookie and boot id: a record from another namespace or boot is never adopted. */
  namespace: string;
}

interface Record_ {
  namespace: string;
  name: string;
  method: CarrierMethod;
  addresses: string[];
  routes: string[];
}

export class CarrierControl {
  private readonly saved = new Map<number, Saved>();
  private seq = 1;

  constructor(
    private readonly rtnl: RtnlTransport,
    private readonly store: CarrierStore | null = null,
  ) {}

  private recordPath(index: number): string {
    return join(this.store!.dir, `${this.store!.namespace}-${index}.json`);
  }

  /** Best effort: without the record a restarted prober brings the device up without its routes. */
  private remember(index: number, name: string, s: Saved): void {
    if (this.store === null) return;
    const record: Record_ = {
      namespace: this.store.namespace,
      name,
      method: s.method,
      addresses: s.addresses.map(toHex),
      routes: s.routes.map(toHex),
    };
    try {
      mkdirSync(this.store.dir, { recursive: true, mode: 0o700 });
      const path = this.recordPath(index);
      writeFileSync(`${path}.tmp`, JSON.stringify(record), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch {
      // A read-only or full /run: the device still goes down; only a crash would lose its routes.
    }
  }

  private forget(index: number): void {
    if (this.store !== null) rmSync(this.recordPath(index), { force: true });
  }

  /**
   * A device a previous prober took down and did not give back (it was killed): true when the record
   * names this device and it is still down, and then it is this control's to bring up. A stale record
   * (the device is up again, or another device has the index) is removed.
   */
  adopt(index: number, name: string, stillDown: boolean): boolean {
    if (this.store === null || this.saved.has(index)) return this.saved.has(index);
    let record: Record_;
    try {
      record = JSON.parse(readFileSync(this.recordPath(index), 'utf8')) as Record_;
    } catch {
      return false;
    }
    if (record.namespace !== this.store.namespace || record.name !== name || !stillDown) {
      this.forget(index);
      return false;
    }
    this.saved.set(index, {
      method: record.method,
      addresses: record.addresses.map(fromHex),
      routes: record.routes.map(fromHex),
    });
    return true;
  }

  /** How this control took the device's carrier, or null when it did not. */
  methodOf(index: number): CarrierMethod | null {
    return this.saved.get(index)?.method ?? null;
  }

  /** Devices this control has taken down (ifindex). */
  get downDevices(): number[] {
    return [...this.saved.keys()];
  }

  private request(message: (seq: number) => Buffer, dump = false): NetlinkMessage[] {
    const seq = this.seq++;
    return this.rtnl.request(message(seq), seq, dump);
  }

  down(index: number, name: string): CarrierChange {
    if (this.saved.has(index)) return { method: this.saved.get(index)!.method };
    try {
      this.request((seq) => protoDownRequest(seq, index, true));
      const s: Saved = { method: 'proto-down', addresses: [], routes: [] };
      this.saved.set(index, s);
      this.remember(index, name, s);
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
    // Recorded before the device goes down: a crash right after must not lose the routes.
    const s: Saved = { method: 'admin', addresses, routes };
    this.remember(index, name, s);
    try {
      this.request((seq) => adminStateRequest(seq, index, false));
    } catch (err) {
      this.forget(index);
      throw err;
    }
    this.saved.set(index, s);
    return { method: 'admin', saved: { addresses: addresses.length, routes: routes.length } };
  }

  /** Gives the carrier back; a device this control did not take down is left alone (null). */
  up(index: number): CarrierChange | null {
    const s = this.saved.get(index);
    if (s === undefined) return null;
    if (s.method === 'proto-down') {
      this.request((seq) => protoDownRequest(seq, index, false));
      this.saved.delete(index);
      this.forget(index);
      return { method: 'proto-down' };
    }
    this.request((seq) => adminStateRequest(seq, index, true));
    this.saved.delete(index);
    this.forget(index);
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

function toHex(msg: NetlinkMessage): string {
  const type = Buffer.alloc(2);
  type.writeUInt16LE(msg.type, 0);
  return Buffer.concat([type, msg.payload]).toString('hex');
}

function fromHex(text: string): NetlinkMessage {
  const b = Buffer.from(text, 'hex');
  return { type: b.readUInt16LE(0), flags: 0, seq: 0, pid: 0, payload: b.subarray(2) };
}

/** Dump messages are views into one datagram: keep a copy of what outlives it. */
function copy(msg: NetlinkMessage): NetlinkMessage {
  return { ...msg, payload: Buffer.from(msg.payload) };
}
