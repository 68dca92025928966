/**
 * The eBPF EoIP datapath's programs and maps (bpf/eoip_encap.c, bpf/eoip_decap.c) as one object: both
 * loaded with their maps pinned by name under one directory (so they share them, and a restarted daemon
 * finds the same maps with their entries), and typed access to the entries and counters.
 */
import type { Family } from '../eoip/config.ts';
import { bpf, MapUpdate, type TestRunResult } from '../native/bpf.ts';
import {
  decodeRx,
  decodeTx,
  EOIP_RX_KEY_SIZE,
  EOIP_RX_SIZE,
  EOIP_STATS_SIZE,
  EOIP_TX_SIZE,
  EOIP_VERDICT_NAMES,
  EOIP_VERDICT_SLOTS,
  type EoipRx,
  type EoipStats,
  type EoipTx,
  encodeRx,
  encodeRxKey,
  encodeTidKey,
  encodeTx,
  sumStats,
  sumU64,
  u32Key,
} from './eoip-maps.ts';
import { BpfObject } from './loader.ts';

export const EOIP_ENCAP_OBJECT = 'eoip_encap';
export const EOIP_DECAP_OBJECT = 'eoip_decap';
export const EOIP_RESEND_OBJECT = 'eoip_resend';
/** Room for the headers encapsulation adds. */
const TEST_RUN_SLACK = 128;

export class EoipBpf {
  private readonly cpus = bpf.possibleCpus();

  private constructor(
    readonly pinRoot: string,
    private readonly encap: BpfObject,
    private readonly decap: BpfObject,
    private readonly resend: BpfObject,
  ) {}

  /** Loads both programs (the verifier runs here); maps already pinned under pinRoot are adopted. */
  static open(pinRoot: string): EoipBpf {
    const loaded: BpfObject[] = [];
    try {
      for (const name of [EOIP_ENCAP_OBJECT, EOIP_DECAP_OBJECT, EOIP_RESEND_OBJECT])
        loaded.push(BpfObject.loadBuilt(name, { pinRoot }));
    } catch (err) {
      for (const o of loaded) o.close();
      throw err;
    }
    const [encap, decap, resend] = loaded as [BpfObject, BpfObject, BpfObject];
    return new EoipBpf(pinRoot, encap, decap, resend);
  }

  get encapFd(): number {
    return this.encap.program('eoip_encap').fd;
  }

  get decapFd(): number {
    return this.decap.program('eoip_decap').fd;
  }

  get resendFd(): number {
    return this.resend.program('eoip_resend').fd;
  }

  private fd(map: string): number {
    return this.encap.map(map).fd;
  }

  setTx(ifindex: number, tx: EoipTx): void {
    bpf.mapUpdate(this.fd('eoip_tx'), u32Key(ifindex), encodeTx(tx), MapUpdate.ANY);
  }

  getTx(ifindex: number): EoipTx | null {
    const b = bpf.mapLookup(this.fd('eoip_tx'), u32Key(ifindex), EOIP_TX_SIZE);
    return b ? decodeTx(b) : null;
  }

  deleteTx(ifindex: number): boolean {
    return bpf.mapDelete(this.fd('eoip_tx'), u32Key(ifindex));
  }

  /** ifindexes with a transmit entry. */
  txKeys(): number[] {
    return this.keys('eoip_tx', 4).map((k) => k.readUInt32LE(0)); // x86, arm64: little-endian hosts
  }

  setRx(family: Family, tunnelId: number, remote: Uint8Array, rx: EoipRx): void {
    bpf.mapUpdate(this.fd('eoip_rx'), encodeRxKey(family, tunnelId, remote), encodeRx(rx), MapUpdate.ANY);
  }

  getRx(family: Family, tunnelId: number, remote: Uint8Array): EoipRx | null {
    const b = bpf.mapLookup(this.fd('eoip_rx'), encodeRxKey(family, tunnelId, remote), EOIP_RX_SIZE);
    return b ? decodeRx(b) : null;
  }

  deleteRx(family: Family, tunnelId: number, remote: Uint8Array): boolean {
    return bpf.mapDelete(this.fd('eoip_rx'), encodeRxKey(family, tunnelId, remote));
  }

  rxCount(): number {
    return this.keys('eoip_rx', 24).length;
  }

  /**
   * Brings eoip_tids up to date for (family, tunnel id) from the receive entries: the number of tunnels
   * using it, or no entry. Idempotent, so a restarted daemon re-adding its tunnels counts nothing twice.
   */
  syncTunnelId(family: Family, tunnelId: number): void {
    const prefix = encodeTidKey(family, tunnelId);
    const n = this.keys('eoip_rx', EOIP_RX_KEY_SIZE).filter((k) => k.subarray(0, 8).equals(prefix)).length;
    if (n === 0) bpf.mapDelete(this.fd('eoip_tids'), prefix);
    else bpf.mapUpdate(this.fd('eoip_tids'), prefix, u32Key(n));
  }

  /** A tunnel's counters summed over CPUs. */
  stats(slot: number): EoipStats {
    const b = bpf.mapLookup(this.fd('eoip_stats'), u32Key(slot), EOIP_STATS_SIZE * this.cpus);
    if (!b) throw new Error(`eoip_stats has no slot ${slot}`);
    return sumStats(b, this.cpus);
  }

  /** Zeroes a slot before a new tunnel takes it. */
  resetStats(slot: number): void {
    bpf.mapUpdate(this.fd('eoip_stats'), u32Key(slot), Buffer.alloc(EOIP_STATS_SIZE * this.cpus));
  }

  /** The verdict counters by name, summed over CPUs. */
  verdicts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let slot = 0; slot < EOIP_VERDICT_NAMES.length && slot < EOIP_VERDICT_SLOTS; slot++) {
      const b = bpf.mapLookup(this.fd('eoip_verdicts'), u32Key(slot), 8 * this.cpus);
      out[EOIP_VERDICT_NAMES[slot]!] = b ? sumU64(b, this.cpus) : 0;
    }
    return out;
  }

  private keys(map: string, keySize: number): Buffer[] {
    const out: Buffer[] = [];
    let key: Buffer | null = null;
    for (;;) {
      key = bpf.mapNextKey(this.fd(map), key, keySize);
      if (!key) return out;
      out.push(key);
    }
  }

  /** BPF_PROG_TEST_RUN of eoip_decap on an Ethernet frame (runs on the loopback device). */
  testRunDecap(frame: Uint8Array): TestRunResult {
    return bpf.testRun(this.decapFd, frame, { dataSizeOut: frame.length + TEST_RUN_SLACK });
  }

  /** BPF_PROG_TEST_RUN of eoip_encap on an Ethernet frame (runs on the loopback device, ifindex 1). */
  testRunEncap(frame: Uint8Array): TestRunResult {
    return bpf.testRun(this.encapFd, frame, { dataSizeOut: frame.length + TEST_RUN_SLACK });
  }

  /** Closes this process's fds; pinned maps and attached programs stay. */
  close(): void {
    this.encap.close();
    this.decap.close();
    this.resend.close();
  }
}
