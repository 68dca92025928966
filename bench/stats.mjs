/**
 * Summaries of per-round figures shared by the benchmarks that report median (min-max).
 */

/** The median; for an even count, the mean of the two middle values. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** { median, min, max } of per-round figures. */
export function spread(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}
