/**
 * The eBPF EoIP programs (bpf/eoip_decap.c, bpf/eoip_encap.c) against the TypeScript datapath
 * (src/eoip/datapath.ts) under BPF_PROG_TEST_RUN: every packet of the shared corpus, each truncation and
 * a seeded set of byte mutations reaches the same verdict in both engines (the program's verdict counter
 * that grew against receive4/receive6's result), decapsulated frames are the TS datapath's bytes, and
 * encapsulated packets are its EoIP payload behind the outer header the module builds. Loaded through the
 * addon's libbpf loader with maps in a private bpffs. Root only: fails, never skips, without it.
 */
import test from 'ava';
import { EoipBpf } from '../../src/bpf/eoip-datapath.ts';
import { EoipVerdict, RX_LOCAL_CONFIGURED, TxRole } from '../../src/bpf/eoip-maps.ts';
import { type PinDir, privateBpffs } from '../../src/bpf/loader.ts';
import { TcAction } from '../../src/bpf/programs.ts';
import {
  createRxResult,
  type DatapathTunnel,
  DROP_REASON_NAMES,
  DropReason,
  encapsulate4,
  encapsulate6,
  receive4,
  receive6,
} from '../../src/eoip/datapath.ts';
import { remoteKey, TunnelTable } from '../../src/eoip/table.ts';
import { parseAddress as v4 } from '../../src/wire/ipv4.ts';
import { parseAddress as v6 } from '../../src/wire/ipv6.ts';
import { CORPUS_TUNNELS, type CorpusTunnel, corpusMaxFrame, RX_CASES, TX_CASES } from '../eoip/corpus.ts';
import { toHex } from '../helpers.ts';

const ETH = 14;
/** BPF_PROG_TEST_RUN runs TC programs on the loopback device. */
const TEST_RUN_IFINDEX = 1;
/** The tap ifindex written into the receive entries (a redirect target is never followed in a test run). */
const TAP_IFINDEX = 4242;

interface T extends DatapathTunnel {
  corpus: CorpusTunnel;
}

let pins: PinDir;
let dp: EoipBpf;
const table = new TunnelTable<T>();

function addressBytes(family: 4 | 6, text: string): Uint8Array {
  const b = family === 4 ? new Uint8Array(4) : v6(text)!;
  if (family === 4) new DataView(b.buffer).setUint32(0, v4(text)! >>> 0);
  return b;
}

test.before(() => {
  if (process.getuid?.() !== 0) throw new Error('the eBPF EoIP tests need root (bpffs, BPF_PROG_TEST_RUN)');
});

test.before(async () => {
  pins = await privateBpffs();
  dp = EoipBpf.open(pins.path);
  CORPUS_TUNNELS.forEach((c, slot) => {
    table.add({
      corpus: c,
      family: c.family,
      tunnelId: c.tunnelId,
      ...remoteKey(c.family, c.remote),
      local4: c.family === 4 && c.local ? v4(c.local)! : -1,
      local6: c.family === 6 && c.local ? v6(c.local)! : null,
    });
    dp.resetStats(slot);
    dp.setRx(c.family, c.tunnelId, addressBytes(c.family, c.remote), {
      tapIfindex: TAP_IFINDEX,
      slot,
      flags: c.local ? RX_LOCAL_CONFIGURED : 0,
      local: addressBytes(c.family, c.resolvedLocal),
    });
  });
  for (const c of CORPUS_TUNNELS) dp.syncTunnelId(c.family, c.tunnelId);
});

test.after.always(() => {
  dp?.close();
  pins?.release();
});

type Expected =
  | { kind: 'uncounted' }
  | { kind: 'verdict'; slot: number; action: number; frame?: Uint8Array }
  | { kind: 'unrepresentable' };

/** IPv4 header checksum as ip_rcv checks it. */
function ipv4ChecksumOk(p: Uint8Array, hlen: number): boolean {
  let sum = 0;
  for (let i = 0; i < hlen; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/**
 * What the program must do with an IP packet (and `trailer` bytes behind it), derived from the TS datapath
 * plus what the kernel checks before a raw socket sees a packet, and the program's own documented limits.
 */
function expected(family: 4 | 6, l3: Uint8Array): Expected {
  const rx = createRxResult<T>();
  let verdict: number;
  let outerLen: number;
  let lenMin: number;
  if (family === 4) {
    if (l3.length < 20) return { kind: 'unrepresentable' }; // BPF_PROG_TEST_RUN refuses it
    if (l3[9] !== 47) return { kind: 'uncounted' };
    const hlen = (l3[0]! & 0x0f) * 4;
    const tot = (l3[2]! << 8) | l3[3]!;
    if (l3[0]! >>> 4 !== 4 || hlen < 20 || tot < hlen || tot > l3.length)
      return { kind: 'verdict', slot: DropReason.BAD_IP_HEADER, action: TcAction.UNSPEC };
    // ip_rcv drops a bad checksum before any raw socket: the program counts it and leaves it to the stack.
    if (!ipv4ChecksumOk(l3, hlen))
      return { kind: 'verdict', slot: DropReason.BAD_IP_HEADER, action: TcAction.UNSPEC };
    // The stack trims to the total length before raw delivery.
    verdict = receive4(l3, 0, tot, table, rx);
    outerLen = hlen + 8;
    lenMin = 20;
  } else {
    if (l3.length < 40) return { kind: 'unrepresentable' };
    if (l3[6] !== 97) return { kind: 'uncounted' };
    const payload = (l3[4]! << 8) | l3[5]!;
    if (l3[0]! >>> 4 !== 6 || 40 + payload > l3.length)
      return { kind: 'verdict', slot: DropReason.BAD_IP_HEADER, action: TcAction.UNSPEC };
    verdict = receive6(l3, 40, payload, l3, 8, l3, 24, table, rx);
    outerLen = 42;
    lenMin = 40;
  }
  if (verdict >= 0) {
    const dropped = verdict === DropReason.FRAME_TOO_SHORT || verdict === DropReason.FRAME_EXCEEDS_DATA;
    return { kind: 'verdict', slot: verdict, action: dropped ? TcAction.SHOT : TcAction.UNSPEC };
  }
  const tunnel = rx.tunnel!;
  // A tunnel without a configured local accepts any local destination in TS; the program takes the fast
  // path only for the address the kernel would send from, and leaves the rest to the stack and the daemon.
  const dst = family === 4 ? l3.subarray(16, 20) : l3.subarray(24, 40);
  if (tunnel.corpus.local === null && toHex(dst) !== toHex(addressBytes(family, tunnel.corpus.resolvedLocal)))
    return { kind: 'verdict', slot: EoipVerdict.SLOW_OTHER, action: TcAction.UNSPEC };
  if (rx.keepalive) return { kind: 'verdict', slot: EoipVerdict.SLOW_KEEPALIVE, action: TcAction.UNSPEC };
  // bpf_skb_adjust_room keeps at least a minimal outer-family header's worth of bytes after the cut.
  if (l3.length - outerLen - ETH < lenMin)
    return { kind: 'verdict', slot: EoipVerdict.SLOW_OTHER, action: TcAction.UNSPEC };
  const frame = l3.subarray(rx.frameOffset, rx.frameOffset + rx.frameLength);
  return { kind: 'verdict', slot: EoipVerdict.DELIVERED, action: TcAction.REDIRECT, frame };
}

function ethernet(family: 4 | 6, l3: Uint8Array, trailer?: Uint8Array): Buffer {
  // Destination MAC zero: the loopback device's address, so the test run marks it PACKET_HOST.
  const eth = Buffer.from(`000000000000020000000001${family === 4 ? '0800' : '86dd'}`, 'hex');
  return Buffer.concat([eth, l3, trailer ?? Buffer.alloc(0)]);
}

function slotsThatGrew(before: Record<string, number>, after: Record<string, number>): string[] {
  return Object.keys(after).filter((k) => after[k]! !== before[k]!);
}

const SLOT_NAMES = [
  ...DROP_REASON_NAMES,
  'delivered',
  'slow_keepalive',
  'slow_other',
  'rx_error',
  'tx_no_tunnel',
];

/** Runs one packet through eoip_decap and checks it against the oracle; returns false when not runnable. */
function checkRx(
  t: import('ava').ExecutionContext,
  label: string,
  family: 4 | 6,
  l3: Uint8Array,
  trailer?: Uint8Array,
): boolean {
  const exp = expected(family, l3);
  if (exp.kind === 'unrepresentable') return false;
  const input = ethernet(family, l3, trailer);
  const before = dp.verdicts();
  const run = dp.testRunDecap(input);
  const grew = slotsThatGrew(before, dp.verdicts());
  if (exp.kind === 'uncounted') {
    t.deepEqual(grew, [], `${label}: no counter`);
    t.is(run.retval, TcAction.UNSPEC, `${label}: passed`);
    t.is(toHex(run.data), toHex(input), `${label}: untouched`);
    return true;
  }
  t.deepEqual(grew, [SLOT_NAMES[exp.slot]], `${label}: verdict`);
  t.is(run.retval, exp.action, `${label}: return code`);
  if (exp.frame) t.is(toHex(run.data), toHex(exp.frame), `${label}: decapsulated frame`);
  else t.is(toHex(run.data), toHex(input), `${label}: untouched`);
  return true;
}

test('every corpus packet: same verdict as the TS datapath, same frame bytes', (t) => {
  const seen = new Set<string>();
  for (const c of RX_CASES) {
    t.true(checkRx(t, c.name, c.family, c.packet, c.trailer), `${c.name}: runnable`);
    const exp = expected(c.family, c.packet);
    if (exp.kind === 'verdict') seen.add(SLOT_NAMES[exp.slot]!);
  }
  // The corpus reaches every drop reason the TS datapath counts, and each thing the program does.
  for (const name of [...DROP_REASON_NAMES, 'delivered', 'slow_keepalive', 'slow_other'])
    t.true(seen.has(name), `the corpus exercises ${name}`);
});

test('truncations and seeded byte mutations of every corpus packet agree with the TS datapath', (t) => {
  let runs = 0;
  let seed = 0x5eed;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (const c of RX_CASES) {
    for (let len = c.packet.length - 1; len >= 0; len -= Math.max(1, Math.floor(c.packet.length / 40))) {
      if (checkRx(t, `${c.name} cut to ${len}`, c.family, c.packet.subarray(0, len))) runs++;
    }
    for (let i = 0; i < 24; i++) {
      const m = Uint8Array.from(c.packet);
      const at = rand() % Math.min(m.length, 80);
      m[at] = rand() & 0xff;
      if (checkRx(t, `${c.name} byte ${at} = ${m[at]}`, c.family, m, c.trailer)) runs++;
    }
  }
  t.log(`${runs} runs`);
  t.true(runs > 1000);
});

function tunnelByName(name: string): CorpusTunnel {
  return CORPUS_TUNNELS.find((c) => c.name === name)!;
}

test('encapsulation: the TS datapath EoIP payload behind the outer header (IP and non-IP frames alike); frames over the MTU stay on the tap', (t) => {
  for (const c of TX_CASES) {
    const tn = tunnelByName(c.tunnel);
    const slot = CORPUS_TUNNELS.indexOf(tn);
    const maxFrame = corpusMaxFrame(tn.family);
    dp.setTx(TEST_RUN_IFINDEX, {
      family: tn.family,
      tunnelId: tn.tunnelId,
      slot,
      role: TxRole.TAP,
      underlayIfindex: TEST_RUN_IFINDEX,
      maxFrame,
      segmenterIfindex: 0,
      tapIfindex: 0,
      resendIfindex: TEST_RUN_IFINDEX,
      ttl: tn.ttl,
      tos: tn.tos,
      local: addressBytes(tn.family, tn.resolvedLocal),
      remote: addressBytes(tn.family, tn.remote),
    });
    const before = dp.stats(slot);
    const run = dp.testRunEncap(Buffer.from(c.frame));
    const after = dp.stats(slot);
    if (c.frame.length > maxFrame) {
      t.is(run.retval, TcAction.UNSPEC, `${c.name}: left on the tap`);
      t.is(toHex(run.data), toHex(c.frame), `${c.name}: untouched`);
      t.is(after.txSlow - before.txSlow, 1, `${c.name}: counted as slow path`);
      continue;
    }
    t.is(
      run.retval,
      TcAction.REDIRECT,
      `${c.name}: redirected (to the underlay, or non-IP to the resend end)`,
    );
    const out = run.data;
    const payload = new Uint8Array(c.frame.length + 8);
    const outer = tn.family === 4 ? 20 : 40;
    const n = (tn.family === 4 ? encapsulate4 : encapsulate6)(
      tn.tunnelId,
      c.frame,
      0,
      c.frame.length,
      payload,
      0,
    );
    t.is(toHex(out.subarray(ETH + outer)), toHex(payload.subarray(0, n)), `${c.name}: EoIP header and frame`);
    t.is(out.readUInt16BE(12), tn.family === 4 ? 0x0800 : 0x86dd, `${c.name}: outer EtherType`);
    const ip = out.subarray(ETH, ETH + outer);
    const local = addressBytes(tn.family, tn.resolvedLocal);
    const remote = addressBytes(tn.family, tn.remote);
    if (tn.family === 4) {
      t.is(ip[0], 0x45, `${c.name}: version, IHL`);
      t.is(ip[1], tn.tos, `${c.name}: TOS`);
      t.is((ip[2]! << 8) | ip[3]!, 20 + n, `${c.name}: total length`);
      t.is(ip[6]! & 0xff, 0, `${c.name}: DF clear, no fragment`);
      t.is(ip[7], 0, `${c.name}: fragment offset 0`);
      t.is(ip[8], tn.ttl, `${c.name}: TTL`);
      t.is(ip[9], 47, `${c.name}: protocol`);
      t.true(ipv4ChecksumOk(ip, 20), `${c.name}: header checksum`);
      t.is(toHex(ip.subarray(12, 16)), toHex(local), `${c.name}: source`);
      t.is(toHex(ip.subarray(16, 20)), toHex(remote), `${c.name}: destination`);
    } else {
      t.is(ip[0]! >>> 4, 6, `${c.name}: version`);
      t.is(((ip[0]! & 0x0f) << 4) | (ip[1]! >>> 4), tn.tos, `${c.name}: traffic class`);
      t.is((ip[4]! << 8) | ip[5]!, n, `${c.name}: payload length`);
      t.is(ip[6], 97, `${c.name}: next header`);
      t.is(ip[7], tn.ttl, `${c.name}: hop limit`);
      t.is(toHex(ip.subarray(8, 24)), toHex(local), `${c.name}: source`);
      t.is(toHex(ip.subarray(24, 40)), toHex(remote), `${c.name}: destination`);
    }
    t.is(after.txPackets - before.txPackets, 1, `${c.name}: tx_packets`);
    t.is(after.txBytes - before.txBytes, n, `${c.name}: tx_bytes (EoIP header + frame)`);
  }
  dp.deleteTx(TEST_RUN_IFINDEX);
});

test('a frame on a device no tunnel claims passes untouched and is counted', (t) => {
  const frame = Buffer.from(TX_CASES[0]!.frame);
  const before = dp.verdicts().tx_no_tunnel!;
  const run = dp.testRunEncap(frame);
  t.is(run.retval, TcAction.UNSPEC);
  t.is(toHex(run.data), toHex(frame));
  t.is(dp.verdicts().tx_no_tunnel! - before, 1);
});

test('decapsulation counts against the tunnel: packets, bytes, errors, slow path', (t) => {
  const slot = 0; // tunnel a
  const before = dp.stats(slot);
  const deliver = RX_CASES.find((c) => c.name === 'eoip: 98-byte IPv4 frame to tunnel a')!;
  const keepalive = RX_CASES.find((c) => c.name === 'eoip: keepalive to tunnel a')!;
  const short = RX_CASES.find((c) => c.name === 'eoip: frame length 5')!;
  dp.testRunDecap(ethernet(4, deliver.packet));
  dp.testRunDecap(ethernet(4, keepalive.packet));
  dp.testRunDecap(ethernet(4, short.packet));
  const after = dp.stats(slot);
  t.is(after.rxPackets - before.rxPackets, 1);
  t.is(after.rxBytes - before.rxBytes, 98);
  t.is(after.rxSlow - before.rxSlow, 1);
  t.is(after.rxErrors - before.rxErrors, 1);
});
