/**
 * Byte layouts of the eBPF EoIP datapath's maps (bpf/include/eoip_maps.h): transmit entries keyed by
 * ifindex, receive entries keyed by (family, tunnel id, remote), tunnel ids in use, per-tunnel per-CPU
 * statistics and the per-CPU verdict counters. Host byte order for numbers, network order for addresses.
 */
import { endianness } from 'node:os';
import type { Family } from '../eoip/config.ts';
import { DROP_REASON_NAMES } from '../eoip/datapath.ts';

const LE = endianness() === 'LE';
export const EOIP_ADDR_LEN = 16;
export const EOIP_MAX_TUNNELS = 4096;

/** Verdict slots of eoip_verdicts: DropReason's numbers first, then what the programs did. */
export const EoipVerdict = {
  DELIVERED: 9,
  SLOW_KEEPALIVE: 10,
  SLOW_OTHER: 11,
  RX_ERROR: 12,
  TX_NO_TUNNEL: 13,
} as const;
export const EOIP_VERDICT_SLOTS = 16;
export const EOIP_VERDICT_NAMES: readonly string[] = [
  ...DROP_REASON_NAMES,
  'delivered',
  'slow_keepalive',
  'slow_other',
  'rx_error',
  'tx_no_tunnel',
];

export const TxRole = { TAP: 0, SEGMENTS: 1, RESEND: 2 } as const;

export interface EoipTx {
  family: Family;
  tunnelId: number;
  slot: number;
  role: number;
  underlayIfindex: number;
  maxFrame: number;
  segmenterIfindex: number;
  tapIfindex: number;
  resendIfindex: number;
  ttl: number;
  tos: number;
  /** 4 or 16 bytes, network order. */
  local: Uint8Array;
  remote: Uint8Array;
}

export const EOIP_TX_SIZE = 72;

export function u32Key(value: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(value >>> 0);
  else b.writeUInt32BE(value >>> 0);
  return b;
}

function putU32(b: Buffer, off: number, v: number): void {
  if (LE) b.writeUInt32LE(v >>> 0, off);
  else b.writeUInt32BE(v >>> 0, off);
}

function getU32(b: Buffer, off: number): number {
  return LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
}

function getU64(b: Buffer, off: number): number {
  return Number(LE ? b.readBigUInt64LE(off) : b.readBigUInt64BE(off));
}

export function encodeTx(tx: EoipTx): Buffer {
  const b = Buffer.alloc(EOIP_TX_SIZE);
  putU32(b, 0, tx.family);
  putU32(b, 4, tx.tunnelId);
  putU32(b, 8, tx.slot);
  putU32(b, 12, tx.role);
  putU32(b, 16, tx.underlayIfindex);
  putU32(b, 20, tx.maxFrame);
  putU32(b, 24, tx.segmenterIfindex);
  putU32(b, 28, tx.tapIfindex);
  putU32(b, 32, tx.resendIfindex);
  b[36] = tx.ttl;
  b[37] = tx.tos;
  b.set(tx.local, 40);
  b.set(tx.remote, 56);
  return b;
}

export function decodeTx(b: Buffer): EoipTx {
  const family = getU32(b, 0) === 6 ? 6 : 4;
  const n = family === 6 ? 16 : 4;
  return {
    family,
    tunnelId: getU32(b, 4),
    slot: getU32(b, 8),
    role: getU32(b, 12),
    underlayIfindex: getU32(b, 16),
    maxFrame: getU32(b, 20),
    segmenterIfindex: getU32(b, 24),
    tapIfindex: getU32(b, 28),
    resendIfindex: getU32(b, 32),
    ttl: b[36]!,
    tos: b[37]!,
    local: Uint8Array.from(b.subarray(40, 40 + n)),
    remote: Uint8Array.from(b.subarray(56, 56 + n)),
  };
}

export const EOIP_RX_KEY_SIZE = 24;
export const EOIP_RX_SIZE = 32;
export const RX_LOCAL_CONFIGURED = 1;

export function encodeRxKey(family: Family, tunnelId: number, remote: Uint8Array): Buffer {
  const b = Buffer.alloc(EOIP_RX_KEY_SIZE);
  putU32(b, 0, family);
  putU32(b, 4, tunnelId);
  b.set(remote, 8);
  return b;
}

export interface EoipRx {
  tapIfindex: number;
  slot: number;
  flags: number;
  local: Uint8Array;
}

export function encodeRx(rx: EoipRx): Buffer {
  const b = Buffer.alloc(EOIP_RX_SIZE);
  putU32(b, 0, rx.tapIfindex);
  putU32(b, 4, rx.slot);
  putU32(b, 8, rx.flags);
  b.set(rx.local, 16);
  return b;
}

export function decodeRx(b: Buffer): EoipRx {
  return {
    tapIfindex: getU32(b, 0),
    slot: getU32(b, 4),
    flags: getU32(b, 8),
    local: Uint8Array.from(b.subarray(16)),
  };
}

export function encodeTidKey(family: Family, tunnelId: number): Buffer {
  const b = Buffer.alloc(8);
  putU32(b, 0, family);
  putU32(b, 4, tunnelId);
  return b;
}

/** struct eoip_stats, summed over CPUs. */
export interface EoipStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxSlow: number;
  txSlow: number;
  txSegmented: number;
}

export const EOIP_STATS_FIELDS: readonly (keyof EoipStats)[] = [
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'rxErrors',
  'txErrors',
  'rxSlow',
  'txSlow',
  'txSegmented',
];
export const EOIP_STATS_SIZE = EOIP_STATS_FIELDS.length * 8;

/** Sums a per-CPU lookup result (one 8-byte-aligned value per possible CPU). */
export function sumStats(perCpu: Buffer, cpus: number): EoipStats {
  const out = Object.fromEntries(EOIP_STATS_FIELDS.map((f) => [f, 0])) as unknown as EoipStats;
  for (let cpu = 0; cpu < cpus; cpu++) {
    const base = cpu * EOIP_STATS_SIZE;
    EOIP_STATS_FIELDS.forEach((f, i) => {
      out[f] += getU64(perCpu, base + i * 8);
    });
  }
  return out;
}

/** Sums per-CPU u64 values (the verdict counters). */
export function sumU64(perCpu: Buffer, cpus: number): number {
  let n = 0;
  for (let cpu = 0; cpu < cpus; cpu++) n += getU64(perCpu, cpu * 8);
  return n;
}
