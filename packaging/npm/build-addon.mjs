#!/usr/bin/env node
// The package's install step: builds the native addon (native/) with node-gyp. Uses the headers
// installed beside this node (<prefix>/include/node, as Debian and NodeSource ship them) when they
// are there, so a machine without access to nodejs.org builds too; says plainly what is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const missing = ['make', 'g++', 'python3'].filter((c) => !have(c));
if (missing.length > 0) {
  console.error(
    `greoip: cannot build the native addon: ${missing.join(', ')} not found.\n` +
      'On Debian: apt-get install g++ make python3, then reinstall greoip.',
  );
  process.exit(1);
}

const args = ['rebuild', `--directory=${join(root, 'native')}`];
const localHeaders = join(dirname(dirname(process.execPath)), 'include', 'node');
if (!process.env.npm_config_nodedir && existsSync(join(localHeaders, 'node_api.h'))) {
  args.push(`--nodedir=${dirname(dirname(process.execPath))}`);
}
// npm puts its own node-gyp on PATH for install scripts; outside npm fall back to npx.
const gyp = have('node-gyp') ? ['node-gyp', args] : ['npx', ['--yes', 'node-gyp', ...args]];
const result = spawnSync(gyp[0], gyp[1], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
