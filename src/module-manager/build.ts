/**
 * `greoip kmod build`: eoip.ko and eoipv6.ko from kmod/ against a kernel's headers, warning-free like
 * kmod/build.sh. The build runs in a temporary copy of the sources, so an installed package directory
 * stays clean and two builds never share object files.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmodError } from './error.ts';
import { headersPackages, type Kind } from './kinds.ts';
import { type Runner, systemRunner } from './runner.ts';
import { copySources, kmodSourceDir } from './source.ts';

export interface BuildOptions {
  /** The kernel build tree (/lib/modules/<release>/build). */
  kdir: string;
  /** The release those headers are for, to name its package when they are missing. */
  release: string | null;
  /** Where eoip.ko and eoipv6.ko go. */
  outDir: string;
  /** kmod/ (default: this package's). */
  source?: string;
  runner?: Runner;
}

export interface Built {
  files: Record<Kind, string>;
  kdir: string;
}

function checkHeaders(kdir: string, release: string | null): void {
  if (existsSync(join(kdir, 'Makefile'))) return;
  const install = release
    ? `apt-get install ${headersPackages(release).join(' or ')} (the metapackage follows new kernels)`
    : 'install the headers of the kernel to build for, or point --kdir at its build tree';
  throw new KmodError('build', `no kernel headers${release ? ` for ${release}` : ''} at ${kdir}: ${install}`);
}

export function buildModules(options: BuildOptions): Built {
  const runner = options.runner ?? systemRunner;
  checkHeaders(options.kdir, options.release);
  if (!runner.has('make')) throw new KmodError('build', 'make is not installed: apt-get install make gcc');
  const work = mkdtempSync(join(tmpdir(), 'greoip-kmod-build-'));
  try {
    copySources(options.source ?? kmodSourceDir(), work);
    make(runner, work, options.kdir);
    mkdirSync(options.outDir, { recursive: true });
    const files = { eoip: join(options.outDir, 'eoip.ko'), eoipv6: join(options.outDir, 'eoipv6.ko') };
    for (const f of Object.values(files)) copyFileSync(join(work, f.slice(f.lastIndexOf('/') + 1)), f);
    return { files, kdir: options.kdir };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** kmod/Makefile with Kbuild's -Werror; a warning from modpost or the kernel's make fails it too. */
function make(runner: Runner, dir: string, kdir: string): void {
  const r = runner.run('make', ['-C', dir, `KDIR=${kdir}`]);
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) {
    const tail = output.trim().split('\n').slice(-25).join('\n');
    throw new KmodError(
      'build',
      `the module build against ${kdir} failed (${r.error ?? `exit ${r.status}`}):\n${tail}`,
    );
  }
  const warnings = output.split('\n').filter((l) => /warning/i.test(l));
  if (warnings.length > 0)
    throw new KmodError('build', `the build against ${kdir} printed warnings:\n${warnings.join('\n')}`);
}
