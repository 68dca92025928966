/**
 * Batching: one send() call of 200 packets is one pass through sendmmsg; the receiver is entered once per
 * batch (far fewer calls than packets), and the statistics on both sides add up.
 */
import test from 'ava';
import { ipv4Hex, requireRoot } from '../helpers.ts';
import { Agent, Netns, veth } from '../netns.ts';
import type { AgentWaitResult } from './fixtures/agent.ts';

const A = '10.202.0.1';
const B = '10.202.0.2';
const COUNT = 200;

function eoip(seq: number): string {
  const frame = Buffer.alloc(60, seq & 0xff);
  frame.writeUInt32BE(seq, 0);
  const header = Buffer.from([0x20, 0x01, 0x64, 0x00, 0x00, 60, 0x2a, 0x00]);
  return Buffer.concat([header, frame]).toString('hex');
}

test.before(requireRoot);

for (const family of [4, 6] as const) {
  test(`batch ip${family}: ${COUNT} packets in one send(), fewer than ${COUNT} onBatch calls, stats add up`, async (t) => {
    const nsA = Netns.create(t);
    const nsB = Netns.create(t);
    veth(nsA, nsB, { v4: [A, B], v6: ['fd00:202::1', 'fd00:202::2'], staticNeighbours: true });
    const [agentA, agentB] = await Promise.all([Agent.start(t, nsA), Agent.start(t, nsB)]);

    const protocol = family === 4 ? 47 : 97;
    const kind = family === 4 ? 'ip4' : 'ip6';
    const rxFd = await agentB.call<number>('rawOpen', {
      family,
      protocol,
      opts: { eoipFilter: family === 4, recvBufferSize: 4 << 20 },
    });
    const rx = await agentB.call<number>('io', { fd: rxFd, kind, slots: 64, slotSize: 2048, start: true });
    const txFd = await agentA.call<number>('rawOpen', {
      family,
      protocol,
      opts: { sendBufferSize: 4 << 20 },
    });
    const tx = await agentA.call<number>('io', { fd: txFd, kind, slots: 1, slotSize: 64 });

    const packets = Array.from({ length: COUNT }, (_, i) => (family === 4 ? eoip(i) : `0300${eoip(i)}`));
    const dst = family === 4 ? ipv4Hex(B) : 'fd000202000000000000000000000002';
    t.is(await agentA.call<number>('send', { handle: tx, packets, dsts: [dst] }), COUNT);

    const got = await agentB.call<AgentWaitResult>('wait', { handle: rx, count: COUNT, timeoutMs: 10000 });
    t.is(got.packets.length, COUNT);
    const payloads = got.packets.map((p) => (family === 4 ? p.data.slice(40) : p.data));
    t.deepEqual(payloads, packets, 'every packet, in order');
    t.true(got.batches.length < COUNT, `${got.batches.length} onBatch calls for ${COUNT} packets`);
    t.true(
      got.batches.every((n) => n >= 1 && n <= 64),
      'each batch within the slot count',
    );
    t.is(
      got.batches.reduce((a, b) => a + b, 0),
      COUNT,
    );
    t.deepEqual(got.stats, {
      rxBatches: got.batches.length,
      rxPackets: COUNT,
      rxErrors: 0,
      rxTruncated: 0,
      txPackets: 0,
      txErrors: 0,
      txDropped: 0,
    });
    t.deepEqual(await agentA.call('stats', { handle: tx }), {
      rxBatches: 0,
      rxPackets: 0,
      rxErrors: 0,
      rxTruncated: 0,
      txPackets: COUNT,
      txErrors: 0,
      txDropped: 0,
    });
    t.log(`ip${family}: ${COUNT} packets in ${got.batches.length} batches: ${got.batches.join(' ')}`);
  });
}

test('batch: a backlog is drained in full batches, yielding to the event loop every 16 batches', async (t) => {
  const nsA = Netns.create(t);
  const nsB = Netns.create(t);
  veth(nsA, nsB, { v4: [A, B], v6: ['fd00:202::1', 'fd00:202::2'], staticNeighbours: true });
  const [agentA, agentB] = await Promise.all([Agent.start(t, nsA), Agent.start(t, nsB)]);

  const rxFd = await agentB.call<number>('rawOpen', {
    family: 4,
    protocol: 47,
    opts: { eoipFilter: true, recvBufferSize: 4 << 20 },
  });
  const rx = await agentB.call<number>('io', { fd: rxFd, kind: 'ip4', slots: 4, slotSize: 2048 });
  const txFd = await agentA.call<number>('rawOpen', { family: 4, protocol: 47 });
  const tx = await agentA.call<number>('io', { fd: txFd, kind: 'ip4', slots: 1, slotSize: 64 });
  const packets = Array.from({ length: COUNT }, (_, i) => eoip(i));
  t.is(await agentA.call<number>('send', { handle: tx, packets, dsts: [ipv4Hex(B)] }), COUNT);
  await new Promise((resolve) => setTimeout(resolve, 200)); // all queued on the receiving socket

  await agentB.call('ioStart', { handle: rx });
  const got = await agentB.call<AgentWaitResult>('wait', { handle: rx, count: COUNT, timeoutMs: 10000 });
  t.deepEqual(got.batches, Array(COUNT / 4).fill(4), 'recvmmsg fills every slot of every batch');
  const perWake = new Map<number, number>();
  for (const turn of got.turns) perWake.set(turn, (perWake.get(turn) ?? 0) + 1);
  t.deepEqual([...perWake.values()], [16, 16, 16, 2], 'at most 16 batches per wake-up, then the loop turns');
  t.is(got.stats.rxBatches, COUNT / 4);
  t.is(got.stats.rxPackets, COUNT);
});
