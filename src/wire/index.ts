/**
 * src/wire/: wire codecs: Ethernet, IPv4, IPv6, GRE, EoIP, EoIPv6, checksums, whole-frame dissection; pure functions over byte arrays.
 * May import: nothing else of greoip (no I/O, no allocation on the hot path).
 */
export * as build from './build.ts';
export * as bytes from './bytes.ts';
export * as checksum from './checksum.ts';
export * as eoip from './eoip.ts';
export * as eoipv6 from './eoipv6.ts';
export * as ethernet from './ethernet.ts';
export * as format from './format.ts';
export * as gre from './gre.ts';
export * as ipv4 from './ipv4.ts';
export * as ipv6 from './ipv6.ts';
export * as packet from './packet.ts';
export {
  WIRE_STATUS_COUNT,
  WireEncodeError,
  WireStatus,
  wireStatusMessage,
  wireStatusName,
} from './status.ts';
