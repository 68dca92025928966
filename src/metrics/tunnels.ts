/**
 * The daemon's metric families: per tunnel (labels `tunnel`, `backend`) the counters `eoip list`
 * shows, keepalive state and carrier as gauges, seconds since the last keepalive; per daemon the
 * packets that matched no tunnel, by reason. Read from the backends at scrape time.
 */
import type { TunnelStatus } from '../backend/types.ts';
import type { LinkState } from '../eoip/keepalive.ts';
import { type Collector, family, type MetricFamily, type Sample } from './registry.ts';

export interface TunnelSource {
  /** What `eoip list --json` shows. */
  tunnels(): readonly TunnelStatus[];
  /** Packets that matched no tunnel, by reason, summed over the backends. */
  unmatchedDrops(): Readonly<Record<string, number>>;
}

const STATES: readonly LinkState[] = ['waiting', 'up', 'down', 'off'];

type CounterKey = keyof TunnelStatus['counters'];

/** [counter of TunnelCounters, metric name, help]. */
const COUNTERS: readonly [CounterKey, string, string][] = [
  [
    'rxPackets',
    'greoip_tunnel_rx_packets_total',
    'Frames received from the peer and delivered to the interface.',
  ],
  [
    'rxBytes',
    'greoip_tunnel_rx_bytes_total',
    'Bytes of the frames delivered to the interface (Ethernet frames).',
  ],
  ['txPackets', 'greoip_tunnel_tx_packets_total', 'Frames from the interface sent to the peer.'],
  [
    'txBytes',
    'greoip_tunnel_tx_bytes_total',
    'Bytes sent to the peer for those frames, as eoip list counts them.',
  ],
  ['rxErrors', 'greoip_tunnel_rx_errors_total', 'Packets that matched the tunnel but were malformed.'],
  ['txErrors', 'greoip_tunnel_tx_errors_total', 'Frames the underlay or the interface would not take.'],
  ['txKeepalives', 'greoip_tunnel_keepalives_sent_total', 'EoIP keepalives sent to the peer.'],
  ['rxKeepalives', 'greoip_tunnel_keepalives_received_total', 'EoIP keepalives received from the peer.'],
];

export function tunnelCollector(source: TunnelSource): Collector {
  return () => {
    const tunnels = source.tunnels();
    const labelsOf = (t: TunnelStatus) => ({ tunnel: t.config.name, backend: t.backend });
    const families: MetricFamily[] = COUNTERS.map(([key, name, help]) =>
      family(
        name,
        'counter',
        help,
        tunnels.map((t) => ({ labels: labelsOf(t), value: t.counters[key] })),
      ),
    );
    families.push(
      family(
        'greoip_tunnel_carrier',
        'gauge',
        'Carrier of the tunnel interface: 1 up, 0 down (keepalives missing).',
        tunnels.map((t) => ({ labels: labelsOf(t), value: t.carrier ? 1 : 0 })),
      ),
      family(
        'greoip_tunnel_keepalive_state',
        'gauge',
        'Keepalive state, 1 for the current one: waiting (nothing heard yet), up, down, off (keepalive none).',
        tunnels.flatMap((t) =>
          STATES.map((state) => ({ labels: { ...labelsOf(t), state }, value: t.state === state ? 1 : 0 })),
        ),
      ),
      family(
        'greoip_tunnel_last_keepalive_seconds',
        'gauge',
        'Seconds since the last keepalive from the peer; absent until the first one arrives.',
        tunnels
          .filter((t) => t.lastKeepaliveAgoMs !== null)
          .map((t) => ({ labels: labelsOf(t), value: t.lastKeepaliveAgoMs! / 1000 })),
      ),
      family('greoip_tunnels', 'gauge', 'Tunnels configured in this daemon.', [{ value: tunnels.length }]),
      family(
        'greoip_unmatched_drops_total',
        'counter',
        'Packets dropped because they matched no tunnel, by reason.',
        Object.entries(source.unmatchedDrops()).map(
          ([reason, value]): Sample => ({ labels: { reason }, value }),
        ),
      ),
    );
    return families;
  };
}
