/**
 * What `gre-keepalive probe` refuses before it sends anything, read from the kernel's own answer to
 * RTM_GETLINK (here built byte for byte as the kernel writes it and handed over by a stand-in for the
 * rtnetlink socket): a device that is missing, not a gre/ip6gre link, without a remote, or numbering
 * its packets. No socket is opened for them.
 */
import test from 'ava';
import { Prober, ProbeTargetError } from '../../src/gre-keepalive-io/prober.ts';
import { IFINFOMSG_LEN, IFLA, IFLA_INFO_DATA, IFLA_INFO_KIND, RTM_NEWLINK } from '../../src/netlink/link.ts';
import { MessageWriter, parseMessages } from '../../src/netlink/message.ts';
import { NetlinkError, type RtnlTransport } from '../../src/netlink/socket.ts';

/** RTM_NEWLINK for a link of `kind` with IFLA_GRE_* attributes (LOCAL 6, REMOTE 7, OFLAGS 3, OKEY 5). */
function link(name: string, kind: string, data: [number, Uint8Array][]): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, 0, 1);
  w.header(IFINFOMSG_LEN, (buf, at) => {
    buf.writeInt32LE(7, at + 4);
    buf.writeUInt32LE(1, at + 8);
  });
  w.string(IFLA.IFNAME, name)
    .beginNested(IFLA.LINKINFO)
    .string(IFLA_INFO_KIND, kind)
    .beginNested(IFLA_INFO_DATA);
  for (const [type, value] of data) w.attr(type, value);
  w.endNested().endNested();
  return w.finish();
}

class OneLink implements RtnlTransport {
  requests = 0;
  constructor(private readonly answer: Buffer | NetlinkError) {}
  request() {
    this.requests++;
    if (this.answer instanceof NetlinkError) throw this.answer;
    return parseMessages(this.answer);
  }
  close() {}
}

const v4 = (a: number, b: number, c: number, d: number) => Uint8Array.of(a, b, c, d);
const be16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);

async function refusal(t: import('ava').ExecutionContext, rtnl: OneLink, message: RegExp) {
  const prober = new Prober([{ device: 'gk9', intervalMs: 1000, retries: 3 }], {
    rtnl,
    statusSocket: false,
    carrierStore: null,
    log: () => {},
  });
  const err = await t.throwsAsync(prober.start(), { instanceOf: ProbeTargetError });
  t.regex(err!.message, message);
}

test('a missing device', async (t) => {
  await refusal(t, new OneLink(new NetlinkError(19, 'ENODEV', null)), /^gk9: no network device named gk9$/);
});

test('a device that is not gre or ip6gre (an IPIP tunnel, a gretap carrying Ethernet)', async (t) => {
  await refusal(t, new OneLink(link('gk9', 'ipip', [])), /gk9: is not a gre or ip6gre device \(ipip\)/);
  await refusal(t, new OneLink(link('gk9', 'gretap', [])), /is not a gre or ip6gre device \(gretap\)/);
});

test('a gre device without a remote (as the fallback gre0)', async (t) => {
  await refusal(
    t,
    new OneLink(
      link('gk9', 'gre', [
        [6, v4(192, 0, 2, 1)],
        [7, v4(0, 0, 0, 0)],
      ]),
    ),
    /gk9: has no remote address: a keepalive needs one peer to go to/,
  );
});

test('a gre device that numbers its packets (oseq)', async (t) => {
  await refusal(
    t,
    new OneLink(
      link('gk9', 'gre', [
        [6, v4(192, 0, 2, 1)],
        [7, v4(192, 0, 2, 2)],
        [3, be16(0x1000)],
      ]),
    ),
    /gk9: sends sequence numbers \(oseq\)/,
  );
});

test('a multicast remote is no peer', async (t) => {
  await refusal(
    t,
    new OneLink(
      link('gk9', 'gre', [
        [6, v4(192, 0, 2, 1)],
        [7, v4(239, 1, 1, 1)],
      ]),
    ),
    /gk9: remote: 239.1.1.1 is not a unicast peer address/,
  );
});
