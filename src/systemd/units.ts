/**
 * The systemd units of packaging/systemd/ with their placeholders filled in: @GREOIP@ and
 * @GRE_KEEPALIVE@ become "<node> <package>/dist/cli/<command>.js", so a unit runs the very node and
 * greoip that installed it, wherever npm put them. Also the example config the units read.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface UnitFile {
  name: string;
  text: string;
}

/** First line of every unit we write: how `install-units --remove` knows a file is ours. */
export const UNIT_MARKER = '# Installed by greoip install-units';

/** The package root: the first ancestor holding packaging/systemd/ (from src/systemd/ and from dist/). */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'packaging', 'systemd', 'greoip.service'))) return dir;
    if (dir === parse(dir).root) throw new Error(`packaging/systemd/ not found above ${here}`);
  }
}

export interface UnitCommands {
  /** Absolute path of node. */
  node: string;
  /** The package root (holds dist/cli/). */
  root: string;
}

/** Every unit of packaging/systemd/, ready to install. */
export async function renderUnits(commands: UnitCommands): Promise<UnitFile[]> {
  const source = join(commands.root, 'packaging', 'systemd');
  const names = (await readdir(source)).filter((n) => n.endsWith('.service')).sort();
  const command = (cli: string) => `${commands.node} ${join(commands.root, 'dist', 'cli', cli)}`;
  for (const path of [commands.node, commands.root]) {
    // systemd splits ExecStart at spaces; quoting would work but a path with spaces is a surprise there.
    if (/\s/.test(path)) throw new Error(`${path}: a path with white space cannot go into ExecStart=`);
  }
  const out: UnitFile[] = [];
  for (const name of names) {
    const template = await readFile(join(source, name), 'utf8');
    const text = template
      .replaceAll('@GREOIP@', command('greoip.js'))
      .replaceAll('@GRE_KEEPALIVE@', command('gre-keepalive.js'));
    out.push({ name, text: `${UNIT_MARKER} from ${commands.root}\n${text}` });
  }
  return out;
}

/** The example tunnels.yaml (an empty list with a commented example). */
export function exampleConfigPath(root: string): string {
  return join(root, 'packaging', 'config', 'tunnels.yaml');
}
