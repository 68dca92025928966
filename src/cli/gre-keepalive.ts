#!/usr/bin/env node
/** gre-keepalive: the passive GRE keepalive reflector. */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runCli } from './errors.ts';
import { registerBpfCommands } from './gre-keepalive-attach.ts';
import { registerKeepaliveCommands } from './gre-keepalive-run.ts';

const program = new Command('gre-keepalive')
  .description(
    'Answer GRE keepalives (Cisco, MikroTik, Huawei, Brocade; GRE over IPv4 and IPv6) without accept_local.',
  )
  .version(VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (str, write) => write(`gre-keepalive: ${str.replace(/^error: /, '')}`) });
registerKeepaliveCommands(program);
registerBpfCommands(program);
program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`gre-keepalive (greoip) ${VERSION}\n`);
  });

await runCli('gre-keepalive', async () => {
  await program.parseAsync(process.argv);
});
