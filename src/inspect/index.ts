export type { EthernetReport, GreReport, PacketReport, UnderlayReport } from './report.ts';
export { formatTime, Inspector, linkLayerOf } from './report.ts';
export { formatSummary, formatTable } from './table.ts';
