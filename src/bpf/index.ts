/**
 * src/bpf/: greoip's eBPF programs from user space (GRE keepalive, EoIP datapath): object paths, map layouts, the one libbpf loader, attaching, test runs.
 * May import: src/native, src/netlink, src/wire, src/eoip, src/gre-keepalive.
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
