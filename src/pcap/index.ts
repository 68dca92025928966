/**
 * src/pcap/: pcap and pcapng capture files: reader and writers.
 * May import: nothing else of greoip.
 */
export type { CaptureRecord, LinkType } from './reader.ts';
export { CaptureFormatError, LINKTYPE, linkTypeName, readCapture, readCaptureFile } from './reader.ts';
export type { CaptureInput, PcapWriteOptions } from './writer.ts';
export { DEFAULT_SNAPLEN, writePcap, writePcapng } from './writer.ts';
