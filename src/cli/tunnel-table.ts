/** `eoip list` as an aligned table. */
import type { TunnelStatus } from '../backend/types.ts';

const HEADINGS = [
  'NAME',
  'TYPE',
  'TID',
  'LOCAL',
  'REMOTE',
  'MTU',
  'KEEPALIVE',
  'STATE',
  'LAST-KA',
  'RX',
  'TX',
  'RX-KA',
  'TX-KA',
  'ERR',
  'BACKEND',
];

function ago(ms: number | null): string {
  if (ms === null) return 'never';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function row(t: TunnelStatus): string[] {
  const c = t.config;
  const k = t.counters;
  return [
    c.name,
    c.family === 6 ? 'eoipv6' : 'eoip',
    String(c.tunnelId),
    c.local ?? 'any',
    c.remote,
    String(c.mtu),
    c.keepalive ? `${c.keepalive.interval},${c.keepalive.retries}` : 'none',
    t.interface === 'vanished'
      ? 'interface deleted (waiting for it)'
      : t.carrier
        ? t.state
        : `${t.state} (no carrier)`,
    ago(t.lastKeepaliveAgoMs),
    String(k.rxPackets),
    String(k.txPackets),
    String(k.rxKeepalives),
    String(k.txKeepalives),
    String(k.rxErrors + k.txErrors),
    (t.mode ? `${t.backend}/${t.mode}` : t.backend) +
      (t.offload && t.offload !== 'off' ? ` (${t.offload})` : ''),
  ];
}

export function formatTunnelTable(tunnels: TunnelStatus[]): string {
  if (tunnels.length === 0) return 'no tunnels';
  const rows = [HEADINGS, ...tunnels.map(row)];
  const widths = HEADINGS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
