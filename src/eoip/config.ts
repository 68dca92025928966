/**
 * src/eoip/: the EoIP core: tunnel config shape, tunnel table, receive checks, encapsulation, offload segmentation and coalescing, RouterOS keepalive.
 * May import: src/wire only: no I/O, clocks are injected.
 */
/**
 * A tunnel's configuration, as the `eoip` command line, the daemon's config
 * file and the control protocol all describe it. Validation lives beside the
 * parsers (src/config/); this module only defines the shape and defaults.
 */

export type Family = 4 | 6;
export type BackendName = 'userland' | 'kernel' | 'ebpf';

/** RouterOS `keepalive=SECS,RETRIES`; null is `keepalive none`. */
export interface KeepaliveConfig {
  /** Seconds between keepalives sent, and the unit of the silence timeout. */
  interval: number;
  /** Intervals of silence before the carrier drops. */
  retries: number;
}

export interface TunnelConfig {
  /** Interface (tap) name, at most 15 bytes. */
  name: string;
  /** 0-65535 for EoIP, 0-4095 for EoIPv6. */
  tunnelId: number;
  /** Derived from `remote`: an IPv6 remote selects EoIPv6. */
  family: Family;
  /** Our underlay address, or null to let the kernel choose (any local address is accepted on receive). */
  local: string | null;
  remote: string;
  ttl: number;
  /** IPv4 TOS or IPv6 traffic class. */
  tos: number;
  /** Underlay interface to bind to, or null. */
  link: string | null;
  keepalive: KeepaliveConfig | null;
  mtu: number;
  backend: BackendName;
}

export const DEFAULTS = {
  ttl: 255,
  tos: 0,
  keepalive: { interval: 10, retries: 10 } as KeepaliveConfig,
  mtu: 1500,
  backend: 'userland' as BackendName,
} as const;

export const LIMITS = {
  nameMaxBytes: 15,
  eoipMaxTunnelId: 0xffff,
  eoipv6MaxTunnelId: 0x0fff,
  keepaliveMaxInterval: 3600,
  keepaliveMaxRetries: 255,
  minMtu: 68,
  maxMtu: 65535 - 42,
} as const;
