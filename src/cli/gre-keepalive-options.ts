/** The reflector policy options shared by `gre-keepalive run`, `explain` and `attach`. */
import { Option } from 'commander';
import { createPolicy, type Mode, type Policy, PolicyError } from '../gre-keepalive/index.ts';
import { DEFAULT_SOURCE_LIMIT, type SourceLimitOptions } from '../gre-keepalive/source-limit.ts';
import { CliError } from './errors.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function policyFrom(opts: { peer: string[]; policy: Mode; local?: string; remote?: string }): Policy {
  try {
    return createPolicy({
      mode: opts.policy,
      peers: opts.peer,
      local: opts.local ?? null,
      remote: opts.remote ?? null,
    });
  } catch (err) {
    if (err instanceof PolicyError) throw policyCliError(err);
    throw err;
  }
}

export const policyOption = () =>
  new Option(
    '--policy <mode>',
    "strict: reply only to the outer sender; nat: also when the inner destination is the peer's private address (rewritten)",
  )
    .choices(['strict', 'nat'])
    .default('strict');
export const peerOption = () =>
  new Option('--peer <prefix>', 'answer only peers in this prefix (repeatable; default: any peer)')
    .argParser(collect)
    .default([]);

/** A PolicyError as a CLI error naming the option. */
export function policyCliError(err: PolicyError): CliError {
  return new CliError(`--${err.field}: ${err.message.slice(err.field.length + 2)}`);
}

export const rateLimitOption = () =>
  new Option(
    '--rate-limit <pps[,burst]>',
    `answers per second each source may have, and how many at once (off: no limit)`,
  ).default(`${DEFAULT_SOURCE_LIMIT.rate},${DEFAULT_SOURCE_LIMIT.burst}`);

/** `--rate-limit`: "PPS", "PPS,BURST" (burst defaults to twice the rate) or "off". */
export function parseRateLimit(text: string): SourceLimitOptions | null {
  if (text === 'off') return null;
  const m = /^(\d+(?:\.\d+)?)(?:,(\d+))?$/.exec(text);
  const rate = m ? Number(m[1]) : Number.NaN;
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.max(1, Math.ceil(rate * 2));
  if (!m || !(rate > 0) || !(burst >= 1)) {
    throw new CliError(`--rate-limit: "${text}" is not PPS, PPS,BURST (PPS > 0, BURST >= 1) or off`);
  }
  return { rate, burst };
}
