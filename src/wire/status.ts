/**
 * Decode outcomes. Decoders never throw on untrusted bytes: they return one of
 * these codes, and the hot path can use the code directly as a counter index.
 * 0 is success; every other value names the layer and what was wrong with it.
 */
export const WireStatus = {
  OK: 0,
  ETH_TRUNCATED: 1,
  ETH_TOO_MANY_TAGS: 2,
  IPV4_TRUNCATED: 3,
  IPV4_BAD_VERSION: 4,
  IPV4_BAD_IHL: 5,
  IPV4_BAD_TOTAL_LENGTH: 6,
  IPV4_BAD_OPTIONS: 7,
  IPV6_TRUNCATED: 8,
  IPV6_BAD_VERSION: 9,
  IPV6_BAD_EXTENSION_ORDER: 10,
  IPV6_TOO_MANY_EXTENSIONS: 11,
  IPV6_BAD_PAYLOAD_LENGTH: 12,
  GRE_TRUNCATED: 13,
  GRE_BAD_VERSION: 14,
  GRE_RESERVED_BITS: 15,
  EOIP_TRUNCATED: 16,
  EOIP_BAD_MAGIC: 17,
  EOIP_FRAME_TOO_SHORT: 18,
  EOIP_FRAME_EXCEEDS_DATA: 19,
  EOIPV6_TRUNCATED: 20,
  EOIPV6_BAD_VERSION: 21,
} as const;

export type WireStatus = (typeof WireStatus)[keyof typeof WireStatus];

/** Number of distinct codes: size of a counter array indexed by WireStatus. */
export const WIRE_STATUS_COUNT = Object.keys(WireStatus).length;

const MESSAGES: Record<WireStatus, string> = {
  [WireStatus.OK]: 'ok',
  [WireStatus.ETH_TRUNCATED]: 'Ethernet header truncated',
  [WireStatus.ETH_TOO_MANY_TAGS]: 'more than two 802.1Q/802.1ad tags',
  [WireStatus.IPV4_TRUNCATED]: 'IPv4 header truncated',
  [WireStatus.IPV4_BAD_VERSION]: 'IPv4 version field is not 4',
  [WireStatus.IPV4_BAD_IHL]: 'IPv4 header length (IHL) below 5',
  [WireStatus.IPV4_BAD_TOTAL_LENGTH]: 'IPv4 total length shorter than its header',
  [WireStatus.IPV4_BAD_OPTIONS]: 'IPv4 option with an invalid length',
  [WireStatus.IPV6_TRUNCATED]: 'IPv6 header or extension header truncated',
  [WireStatus.IPV6_BAD_VERSION]: 'IPv6 version field is not 6',
  [WireStatus.IPV6_BAD_EXTENSION_ORDER]: 'IPv6 hop-by-hop options header not first',
  [WireStatus.IPV6_TOO_MANY_EXTENSIONS]: 'IPv6 extension header chain too long',
  [WireStatus.IPV6_BAD_PAYLOAD_LENGTH]: 'IPv6 extension headers exceed the payload length',
  [WireStatus.GRE_TRUNCATED]: 'GRE header truncated',
  [WireStatus.GRE_BAD_VERSION]: 'GRE version is not 0',
  [WireStatus.GRE_RESERVED_BITS]: 'GRE routing, strict-route or recursion bits set (RFC 2784 says discard)',
  [WireStatus.EOIP_TRUNCATED]: 'EoIP header truncated',
  [WireStatus.EOIP_BAD_MAGIC]: 'not an EoIP header (magic 20 01 64 00 missing)',
  [WireStatus.EOIP_FRAME_TOO_SHORT]: 'EoIP frame length between 1 and 13',
  [WireStatus.EOIP_FRAME_EXCEEDS_DATA]: 'EoIP frame length larger than the data present',
  [WireStatus.EOIPV6_TRUNCATED]: 'EoIPv6 header truncated',
  [WireStatus.EOIPV6_BAD_VERSION]: 'EoIPv6 version nibble is not 3',
};

const NAMES = Object.fromEntries(Object.entries(WireStatus).map(([name, code]) => [code, name])) as Record<
  WireStatus,
  keyof typeof WireStatus
>;

/** Stable symbolic name of a status, e.g. "GRE_BAD_VERSION" (used in JSON and counters). */
export function wireStatusName(status: WireStatus): keyof typeof WireStatus {
  return NAMES[status];
}

/** Human-readable description of a status. */
export function wireStatusMessage(status: WireStatus): string {
  return MESSAGES[status];
}

/**
 * Thrown by encoders when asked to encode a value that cannot exist on the
 * wire (a programming error, never a property of received bytes).
 */
export class WireEncodeError extends RangeError {
  override name = 'WireEncodeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Throws WireEncodeError unless `value` is an integer in [0, max]. For fields below 2^31. */
export function checkUint(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) failUint(field, value, max);
}

/**
 * The cold half of a range check. Wide fields (32 and 48 bits) are checked
 * inline by their encoders as `!(v >= 0 && v <= max && Math.floor(v) === v)`
 * (false for NaN too), because passing such a value to a function V8 does
 * not inline boxes it on the heap: see DOUBLE_ZERO in bytes.ts.
 */
export function failUint(field: string, value: number, max: number): never {
  throw new WireEncodeError(field, `must be an integer from 0 to ${max}, got ${value}`);
}
