/**
 * What the kernel puts on the wire for the raw sockets: both sockets send to a (permanent, fake) neighbour
 * behind a tap in the same namespace, and a tap BatchIo reads the Ethernet frames, fragments included.
 */
import test from 'ava';
import { ipv4Hex, requireRoot } from '../helpers.ts';
import { Agent, Netns } from '../netns.ts';
import type { AgentPacket, AgentWaitResult } from './fixtures/agent.ts';

const TAP = 'wire0';
const PEER_MAC = '02:00:5e:00:0c:02';
const LOCAL4 = '10.204.0.1';
const PEER4 = '10.204.0.2';
const LOCAL6 = 'fd00:204::1';
const PEER6 = 'fd00:204::2';
const PEER6_HEX = 'fd000204000000000000000000000002';

function payload(length: number, first: number[]): string {
  const b = Buffer.alloc(length, 0x5a);
  b.set(first);
  return b.toString('hex');
}

test.before(requireRoot);

test('wire: IPv4 and IPv6 headers the kernel builds, and its fragments (DF clear)', async (t) => {
  const ns = Netns.create(t);
  const agent = await Agent.start(t, ns);

  const tapFd = (await agent.call<{ fd: number }>('tapOpen', { name: TAP, persist: false })).fd;
  ns.ip('addr', 'add', `${LOCAL4}/24`, 'dev', TAP);
  ns.ip('-6', 'addr', 'add', `${LOCAL6}/64`, 'dev', TAP, 'nodad');
  await agent.call('linkSetUp', { name: TAP, up: true });
  ns.ip('neigh', 'replace', PEER4, 'lladdr', PEER_MAC, 'dev', TAP, 'nud', 'permanent');
  ns.ip('-6', 'neigh', 'replace', PEER6, 'lladdr', PEER_MAC, 'dev', TAP, 'nud', 'permanent');
  const wire = await agent.call<number>('io', {
    fd: tapFd,
    kind: 'tap',
    slots: 32,
    slotSize: 2048,
    start: true,
  });
  const peerMac = PEER_MAC.replace(/:/g, '');

  const fd4 = await agent.call<number>('rawOpen', { family: 4, protocol: 47, opts: { ttl: 255, tos: 0x28 } });
  const io4 = await agent.call<number>('io', { fd: fd4, kind: 'ip4', slots: 1, slotSize: 64 });
  const small4 = payload(8, [0x20, 0x01, 0x64, 0x00, 0x00, 0x00, 0x64, 0x00]);
  const big4 = payload(1500, [0x20, 0x01, 0x64, 0x00, 0x05, 0xd4, 0x07, 0x00]);
  t.is(await agent.call<number>('send', { handle: io4, packets: [small4, big4], dsts: [ipv4Hex(PEER4)] }), 2);

  const v4Match = [
    { offset: 0, hex: peerMac },
    { offset: 12, hex: '0800' },
    { offset: 23, hex: '2f' },
  ];
  let got = await agent.call<AgentWaitResult>('wait', {
    handle: wire,
    count: 3,
    match: v4Match,
    timeoutMs: 5000,
  });
  const frames4 = got.packets
    .map((p: AgentPacket) => Buffer.from(p.data, 'hex'))
    .filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 47);
  t.is(frames4.length, 3, 'one whole packet and two fragments');
  const ip4 = frames4.map((f) => ({
    tos: f[15],
    totalLength: f.readUInt16BE(16),
    id: f.readUInt16BE(18),
    flagsFragment: f.readUInt16BE(20),
    ttl: f[22],
    src: f.subarray(26, 30).toString('hex'),
    dst: f.subarray(30, 34).toString('hex'),
    data: f.subarray(34).toString('hex'),
  }));
  for (const h of ip4) {
    t.is(h.ttl, 255);
    t.is(h.tos, 0x28);
    t.is(h.flagsFragment & 0x4000, 0, 'DF clear');
    t.is(h.src, ipv4Hex(LOCAL4));
    t.is(h.dst, ipv4Hex(PEER4));
  }
  t.is(ip4[0]!.data, small4);
  t.is(ip4[0]!.totalLength, 28);
  t.is(ip4[1]!.flagsFragment, 0x2000, 'first fragment: MF, offset 0');
  t.is(ip4[1]!.totalLength, 1500);
  t.is(ip4[2]!.flagsFragment, 1480 / 8, 'last fragment: offset 1480, no MF');
  t.is(ip4[2]!.totalLength, 20 + 20);
  t.is(ip4[1]!.id, ip4[2]!.id);
  t.is(ip4[1]!.data + ip4[2]!.data, big4, 'the fragments carry the payload');

  const fd6 = await agent.call<number>('rawOpen', { family: 6, protocol: 97, opts: { ttl: 255, tos: 0x28 } });
  const io6 = await agent.call<number>('io', { fd: fd6, kind: 'ip6', slots: 1, slotSize: 64 });
  const small6 = payload(2, [0x43, 0xd2]);
  const big6 = payload(1500, [0x03, 0x00]);
  t.is(await agent.call<number>('send', { handle: io6, packets: [small6, big6], dsts: [PEER6_HEX] }), 2);
  const v6Match = [
    { offset: 0, hex: peerMac },
    { offset: 12, hex: '86dd' },
    { offset: 38, hex: PEER6_HEX },
  ];
  got = await agent.call<AgentWaitResult>('wait', {
    handle: wire,
    count: 3,
    match: v6Match,
    timeoutMs: 5000,
  });
  const frames6 = got.packets
    .map((p: AgentPacket) => Buffer.from(p.data, 'hex'))
    .filter((f) => f.readUInt16BE(12) === 0x86dd && f.subarray(38, 54).toString('hex') === PEER6_HEX);
  t.is(frames6.length, 3);
  for (const f of frames6) {
    const ip6 = f.subarray(14);
    t.is(ip6[0]! >> 4, 6);
    t.is(((ip6.readUInt16BE(0) >> 4) & 0xff) >>> 0, 0x28, 'traffic class from opts.tos');
    t.is(ip6[7], 255, 'hop limit from opts.ttl');
  }
  const whole = frames6[0]!.subarray(14);
  t.is(whole[6], 97, 'next header 97');
  t.is(whole.subarray(40).toString('hex'), small6);
  const fragments = frames6.slice(1).map((f) => f.subarray(14));
  for (const f of fragments) {
    t.is(f[6], 44, 'a Fragment header');
    t.is(f[40], 97, 'fragmenting next header 97');
  }
  t.is(fragments[0]!.readUInt16BE(42) & 1, 1, 'first fragment: M set');
  t.is(
    fragments[1]!.readUInt16BE(42) & 0xfff8,
    fragments[0]!.length - 48,
    'second fragment starts where the first ends',
  );
  t.is(fragments[1]!.readUInt16BE(42) & 1, 0, 'last fragment: M clear');
  const reassembled = Buffer.concat(fragments.map((f) => f.subarray(48))).toString('hex');
  t.is(reassembled, big6, 'the fragments carry the payload');
});
