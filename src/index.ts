/** greoip library entry point. */
export * from './wire/index.ts';
export * as keepalive from './keepalive/index.ts';
export { UserlandReflector } from './backend/reflector.ts';
export * as native from './native/index.ts';
