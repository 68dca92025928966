/**
 * The `eoip` and `gre-keepalive` commands are installed as bins from the
 * start so their names are reserved, but their datapaths are not in this
 * version. They say so plainly (exit status 2) rather than pretend.
 */
import { VERSION } from '../version.ts';

export function notYet(prog: string, what: string): void {
  const args = process.argv.slice(2);
  if (args[0] === 'version' || args[0] === '--version' || args[0] === '-V') {
    process.stdout.write(`${prog} (greoip) ${VERSION}\n`);
    return;
  }
  const usage = `${prog} (greoip ${VERSION}): ${what} are not available in this version yet.\nSee the status table in greoip's README.\n`;
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(usage);
    return;
  }
  process.stderr.write(usage);
  process.exitCode = 2;
}
