/**
 * greoip's eBPF programs: the GRE keepalive programs (object paths, map layouts, test runs, attaching),
 * the EoIP datapath's programs and maps, and the one loader (libbpf through the addon) for all of them.
 */
export * from './attach.ts';
export * from './eoip-datapath.ts';
export * from './eoip-maps.ts';
export * from './explain.ts';
export * from './loader.ts';
export * from './maps.ts';
export * from './programs.ts';
export * from './tc-attach.ts';
export * from './testrun.ts';
