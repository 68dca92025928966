#!/usr/bin/env node
/** gre-keepalive: the GRE keepalive reflector (run, attach) and prober (probe), with status and explain. */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runCli } from './errors.ts';
import { registerBpfCommands } from './gre-keepalive-attach.ts';
import { registerProbeCommand } from './gre-keepalive-probe.ts';
import { registerKeepaliveCommands } from './gre-keepalive-run.ts';
import { registerStatusCommand } from './gre-keepalive-status.ts';

const program = new Command('gre-keepalive')
  .description(
    'Answer GRE keepalives (Cisco, MikroTik, Huawei, Brocade; GRE over IPv4 and IPv6) without accept_local,\nand send them for Linux gre tunnels, which go down when the peer stops answering.',
  )
  .version(VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (str, write) => write(`gre-keepalive: ${str.replace(/^error: /, '')}`) });
registerKeepaliveCommands(program);
registerProbeCommand(program);
registerBpfCommands(program);
registerStatusCommand(program);
program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`gre-keepalive (greoip) ${VERSION}\n`);
  });

await runCli('gre-keepalive', async () => {
  await program.parseAsync(process.argv);
});
