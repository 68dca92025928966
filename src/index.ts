/** greoip library entry point. */

export { UserlandReflector } from './backend/reflector.ts';
export * as bpf from './bpf/index.ts';
export * as keepalive from './keepalive/index.ts';
export * as native from './native/index.ts';
export * from './wire/index.ts';
