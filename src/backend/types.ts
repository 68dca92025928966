/**
 * The one interface every tunnel backend implements. The daemon and the CLI
 * talk only to this, so the userland backend and the kernel backend (eoip.ko)
 * sit side by side behind the same `eoip` commands.
 */
import type { BackendName, TunnelConfig } from '../eoip/config.ts';
import type { LinkState } from '../eoip/keepalive.ts';

export interface TunnelCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxKeepalives: number;
  txKeepalives: number;
  /** Packets that matched this tunnel but were malformed. */
  rxErrors: number;
  /** Frames the underlay or the tap would not take. */
  txErrors: number;
}

/** What an in-kernel fast path did for a tunnel (ebpf), already included in `counters`. */
export interface FastPathCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  /** Received packets passed up to the daemon (keepalives, fragments, other local destinations). */
  rxSlow: number;
  /** Frames left on the tap for the daemon (over the underlay MTU, not IP). */
  txSlow: number;
  /** GSO frames cut into segments by the tunnel's segmenter veth. */
  txSegmented: number;
}

export interface TunnelStatus {
  config: TunnelConfig;
  backend: BackendName;
  /** How the backend runs this tunnel, when it has modes (ebpf: "tcx" or "clsact" attachment). */
  mode?: string;
  /** waiting (never heard a keepalive), up, down, or off (keepalive none). */
  state: LinkState;
  carrier: boolean;
  /** Milliseconds since the last keepalive was received, or null if never. */
  lastKeepaliveAgoMs: number | null;
  counters: TunnelCounters;
  /**
   * `vanished`: the tunnel's interface was deleted under the daemon (`ip link del`); the
   * tunnel waits for an interface of its name to come back and takes it up again.
   */
  interface?: 'present' | 'vanished';
  /** Userland: the tap offloads in use ('tso+uso', 'tso', 'csum', 'off'). */
  offload?: string;
  fastPath?: FastPathCounters;
}

/** A tunnel's keepalive state changed (reported by backends that run the keepalive machine themselves). */
export interface TunnelStateChange {
  tunnel: string;
  backend: BackendName;
  previous: LinkState;
  state: LinkState;
  carrier: boolean;
  /** keepalive: one arrived; timeout: interval x retries passed without one; config: keepalive changed. */
  cause: 'keepalive' | 'timeout' | 'config';
}

export interface TunnelBackend {
  readonly name: BackendName;
  /**
   * True when the counters live outside the daemon (a kernel link's) and so
   * survive its restart; otherwise they start at 0 with each daemon, which
   * then carries the previous totals over through its state file.
   */
  readonly countersSurviveRestart?: boolean;
  /** Creates the tunnel and its interface; on failure nothing is left behind. */
  create(config: TunnelConfig): Promise<TunnelStatus>;
  /** Applies a new configuration to an existing tunnel (same name); on failure the old one stays. */
  change(name: string, next: TunnelConfig): Promise<TunnelStatus>;
  /** Removes the tunnel and its interface. */
  delete(name: string): Promise<void>;
  list(): TunnelStatus[];
  /** Counters of packets that matched no tunnel, by reason. */
  unmatchedDrops(): Record<string, number>;
  /**
   * Stops the datapath. With keepInterfaces, interfaces stay in place (carrier
   * off) so a restart finds their addresses and bridge membership intact.
   */
  close(options: { keepInterfaces: boolean }): Promise<void>;
}

export class BackendError extends Error {
  override name = 'BackendError';
  constructor(
    message: string,
    /** The configuration field at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export function zeroCounters(): TunnelCounters {
  return {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    rxKeepalives: 0,
    txKeepalives: 0,
    rxErrors: 0,
    txErrors: 0,
  };
}
