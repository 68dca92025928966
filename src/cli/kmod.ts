/**
 * `greoip kmod build|install|uninstall|status`: the kernel modules (kmod/) built, installed, removed and
 * checked. Exit
 * status: 0 all is well, 1 a finding needs action or a step failed, 2 a usage error.
 */
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { type Command, type CommanderError, Option } from 'commander';
import {
  buildModules,
  type Finding,
  install,
  KmodError,
  type KmodRoots,
  type KmodStatus,
  kmodSourceDir,
  kmodStatus,
  type ModuleSource,
  releaseOfKdir,
  runningRelease,
  SYSTEM_ROOTS,
  systemRunner,
  uninstall,
} from '../module-manager/index.ts';
import { CliError } from './errors.ts';

const USAGE = 2;

const KMOD_HELP = `
greoip's kernel fast path is two modules, eoip.ko (link kind eoip) and
eoipv6.ko (eoipv6), built from kmod/ against the headers of the kernel they
run on. They load beside Debian's gre, ip_gre, ip6_gre and pptp and replace
none of them. The old out-of-tree eoip project used the same module names and
link kinds and shipped a patched gre.ko: "status" finds both and says how to
remove them. Secure Boot, MOK signing and DKMS: kmod/README.md.

Exit status: 0 all is well, 1 a finding needs action or a step failed, 2 a
usage error.

Examples:
  greoip kmod status
  greoip kmod install              # build for the running kernel, install, load
  greoip kmod install --dkms       # through DKMS, for every installed kernel and each new one
  greoip kmod uninstall            # every trace, every kernel`;

const STATUS_HELP = `
Lists every installed kernel (/lib/modules/<release> with a modules.dep):
which one runs (modules load into it) and which one the next boot starts
(the /vmlinuz link), whether its headers are there, which eoip/eoipv6
modprobe would load on it (greoip's, with the version, or a foreign one), and
the state of greoip's DKMS entry for it.

Then checks, for the kernel that runs (or --kernel REL, without the
loaded-module checks):
  - whether eoip and eoipv6 are loaded, and whether the loaded modules are
    greoip's (their ELF note /sys/module/<m>/notes/.note.greoip) or foreign;
  - which file modprobe would load (modules.dep) and whether it is greoip's
    (modinfo -F greoip FILE prints its version);
  - whether another module declares alias rtnl-link-eoip / rtnl-link-eoipv6
    (modules.alias), which "ip link add ... type eoip" would autoload;
  - whether gre is the kernel's own: a loaded gre tainted O (out of tree), or
    a gre.ko outside /lib/modules/<release>/kernel/, is a replaced GRE
    demultiplexer such as the old eoip project's patched gre.ko;
  - the kernel headers (/lib/modules/<release>/build), needed to build;
  - with greoip's modules in DKMS: that DKMS installed them for every
    installed kernel (a kernel without headers, or not built for, would boot
    without them);
  - Secure Boot (efivars, or mokutil --sb-state) and module.sig_enforce: with
    either on, only modules signed with an enrolled key load.

Every finding has a severity (ok, info: nothing to do; warning, error: needs
action) and the commands that fix it. Finding ids (in --json): eoip-loaded,
eoip-installed, eoip-reload-pending, eoip-missing, eoip-foreign-loaded,
eoip-foreign-file, eoip-alias-claimed (and the same for eoipv6),
gre-stock, gre-out-of-tree-loaded, gre-replaced, headers, headers-missing,
dkms-installed, dkms-not-installed, dkms-no-headers, secure-boot-off, secure-boot-on, secure-boot-unsigned, secure-boot-unknown,
modules-unsupported.

Exit status: 0 when no finding needs action, 1 when one does, 2 on a usage
error.

Examples:
  greoip kmod status
  greoip kmod status --json | jq '.findings[] | select(.severity == "error")'
  greoip kmod status --kernel 6.1.0-57-amd64     # an installed, not yet running kernel`;

const BUILD_HELP = `
Builds eoip.ko and eoipv6.ko from kmod/ with the kernel's build system
(make -C KDIR M=...), in a temporary copy of the sources. Warnings are errors,
as with kmod/build.sh. KDIR is /lib/modules/<release>/build, from Debian's
linux-headers-<release> package (linux-headers-amd64 follows the newest
kernel); gcc and make are needed.

Examples:
  greoip kmod build                                 # for the running kernel, into kmod/
  greoip kmod build --kernel 6.12.118+deb12-amd64 --out /tmp/eoip-6.12
  greoip kmod build --kdir ~/linux --out /tmp/eoip-custom`;

const INSTALL_HELP = `
Installs the modules for a kernel and loads them:
  1. check: refuses when a foreign eoip/eoipv6 is loaded, is what modprobe
     would load, or another module claims the link kinds (see "status");
     --force installs anyway and unloads a loaded foreign module (deleting its
     devices). Modules to install must carry greoip's mark and have been built
     for that kernel; with Secure Boot on they must be signed.
  2. build against the kernel's headers (or take --prebuilt DIR holding
     eoip.ko and eoipv6.ko, e.g. from "greoip kmod build --out DIR");
  3. copy them to /lib/modules/<release>/updates/greoip/, where modprobe
     prefers them to anything under kernel/;
  4. depmod -a <release>, and check modprobe now resolves to them;
  5. modprobe eoip; modprobe eoipv6 (not with --no-load, nor for a kernel
     that is not running). A loaded greoip module is left loaded.
With --dkms, steps 2-4 are instead: copy kmod/ to /usr/src/greoip-eoip-<ver>/,
dkms add, and dkms build and install (into updates/dkms/) for every
installed kernel, or only --kernel's; every kernel's headers must be there.
DKMS rebuilds the modules for every kernel installed later and signs them
with its MOK key.

If a step fails, install says which and undoes the earlier ones: the copied
files are removed (files they replaced restored) and the index rebuilt, the
DKMS tree removed, what it loaded unloaded. Needs root.

Examples:
  greoip kmod install
  greoip kmod install --dkms
  greoip kmod install --prebuilt /tmp/eoip-6.12 --kernel 6.12.118+deb12-amd64 --no-load
  greoip kmod install --force      # over the old eoip project's module`;

const UNINSTALL_HELP = `
Removes greoip's modules from the system, for every installed kernel (or only
--kernel's):
  1. with --unload, rmmod eoipv6 and eoip when greoip's are loaded (their
     links are deleted); without it they stay loaded until a reboot;
  2. dkms remove greoip-eoip/<version> --all for each version DKMS has, and
     /usr/src/greoip-eoip-*/ (with --kernel: that kernel's DKMS build only);
  3. /lib/modules/<release>/updates/greoip/eoip.ko and eoipv6.ko, then
     depmod -a <release>.
A greoip module modprobe would still load (copied elsewhere by hand) is
reported, not removed. Needs root.

Examples:
  greoip kmod uninstall
  greoip kmod uninstall --unload
  greoip kmod uninstall --kernel 6.1.0-57-amd64`;

interface Roots {
  root?: string;
}

function rootsOf(opts: Roots): KmodRoots {
  if (opts.root === undefined) return SYSTEM_ROOTS;
  return {
    proc: join(opts.root, 'proc'),
    sys: join(opts.root, 'sys'),
    modules: join(opts.root, 'lib/modules'),
  };
}

/** For testing on a fixture tree, or looking at a chroot: proc, sys and lib/modules under DIR. */
const rootOption = () => new Option('--root <dir>', 'read proc, sys and lib/modules under DIR').hideHelp();

function running(roots: KmodRoots): string {
  return runningRelease(roots) ?? osRelease();
}

/** Commander's own usage errors (unknown option, missing argument...) exit 2, not 1. */
function usageExitCodes(cmd: Command): Command {
  return cmd.exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? 0 : USAGE);
  });
}

export function registerKmod(program: Command): void {
  const kmod = usageExitCodes(
    program
      .command('kmod')
      .summary('build, install and check the eoip.ko/eoipv6.ko kernel modules')
      .description('Build, install and check the kernel modules eoip.ko and eoipv6.ko (kmod/).')
      .addHelpText('after', KMOD_HELP),
  );
  registerStatus(kmod);
  registerBuild(kmod);
  registerInstall(kmod);
  registerUninstall(kmod);
}

function registerStatus(kmod: Command): void {
  kmod
    .command('status')
    .summary('is eoip/eoipv6 loaded, ours, installable; what is in the way')
    .description('Check the modules, foreign modules claiming their kinds, gre.ko, headers and Secure Boot.')
    .option('--json', 'one JSON object: the facts and the findings')
    .option('--kernel <release>', 'inspect /lib/modules/<release> (default: the running kernel)')
    .addOption(rootOption())
    .addHelpText('after', STATUS_HELP)
    .action((opts: { json?: boolean; kernel?: string } & Roots) => {
      const roots = rootsOf(opts);
      const s = kmodCall('status', () => kmodStatus({ roots, release: opts.kernel, runner: systemRunner }));
      process.stdout.write(opts.json ? `${JSON.stringify(s)}\n` : formatStatus(s));
      if (s.needsAction) process.exitCode = 1;
    });
}

const LABEL: Record<Finding['severity'], string> = {
  ok: 'ok',
  info: 'info',
  warning: 'WARNING',
  error: 'ERROR',
};

/** One line per installed kernel: running / next boot, headers, what modprobe loads, DKMS. */
function formatKernels(s: KmodStatus): string[] {
  if (s.kernels.length === 0) return [];
  const width = Math.max(...s.kernels.map((k) => k.release.length));
  const moduleText = (m: KmodStatus['kernels'][number]['modules']['eoip'], kind: string) =>
    m === null ? `${kind} none` : m.greoip === null ? `${kind} foreign` : `${kind} ${m.greoip}`;
  const lines = ['installed kernels:'];
  for (const k of s.kernels) {
    const marks = [k.running ? 'running' : '', k.bootDefault ? 'boots next' : ''].filter((m) => m !== '');
    lines.push(
      `  ${k.release.padEnd(width)}  ${(marks.join(', ') || '-').padEnd(19)}  ` +
        `headers ${k.headers ? 'yes' : 'no '}  ${moduleText(k.modules.eoip, 'eoip')}  ` +
        `${moduleText(k.modules.eoipv6, 'eoipv6')}  dkms ${k.dkms ?? (s.dkms === null ? 'n/a' : 'none')}`,
    );
  }
  return lines;
}

export function formatStatus(s: KmodStatus): string {
  const lines = [`kernel ${s.release}${s.release === s.running ? ' (running)' : ` (running: ${s.running})`}`];
  for (const f of s.findings) {
    lines.push(`${LABEL[f.severity].padEnd(8)} ${f.message}`);
    for (const a of f.advice) lines.push(`${' '.repeat(9)}-> ${a}`);
  }
  lines.push(...formatKernels(s));
  const n = s.findings.filter((f) => f.severity === 'warning' || f.severity === 'error').length;
  lines.push(n === 0 ? 'all is well' : `${n} finding${n > 1 ? 's' : ''} need${n > 1 ? '' : 's'} action`);
  return `${lines.join('\n')}\n`;
}

function registerBuild(kmod: Command): void {
  kmod
    .command('build')
    .summary("build eoip.ko and eoipv6.ko against a kernel's headers")
    .description('Build eoip.ko and eoipv6.ko from kmod/ against kernel headers, warning-free.')
    .option('--kernel <release>', 'build for this kernel: --kdir /lib/modules/<release>/build')
    .addOption(new Option('--kdir <dir>', 'the kernel build tree').conflicts('kernel'))
    .option('--out <dir>', 'where eoip.ko and eoipv6.ko go (default: kmod/ of this package)')
    .addHelpText('after', BUILD_HELP)
    .action((opts: { kernel?: string; kdir?: string; out?: string }) => {
      const release = opts.kdir ? releaseOfKdir(opts.kdir) : (opts.kernel ?? running(SYSTEM_ROOTS));
      const kdir = opts.kdir ?? join(SYSTEM_ROOTS.modules, release!, 'build');
      const built = kmodCall('build', () =>
        buildModules({ kdir, release, outDir: opts.out ?? kmodSourceDir(), runner: systemRunner }),
      );
      process.stdout.write(
        `built for ${release ?? 'the kernel'} against ${kdir}:\n  ${built.files.eoip}\n  ${built.files.eoipv6}\n`,
      );
    });
}

interface InstallCliOptions extends Roots {
  kernel?: string;
  kdir?: string;
  prebuilt?: string;
  dkms?: boolean;
  load: boolean;
  force?: boolean;
}

function registerInstall(kmod: Command): void {
  kmod
    .command('install')
    .summary('build, install into /lib/modules/<release>/updates/greoip, depmod, modprobe')
    .description(
      'Install eoip.ko and eoipv6.ko for a kernel (built here, prebuilt, or through DKMS) and load them.',
    )
    .option(
      '--kernel <release>',
      'install for this kernel (default: the running one; --dkms: every installed one)',
    )
    .addOption(
      new Option('--kdir <dir>', 'build against this kernel build tree').conflicts(['prebuilt', 'dkms']),
    )
    .addOption(
      new Option('--prebuilt <dir>', 'install DIR/eoip.ko and DIR/eoipv6.ko, no build').conflicts('dkms'),
    )
    .option('--dkms', 'install through DKMS (/usr/src/greoip-eoip-<version>), rebuilt for new kernels')
    .option('--no-load', 'do not modprobe the modules')
    .option('--force', 'install over a foreign eoip/eoipv6 module (unloading it) or an existing DKMS tree')
    .addOption(rootOption())
    .addHelpText('after', INSTALL_HELP)
    .action((opts: InstallCliOptions) => {
      const roots = rootsOf(opts);
      const release = opts.kernel ?? (opts.kdir ? releaseOfKdir(opts.kdir) : null) ?? running(roots);
      const r = kmodCall('install', () =>
        install({
          from: sourceOf(opts, roots, release),
          roots,
          // DKMS without --kernel: every installed kernel (install() lists them).
          release: opts.dkms && opts.kernel === undefined ? undefined : release,
          load: opts.load,
          force: opts.force,
          runner: systemRunner,
          log: (line) => process.stdout.write(`${line}\n`),
        }),
      );
      for (const note of r.notes) process.stdout.write(`note: ${note}\n`);
      for (const k of r.kernels) {
        const loaded =
          k.release === r.release && r.loaded.length > 0 ? `; loaded ${r.loaded.join(', ')}` : '';
        process.stdout.write(`installed for ${k.release}: ${k.files.eoip}, ${k.files.eoipv6}${loaded}\n`);
      }
    });
}

function registerUninstall(kmod: Command): void {
  kmod
    .command('uninstall')
    .summary("remove greoip's modules: DKMS entries, installed files, index")
    .description("Remove greoip's eoip.ko and eoipv6.ko from every installed kernel (DKMS and copied files).")
    .option('--kernel <release>', 'only this kernel (default: every installed one)')
    .option('--unload', "rmmod greoip's eoip and eoipv6 first (deletes their links)")
    .addOption(rootOption())
    .addHelpText('after', UNINSTALL_HELP)
    .action((opts: { kernel?: string; unload?: boolean } & Roots) => {
      const roots = rootsOf(opts);
      const r = kmodCall('uninstall', () =>
        uninstall({
          roots,
          release: opts.kernel,
          unload: opts.unload,
          runner: systemRunner,
          log: (line) => process.stdout.write(`${line}\n`),
        }),
      );
      for (const note of r.notes) process.stdout.write(`note: ${note}\n`);
      process.stdout.write(
        r.removed.length === 0 && r.unloaded.length === 0
          ? "nothing of greoip's modules was installed\n"
          : `removed ${r.removed.length} item${r.removed.length === 1 ? '' : 's'}${r.unloaded.length > 0 ? `; unloaded ${r.unloaded.join(', ')}` : ''}\n`,
      );
    });
}

function sourceOf(opts: InstallCliOptions, roots: KmodRoots, release: string): ModuleSource {
  if (opts.dkms) return { dkms: true };
  if (opts.prebuilt) return { prebuilt: opts.prebuilt };
  return { kdir: opts.kdir ?? join(roots.modules, release, 'build') };
}

/** KmodError -> one message naming the failed step and what was undone; exit status 1. */
function kmodCall<T>(what: 'status' | 'build' | 'install' | 'uninstall', fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof KmodError)) throw err;
    const head =
      err.step === 'check'
        ? `${what} refused`
        : `${what} failed${err.step === what ? '' : ` at step "${err.step}"`}`;
    const undone = err.undone.length > 0 ? `\nundone:\n${err.undone.map((u) => `  - ${u}`).join('\n')}` : '';
    throw new CliError(`${head}: ${err.message}${undone}`);
  }
}
