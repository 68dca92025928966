/**
 * A small grouped bar chart as standalone SVG: one group per case, one bar
 * per series, the value printed on each bar. No dependencies.
 */

const PALETTE = ['#8c8c8c', '#2b6cb0', '#c05621', '#2f855a'];

function escapeXml(text) {
  return String(text).replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c],
  );
}

function formatValue(v, decimals) {
  if (decimals !== undefined) return v.toFixed(decimals);
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

/**
 * A series may carry `low`/`high` (same length as `values`): drawn as a whisker
 * over its bar (e.g. the min and max of the rounds whose median is the bar).
 * `decimals` prints values with that many decimals instead of k/M units.
 *
 * @param {{ title: string, unit: string, groups: string[], series: { name: string, values: number[], low?: number[], high?: number[] }[], decimals?: number, footer?: string }} chart
 * @returns {string}
 */
export function barChart(chart) {
  const width = 720;
  const height = 420;
  const left = 84;
  const right = 20;
  const top = 60;
  const bottom = 100;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(...chart.series.flatMap((s) => [...s.values, ...(s.high ?? [])])) * 1.15;
  const groupW = plotW / chart.groups.length;
  const barW = (groupW * 0.7) / chart.series.length;
  const y = (v) => top + plotH - (v / max) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${escapeXml(chart.unit)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    parts.push(
      `<line x1="${left - 4}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#e2e2e2"/>`,
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${formatValue(v, chart.decimals)}</text>`,
    );
  }
  chart.groups.forEach((group, g) => {
    const x0 = left + g * groupW + groupW * 0.15;
    chart.series.forEach((s, i) => {
      const v = s.values[g];
      const x = x0 + i * barW;
      const cx = x + (barW - 4) / 2;
      const hi = s.high?.[g];
      const lo = s.low?.[g];
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 4}" height="${top + plotH - y(v)}" fill="${PALETTE[i % PALETTE.length]}"/>`,
      );
      if (hi !== undefined && lo !== undefined) {
        parts.push(
          `<line x1="${cx}" y1="${y(hi)}" x2="${cx}" y2="${y(lo)}" stroke="#111"/>`,
          `<line x1="${cx - 5}" y1="${y(hi)}" x2="${cx + 5}" y2="${y(hi)}" stroke="#111"/>`,
          `<line x1="${cx - 5}" y1="${y(lo)}" x2="${cx + 5}" y2="${y(lo)}" stroke="#111"/>`,
        );
      }
      // The label sits above the whisker when there is one.
      parts.push(
        `<text x="${cx}" y="${Math.min(y(v), hi === undefined ? y(v) : y(hi)) - 6}" text-anchor="middle">${formatValue(v, chart.decimals)}</text>`,
      );
    });
    parts.push(
      `<text x="${left + g * groupW + groupW / 2}" y="${top + plotH + 20}" text-anchor="middle">${escapeXml(group)}</text>`,
    );
  });
  // Legend: entries laid out left to right, wrapping to a second row when they do not fit.
  let lx = left;
  let ly = height - 46;
  chart.series.forEach((s, i) => {
    const w = 30 + s.name.length * 6.5;
    if (lx + w > width - right && lx > left) {
      lx = left;
      ly += 16;
    }
    parts.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${lx + 18}" y="${ly}">${escapeXml(s.name)}</text>`,
    );
    lx += w;
  });
  if (chart.footer)
    parts.push(
      `<text x="${left}" y="${height - 10}" font-size="10" fill="#555">${escapeXml(chart.footer)}</text>`,
    );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
