/**
 * `greoip kmod uninstall`: greoip's modules off the system, for every installed kernel (or one): the
 * DKMS entries (dkms remove --all, per version) and their /usr/src trees, the files `install` copied to
 * /lib/modules/<release>/updates/greoip/, and the module index rebuilt where files went. Loaded modules
 * stay loaded unless asked (unloading deletes their links).
 */
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dkmsEntries } from './dkms.ts';
import { KmodError } from './error.ts';
import { KINDS, type Kind } from './kinds.ts';
import { describeFailure, type Runner, systemRunner } from './runner.ts';
import { DKMS_NAME } from './source.ts';
import {
  installedReleases,
  type KmodRoots,
  loadedModule,
  loadedModules,
  modulesTreeArgs,
  readModuleFile,
  readModuleIndex,
  runningRelease,
  SYSTEM_ROOTS,
} from './system.ts';

export interface UninstallOptions {
  roots?: KmodRoots;
  runner?: Runner;
  /** Only this kernel's files and DKMS entry (default: every installed kernel, every DKMS entry). */
  release?: string;
  /** Unload greoip's eoip/eoipv6 from the running kernel first (their links are deleted). */
  unload?: boolean;
  /** Where DKMS sources are (default /usr/src). */
  srcRoot?: string;
  /** Progress, one line per step. */
  log?: (line: string) => void;
}

export interface UninstallResult {
  /** What was removed, one line each (files, trees, DKMS entries). */
  removed: string[];
  unloaded: Kind[];
  /** Things the user should know (modules left loaded, a greoip module found elsewhere). */
  notes: string[];
}

export function uninstall(o: UninstallOptions = {}): UninstallResult {
  const roots = o.roots ?? SYSTEM_ROOTS;
  const runner = o.runner ?? systemRunner;
  const log = o.log ?? (() => {});
  const result: UninstallResult = { removed: [], unloaded: [], notes: [] };
  const run = (step: string, command: string, args: string[]) => {
    log(`${[command, ...args].join(' ')}`);
    const r = runner.run(command, args);
    if (r.status !== 0) throw new KmodError(step, describeFailure(command, args, r));
  };
  const releases = o.release === undefined ? installedReleases(roots) : [o.release];

  unloadOrNote(roots, o.unload === true, run, result);
  removeDkms(o, runner, run, result);

  for (const release of releases) {
    const dir = join(roots.modules, release, 'updates', 'greoip');
    const files = KINDS.map((k) => join(dir, `${k}.ko`)).filter((f) => existsSync(f));
    if (files.length === 0) continue;
    for (const f of files) rmSync(f, { force: true });
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
    result.removed.push(...files);
    log(`removed ${files.join(', ')}`);
    run('depmod', 'depmod', [...modulesTreeArgs(roots, '-b'), '-a', release]);
  }

  // Anything of greoip's that modprobe would still load was put there by hand (extra/, another name).
  for (const release of releases) {
    const index = readModuleIndex(roots, release);
    for (const kind of KINDS) {
      const path = index.files.get(kind);
      if (path !== undefined && readModuleFile(path, runner)?.fields.get('greoip') !== undefined)
        result.notes.push(
          `${path} is greoip's ${kind} and was not installed by greoip: remove it and run depmod -a ${release}`,
        );
    }
  }
  return result;
}

type Run = (step: string, command: string, args: string[]) => void;

function unloadOrNote(roots: KmodRoots, unload: boolean, run: Run, result: UninstallResult): void {
  const loaded = loadedModules(roots);
  if (loaded === null) return;
  // eoipv6 first: nothing depends on either, but the order is the reverse of install's.
  for (const kind of [...KINDS].reverse()) {
    if (!loaded.has(kind) || loadedModule(roots, kind).greoip === null) continue;
    if (unload) {
      run(`rmmod ${kind}`, 'rmmod', [kind]);
      result.unloaded.push(kind);
    } else {
      result.notes.push(
        `${kind} stays loaded in ${runningRelease(roots)} until a reboot or rmmod ${kind} (which deletes its links)`,
      );
    }
  }
}

/**
 * dkms remove for each registered version (all kernels, or --kernel's), and the source trees greoip
 * made (registered or left by an interrupted install). A tree a Debian package owns (greoip-dkms) is
 * the package's to remove: it is left, with the command that does.
 */
function removeDkms(o: UninstallOptions, runner: Runner, run: Run, result: UninstallResult): void {
  const entries = dkmsEntries(runner);
  const srcRoot = o.srcRoot ?? '/usr/src';
  const packaged = (version: string) => packageOwning(runner, join(srcRoot, `${DKMS_NAME}-${version}`));
  const mine = (entries ?? []).filter((e) => o.release === undefined || e.release === o.release);
  for (const version of new Set(mine.map((e) => e.version))) {
    const pkg = packaged(version);
    if (pkg !== null) {
      result.notes.push(`${DKMS_NAME}/${version} comes from the ${pkg} package: apt-get remove ${pkg}`);
      continue;
    }
    const which = o.release === undefined ? ['--all'] : ['-k', o.release];
    run('dkms remove', 'dkms', ['remove', '-m', DKMS_NAME, '-v', version, ...which]);
    result.removed.push(`DKMS ${DKMS_NAME}/${version}${o.release === undefined ? '' : ` for ${o.release}`}`);
  }
  if (o.release !== undefined) return;
  let names: string[] = [];
  try {
    names = readdirSync(srcRoot);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.startsWith(`${DKMS_NAME}-`))) {
    if (packaged(name.slice(DKMS_NAME.length + 1)) !== null) continue;
    rmSync(join(srcRoot, name), { recursive: true, force: true });
    result.removed.push(join(srcRoot, name));
  }
}

/** The Debian package that owns `path` (dpkg-query -S), or null (none, or no dpkg). */
function packageOwning(runner: Runner, path: string): string | null {
  if (!runner.has('dpkg-query')) return null;
  const r = runner.run('dpkg-query', ['-S', path]);
  if (r.status !== 0) return null;
  return /^([^:,\s]+)/.exec(r.stdout)?.[1] ?? null;
}
