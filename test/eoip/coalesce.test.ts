import { execFileSync } from 'node:child_process';
import test from 'ava';
import { Coalescer } from '../../src/eoip/coalesce.ts';
import { GsoType, VnetFlags } from '../../src/eoip/offload.ts';
import { createPieceList, joinMessage, type PieceList } from '../../src/eoip/pieces.ts';
import { REPO_DIR } from '../helpers.ts';

const ORACLE = `${REPO_DIR}test/eoip/fixtures/tcp_segments.py`;

interface Spec {
  seq: number;
  len: number;
  v6?: boolean;
  flags?: string;
  ack?: number;
  window?: number;
  tsval?: number;
  sport?: number;
  id?: number;
  tos?: number;
  ipflags?: string;
  frag?: number;
  urgptr?: number;
  corrupt?: boolean;
}

interface Verdict {
  flags: number;
  gso_type: number;
  hdr_len: number;
  gso_size: number;
  csum_start: number;
  csum_offset: number;
  len: number;
  ip_sum_ok?: boolean;
  ip_len_ok?: boolean;
  ip6_plen_ok?: boolean;
  l4_sum_ok: boolean;
  segments: string[];
}

/** Frames built by scapy (every length and checksum its own), as hex. */
function build(specs: Spec[]): string[] {
  const out = execFileSync('/usr/bin/python3', [ORACLE, 'build'], {
    input: JSON.stringify(specs),
    encoding: 'utf8',
  });
  return out.trim().split('\n');
}

/** scapy's verdict on each written message (virtio-net header + frame). */
function check(messages: Uint8Array[]): Verdict[] {
  const input = messages.map((m) => Buffer.from(m).toString('hex')).join('\n');
  return JSON.parse(
    execFileSync('/usr/bin/python3', [ORACLE, 'check'], { input, encoding: 'utf8' }),
  ) as Verdict[];
}

/**
 * The frames one after another in one receive buffer (28 bytes in front of each, as behind an IPv4
 * and EoIP header), through a Coalescer; returns the messages it queued, joined, and the list.
 */
function coalesce(frames: string[]): { messages: Uint8Array[]; list: PieceList } {
  const buf = new Uint8Array(frames.reduce((n, f) => n + 28 + f.length / 2 + 4, 0));
  const list = createPieceList(64, 128, 64 * 10);
  const c = new Coalescer(list);
  let at = 0;
  for (const hex of frames) {
    const bytes = Buffer.from(hex, 'hex');
    at += 28;
    buf.set(bytes, at);
    if (!c.hasRoom()) throw new Error('list full');
    c.add(buf, at, bytes.length);
    at += bytes.length + 4;
  }
  c.finish();
  const messages = Array.from({ length: list.messages }, (_, i) => joinMessage(list, [buf, list.headers], i));
  return { messages, list };
}

/** A flow of `n` full segments of `mss` and a last one of `last` bytes with PSH, from `seq`. */
function flow(n: number, mss: number, last: number, seq: number, extra: Partial<Spec> = {}): Spec[] {
  const specs: Spec[] = [];
  for (let i = 0; i < n; i++)
    specs.push({ seq: (seq + i * mss) % 2 ** 32, len: mss, id: 0x1234 + i, ...extra });
  specs.push({ seq: (seq + n * mss) % 2 ** 32, len: last, flags: 'PA', id: 0x1234 + n, ...extra });
  return specs;
}

for (const v6 of [false, true]) {
  const name = v6 ? 'TCPv6' : 'TCPv4';
  test(`${name}: one flow's segments become one superframe that a TSO cuts back into the same frames`, (t) => {
    // The sequence number wraps inside the run; the last segment is short, odd and has PSH.
    const specs = flow(5, 1448, 777, 2 ** 32 - 3000, { v6 });
    const frames = build(specs);
    const { messages, list } = coalesce(frames);
    t.is(messages.length, 1);
    t.is(list.msgFrames[0], 6, 'six frames in the message');
    t.is(list.pieces, 2 + 5, 'the header, the first frame, five later payloads: nothing copied');
    const [v] = check(messages);
    const l4 = 14 + (v6 ? 40 : 20);
    t.like(v, {
      flags: VnetFlags.NEEDS_CSUM,
      gso_type: v6 ? GsoType.TCPV6 : GsoType.TCPV4,
      gso_size: 1448,
      hdr_len: l4 + 32,
      csum_start: l4,
      csum_offset: 16,
      len: l4 + 32 + 5 * 1448 + 777,
      l4_sum_ok: true,
    });
    t.true(v6 ? v!.ip6_plen_ok : v!.ip_sum_ok && v!.ip_len_ok, JSON.stringify(v));
    t.deepEqual(v!.segments, frames, 'cut back by a TSO, the superframe gives the frames received');
  });
}

test('a run stops at 65535 bytes of IP: 50 segments of 1448 make two superframes', (t) => {
  const frames = build(flow(49, 1448, 1448, 1000));
  const { messages, list } = coalesce(frames);
  // 20 (IP) + 32 (TCP) + 45 * 1448 = 65212; one more would pass 65535.
  t.deepEqual([...list.msgFrames.subarray(0, list.messages)], [45, 5]);
  const verdicts = check(messages);
  t.true(verdicts.every((v) => v.l4_sum_ok && v.ip_sum_ok && v.ip_len_ok && v.len <= 65535 + 14));
  t.deepEqual(
    verdicts.flatMap((v) => v.segments),
    frames,
  );
});

test('a single segment goes as it came, marked DATA_VALID (its checksum was verified)', (t) => {
  const frames = build([{ seq: 5, len: 100, flags: 'PA' }]);
  const { messages } = coalesce(frames);
  t.is(messages.length, 1);
  t.is(messages[0]![0], VnetFlags.DATA_VALID);
  t.deepEqual([...messages[0]!.subarray(1, 10)], [0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.is(Buffer.from(messages[0]!.subarray(10)).toString('hex'), frames[0]!);
});

/** Cases where the second frame must not join the first: [what, first spec, second spec]. */
const APART: [string, Spec, Spec][] = [
  ['a gap in the sequence', { seq: 0, len: 1000 }, { seq: 1001, len: 1000 }],
  ['another ACK number', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, ack: 2 }],
  ['other options (a new timestamp)', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, tsval: 10 }],
  ['another window', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, window: 600 }],
  ['another flow (source port)', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, sport: 40001 }],
  ['another TOS (ECN CE)', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, tos: 3 }],
  ['a longer segment than the first', { seq: 0, len: 1000 }, { seq: 1000, len: 1200 }],
  ['after PSH', { seq: 0, len: 1000, flags: 'PA' }, { seq: 1000, len: 1000 }],
  ['after a short segment', { seq: 0, len: 500 }, { seq: 500, len: 1000 }],
  ['IPv6 after IPv4', { seq: 0, len: 1000 }, { seq: 1000, len: 1000, v6: true }],
];

for (const [what, a, b] of APART) {
  test(`not coalesced: ${what}`, (t) => {
    const frames = build([a, b]);
    const { messages } = coalesce(frames);
    t.is(messages.length, 2);
    messages.forEach((m, i) => {
      t.is(m[0], VnetFlags.DATA_VALID, `frame ${i}: verified, written as it came`);
      t.is(Buffer.from(m.subarray(10)).toString('hex'), frames[i]!);
    });
  });
}

/** Frames that are never coalesced nor marked verified, and do not join their neighbours. */
const AS_THEY_CAME: [string, Spec][] = [
  ['SYN', { seq: 1000, len: 1000, flags: 'S' }],
  ['FIN', { seq: 1000, len: 1000, flags: 'FA' }],
  ['RST', { seq: 1000, len: 1000, flags: 'RA' }],
  ['URG', { seq: 1000, len: 1000, flags: 'UA', urgptr: 5 }],
  ['CWR', { seq: 1000, len: 1000, flags: 'CA' }],
  ['a bad TCP checksum', { seq: 1000, len: 1000, corrupt: true }],
  ['an IPv4 fragment', { seq: 1000, len: 1000, ipflags: 'MF' }],
  ['no payload (a pure ACK)', { seq: 1000, len: 0 }],
];

for (const [what, spec] of AS_THEY_CAME) {
  test(`written as it came, unverified, between two segments it would fit: ${what}`, (t) => {
    const frames = build([{ seq: 0, len: 1000 }, spec, { seq: 2000, len: 1000 }]);
    const { messages } = coalesce(frames);
    t.is(messages.length, 3);
    t.deepEqual(
      messages.map((m) => m[0]),
      [VnetFlags.DATA_VALID, 0, VnetFlags.DATA_VALID],
    );
    messages.forEach((m, i) => {
      t.deepEqual([...m.subarray(1, 10)], [0, 0, 0, 0, 0, 0, 0, 0, 0]);
      t.is(Buffer.from(m.subarray(10)).toString('hex'), frames[i]!, `frame ${i} unchanged`);
    });
  });
}

test('not TCP (UDP, ARP): written as it came with a zero virtio-net header', (t) => {
  const udp = '02000000000202000000000108004500001c000100004011f4d7c6336401c63364029c40145100080000';
  const arp = `ffffffffffff020000000001080600010800060400010200000000010${'0'.repeat(35)}`;
  const { messages } = coalesce([udp, arp]);
  t.is(messages.length, 2);
  t.deepEqual([...messages[0]!.subarray(0, 10)], Array(10).fill(0));
  t.is(Buffer.from(messages[1]!.subarray(10)).toString('hex'), arp);
});
