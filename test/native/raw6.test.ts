/**
 * Raw IPv6 next header 97 between two namespaces: the payload arrives without the IPv6 header, rxSrc from
 * msg_name and rxDst from IPV6_PKTINFO, the EoIPv6 BPF filter (low nibble 3), kernel fragmentation.
 */
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { Agent, Netns, veth } from '../netns.ts';
import type { AgentWaitResult } from './fixtures/agent.ts';

const A6 = 'fd00:202::1';
const B6 = 'fd00:202::2';
const A6_HEX = 'fd000202000000000000000000000001';
const B6_HEX = 'fd000202000000000000000000000002';

/** EoIPv6 (docs/eoip-wire.md): byte0 = (tid >> 8) << 4 | 3, byte1 = tid & 0xff, then the frame. */
function eoip6(tid: number, frame: Buffer): string {
  return Buffer.concat([Buffer.from([(((tid >> 8) & 0x0f) << 4) | 0x03, tid & 0xff]), frame]).toString('hex');
}

function frame(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff));
}

test.before(requireRoot);

test('raw ip6: payload only, addresses from msg_name and IPV6_PKTINFO, filter on the low nibble', async (t) => {
  const nsA = Netns.create(t);
  const nsB = Netns.create(t);
  veth(nsA, nsB, { v4: ['10.202.0.1', '10.202.0.2'], v6: [A6, B6], staticNeighbours: true });
  const [agentA, agentB] = await Promise.all([Agent.start(t, nsA), Agent.start(t, nsB)]);

  const filteredFd = await agentB.call<number>('rawOpen', {
    family: 6,
    protocol: 97,
    opts: { eoipFilter: true, bindAddress: B6 },
  });
  const plainFd = await agentB.call<number>('rawOpen', { family: 6, protocol: 97, opts: {} });
  const filtered = await agentB.call<number>('io', {
    fd: filteredFd,
    kind: 'ip6',
    slots: 8,
    slotSize: 2048,
    start: true,
  });
  const plain = await agentB.call<number>('io', {
    fd: plainFd,
    kind: 'ip6',
    slots: 8,
    slotSize: 2048,
    start: true,
  });

  const senderFd = await agentA.call<number>('rawOpen', {
    family: 6,
    protocol: 97,
    opts: { ttl: 255, tos: 0x28 },
  });
  const sender = await agentA.call<number>('io', { fd: senderFd, kind: 'ip6', slots: 1, slotSize: 64 });

  const keepalive = eoip6(1234, Buffer.alloc(0));
  t.is(keepalive, '43d2');
  const notEoip = `04d2${frame(60, 1).toString('hex')}`; // low nibble 4
  const etherIp = `3000${frame(60, 2).toString('hex')}`; // RFC 3378 EtherIP: version in the high nibble
  const big = eoip6(0, frame(1498, 3)); // 1500-byte payload: 1540 bytes on a 1500-byte link
  const last = eoip6(4095, frame(60, 4));
  const packets = [keepalive, notEoip, etherIp, big, last];

  const fragBefore = nsA.snmp('Ip6FragCreates');
  const reasmBefore = nsB.snmp('Ip6ReasmOKs');
  t.is(await agentA.call<number>('send', { handle: sender, packets, dsts: [B6_HEX] }), 5);

  const all = await agentB.call<AgentWaitResult>('wait', { handle: plain, count: 5, timeoutMs: 5000 });
  t.deepEqual(
    all.packets.map((p) => p.data),
    packets,
    'without the filter all arrive, as payloads without the IPv6 header',
  );
  const got = await agentB.call<AgentWaitResult>('wait', {
    handle: filtered,
    count: 3,
    timeoutMs: 5000,
    settleMs: 100,
  });
  t.deepEqual(
    got.packets.map((p) => p.data),
    [keepalive, big, last],
    'the filter keeps (byte0 & 0x0f) == 3 only',
  );
  for (const p of got.packets) {
    t.is(p.src, A6_HEX, 'rxSrc from msg_name');
    t.is(p.dst, B6_HEX, 'rxDst from IPV6_PKTINFO');
  }
  t.is(got.packets[1]!.data.length / 2, 1500);
  t.is(nsA.snmp('Ip6FragCreates') - fragBefore, 2, 'the sending kernel fragmented the 1540-byte packet');
  t.is(nsB.snmp('Ip6ReasmOKs') - reasmBefore, 1, 'the receiving kernel reassembled it');
  t.is(got.stats.rxPackets, 3);
  t.is(got.stats.rxErrors, 0);
});
