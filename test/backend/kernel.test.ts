/**
 * KernelBackend's decisions, with a scripted rtnetlink transport standing in
 * for the kernel: which requests it sends for adoption, kind changes and their
 * rollback, and how kernel refusals become field-named errors. The real kernel
 * answers the same requests in test/live/kernel-backend.test.ts (no module)
 * and test/kernel/kernel-backend.test.ts (the modules on Linux 6.1).
 */
import test from 'ava';
import { KernelBackend } from '../../src/backend/kernel.ts';
import { BackendError, type TunnelStateChange } from '../../src/backend/types.ts';
import { completeTunnel } from '../../src/config/validate.ts';
import {
  EOIP_ATTR,
  IFINFOMSG_LEN,
  IFLA,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from '../../src/netlink/link.ts';
import {
  MessageWriter,
  type NetlinkMessage,
  NLM_F_CREATE,
  parseMessages,
} from '../../src/netlink/message.ts';
import { NetlinkError, type RtnlTransport } from '../../src/netlink/socket.ts';

interface Sent {
  type: number;
  create: boolean;
  index: number;
}

/** A link as the kernel would dump it: name, index and kind (eoip data only for eoip kinds). */
function linkMessage(name: string, index: number, kind: string | null): NetlinkMessage {
  const w = new MessageWriter(RTM_NEWLINK, 0, 0).header(IFINFOMSG_LEN, (b, at) =>
    b.writeInt32LE(index, at + 4),
  );
  w.string(IFLA.IFNAME, name);
  if (kind !== null) {
    w.beginNested(IFLA.LINKINFO).string(IFLA_INFO_KIND, kind);
    if (kind.startsWith('eoip')) {
      const remote = kind === 'eoip' ? Uint8Array.of(192, 0, 2, 2) : new Uint8Array(16).fill(1);
      w.beginNested(IFLA_INFO_DATA).u32(EOIP_ATTR.IKEY, 5).attr(EOIP_ATTR.REMOTE, remote).endNested();
    }
    w.endNested();
  }
  return parseMessages(w.finish())[0]!;
}

/** Answers GETLINK from `links`; NEWLINK/DELLINK from `verdicts` in order (null: ack). */
function scripted(links: Map<string, NetlinkMessage>, verdicts: (NetlinkError | null)[]) {
  const sent: Sent[] = [];
  const transport: RtnlTransport = {
    request(message) {
      const m = parseMessages(message)[0]!;
      const index = m.payload.readInt32LE(4);
      if (m.type === RTM_GETLINK) {
        if (m.payload.length === IFINFOMSG_LEN) return [...links.values()]; // a dump
        const name = m.payload
          .subarray(IFINFOMSG_LEN + 4)
          .toString()
          .split('\0')[0]!;
        const found = links.get(name);
        if (!found) throw new NetlinkError(19, 'ENODEV', null);
        return [found];
      }
      sent.push({ type: m.type, create: (m.flags & NLM_F_CREATE) !== 0, index });
      const verdict = verdicts.shift();
      if (verdict) throw verdict;
      return [];
    },
    close() {},
  };
  return { sent, transport };
}

const V4 = completeTunnel({ name: 'k0', tunnelId: 5, remote: '192.0.2.2', backend: 'kernel' });
const V6 = completeTunnel({ name: 'k0', tunnelId: 5, remote: '2001:db8::2', backend: 'kernel' });

test('a new name is created with NLM_F_CREATE; an eoip link of that name is taken over with a change', async (t) => {
  const links = new Map<string, NetlinkMessage>();
  const fresh = scripted(links, [null]);
  await new KernelBackend({ transport: fresh.transport }).create(V4);
  t.deepEqual(fresh.sent, [{ type: RTM_NEWLINK, create: true, index: 0 }]);

  links.set('k0', linkMessage('k0', 12, 'eoip'));
  const adopt = scripted(links, [null]);
  await new KernelBackend({ transport: adopt.transport }).create(V4);
  t.deepEqual(adopt.sent, [{ type: RTM_NEWLINK, create: false, index: 12 }]);
});

test('an interface of another kind with the name is refused, untouched', async (t) => {
  for (const kind of ['veth', null, 'eoipv6']) {
    const links = new Map([['k0', linkMessage('k0', 3, kind)]]);
    const s = scripted(links, []);
    const err = await t.throwsAsync(new KernelBackend({ transport: s.transport }).create(V4), {
      instanceOf: BackendError,
    });
    t.is(err?.field, 'name');
    t.regex(err?.message ?? '', /interface k0 exists already/);
    t.deepEqual(s.sent, []);
  }
});

test('eoip to eoipv6 replaces the link; if the new one is refused the old one is made again', async (t) => {
  const links = new Map<string, NetlinkMessage>();
  const ok = scripted(links, [null, null, null]);
  const backend = new KernelBackend({ transport: ok.transport });
  await backend.create(V4);
  links.set('k0', linkMessage('k0', 7, 'eoip'));
  await backend.change('k0', V6);
  t.deepEqual(ok.sent.slice(1), [
    { type: RTM_DELLINK, create: false, index: 7 },
    { type: RTM_NEWLINK, create: true, index: 0 },
  ]);

  const refused = new NetlinkError(
    17,
    'EEXIST',
    'another tunnel already has this remote, local and tunnel id',
  );
  const bad = scripted(links, [null, null, refused, null]);
  const b2 = new KernelBackend({ transport: bad.transport });
  await b2.create(V4);
  const err = await t.throwsAsync(b2.change('k0', V6), { instanceOf: BackendError });
  t.is(err?.field, 'tunnel-id');
  t.deepEqual(
    bad.sent.map((s) => [s.type, s.create]),
    [
      [RTM_NEWLINK, false],
      [RTM_DELLINK, false],
      [RTM_NEWLINK, true],
      [RTM_NEWLINK, true],
    ],
  );
  // The backend still holds the old configuration.
  t.is(b2.list()[0]?.config.family, 4);
});

test('kernel refusals name the field; a missing kind says how to load the module', async (t) => {
  const cases: [NetlinkError, string | undefined, RegExp][] = [
    [
      new NetlinkError(95, 'EOPNOTSUPP', 'Unknown device type'),
      'backend',
      /eoip\.ko is not loaded; load it with "modprobe eoip eoipv6"/,
    ],
    [
      new NetlinkError(34, 'ERANGE', 'IFLA_GRE_IKEY: tunnel id 70000 out of range 0-65535'),
      'tunnel-id',
      /tunnel-id: the kernel refused k0: IFLA_GRE_IKEY/,
    ],
    [
      new NetlinkError(22, 'EINVAL', 'IFLA_EOIP_KA_RETRIES: keepalive retries 0 out of range 1-255'),
      'keepalive',
      /keepalive:/,
    ],
    [new NetlinkError(22, 'EINVAL', 'IFLA_GRE_LINK: no such underlay interface'), 'link', /link:/],
    [new NetlinkError(17, 'EEXIST', null), 'name', /name: interface k0 exists already/],
    [new NetlinkError(1, 'EPERM', null), undefined, /needs CAP_NET_ADMIN/],
  ];
  for (const [refusal, field, message] of cases) {
    const s = scripted(new Map(), [refusal]);
    const err = await t.throwsAsync(new KernelBackend({ transport: s.transport }).create(V4), {
      instanceOf: BackendError,
    });
    t.is(err?.field, field, refusal.message);
    t.regex(err?.message ?? '', message);
  }
});

test('an underlay link that does not exist is named before anything is sent', async (t) => {
  const s = scripted(new Map(), []);
  const backend = new KernelBackend({
    transport: s.transport,
    indexOf: () => {
      throw Object.assign(new Error('SIOCGIFINDEX eth9: No such device (ENODEV)'), {
        code: 'ENODEV',
        syscall: 'SIOCGIFINDEX',
      });
    },
  });
  const err = await t.throwsAsync(backend.create({ ...V4, link: 'eth9' }), { instanceOf: BackendError });
  t.is(err?.field, 'link');
  t.deepEqual(s.sent, []);
});

/** An eoip link whose module reports a keepalive state, with the carrier as given. */
function watchedLink(state: number, carrier: boolean): NetlinkMessage {
  const w = new MessageWriter(RTM_NEWLINK, 0, 0).header(IFINFOMSG_LEN, (b, at) => b.writeInt32LE(12, at + 4));
  w.string(IFLA.IFNAME, 'k0');
  w.attr(IFLA.CARRIER, Uint8Array.of(carrier ? 1 : 0));
  w.beginNested(IFLA.LINKINFO).string(IFLA_INFO_KIND, 'eoip');
  w.beginNested(IFLA_INFO_DATA)
    .u32(EOIP_ATTR.IKEY, 5)
    .attr(EOIP_ATTR.REMOTE, Uint8Array.of(192, 0, 2, 2))
    .attr(EOIP_ATTR.KA_STATE, Uint8Array.of(state))
    .endNested();
  w.endNested();
  return parseMessages(w.finish())[0]!;
}

test('carrier and keepalive state changes the module makes are reported once each', async (t) => {
  const [WAITING, UP, DOWN] = [1, 2, 3];
  const links = new Map([['k0', watchedLink(WAITING, true)]]);
  const changes: TunnelStateChange[] = [];
  const backend = new KernelBackend({
    transport: scripted(links, [null]).transport,
    onStateChange: (c) => changes.push(c),
    watchIntervalMs: 3_600_000, // the test calls checkStates itself
  });
  await backend.create(V4);
  backend.checkStates();
  t.deepEqual(changes, [], 'nothing moved since create');

  links.set('k0', watchedLink(UP, true));
  backend.checkStates();
  backend.checkStates();
  links.set('k0', watchedLink(DOWN, false));
  backend.checkStates();
  t.deepEqual(
    changes.map((c) => [c.tunnel, c.backend, c.previous, c.state, c.carrier, c.cause]),
    [
      ['k0', 'kernel', 'waiting', 'up', true, 'keepalive'],
      ['k0', 'kernel', 'up', 'down', false, 'timeout'],
    ],
  );
  await backend.close({ keepInterfaces: true });
});
