/** `greoip install-units`: put the systemd units (and an example config) in place. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { exampleConfigPath, packageRoot, renderUnits, UNIT_MARKER } from '../systemd/units.ts';
import { CliError } from './errors.ts';

const HELP = `
Writes the systemd units of this greoip into --unit-dir, with ExecStart
pointing at the node and the greoip that run this command (so reinstall the
units after moving either; an npm upgrade in place needs nothing):

  greoip.service                  greoip daemon --config /etc/greoip/tunnels.yaml
  greoip@NETNS.service            the same inside network namespace NETNS
                                  (/run/netns/NETNS), config /etc/greoip/netns/NETNS.yaml
  gre-keepalive.service           gre-keepalive run (userland reflector);
                                  options in /etc/greoip/gre-keepalive.env
  gre-keepalive-attach@DEV.service
                                  gre-keepalive attach DEV at start, detach at stop

It also creates /etc/greoip/tunnels.yaml (an empty tunnel list with an
example) unless the file exists, and runs "systemctl daemon-reload" when
systemd is running and the units went to the default directory. Existing
units are replaced; nothing is enabled or started.

Then:
  systemctl enable --now greoip
  systemctl reload greoip          after editing /etc/greoip/tunnels.yaml
  journalctl -u greoip             the daemon's JSON log lines

--remove deletes the units this command wrote (and nothing else).`;

interface Options {
  unitDir: string;
  configDir: string;
  reload: boolean;
  remove?: boolean;
}

const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export function registerInstallUnits(program: Command): void {
  program
    .command('install-units')
    .summary('install the systemd units (greoip.service, greoip@.service, gre-keepalive*.service)')
    .description('Install the systemd units for the daemon and the keepalive reflector.')
    .option('--unit-dir <dir>', 'where to write the units', DEFAULT_UNIT_DIR)
    .option('--config-dir <dir>', 'where the example tunnels.yaml goes', '/etc/greoip')
    .option('--no-reload', 'do not run systemctl daemon-reload')
    .option('--remove', 'remove the units this command installed')
    .addHelpText('after', HELP)
    .action(async (opts: Options) => {
      await (opts.remove ? remove(opts) : install(opts));
    });
}

/** The package root and its units; a broken installation is a user-facing error, not a stack trace. */
async function ourUnits(): Promise<{ root: string; units: Awaited<ReturnType<typeof renderUnits>> }> {
  try {
    const root = packageRoot();
    return { root, units: await renderUnits({ node: process.execPath, root }) };
  } catch (err) {
    throw new CliError(`${(err as Error).message} (is this greoip installed whole?)`);
  }
}

async function install(opts: Options): Promise<void> {
  const { root, units } = await ourUnits();
  await writeOrFail(() => mkdir(opts.unitDir, { recursive: true }), opts.unitDir, '--unit-dir');
  for (const unit of units) {
    const path = join(opts.unitDir, unit.name);
    await writeOrFail(() => writeFile(path, unit.text, { mode: 0o644 }), path, '--unit-dir');
    process.stdout.write(`wrote ${path}\n`);
  }
  const config = join(opts.configDir, 'tunnels.yaml');
  if (existsSync(config)) {
    process.stdout.write(`kept ${config}\n`);
  } else {
    await writeOrFail(
      () => mkdir(join(opts.configDir, 'netns'), { recursive: true, mode: 0o755 }),
      opts.configDir,
      '--config-dir',
    );
    await writeOrFail(() => copyFile(exampleConfigPath(root), config), config, '--config-dir');
    process.stdout.write(`wrote ${config} (no tunnels yet)\n`);
  }
  reload(opts);
  process.stdout.write('next: systemctl enable --now greoip  (or greoip@NETNS, gre-keepalive)\n');
}

async function remove(opts: Options): Promise<void> {
  const { units } = await ourUnits();
  for (const unit of units) {
    const path = join(opts.unitDir, unit.name);
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text === null) continue;
    if (!text.startsWith(UNIT_MARKER)) {
      process.stdout.write(`left ${path}: not written by greoip install-units\n`);
      continue;
    }
    await writeOrFail(() => rm(path), path, '--unit-dir');
    process.stdout.write(`removed ${path}\n`);
  }
  reload(opts);
}

async function writeOrFail(step: () => Promise<unknown>, path: string, option: string): Promise<void> {
  try {
    await step();
  } catch (err) {
    throw new CliError(
      `${option}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** daemon-reload only where it means something: the default directory of a running systemd. */
function reload(opts: Options): void {
  if (!opts.reload || opts.unitDir !== DEFAULT_UNIT_DIR || !existsSync('/run/systemd/system')) return;
  try {
    execFileSync('systemctl', ['daemon-reload'], { stdio: 'inherit' });
  } catch (err) {
    throw new CliError(`systemctl daemon-reload failed: ${(err as Error).message}`);
  }
}
