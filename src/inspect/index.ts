/**
 * src/inspect/: `greoip inspect`: what greoip understands in each packet of a capture.
 * May import: src/pcap, src/wire.
 */
export type { EthernetReport, GreReport, PacketReport, UnderlayReport } from './report.ts';
export { formatTime, Inspector, linkLayerOf } from './report.ts';
export { formatSummary, formatTable } from './table.ts';
