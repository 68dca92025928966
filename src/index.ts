/** greoip library entry point. */

export * as bpf from './bpf/index.ts';
export * as greKeepalive from './gre-keepalive/index.ts';
export { UserlandReflector } from './gre-keepalive-io/reflector.ts';
export * as native from './native/index.ts';
export * from './wire/index.ts';
