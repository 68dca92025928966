/** eBPF keepalive programs: object paths, map layouts, test runs and attaching. */
export * from './attach.ts';
export * from './explain.ts';
export * from './maps.ts';
export * from './programs.ts';
export * from './testrun.ts';
