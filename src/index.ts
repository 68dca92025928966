/** greoip library entry point. */
export * from './wire/index.ts';
