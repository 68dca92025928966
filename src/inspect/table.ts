/** Aligned text table of packet reports for `greoip inspect`. */
import { MAX_8023_LENGTH } from '../wire/ethernet.ts';
import type { PacketReport } from './report.ts';

const HEADINGS = ['#', 'time', 'underlay', 'what', 'tid', 'len', 'inner', 'reenc', 'note'] as const;

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

function underlayCell(r: PacketReport): string {
  if (!r.underlay) return '-';
  const u = r.underlay;
  const frag = u.fragment ? ` frag@${u.fragment.offset}${u.fragment.more ? '+' : ''}` : '';
  const vlans = u.vlans.length > 0 ? ` vlan ${u.vlans.join('.')}` : '';
  return `${u.src} > ${u.dst}${frag}${vlans}`;
}

function whatCell(r: PacketReport): string {
  if (r.gre) {
    const flags = r.gre.flags ? ` ${r.gre.flags}` : '';
    const key = r.gre.key !== null ? ` key=${r.gre.key}` : '';
    return `${r.kind} ${hex4(r.gre.protocol)}${flags}${key}`;
  }
  return r.understood || r.kind !== 'other' ? r.kind : 'not understood';
}

function tunnelCells(r: PacketReport): [string, string] {
  if (r.eoip) return [String(r.eoip.tunnelId), String(r.eoip.frameLength)];
  if (r.eoipv6) return [String(r.eoipv6.tunnelId), '-'];
  return ['-', '-'];
}

function innerCell(r: PacketReport): string {
  if (r.greKeepalive) {
    const k = r.greKeepalive;
    return `${k.innerSrc} > ${k.innerDst} gre ${hex4(k.innerProtocol)}`;
  }
  if (!r.inner) return '-';
  const vlans = r.inner.vlans.length > 0 ? ` vlan ${r.inner.vlans.join('.')}` : '';
  const type = r.inner.etherType <= MAX_8023_LENGTH ? '802.3' : hex4(r.inner.etherType);
  return `${r.inner.src} > ${r.inner.dst} ${type}${vlans}`;
}

function row(r: PacketReport, t0: number): string[] {
  const seconds = (Date.parse(r.time) - t0) / 1000;
  const [tid, len] = tunnelCells(r);
  return [
    String(r.index),
    seconds.toFixed(3),
    underlayCell(r),
    whatCell(r),
    tid,
    len,
    innerCell(r),
    r.reencoded ? 'yes' : 'NO',
    r.note ?? '',
  ];
}

/** Renders reports as a table; times are seconds since the first packet. */
export function formatTable(reports: PacketReport[]): string {
  const t0 = reports.length > 0 ? Date.parse(reports[0]!.time) : 0;
  const rows: string[][] = [[...HEADINGS], ...reports.map((r) => row(r, t0))];
  const widths = HEADINGS.map((_, col) => Math.max(...rows.map((cells) => cells[col]!.length)));
  return rows
    .map((cells) =>
      cells
        .map((cell, col) => (col === cells.length - 1 ? cell : cell.padEnd(widths[col]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One-line totals under the table. */
export function formatSummary(reports: PacketReport[]): string {
  const understood = reports.filter((r) => r.understood).length;
  const reencoded = reports.filter((r) => r.reencoded).length;
  return `${reports.length} packets, ${understood} understood, ${reencoded} re-encoded exactly`;
}
