/**
 * A synchronous rtnetlink client over the addon's NETLINK_ROUTE socket: send
 * one request, read until its ack or the end of its dump. Link changes are a
 * control-plane affair (a few per command), so blocking for the kernel's
 * answer (microseconds) keeps callers simple and ordered.
 */
import { close, netlink } from '../native/index.ts';
import { linkErrorMessage } from './link.ts';
import {
  type NetlinkMessage,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAck,
  parseMessages,
} from './message.ts';

/** The kernel answers in microseconds; this only bounds a wedged socket. */
const REPLY_TIMEOUT_MS = 5000;

/** A request the kernel refused: errno name and number, and its extended-ack text when it gave one. */
export class NetlinkError extends Error {
  override name = 'NetlinkError';
  constructor(
    readonly errno: number,
    readonly code: string,
    /** The kernel's extack message, e.g. "IFLA_GRE_IKEY: tunnel id 70000 out of range 0-65535". */
    readonly extack: string | null,
  ) {
    super(extack ?? `${code} (errno ${errno})`);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  12: 'ENOMEM',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  34: 'ERANGE',
  95: 'EOPNOTSUPP',
  105: 'ENOBUFS',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** What the backend needs of the kernel: one request in, its reply messages out. */
export interface RtnlTransport {
  /** Sends a request built with seq `seq`; resolves with its data messages (dump parts or the reply). */
  request(message: Buffer, seq: number, dump: boolean): NetlinkMessage[];
  close(): void;
}

export class RtnlSocket implements RtnlTransport {
  private fd: number;

  constructor() {
    this.fd = netlink.open();
  }

  request(message: Buffer, seq: number, dump: boolean): NetlinkMessage[] {
    netlink.send(this.fd, message);
    const out: NetlinkMessage[] = [];
    for (;;) {
      const datagram = netlink.recv(this.fd, REPLY_TIMEOUT_MS);
      if (datagram === null) throw new NetlinkError(110, 'ETIMEDOUT', 'no reply from the kernel in 5 s');
      for (const msg of parseMessages(datagram)) {
        // Replies to an earlier, abandoned request (a timeout) are not ours.
        if (msg.seq !== seq) continue;
        if (msg.type === NLMSG_ERROR) {
          const ack = parseAck(msg);
          if (ack.errno !== 0)
            throw new NetlinkError(
              ack.errno,
              errnoName(ack.errno),
              linkErrorMessage(message, msg, ack.message),
            );
          return out;
        }
        if (msg.type === NLMSG_DONE) return out;
        out.push(msg);
        // A non-dump request without NLM_F_ACK answers with one message.
        if (!dump && !(msg.flags & NLM_F_MULTI)) return out;
      }
    }
  }

  close(): void {
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
  }
}
