/** `greoip demo`. */
import { realpathSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import { runDemo } from '../demo/demo.ts';
import { CliError } from './errors.ts';

const HELP = `
Builds two network namespaces (greoip-demo-a-PID, greoip-demo-b-PID) joined by veth,
starts a greoip daemon in each, and runs an EoIP tunnel (tid 100, IPv4
underlay) and an EoIPv6 tunnel (tid 1234) between them with keepalive 2,3.
Pings through both, then shows "eoip list" on both sides every 2 seconds:
counters and keepalive state (waiting -> up). Removes everything on exit,
also on Ctrl-C. Needs root; uses only documentation address ranges, inside
the namespaces it creates.`;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .summary('EoIP and EoIPv6 between two network namespaces, live')
    .description('Run EoIP and EoIPv6 tunnels between two network namespaces and show them working.')
    .option('-d, --duration <seconds>', 'how long to show live state', '8')
    .addHelpText('after', HELP)
    .action(async (opts: { duration: string }) => {
      const duration = Number(opts.duration);
      if (!Number.isFinite(duration) || duration < 0 || duration > 3600) {
        throw new CliError(`--duration: ${opts.duration} is not a number of seconds from 0 to 3600`);
      }
      if (process.getuid?.() !== 0)
        throw new CliError('demo: needs root (network namespaces, taps, raw sockets)');
      const self = realpathSync(process.argv[1] ?? '');
      const ext = extname(self);
      await runDemo({
        duration,
        greoip: self,
        eoip: join(dirname(self), `eoip${ext}`),
        out: (text) => process.stdout.write(text),
      });
    });
}
