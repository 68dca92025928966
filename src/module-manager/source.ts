/** Where the module sources (kmod/) are, their version, and copying them for a build or for DKMS. */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KmodError } from './error.ts';

/** The name DKMS knows the modules by (kmod/dkms.conf PACKAGE_NAME). */
export const DKMS_NAME = 'greoip-eoip';

/**
 * kmod/ of this package: $GREOIP_KMOD_DIR when set, else the first ancestor of this file holding
 * kmod/Kbuild (works from src/module-manager/ and from the bundle in dist/).
 */
export function kmodSourceDir(): string {
  const override = process.env.GREOIP_KMOD_DIR;
  if (override) return override;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'kmod', 'Kbuild'))) return join(dir, 'kmod');
    if (dir === parse(dir).root) break;
  }
  throw new KmodError('sources', `no kmod/ directory with a Kbuild above ${here} (set GREOIP_KMOD_DIR)`);
}

/** PACKAGE_VERSION of dkms.conf: the version main.c's MODULE_VERSION and greoip mark carry too. */
export function kmodVersion(source: string): string {
  const conf = readFileSync(join(source, 'dkms.conf'), 'utf8');
  const m = /^PACKAGE_VERSION="?([^"\s]+)"?/m.exec(conf);
  if (!m) throw new KmodError('sources', `no PACKAGE_VERSION in ${join(source, 'dkms.conf')}`);
  return m[1]!;
}

/** What a module build needs: the top-level C files and headers, Kbuild, Makefile, dkms.conf and uapi/. */
function isSource(name: string): boolean {
  return /\.[ch]$/.test(name) || ['Kbuild', 'Makefile', 'dkms.conf'].includes(name);
}

/** Copies the module sources (not build outputs, tools/ or tests/) from `from` to `to`. */
export function copySources(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const path = join(from, name);
    if (name === 'uapi' && statSync(path).isDirectory()) copyTree(path, join(to, name));
    else if (isSource(name) && statSync(path).isFile()) copyFileSync(path, join(to, name));
  }
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const path = join(from, name);
    if (statSync(path).isDirectory()) copyTree(path, join(to, name));
    else copyFileSync(path, join(to, name));
  }
}
