/**
 * Building kmod/ for the kernel lab: eoip.ko and eoipv6.ko for one lab kernel (kmod/build.sh --kernel,
 * into kmod/build/<kernel>/) and the static guest tools (tools/eoipctl, tests/pkt). Several test files
 * need them and ava runs test files in parallel: the build holds a lock (flock) so two builds never
 * share object files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_DIR } from '../helpers.ts';
import { hostPath, type Kernel } from './lab.ts';

export const KMOD = join(REPO_DIR, 'kmod');

/** What one build for one kernel made (absolute host paths). */
export interface KmodBuild {
  kernel: Kernel;
  /** kmod/build/<kernel>/ */
  dir: string;
  eoip: string;
  eoipv6: string;
  /** The netlink client (kernel-independent, static). */
  eoipctl: string;
  /** Capture and raw send for guest scripts (kernel-independent, static). */
  pkt: string;
  /** With `testModules`: the stand-ins of test/kernel/kmod-cli.test.ts. */
  foreignEoip: string;
  fakeGre: string;
}

const built = new Map<string, KmodBuild>();

/** Every build of kmod/ in the tests holds this lock: two builds never share kmod/build/<kernel>/. */
export const KMOD_BUILD_LOCK = join(
  tmpdir(),
  `greoip-kmod-build-${createHash('sha256').update(KMOD).digest('hex').slice(0, 12)}.lock`,
);

/**
 * Builds the modules for `kernel` and the two static tools (once per process and kernel); a warning
 * fails the build (build.sh). `testModules` also builds the foreign eoip.ko and the out-of-tree gre.ko.
 */
export function buildKmod(kernel: Kernel, options: { testModules?: boolean } = {}): KmodBuild {
  const key = `${kernel.version}${options.testModules ? '+test' : ''}`;
  const done = built.get(key);
  if (done !== undefined) return done;
  const args = ['--kernel', kernel.version, '--tools', ...(options.testModules ? ['--test-modules'] : [])];
  try {
    execFileSync('flock', [KMOD_BUILD_LOCK, join(KMOD, 'build.sh'), ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `kmod/build.sh ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`,
    );
  }
  const dir = join(KMOD, 'build', kernel.version);
  const result: KmodBuild = {
    kernel,
    dir,
    eoip: join(dir, 'eoip.ko'),
    eoipv6: join(dir, 'eoipv6.ko'),
    eoipctl: join(KMOD, 'tools', 'eoipctl'),
    pkt: join(KMOD, 'tests', 'pkt'),
    foreignEoip: join(dir, 'tests', 'foreign', 'eoip.ko'),
    fakeGre: join(dir, 'tests', 'fake-gre', 'gre.ko'),
  };
  built.set(key, result);
  return result;
}

/**
 * The files a guest script needs to load the modules and drive them: /lab/eoip.ko, /lab/eoipv6.ko,
 * /lab/eoipctl and /lab/pkt (for RunOptions.files).
 */
export function kmodGuestFiles(build: KmodBuild): Record<string, Uint8Array> {
  return {
    '/lab/eoip.ko': readFileSync(build.eoip),
    '/lab/eoipv6.ko': readFileSync(build.eoipv6),
    '/lab/eoipctl': readFileSync(build.eoipctl),
    '/lab/pkt': readFileSync(build.pkt),
  };
}

const KMOD_BINARY = '/usr/bin/kmod';

/**
 * Shell assignments for guest/host-kmod.sh: KMOD, the host's kmod binary under /host, and KMOD_LIBS,
 * the directories of its libraries under /host (the guest runs Debian's kmod tools from the shared host).
 */
export function hostKmodEnv(): string {
  if (!existsSync(KMOD_BINARY)) throw new Error(`${KMOD_BINARY} missing: apt-get install kmod`);
  const dirs = execFileSync('ldd', [KMOD_BINARY], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /=>\s*(\/\S+)/.exec(l)?.[1])
    .filter((p) => p !== undefined)
    .map((p) => hostPath(dirname(p)));
  return `KMOD=${hostPath(KMOD_BINARY)}\nKMOD_LIBS=${[...new Set(dirs)].join(':')}\n`;
}
