/**
 * src/metrics/: Prometheus metrics: a registry of collectors, the text exposition format and the HTTP endpoint.
 * May import: src/version and the types of src/backend, src/bpf, src/eoip, src/gre-keepalive-io.
 */
/** `greoip_build_info`: which greoip and Node serve the metrics (value always 1). */
import { VERSION } from '../version.ts';
import { type Collector, family } from './registry.ts';

export function buildInfoCollector(component: string): Collector {
  const sample = { labels: { version: VERSION, node: process.version, component }, value: 1 };
  return () => [family('greoip_build_info', 'gauge', 'Version of greoip and Node.js; always 1.', [sample])];
}
