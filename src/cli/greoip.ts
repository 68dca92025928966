#!/usr/bin/env node
/** greoip: GRE keepalive and MikroTik EoIP for Linux. */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runCli } from './errors.ts';
import { registerInspect } from './inspect.ts';

export function buildProgram(): Command {
  const program = new Command('greoip')
    .description(
      'GRE keepalive and MikroTik EoIP/EoIPv6 for Linux.\n\nThis version offers `inspect`; the keepalive reflector, tunnels, daemon and demo\nare listed as still to come in the README.',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`greoip: ${str.replace(/^error: /, '')}`) });
  registerInspect(program);
  return program;
}

await runCli('greoip', async () => {
  await buildProgram().parseAsync(process.argv);
});
