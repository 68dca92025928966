/**
 * Raw IPv4 protocol 47 between two namespaces joined by a veth: the EoIP BPF filter, the IPv4 header the
 * kernel builds (TTL, TOS, DF clear), source and destination addresses, kernel fragmentation and
 * reassembly, and send()'s error semantics.
 */
import test from 'ava';
import { ipv4Hex, requireRoot } from '../helpers.ts';
import { Agent, Netns, veth } from '../netns.ts';
import type { AgentPacket, AgentWaitResult } from './fixtures/agent.ts';

const A = '10.202.0.1';
const B = '10.202.0.2';
const UNROUTED = '10.203.0.9';

/** An EoIP packet (docs/eoip-wire.md): 20 01 64 00, length big-endian, tunnel id little-endian, frame. */
function eoip(tid: number, frame: Buffer): string {
  const header = Buffer.from([
    0x20,
    0x01,
    0x64,
    0x00,
    frame.length >> 8,
    frame.length & 0xff,
    tid & 0xff,
    tid >> 8,
  ]);
  return Buffer.concat([header, frame]).toString('hex');
}

function frame(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));
}

const PLAIN_GRE = `00000800${'45000014000000004001'.padEnd(40, '0')}`;
const PPTP = '3001880b0000002a00000001';

interface Header {
  version: number;
  ihl: number;
  tos: number;
  totalLength: number;
  flagsFragment: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  payload: string;
}

function parseIpv4(p: AgentPacket): Header {
  const b = Buffer.from(p.data, 'hex');
  const ihl = (b[0]! & 0x0f) * 4;
  return {
    version: b[0]! >> 4,
    ihl,
    tos: b[1]!,
    totalLength: b.readUInt16BE(2),
    flagsFragment: b.readUInt16BE(6),
    ttl: b[8]!,
    protocol: b[9]!,
    src: b.subarray(12, 16).toString('hex'),
    dst: b.subarray(16, 20).toString('hex'),
    payload: b.subarray(ihl).toString('hex'),
  };
}

test.before(requireRoot);

test('raw ip4: EoIP passes the filter with its IPv4 header; GRE and PPTP do not; kernel fragments', async (t) => {
  const nsA = Netns.create(t);
  const nsB = Netns.create(t);
  veth(nsA, nsB, { v4: [A, B], v6: ['fd00:202::1', 'fd00:202::2'], staticNeighbours: true });
  const [agentA, agentB] = await Promise.all([Agent.start(t, nsA), Agent.start(t, nsB)]);

  const filteredFd = await agentB.call<number>('rawOpen', {
    family: 4,
    protocol: 47,
    opts: { eoipFilter: true },
  });
  const plainFd = await agentB.call<number>('rawOpen', { family: 4, protocol: 47, opts: {} });
  const filtered = await agentB.call<number>('io', {
    fd: filteredFd,
    kind: 'ip4',
    slots: 8,
    slotSize: 2048,
    start: true,
  });
  const plain = await agentB.call<number>('io', {
    fd: plainFd,
    kind: 'ip4',
    slots: 8,
    slotSize: 2048,
    start: true,
  });

  const senderFd = await agentA.call<number>('rawOpen', {
    family: 4,
    protocol: 47,
    opts: { ttl: 255, tos: 0x28, bindAddress: A, device: 'vA' },
  });
  const sender = await agentA.call<number>('io', { fd: senderFd, kind: 'ip4', slots: 1, slotSize: 64 });

  const keepalive = eoip(100, Buffer.alloc(0));
  const big = eoip(7, frame(1492, 3)); // 1500-byte payload: 1520 bytes on a 1500-byte link
  const last = eoip(200, frame(60, 9));
  const packets = [keepalive, PLAIN_GRE, PPTP, big, last];
  t.is(big.length / 2, 1500);

  const fragCreatesBefore = nsA.snmp('Ip', 'FragCreates');
  const reasmOksBefore = nsB.snmp('Ip', 'ReasmOKs');
  const sent = await agentA.call<number>('send', { handle: sender, packets, dsts: [ipv4Hex(B)] });
  t.is(sent, 5);

  const all = await agentB.call<AgentWaitResult>('wait', { handle: plain, count: 5, timeoutMs: 5000 });
  t.deepEqual(
    all.packets.map((p) => parseIpv4(p).payload),
    packets,
    'without the filter every packet arrives, in order',
  );
  const got = await agentB.call<AgentWaitResult>('wait', {
    handle: filtered,
    count: 3,
    timeoutMs: 5000,
    settleMs: 100,
  });
  const headers = got.packets.map(parseIpv4);
  t.deepEqual(
    headers.map((h) => h.payload),
    [keepalive, big, last],
    'the filter passes EoIP only: plain GRE and PPTP never reach the socket',
  );

  for (const [i, h] of headers.entries()) {
    t.is(h.version, 4);
    t.is(h.ihl, 20);
    t.is(h.protocol, 47);
    t.is(h.ttl, 255, 'TTL as set with opts.ttl');
    t.is(h.tos, 0x28, 'TOS as set with opts.tos');
    t.is(h.flagsFragment & 0x4000, 0, 'DF clear');
    t.is(h.flagsFragment & 0x3fff, 0, 'whole packets only: the kernel reassembled');
    t.is(h.src, ipv4Hex(A));
    t.is(h.dst, ipv4Hex(B));
    t.is(got.packets[i]!.src, ipv4Hex(A), 'rxSrc');
    t.is(got.packets[i]!.dst, ipv4Hex(B), 'rxDst');
    t.is(h.totalLength, got.packets[i]!.data.length / 2);
  }
  t.is(got.packets[1]!.data.length / 2, 1520, 'the 1500-byte payload arrives whole, with its 20-byte header');
  t.is(nsA.snmp('Ip', 'FragCreates') - fragCreatesBefore, 2, 'the sending kernel cut it in two fragments');
  t.is(nsB.snmp('Ip', 'ReasmOKs') - reasmOksBefore, 1, 'the receiving kernel reassembled it');
  t.is(got.stats.rxPackets, 3);
  t.is(got.stats.rxErrors, 0);
  t.is(got.stats.rxTruncated, 0);
  t.is((await agentA.call<{ txPackets: number }>('stats', { handle: sender })).txPackets, 5);

  // A slot shorter than the packet: delivered cut, counted.
  const smallFd = await agentB.call<number>('rawOpen', {
    family: 4,
    protocol: 47,
    opts: { eoipFilter: true },
  });
  const small = await agentB.call<number>('io', {
    fd: smallFd,
    kind: 'ip4',
    slots: 4,
    slotSize: 100,
    start: true,
  });
  t.is(await agentA.call<number>('send', { handle: sender, packets: [big], dsts: [ipv4Hex(B)] }), 1);
  const cut = await agentB.call<AgentWaitResult>('wait', { handle: small, count: 1, timeoutMs: 5000 });
  t.is(cut.packets[0]!.data.length / 2, 100);
  t.is(cut.stats.rxTruncated, 1);
});

test('raw ip4: send() throws on a first-message error and returns a partial count after progress', async (t) => {
  const nsA = Netns.create(t);
  const nsB = Netns.create(t);
  veth(nsA, nsB, { v4: [A, B], v6: ['fd00:202::1', 'fd00:202::2'], staticNeighbours: true });
  const agentA = await Agent.start(t, nsA);

  const fd = await agentA.call<number>('rawOpen', { family: 4, protocol: 47, opts: { ttl: 64 } });
  const io = await agentA.call<number>('io', { fd, kind: 'ip4', slots: 1, slotSize: 64 });
  const packet = eoip(1, Buffer.alloc(0));

  // No route to UNROUTED inside nsA: the kernel refuses before anything leaves.
  const error = await t.throwsAsync(
    agentA.call('send', { handle: io, packets: [packet], dsts: [ipv4Hex(UNROUTED)] }),
  );
  t.is((error as { code?: string }).code, 'ENETUNREACH');
  t.is((error as { syscall?: string }).syscall, 'sendmmsg');
  t.regex(error!.message, /^sendmmsg fd \d+: Network is unreachable \(ENETUNREACH\)$/);

  // Good, bad, good: the first is taken, the call stops at the bad one.
  const partial = await agentA.call<number>('send', {
    handle: io,
    packets: [packet, packet, packet],
    dsts: [ipv4Hex(B), ipv4Hex(UNROUTED), ipv4Hex(B)],
  });
  t.is(partial, 1);
  const stats = await agentA.call<{ txPackets: number; txErrors: number }>('stats', { handle: io });
  t.is(stats.txPackets, 1);
  t.is(stats.txErrors, 1);

  // Too big for IPv4 at all.
  const tooBig = await t.throwsAsync(
    agentA.call('send', { handle: io, packets: ['00'.repeat(70000)], dsts: [ipv4Hex(B)] }),
  );
  t.is((tooBig as { code?: string }).code, 'EMSGSIZE');
});
