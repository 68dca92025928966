/**
 * `greoip kmod install`: eoip.ko and eoipv6.ko into /lib/modules/<release>/updates/greoip (or through
 * DKMS), depmod, modprobe. It refuses to go over a foreign module unless forced, and it leaves nothing
 * half-done: when a step fails, what the earlier steps did is undone (files restored, the index rebuilt,
 * what it loaded unloaded) and the error names the step.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildModules } from './build.ts';
import { moduleFile } from './detect.ts';
import { KmodError } from './error.ts';
import { KINDS, type Kind } from './kinds.ts';
import { describeFailure, type Runner, systemRunner } from './runner.ts';
import { copySources, DKMS_NAME, kmodSourceDir, kmodVersion } from './source.ts';
import { type KmodStatus, kmodStatus } from './status.ts';
import {
  installedReleases,
  type KmodRoots,
  loadedModule,
  modulesTreeArgs,
  readModuleIndex,
  SYSTEM_ROOTS,
} from './system.ts';

export type ModuleSource =
  | { prebuilt: string }
  | { kdir: string }
  /** DKMS builds against /lib/modules/<release>/build and installs into updates/dkms. */
  | { dkms: true };

export interface InstallOptions {
  from: ModuleSource;
  roots?: KmodRoots;
  /**
   * Default: the running kernel's; with DKMS, every installed kernel (each /lib/modules/<release> with
   * a modules.dep). Modules are only loaded into the running kernel.
   */
  release?: string;
  /** kmod/ (default: this package's). */
  source?: string;
  /** modprobe after installing (default true). */
  load?: boolean;
  /** Install over foreign modules (unloading a foreign eoip/eoipv6) and over an existing DKMS tree. */
  force?: boolean;
  runner?: Runner;
  /** Where DKMS sources go (default /usr/src). */
  srcRoot?: string;
  /** Progress, one line per step. */
  log?: (line: string) => void;
}

export interface InstallResult {
  /** The kernel installed for (DKMS for several: the running one if among them, else the first). */
  release: string;
  /** The files modprobe now loads on that kernel. */
  files: Record<Kind, string>;
  /** Every kernel installed for, oldest first, with the files modprobe now loads there. */
  kernels: { release: string; files: Record<Kind, string> }[];
  loaded: Kind[];
  /** Things the user should know (a module left loaded at an older version, ...). */
  notes: string[];
}

/** Undo actions, run newest first; each says what it undid. */
class Undo {
  private readonly actions: (() => string)[] = [];
  push(action: () => string): void {
    this.actions.push(action);
  }
  run(): string[] {
    const done: string[] = [];
    for (const action of this.actions.reverse()) {
      try {
        done.push(action());
      } catch (err) {
        done.push(`could not undo: ${(err as Error).message}`);
      }
    }
    return done;
  }
}

interface Context {
  o: InstallOptions;
  roots: KmodRoots;
  runner: Runner;
  /** The kernels to install for, each with its status (one, except DKMS for every installed kernel). */
  targets: KmodStatus[];
  /** The running kernel's target if it is one, else the first: what files/load refer to. */
  release: string;
  status: KmodStatus;
  undo: Undo;
  /** Temporary directories, removed however the install ends. */
  temp: string[];
  log: (line: string) => void;
}

export function install(o: InstallOptions): InstallResult {
  const roots = o.roots ?? SYSTEM_ROOTS;
  const runner = o.runner ?? systemRunner;
  const targets = installTargets(o, roots, runner);
  const status = targets.find((t) => t.release === t.running) ?? targets[0]!;
  const ctx: Context = {
    o,
    roots,
    runner,
    targets,
    release: status.release,
    status,
    undo: new Undo(),
    temp: [],
    log: o.log ?? (() => {}),
  };
  for (const t of targets) preflight(ctx, t);
  try {
    const kernels =
      'dkms' in o.from ? installDkms(ctx) : [{ release: ctx.release, files: installFiles(ctx) }];
    const files = kernels.find((k) => k.release === ctx.release)!.files;
    const result: InstallResult = { release: ctx.release, files, kernels, loaded: [], notes: [] };
    if (o.load !== false) load(ctx, result);
    return result;
  } catch (err) {
    const undone = ctx.undo.run();
    if (err instanceof KmodError) throw new KmodError(err.step, err.message, undone);
    throw err;
  } finally {
    for (const dir of ctx.temp) rmSync(dir, { recursive: true, force: true });
  }
}

/** The kernels an install is for: the one asked for or running; DKMS without one: every installed kernel. */
function installTargets(o: InstallOptions, roots: KmodRoots, runner: Runner): KmodStatus[] {
  const statusOf = (release?: string) => kmodStatus({ roots, release, runner, dkms: false });
  if (!('dkms' in o.from) || o.release !== undefined) return [statusOf(o.release)];
  const releases = installedReleases(roots);
  if (releases.length === 0)
    throw new KmodError(
      'dkms',
      `no kernel is installed (no ${join(roots.modules, '<release>', 'modules.dep')}): apt-get install linux-image-amd64`,
    );
  return releases.map((r) => statusOf(r));
}

/** Findings that make an install pointless or harmful unless forced. */
const BLOCKING = /-(foreign-loaded|foreign-file|alias-claimed)$/;

function preflight(ctx: Context, s: KmodStatus): void {
  const unsupported = s.findings.find((f) => f.id === 'modules-unsupported');
  if (unsupported) throw new KmodError('check', unsupported.message);
  const blockers = s.findings.filter((f) => BLOCKING.test(f.id));
  if (blockers.length > 0 && ctx.o.force !== true) {
    const which = ctx.targets.length > 1 ? ` on kernel ${s.release}` : '';
    throw new KmodError(
      'check',
      `refusing to install over a foreign module${which} (--force to install anyway):\n${blockers
        .map((f) => `  ${f.message}\n${f.advice.map((a) => `    - ${a}`).join('\n')}`)
        .join('\n')}`,
    );
  }
}

function baseArgs(ctx: Context, flag: '-b' | '-d'): string[] {
  return modulesTreeArgs(ctx.roots, flag);
}

function run(ctx: Context, step: string, command: string, args: string[]): void {
  ctx.log(`${command} ${args.join(' ')}`);
  const r = ctx.runner.run(command, args);
  if (r.status !== 0) throw new KmodError(step, describeFailure(command, args, r));
}

/** The modules to install: built here (into a temporary directory) or prebuilt, checked before any change. */
function obtainModules(ctx: Context): Record<Kind, string> {
  const from = ctx.o.from;
  let files: Record<Kind, string>;
  if ('prebuilt' in from) {
    files = { eoip: join(from.prebuilt, 'eoip.ko'), eoipv6: join(from.prebuilt, 'eoipv6.ko') };
  } else if ('kdir' in from) {
    const out = mkdtempSync(join(tmpdir(), 'greoip-kmod-out-'));
    ctx.temp.push(out);
    ctx.log(`building against ${from.kdir}`);
    files = buildModules({
      kdir: from.kdir,
      release: ctx.release,
      outDir: out,
      source: ctx.o.source,
      runner: ctx.runner,
    }).files;
  } else {
    throw new Error('obtainModules: DKMS builds its own');
  }
  for (const kind of KINDS) checkModule(ctx, kind, files[kind]);
  return files;
}

function checkModule(ctx: Context, kind: Kind, path: string): void {
  if (!existsSync(path)) throw new KmodError('check', `${path}: no such file (build it: greoip kmod build)`);
  const f = moduleFile(path, ctx.runner);
  if (f.greoip === null)
    throw new KmodError('check', `${path} is not greoip's ${kind} module (no greoip mark in its modinfo)`);
  if (f.builtFor !== ctx.release)
    throw new KmodError(
      'check',
      `${path} was built for kernel ${f.builtFor ?? '(unknown)'}, not ${ctx.release}`,
    );
  const sb = ctx.status.secureBoot;
  if (ctx.o.load !== false && !f.signed && (sb.state === 'on' || sb.sigEnforce === true)) {
    throw new KmodError(
      'check',
      `Secure Boot is on and ${path} is unsigned, so the kernel would refuse it: sign it with an enrolled ` +
        'MOK key (kmod/README.md, "Secure Boot"), use --dkms, or install with --no-load and sign the installed files',
    );
  }
}

function installFiles(ctx: Context): Record<Kind, string> {
  const files = obtainModules(ctx);
  const dest = join(ctx.roots.modules, ctx.release, 'updates', 'greoip');
  const installed = { eoip: join(dest, 'eoip.ko'), eoipv6: join(dest, 'eoipv6.ko') };
  copyModules(ctx, files, installed);
  run(ctx, 'depmod', 'depmod', [...baseArgs(ctx, '-b'), '-a', ctx.release]);
  checkResolves(ctx, installed);
  return installed;
}

/** Writes each module atomically; the undo restores what was there (and rebuilds the index after). */
function copyModules(ctx: Context, from: Record<Kind, string>, to: Record<Kind, string>): void {
  const dir = dirname(to.eoip);
  const created = !existsSync(dir);
  const previous = new Map<string, Buffer | null>();
  ctx.undo.push(() => {
    for (const [path, data] of previous) {
      if (data === null) rmSync(path, { force: true });
      else writeFileSync(path, data);
    }
    if (created) rmSync(dir, { recursive: true, force: true });
    const r = ctx.runner.run('depmod', [...baseArgs(ctx, '-b'), '-a', ctx.release]);
    const index =
      r.status === 0
        ? 'depmod -a rebuilt the index'
        : `depmod -a failed too: ${describeFailure('depmod', [], r)}`;
    return `removed ${[...previous.keys()].join(', ')}${[...previous.values()].some((d) => d) ? ' (the previous files restored)' : ''}; ${index}`;
  });
  mkdirSync(dir, { recursive: true });
  for (const kind of KINDS) {
    previous.set(to[kind], existsSync(to[kind]) ? readFileSync(to[kind]) : null);
    const tmp = `${to[kind]}.greoip-tmp`;
    writeFileSync(tmp, readFileSync(from[kind]));
    renameSync(tmp, to[kind]);
  }
  ctx.log(`copied eoip.ko and eoipv6.ko to ${dir}`);
}

/** After depmod: modprobe must now pick greoip's files (another eoip.ko in updates/ could win). */
function checkResolves(
  ctx: Context,
  expected: Record<Kind, string> | null,
  release = ctx.release,
): Record<Kind, string> {
  const index = readModuleIndex(ctx.roots, release);
  const out = {} as Record<Kind, string>;
  for (const kind of KINDS) {
    const path = index.files.get(kind);
    const ours = path !== undefined && moduleFile(path, ctx.runner).greoip !== null;
    if (path === undefined || (expected ? path !== expected[kind] : !ours)) {
      throw new KmodError(
        'depmod',
        `after depmod, modprobe ${kind}${release === ctx.release ? '' : ` on ${release}`} would load ${path ?? 'nothing'}` +
          (path
            ? `, not ${expected?.[kind] ?? "greoip's module"}: that file takes precedence; remove it`
            : ''),
      );
    }
    out[kind] = path;
  }
  return out;
}

/**
 * DKMS: the sources to /usr/src/greoip-eoip-<version>, dkms add, then build and install for each target
 * kernel. Every kernel's headers are checked first; a build that fails names its kernel, and the undo
 * (dkms remove --all, the tree removed) leaves DKMS and /lib/modules as they were.
 */
function installDkms(ctx: Context): { release: string; files: Record<Kind, string> }[] {
  if (!ctx.runner.has('dkms'))
    throw new KmodError('dkms', 'dkms is not installed: apt-get install dkms (or install without --dkms)');
  const noHeaders = ctx.targets.filter((t) => !t.headers.present);
  if (noHeaders.length > 0) {
    const several = ctx.targets.length > 1;
    throw new KmodError(
      'dkms',
      `DKMS needs the kernel headers of ${several ? 'every kernel it builds for' : 'the kernel'}: none for ` +
        noHeaders.map((t) => `${t.release} (${t.headers.path})`).join(', ') +
        `: apt-get install ${noHeaders.map((t) => t.headers.packages.join(' or ')).join(', ')}` +
        (several ? ', or pick kernels with --kernel RELEASE' : ''),
    );
  }
  const source = ctx.o.source ?? kmodSourceDir();
  const version = kmodVersion(source);
  const mv = ['-m', DKMS_NAME, '-v', version];
  const tree = join(ctx.o.srcRoot ?? '/usr/src', `${DKMS_NAME}-${version}`);
  replaceDkmsTree(ctx, tree, mv);
  copySources(source, tree);
  ctx.undo.push(() => {
    rmSync(tree, { recursive: true, force: true });
    return `removed ${tree}`;
  });
  ctx.log(`copied the module sources to ${tree}`);
  run(ctx, 'dkms add', 'dkms', ['add', ...mv]);
  ctx.undo.push(() => {
    const r = ctx.runner.run('dkms', ['remove', ...mv, '--all']);
    return r.status === 0
      ? `dkms remove ${DKMS_NAME}/${version} --all`
      : `dkms remove failed: ${r.stderr.trim()}`;
  });
  for (const t of ctx.targets) {
    runFor(ctx, t.release, 'dkms build', 'dkms', ['build', ...mv, '-k', t.release]);
    runFor(ctx, t.release, 'dkms install', 'dkms', ['install', ...mv, '-k', t.release]);
  }
  return ctx.targets.map((t) => ({ release: t.release, files: checkResolves(ctx, null, t.release) }));
}

/** run(), with the kernel named in the error when the install is for several. */
function runFor(ctx: Context, release: string, step: string, command: string, args: string[]): void {
  try {
    run(ctx, step, command, args);
  } catch (err) {
    if (!(err instanceof KmodError) || ctx.targets.length === 1) throw err;
    throw new KmodError(step, `for kernel ${release}: ${err.message}`);
  }
}

/** An existing /usr/src tree of this version: refused, or with --force removed from DKMS first. */
function replaceDkmsTree(ctx: Context, tree: string, mv: string[]): void {
  if (!existsSync(tree)) return;
  if (ctx.o.force !== true) {
    throw new KmodError(
      'dkms',
      `${tree} already exists: dkms remove ${mv[1]}/${mv[3]} --all && rm -r ${tree}, or use --force`,
    );
  }
  ctx.log(`dkms remove ${mv[1]}/${mv[3]} --all (--force)`);
  ctx.runner.run('dkms', ['remove', ...mv, '--all']);
  rmSync(tree, { recursive: true, force: true });
}

function load(ctx: Context, result: InstallResult): void {
  if (ctx.release !== ctx.status.running) {
    const which = ctx.targets.map((t) => t.release).join(', ');
    result.notes.push(
      `${which} ${ctx.targets.length > 1 ? 'are' : 'is'} not the running kernel: the modules load once it runs`,
    );
    return;
  }
  for (const kind of KINDS) loadOne(ctx, kind, result);
}

function loadOne(ctx: Context, kind: Kind, result: InstallResult): void {
  const before = ctx.status.modules[kind].loaded;
  if (before?.greoip) {
    if (before.greoip !== moduleFile(result.files[kind], ctx.runner).greoip)
      result.notes.push(
        `greoip's ${kind} ${before.greoip} stays loaded: modprobe -r ${kind} && modprobe ${kind} loads the new one (deleting its devices)`,
      );
    return;
  }
  // Only reached with --force: the foreign module owns the link kind, ours cannot load beside it.
  if (before) run(ctx, `rmmod foreign ${kind}`, 'rmmod', [kind]);
  run(ctx, `modprobe ${kind}`, 'modprobe', [...baseArgs(ctx, '-d'), kind]);
  ctx.undo.push(() => {
    const r = ctx.runner.run('rmmod', [kind]);
    return r.status === 0 ? `rmmod ${kind}` : `rmmod ${kind} failed: ${r.stderr.trim()}`;
  });
  if (loadedModule(ctx.roots, kind).greoip === null)
    throw new KmodError(
      `modprobe ${kind}`,
      `modprobe ${kind} succeeded but the loaded ${kind} is not greoip's`,
    );
  result.loaded.push(kind);
}
