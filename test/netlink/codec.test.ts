/**
 * The netlink framing and the eoip link messages (src/netlink), byte for byte
 * against a message laid out by hand from <linux/netlink.h>, <linux/if_link.h>
 * and kmod/uapi/linux/if_eoip.h; parsing of replies, acks with extended-ack
 * text, and malformed datagrams (an error, never a loop or a crash).
 */
import test from 'ava';
import fc from 'fast-check';
import {
  deleteLinkRequest,
  EOIP_ATTR,
  type EoipLinkSpec,
  getLinkRequest,
  IFINFOMSG_LEN,
  IFLA,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  linkErrorMessage,
  newLinkRequest,
  parseLink,
  RTM_NEWLINK,
} from '../../src/netlink/link.ts';
import {
  MessageWriter,
  NetlinkParseError,
  NL_POLICY_TYPE_ATTR,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLMSGERR_ATTR_POLICY,
  parseAck,
  parseAttrs,
  parseMessages,
  rejectedAttribute,
} from '../../src/netlink/message.ts';
import { hex, toHex } from '../helpers.ts';

const SPEC: EoipLinkSpec = {
  kind: 'eoip',
  name: 'e0',
  mtu: 1500,
  tunnelId: 100,
  local: null,
  remote: '10.0.0.2',
  ttl: 255,
  tos: 0,
  linkIndex: 0,
  keepaliveInterval: 10,
  keepaliveRetries: 10,
};

test('RTM_NEWLINK for an eoip link is laid out as the kernel expects', (t) => {
  const expected = hex(`
    7c000000 1000 0506 01000000 00000000
    00 00 0000 00000000 01000000 01000000
    0700 0300 653000 00
    0800 0400 dc050000
    4c00 1280
      0900 0100 656f697000 000000
      3c00 0280
        0800 0100 00000000
        0800 0400 64000000
        0800 0700 0a000002
        0500 0800 ff 000000
        0500 0900 00 000000
        0800 2000 0a000000
        0500 2100 0a 000000
  `);
  t.is(toHex(newLinkRequest(1, SPEC)), toHex(expected));
});

test('an IPv6 local and remote go in as 16 bytes; keepalive none is interval 0 with retries 1', (t) => {
  const msg = newLinkRequest(7, {
    ...SPEC,
    kind: 'eoipv6',
    local: '2001:db8::1',
    remote: '2001:db8::2',
    keepaliveInterval: 0,
    keepaliveRetries: 0,
  });
  const [m] = parseMessages(msg);
  const attrs = parseAttrs(m!.payload, IFINFOMSG_LEN);
  const info = parseAttrs(attrs.get(IFLA.LINKINFO)!);
  t.is(info.get(IFLA_INFO_KIND)!.toString(), 'eoipv6\0');
  const data = parseAttrs(info.get(IFLA_INFO_DATA)!);
  t.is(toHex(data.get(EOIP_ATTR.LOCAL)!), '20010db8000000000000000000000001');
  t.is(toHex(data.get(EOIP_ATTR.REMOTE)!), '20010db8000000000000000000000002');
  t.is(data.get(EOIP_ATTR.KA_INTERVAL)!.readUInt32LE(0), 0);
  t.is(data.get(EOIP_ATTR.KA_RETRIES)!.readUInt8(0), 1);
  t.is(m!.seq, 7);
});

test('RTM_DELLINK and RTM_GETLINK requests', (t) => {
  t.is(
    toHex(deleteLinkRequest(2, 9)),
    toHex(hex('20000000 1100 0500 02000000 00000000 00000000 09000000 00000000 00000000')),
  );
  // A dump (NLM_F_REQUEST | NLM_F_DUMP) has no name; a get by name carries IFLA_IFNAME.
  t.is(
    toHex(getLinkRequest(3, null)),
    toHex(hex('20000000 1200 0103 03000000 00000000 00000000 00000000 00000000 00000000')),
  );
  const byName = parseMessages(getLinkRequest(4, 'lo'))[0]!;
  t.is(parseAttrs(byName.payload, IFINFOMSG_LEN).get(IFLA.IFNAME)!.toString(), 'lo\0');
});

/** An RTM_NEWLINK as the kernel dumps an eoip link of greoip's module. */
function dumpedLink(state: number | null, agoMs: number | null): Buffer {
  const w = new MessageWriter(RTM_NEWLINK, 0x2, 5).header(IFINFOMSG_LEN, (b, at) => {
    b.writeInt32LE(12, at + 4);
    b.writeUInt32LE(0x11043, at + 8);
  });
  w.string(IFLA.IFNAME, 'e0').u32(IFLA.MTU, 1400).u8(IFLA.CARRIER, 1);
  const stats = Buffer.alloc(200);
  for (let i = 0; i < 8; i++) stats.writeBigUInt64LE(BigInt(1000 + i), i * 8);
  w.attr(IFLA.STATS64, stats);
  w.beginNested(IFLA.LINKINFO).string(IFLA_INFO_KIND, 'eoip').beginNested(IFLA_INFO_DATA);
  w.u32(EOIP_ATTR.LINK, 3).u32(EOIP_ATTR.IKEY, 65535);
  w.attr(EOIP_ATTR.LOCAL, Uint8Array.of(0, 0, 0, 0)).attr(EOIP_ATTR.REMOTE, Uint8Array.of(198, 51, 100, 7));
  w.u8(EOIP_ATTR.TTL, 64).u8(EOIP_ATTR.TOS, 1).u32(EOIP_ATTR.KA_INTERVAL, 5).u8(EOIP_ATTR.KA_RETRIES, 3);
  if (state !== null) w.u8(EOIP_ATTR.KA_STATE, state);
  if (agoMs !== null) w.u32(EOIP_ATTR.KA_LAST_RX_MS, agoMs);
  w.u32(EOIP_ATTR.KA_RX, 17).u32(EOIP_ATTR.KA_TX, 18);
  return w.endNested().endNested().finish();
}

test('a dumped eoip link parses to its config, state, keepalive age and counters', (t) => {
  const info = parseLink(parseMessages(dumpedLink(2, 1234))[0]!);
  t.like(info, { index: 12, name: 'e0', mtu: 1400, carrier: true, kind: 'eoip' });
  t.deepEqual(info.eoip, {
    kind: 'eoip',
    tunnelId: 65535,
    local: null,
    remote: '198.51.100.7',
    ttl: 64,
    tos: 1,
    linkIndex: 3,
    keepaliveInterval: 5,
    keepaliveRetries: 3,
    keepaliveState: 'up',
    lastKeepaliveAgoMs: 1234,
    keepalivesReceived: 17,
    keepalivesSent: 18,
  });
  t.deepEqual(info.stats, {
    rxPackets: 1000,
    txPackets: 1001,
    rxBytes: 1002,
    txBytes: 1003,
    rxErrors: 1004,
    txErrors: 1005,
    rxDropped: 1006,
    txDropped: 1007,
  });
  const never = parseLink(parseMessages(dumpedLink(1, null))[0]!);
  t.is(never.eoip?.keepaliveState, 'waiting');
  t.is(never.eoip?.lastKeepaliveAgoMs, null);
  // The old module reports neither: the state is unknown, not guessed here.
  t.is(parseLink(parseMessages(dumpedLink(null, null))[0]!).eoip?.keepaliveState, null);
});

/** An NLMSG_ERROR: errno, the echoed request header (capped), and extack attributes. */
function errorReply(errno: number, text: string | null): Buffer {
  const w = new MessageWriter(NLMSG_ERROR, text === null ? NLM_F_CAPPED : NLM_F_CAPPED | NLM_F_ACK_TLVS, 9);
  w.header(4 + 16, (b, at) => {
    b.writeInt32LE(-errno, at);
    b.writeUInt32LE(124, at + 4);
    b.writeUInt16LE(RTM_NEWLINK, at + 8);
  });
  if (text !== null) w.string(NLMSGERR_ATTR_MSG, text).u32(NLMSGERR_ATTR_OFFS, 60);
  return w.finish();
}

test('acks and errors: errno and the extended-ack message', (t) => {
  t.deepEqual(parseAck(parseMessages(errorReply(0, null))[0]!), { errno: 0, message: null });
  t.deepEqual(parseAck(parseMessages(errorReply(22, 'IFLA_GRE_IKEY: tunnel id 70000 out of range'))[0]!), {
    errno: 22,
    message: 'IFLA_GRE_IKEY: tunnel id 70000 out of range',
  });
  t.throws(() => parseAck({ type: NLMSG_ERROR, flags: 0, seq: 0, pid: 0, payload: Buffer.alloc(8) }), {
    instanceOf: NetlinkParseError,
  });
});

/**
 * An NLMSG_ERROR as the kernel's policy check sends it: its generic text, the rejected attribute's
 * offset in the request and the policy entry (NLMSGERR_ATTR_POLICY) with the allowed range.
 */
function policyReply(text: string, offset: number, policy: [number, bigint | number][]): Buffer {
  const w = new MessageWriter(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 9);
  w.header(4 + 16, (b, at) => {
    b.writeInt32LE(-34, at);
    b.writeUInt32LE(124, at + 4);
    b.writeUInt16LE(RTM_NEWLINK, at + 8);
  });
  w.string(NLMSGERR_ATTR_MSG, text).u32(NLMSGERR_ATTR_OFFS, offset).beginNested(NLMSGERR_ATTR_POLICY);
  for (const [type, v] of policy) {
    const b = Buffer.alloc(typeof v === 'bigint' ? 8 : 4);
    if (typeof v === 'bigint') b.writeBigUInt64LE(v);
    else b.writeUInt32LE(v);
    w.attr(type, b);
  }
  return w.endNested().finish();
}

test('a range or length refused by the policy is named: the attribute at the offset, the value, what is allowed', (t) => {
  // Offsets from the layout above: header 16, ifinfomsg 16, IFLA_IFNAME 8, IFLA_MTU 8, IFLA_LINKINFO 4,
  // IFLA_INFO_KIND 12, IFLA_INFO_DATA 4, IFLA_GRE_LINK 8: IFLA_GRE_IKEY at 76, then IFLA_GRE_REMOTE at 84.
  const tooBig = newLinkRequest(1, { ...SPEC, tunnelId: 70000 });
  const range = policyReply('integer out of range', 76, [
    [NL_POLICY_TYPE_ATTR.MIN_VALUE_U, 0n],
    [NL_POLICY_TYPE_ATTR.MAX_VALUE_U, 65535n],
  ]);
  const [reply] = parseMessages(range);
  t.deepEqual(rejectedAttribute(reply!), { offset: 76, values: { min: 0n, max: 65535n }, lengths: null });
  t.is(
    linkErrorMessage(tooBig, reply!, parseAck(reply!).message),
    'IFLA_GRE_IKEY: tunnel id 70000: integer out of range 0-65535',
  );

  const wide = newLinkRequest(1, { ...SPEC, kind: 'eoipv6', remote: '2001:db8::2' });
  const [short] = parseMessages(
    policyReply('binary attribute size out of range', 84, [
      [NL_POLICY_TYPE_ATTR.MIN_LENGTH, 4],
      [NL_POLICY_TYPE_ATTR.MAX_LENGTH, 4],
    ]),
  );
  t.is(
    linkErrorMessage(wide, short!, 'binary attribute size out of range'),
    'IFLA_GRE_REMOTE: remote address of 16 bytes: binary attribute size out of range (4 bytes)',
  );

  // The module's own messages already name the attribute; no offset, or one outside IFLA_INFO_DATA
  // (IFLA_MTU at 40): the kernel's text as it is.
  const own = 'IFLA_GRE_REMOTE: remote must be a unicast address';
  t.is(linkErrorMessage(wide, parseMessages(policyReply(own, 84, []))[0]!, own), own);
  t.is(linkErrorMessage(tooBig, parseMessages(errorReply(34, 'x'))[0]!, 'x'), 'x');
  t.is(linkErrorMessage(tooBig, parseMessages(policyReply('mtu', 40, []))[0]!, 'mtu'), 'mtu');
  t.is(rejectedAttribute(parseMessages(errorReply(0, null))[0]!), null);
});

test('several messages in one datagram; lengths that do not fit are errors', (t) => {
  const two = Buffer.concat([errorReply(0, null), dumpedLink(2, 5)]);
  t.deepEqual(
    parseMessages(two).map((m) => m.type),
    [NLMSG_ERROR, RTM_NEWLINK],
  );
  const cut = dumpedLink(2, 5).subarray(0, 40);
  t.throws(() => parseMessages(cut), { instanceOf: NetlinkParseError });
  const zero = Buffer.alloc(32);
  t.throws(() => parseMessages(zero), { instanceOf: NetlinkParseError });
});

test('random and mutated datagrams give messages or a NetlinkParseError, never another exception', (t) => {
  const base = dumpedLink(3, 99);
  const mutated = fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 8 }).map((edits) => {
    const b = Buffer.from(base);
    for (const [at, v] of edits) b[at] = v;
    return b;
  });
  fc.assert(
    fc.property(
      fc.oneof(
        mutated,
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      ),
      (bytes) => {
        try {
          for (const m of parseMessages(bytes)) {
            if (m.type === RTM_NEWLINK) parseLink(m);
            if (m.type === NLMSG_ERROR) parseAck(m);
          }
        } catch (err) {
          if (!(err instanceof NetlinkParseError)) throw err;
        }
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
