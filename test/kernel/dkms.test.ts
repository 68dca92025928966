/**
 * DKMS for real: Debian's dkms on the host, `greoip kmod install --dkms` for every installed kernel
 * (6.1 and 6.12), the installed modules loaded in the lab by each kernel (Debian's modprobe through the
 * host's own modules.dep), and `greoip kmod uninstall`; `dkms status` and /lib/modules read back at
 * each step. First a forced failure: a third "kernel" whose build tree cannot build makes the install
 * fail after a real kernel was built and installed, and everything must be as before.
 *
 * dkms, /usr/src, /lib/modules and /var/lib/dkms are machine-wide: the whole scenario holds the
 * exclusive lock /tmp/greoip-dkms.lock (packaging's DKMS .deb test takes the same one) and restores
 * what it changed, whatever happens.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KmodStatus } from '../../src/module-manager/index.ts';
import { REPO_DIR, requireRoot } from '../helpers.ts';
import { buildKmod, hostKmodEnv } from './kmod.ts';
import { type Kernel, labKernels, type RunResult, runInGuest } from './lab.ts';
import { expectPass, guestScript, kernelSuite, marker } from './suite.ts';

const LOCK = '/tmp/greoip-dkms.lock';
const GREOIP = join(REPO_DIR, 'dist', 'cli', 'greoip.js');
/**
 * Sorts after 6.1 and before 6.12 (installedReleases compares versions numerically): 6.1 is built and
 * installed before it fails, so the undo has a real install to take back, and 6.12 is not built twice.
 */
const BROKEN = '6.1.9999-greoip-broken';
const MODULES = '/lib/modules';
const DKMS_STATE = '/var/lib/dkms';

/** Holds an exclusive flock on `path` (a child `flock` process) until release() is called. */
async function holdLock(path: string): Promise<{ release(): void }> {
  const child: ChildProcess = spawn('flock', ['-x', path, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`flock ${path} exited with ${code}`)));
  });
  return {
    release() {
      child.stdin?.end();
    },
  };
}

interface Cli {
  status: number | null;
  stdout: string;
  stderr: string;
}

function greoip(args: string[]): Cli {
  const r = spawnSync(process.execPath, [GREOIP, 'kmod', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function dkmsStatus(...args: string[]): string {
  return execFileSync('dkms', ['status', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/**
 * Every path under /lib/modules/<release> with its type and size, and the content hash of each file
 * outside kernel/ (the index depmod writes, updates/, extra/): what an install changes.
 */
function modulesTree(release: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) {
        out.set(path, 'dir');
        // kernel/ is the package's own tree (thousands of files): its listing is enough.
        walk(path);
      } else if (st.isSymbolicLink()) out.set(path, 'link');
      else
        out.set(
          path,
          path.includes(`${release}/kernel/`)
            ? `file ${st.size}`
            : `file ${createHash('sha256').update(readFileSync(path)).digest('hex')}`,
        );
    }
  };
  walk(join(MODULES, release));
  return out;
}

interface Snapshot {
  /** `dkms status`, every module */
  dkms: string;
  usrSrc: string[];
  /** release -> modulesTree */
  modules: Map<string, Map<string, string>>;
}

function snapshot(): Snapshot {
  const releases = readdirSync(MODULES).filter((r) => r !== BROKEN);
  return {
    dkms: dkmsStatus(),
    usrSrc: readdirSync('/usr/src').sort(),
    modules: new Map(releases.map((r) => [r, modulesTree(r)])),
  };
}

/** Paths that differ between two snapshots of one kernel's tree (added, removed, changed). */
function treeDiff(a: Map<string, string> | undefined, b: Map<string, string> | undefined): string[] {
  const out: string[] = [];
  for (const [p, v] of a ?? []) if (b?.get(p) !== v) out.push(`${p}: ${v} -> ${b?.get(p) ?? 'gone'}`);
  for (const [p, v] of b ?? []) if (!a?.has(p)) out.push(`${p}: new ${v}`);
  return out;
}

/** A kernel that is "installed" (modules.dep) with a build tree whose make always fails. */
function makeBrokenKernel(): void {
  const build = join(MODULES, BROKEN, 'build');
  mkdirSync(join(build, 'include', 'config'), { recursive: true });
  writeFileSync(join(MODULES, BROKEN, 'modules.dep'), '');
  writeFileSync(join(build, 'include', 'config', 'kernel.release'), `${BROKEN}\n`);
  writeFileSync(
    join(build, 'Makefile'),
    '# test/kernel/dkms.test.ts: a kernel build tree that cannot build modules\n' +
      '%:\n\t@echo "greoip dkms test: this kernel tree cannot build" >&2; exit 1\n',
  );
}

interface Scenario {
  /** How long each phase took (ms), for the log. */
  phases: [string, number][];
  before: Snapshot;
  failed: Cli;
  afterFailure: Snapshot;
  installed: Cli;
  dkmsInstalled: string;
  status: KmodStatus;
  boots: Map<string, RunResult | Error>;
  uninstalled: Cli;
  dkmsUninstalled: string;
  afterUninstall: Snapshot;
}

async function dkmsScenario(kernels: Kernel[]): Promise<Scenario> {
  requireRoot();
  if (!existsSync(GREOIP)) throw new Error(`${GREOIP} missing: run npm run build`);
  if (spawnSync('dkms', ['--version']).status !== 0) throw new Error('dkms missing: run scripts/setup.sh');
  const kmods = new Map(kernels.map((k) => [k.version, buildKmod(k)]));
  const lock = await holdLock(LOCK);
  const hadState = existsSync(DKMS_STATE) ? readdirSync(DKMS_STATE) : [];
  const phases: [string, number][] = [];
  let mark = Date.now();
  const phase = (name: string) => {
    phases.push([name, Date.now() - mark]);
    mark = Date.now();
  };
  try {
    const before = snapshot();
    if (
      dkmsStatus('-m', 'greoip-eoip').trim() !== '' ||
      before.usrSrc.some((n) => n.startsWith('greoip-eoip-'))
    )
      throw new Error(
        `greoip's modules are already in DKMS or /usr/src (${before.usrSrc.join(' ')}): greoip kmod uninstall first`,
      );

    makeBrokenKernel();
    const failed = greoip(['install', '--dkms']);
    rmSync(join(MODULES, BROKEN), { recursive: true, force: true });
    const afterFailure = snapshot();
    phase('forced failure');

    const installed = greoip(['install', '--dkms']);
    const dkmsInstalled = dkmsStatus('-m', 'greoip-eoip');
    const statusRun = greoip(['status', '--json']);
    const status = JSON.parse(statusRun.stdout) as KmodStatus;
    phase('install --dkms');

    const boots = new Map<string, RunResult | Error>();
    for (const kernel of kernels) {
      try {
        boots.set(
          kernel.version,
          await runInGuest({
            kernel,
            script: guestScript('dkms.sh'),
            files: {
              '/lab/kmod-env.sh': hostKmodEnv(),
              '/lab/host-kmod.sh': guestScript('host-kmod.sh'),
              '/lab/eoipctl': readFileSync(kmods.get(kernel.version)!.eoipctl),
            },
            shareHost: true,
            timeoutMs: 180_000,
          }),
        );
      } catch (e) {
        boots.set(kernel.version, e as Error);
      }
    }

    phase('boots');
    const uninstalled = greoip(['uninstall']);
    const dkmsUninstalled = dkmsStatus('-m', 'greoip-eoip');
    const afterUninstall = snapshot();
    phase('uninstall');
    return {
      phases,
      before,
      failed,
      afterFailure,
      installed,
      dkmsInstalled,
      status,
      boots,
      uninstalled,
      dkmsUninstalled,
      afterUninstall,
    };
  } finally {
    // Whatever happened: nothing of greoip's left in DKMS, /usr/src or /lib/modules, and the MOK key
    // pair dkms made for signing removed when /var/lib/dkms held none before.
    rmSync(join(MODULES, BROKEN), { recursive: true, force: true });
    if (dkmsStatus('-m', 'greoip-eoip').trim() !== '') greoip(['uninstall']);
    if (hadState === null) {
      const left = existsSync(DKMS_STATE) ? readdirSync(DKMS_STATE) : [];
      if (left.every((n) => n === 'mok.key' || n === 'mok.pub'))
        rmSync(DKMS_STATE, { recursive: true, force: true });
    } else {
      for (const n of ['mok.key', 'mok.pub'])
        if (!hadState.includes(n)) rmSync(join(DKMS_STATE, n), { force: true });
    }
    lock.release();
  }
}

// One scenario for the whole file (DKMS installs for every kernel at once); its per-kernel results are
// asserted in tests named after each kernel.
let scenario: Promise<Scenario> | undefined;
const labTest = kernelSuite(() => {
  scenario ??= dkmsScenario(labKernels());
  return scenario;
});

labTest(
  'a forced failure (a kernel tree that cannot build) names that kernel; dkms status and /lib/modules as before',
  (t, s, kernel) => {
    t.log(s.phases.map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)} s`).join(', '));
    t.is(s.failed.status, 1, s.failed.stdout);
    t.regex(
      s.failed.stderr,
      /^greoip: install failed at step "dkms build": for kernel 6\.1\.9999-greoip-broken: /,
    );
    t.regex(
      s.failed.stderr,
      /\nundone:\n {2}- dkms remove greoip-eoip\/[\d.]+ --all\n {2}- removed \/usr\/src\/greoip-eoip-/,
    );
    // A real kernel was built and installed before the broken one failed: there was something to undo.
    t.regex(s.failed.stdout, /\ndkms install -m greoip-eoip -v [\d.]+ -k \S+\n/);
    t.is(s.afterFailure.dkms, s.before.dkms);
    t.deepEqual(s.afterFailure.usrSrc, s.before.usrSrc);
    t.deepEqual(
      treeDiff(s.before.modules.get(kernel.version), s.afterFailure.modules.get(kernel.version)),
      [],
    );
  },
);

labTest(
  'install --dkms builds and installs for this kernel: dkms status and kmod status read back',
  (t, s, kernel) => {
    t.is(s.installed.status, 0, `${s.installed.stdout}${s.installed.stderr}`);
    t.regex(
      s.dkmsInstalled,
      new RegExp(`^greoip-eoip/[\\d.]+, ${kernel.version.replace(/[.+]/g, '\\$&')}, x86_64: installed`, 'm'),
    );
    const k = s.status.kernels.find((x) => x.release === kernel.version);
    t.is(k?.dkms, 'installed');
    t.true(k?.headers);
    for (const kind of ['eoip', 'eoipv6'] as const) {
      t.regex(
        k?.modules[kind]?.path ?? '',
        new RegExp(`^/lib/modules/.+/updates/dkms/${kind}\\.ko(\\.xz)?$`),
      );
      t.is(k?.modules[kind]?.greoip, s.status.kernels[0]?.modules[kind]?.greoip);
      t.truthy(k?.modules[kind]?.greoip, `${kind} carries greoip's mark`);
    }
    t.regex(
      s.installed.stdout,
      new RegExp(`installed for ${kernel.version.replace(/[.+]/g, '\\$&')}: /lib/modules/`),
    );
  },
);

labTest(
  'the modules DKMS installed load in the lab (modprobe through the host index) and make links',
  (t, s, kernel) => {
    const r = s.boots.get(kernel.version);
    if (r === undefined || r instanceof Error) {
      t.fail(`the boot failed: ${r?.message ?? 'not run'}`);
      return;
    }
    expectPass(t, r, [
      'dkms-files',
      'modprobe-eoip',
      'modprobe-eoipv6',
      'greoip-note-eoip',
      'greoip-note-eoipv6',
      'link-eoip',
      'link-eoipv6',
      'rmmod',
      'dmesg-clean',
    ]);
    for (const kind of ['eoip', 'eoipv6'])
      t.regex(
        marker(r, `resolves-${kind}`)?.detail ?? '',
        new RegExp(`^insmod /host/lib/modules/\\S+/updates/dkms/${kind}\\.ko`),
      );
    t.deepEqual(
      r.results.filter((x) => !x.ok),
      [],
    );
  },
);

labTest('uninstall removes every trace: dkms status, /usr/src and /lib/modules as before', (t, s, kernel) => {
  t.is(s.uninstalled.status, 0, `${s.uninstalled.stdout}${s.uninstalled.stderr}`);
  t.regex(s.uninstalled.stdout, /dkms remove -m greoip-eoip -v [\d.]+ --all/);
  t.is(s.dkmsUninstalled.trim(), '');
  t.is(s.afterUninstall.dkms, s.before.dkms);
  t.deepEqual(s.afterUninstall.usrSrc, s.before.usrSrc);
  t.deepEqual(
    treeDiff(s.before.modules.get(kernel.version), s.afterUninstall.modules.get(kernel.version)),
    [],
  );
});
