#!/usr/bin/env -S node --no-memory-reducer
/** greoip: GRE keepalive and MikroTik EoIP for Linux. */
// --no-memory-reducer (a V8 flag, so here and not in NODE_OPTIONS or setFlagsFromString, which come
// too late for it): V8's memory reducer runs up to three major GCs starting 8 s after any full GC,
// e.g. the one the daemon does after each config change; in bench:userland they cost the two
// daemons ~3 ms of CPU per ping at 5 pings/s and stand in the datapath's way. The daemon does not
// allocate per packet, so there is nothing for them to reduce.
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerDaemon } from './daemon.ts';
import { registerDemo } from './demo.ts';
import { runCli } from './errors.ts';
import { registerKeepaliveCommands } from './gre-keepalive-run.ts';
import { registerInspect } from './inspect.ts';
import { registerInstallUnits } from './install-units.ts';
import { registerKmod } from './kmod.ts';

export function buildProgram(): Command {
  const program = new Command('greoip')
    .description(
      'GRE keepalive and MikroTik EoIP/EoIPv6 for Linux.\n\nTunnels are managed with the eoip command; see eoip help.',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`greoip: ${str.replace(/^error: /, '')}`) });
  registerInspect(program);
  registerDaemon(program);
  registerDemo(program);
  const greKeepalive = program
    .command('gre-keepalive')
    .alias('keepalive')
    .description('the GRE keepalive reflector (also the gre-keepalive command)');
  registerKeepaliveCommands(greKeepalive, false);
  registerKmod(program);
  registerInstallUnits(program);
  return program;
}

await runCli('greoip', async () => {
  await buildProgram().parseAsync(process.argv);
});
