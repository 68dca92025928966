/** The reflector policy options shared by `gre-keepalive run`, `explain` and `attach`. */
import { Option } from 'commander';
import { createPolicy, type Mode, type Policy, PolicyError } from '../gre-keepalive/index.ts';
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
