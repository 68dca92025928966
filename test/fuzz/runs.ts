/**
 * How many fast-check runs a property gets: its own count in `npm test`,
 * GREOIP_FUZZ_RUNS (1,000,000 in `npm run fuzz`) when set.
 */
export function fuzzRuns(short: number): { numRuns: number } {
  const long = Number(process.env.GREOIP_FUZZ_RUNS);
  return { numRuns: Number.isSafeInteger(long) && long > 0 ? long : short };
}
