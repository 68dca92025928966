import { execFileSync } from 'node:child_process';
import test from 'ava';
import {
  completeChecksum,
  createVnetHeader,
  GsoType,
  SegmentError,
  segment,
  VnetFlags,
} from '../../src/eoip/offload.ts';
import { createPieceList, joinMessage } from '../../src/eoip/pieces.ts';
import { sumWords } from '../../src/wire/checksum.ts';
import { REPO_DIR } from '../helpers.ts';

const ORACLE = `${REPO_DIR}test/eoip/fixtures/check_segments.py`;

interface Checked {
  len: number;
  ip_id?: number;
  ip_sum_ok?: boolean;
  ip_len_ok?: boolean;
  ip6_plen_ok?: boolean;
  l4_sum_ok: boolean;
  udp_len_ok?: boolean;
  seq?: number;
  flags?: number;
  payload?: number;
}

/** scapy's verdict on each frame (an independent implementation of every checksum and length). */
function scapy(frames: Uint8Array[]): Checked[] {
  const input = frames.map((f) => Buffer.from(f).toString('hex')).join('\n');
  return JSON.parse(execFileSync('/usr/bin/python3', [ORACLE], { input, encoding: 'utf8' })) as Checked[];
}

const A4 = [198, 51, 100, 1];
const B4 = [198, 51, 100, 2];
const A6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1];
const B6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2];
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;

function payloadOf(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

/** A TCP header with 12 bytes of options (NOP NOP timestamps), as Linux sends. */
function tcpHeader(seq: number, flags: number): number[] {
  return [
    0x9c,
    0x40,
    0x14,
    0x51, // ports 40000 -> 5201
    (seq >>> 24) & 0xff,
    (seq >>> 16) & 0xff,
    (seq >>> 8) & 0xff,
    seq & 0xff,
    0,
    0,
    0,
    1, // ack
    0x80,
    flags,
    0x01,
    0xf6, // data offset 8 words, flags, window
    0,
    0,
    0,
    0, // checksum (ours to fill), urgent
    1,
    1,
    8,
    10,
    0,
    0,
    0,
    9,
    0,
    0,
    0,
    7,
  ];
}

function udpHeader(): number[] {
  return [0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0];
}

function superframe4(l4: number[], payload: number[], protocol: number): Uint8Array {
  const total = 20 + l4.length + payload.length;
  const ip = [
    0x45,
    0,
    (total >>> 8) & 0xff,
    total & 0xff,
    0x12,
    0x34,
    0x40,
    0,
    64,
    protocol,
    0,
    0,
    ...A4,
    ...B4,
  ];
  return Uint8Array.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, ...ip, ...l4, ...payload]);
}

function superframe6(l4: number[], payload: number[], protocol: number): Uint8Array {
  const plen = l4.length + payload.length;
  const ip = [0x60, 0, 0, 0, (plen >>> 8) & 0xff, plen & 0xff, protocol, 64, ...A6, ...B6];
  return Uint8Array.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, ...ip, ...l4, ...payload]);
}

/** Bytes left in front of each segment's header copy (the tunnel header's place). */
const PREFIX = 8;

function cut(frame: Uint8Array, gsoType: number, gsoSize: number, l4: number): Uint8Array[] {
  const h = createVnetHeader();
  Object.assign(h, {
    flags: VnetFlags.NEEDS_CSUM,
    gsoType,
    gsoSize,
    csumStart: l4,
    csumOffset: gsoType === GsoType.UDP_L4 ? 6 : 16,
  });
  const list = createPieceList(64, 128, 64 * 256);
  const n = segment(frame, 0, frame.length, h, list, PREFIX);
  if (n < 0) throw new Error(`segment: ${n}`);
  assertPieces(list, n);
  return Array.from({ length: n }, (_, i) => joinMessage(list, [frame, list.headers], i).slice(PREFIX));
}

/** Each segment is two pieces: its header copy (behind the prefix) and its payload, where it lies in the frame. */
function assertPieces(list: ReturnType<typeof createPieceList>, n: number): void {
  if (list.messages !== n || list.pieces !== 2 * n)
    throw new Error(`${list.messages} messages, ${list.pieces} pieces`);
  for (let i = 0; i < n; i++) {
    if (list.pieceBuf[2 * i] !== 1 || list.pieceBuf[2 * i + 1] !== 0) throw new Error(`segment ${i}: pieces`);
  }
}

test('TCPv4 superframe: segments of gso_size with a short last one, checksums good to scapy', (t) => {
  const seq0 = 0xfffff000; // the sequence number wraps inside the superframe
  const frame = superframe4(tcpHeader(seq0, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR), payloadOf(4001), 6);
  const segs = cut(frame, GsoType.TCPV4, 1448, 34);
  const checked = scapy(segs);
  t.deepEqual(
    checked.map((c) => c.payload),
    [1448, 1448, 1105],
  );
  checked.forEach((c, i) => {
    t.true(c.ip_sum_ok && c.ip_len_ok && c.l4_sum_ok, `segment ${i}: ${JSON.stringify(c)}`);
    t.is(c.ip_id, 0x1234 + i);
    t.is(c.seq, (seq0 + i * 1448) % 2 ** 32);
  });
  t.deepEqual(
    checked.map((c) => c.flags),
    [TCP_ACK | TCP_CWR, TCP_ACK, TCP_ACK | TCP_PSH | TCP_FIN],
    'CWR on the first only, PSH and FIN on the last only',
  );
  // The payload bytes are the superframe's, in order.
  const joined = Buffer.concat(segs.map((s) => Buffer.from(s.subarray(66))));
  t.deepEqual([...joined], payloadOf(4001));
});

test('TCPv6 superframe, odd payload length: payload lengths and checksums good to scapy', (t) => {
  const frame = superframe6(tcpHeader(1000, TCP_ACK | TCP_PSH), payloadOf(2999), 6);
  const checked = scapy(cut(frame, GsoType.TCPV6, 1428, 54));
  t.deepEqual(
    checked.map((c) => c.payload),
    [1428, 1428, 143],
  );
  for (const c of checked) t.true(c.ip6_plen_ok && c.l4_sum_ok, JSON.stringify(c));
  t.deepEqual(
    checked.map((c) => c.flags),
    [TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH],
  );
});

test('UDP_L4 superframes (IPv4 and IPv6): UDP length and checksum per segment good to scapy', (t) => {
  const v4 = scapy(cut(superframe4(udpHeader(), payloadOf(3001), 17), GsoType.UDP_L4, 1000, 34));
  t.is(v4.length, 4);
  v4.forEach((c, i) => {
    t.true(c.ip_sum_ok && c.udp_len_ok && c.l4_sum_ok && c.ip_id === 0x1234 + i, JSON.stringify(c));
  });
  const v6 = scapy(cut(superframe6(udpHeader(), payloadOf(2500), 17), GsoType.UDP_L4, 1200, 54));
  t.deepEqual(
    v6.map((c) => c.len),
    [14 + 40 + 8 + 1200, 14 + 40 + 8 + 1200, 14 + 40 + 8 + 100],
  );
  for (const c of v6) t.true(c.ip6_plen_ok && c.udp_len_ok && c.l4_sum_ok, JSON.stringify(c));
});

test('segment refuses what is not what the header says, and what does not fit', (t) => {
  const frame = superframe4(tcpHeader(1, TCP_ACK), payloadOf(3000), 17); // protocol says UDP
  const h = createVnetHeader();
  Object.assign(h, { gsoType: GsoType.TCPV4, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  const list = createPieceList(2, 4, 2 * 256);
  t.is(segment(frame, 0, frame.length, h, list, PREFIX), SegmentError.MALFORMED);
  const tcp = superframe4(tcpHeader(1, TCP_ACK), payloadOf(3000), 6);
  t.is(segment(tcp, 0, tcp.length, h, list, PREFIX), SegmentError.NO_ROOM, '3 segments, room for 2');
  t.is(list.messages, 0);
  t.is(list.headersUsed, 0);
});

test('completeChecksum: a NEEDS_CSUM frame (pseudo-header sum in the field) gets the checksum scapy computes', (t) => {
  const frame = superframe4(tcpHeader(77, TCP_ACK | TCP_PSH), payloadOf(999), 6);
  // What the kernel leaves for CHECKSUM_PARTIAL: the folded pseudo-header sum, not complemented.
  const l4Length = frame.length - 34;
  let pseudo = sumWords(frame, 26, 34, 6 + l4Length);
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
  frame[50] = pseudo >>> 8;
  frame[51] = pseudo & 0xff;
  const h = createVnetHeader();
  Object.assign(h, { flags: VnetFlags.NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
  t.true(completeChecksum(frame, 0, frame.length, h));
  const [c] = scapy([frame]);
  t.true(c!.l4_sum_ok, JSON.stringify(c));
  h.csumStart = frame.length;
  t.false(completeChecksum(frame, 0, frame.length, h), 'a csum_start beyond the frame is refused');
});
