/**
 * Building kmod/ for the kernel lab: eoip.ko, eoipv6.ko and the static guest tools (tools/eoipctl,
 * tests/pkt) by `kmod/build.sh --tools` against the 6.1 headers. Several test files need them and ava
 * runs test files in parallel: the build holds a lock (flock) so two builds never share the object files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from '../helpers.ts';

export const KMOD = join(REPO_DIR, 'kmod');

/** Builds the modules and the two static tools; a warning fails the build (build.sh). */
export function buildKmod(): void {
  const lock = join(
    tmpdir(),
    `greoip-kmod-build-${createHash('sha256').update(KMOD).digest('hex').slice(0, 12)}.lock`,
  );
  try {
    execFileSync('flock', [lock, join(KMOD, 'build.sh'), '--tools'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kmod/build.sh --tools failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  }
}
