/**
 * What `greoip kmod status` looks at, read from the system (or fixture roots) without judging it: the
 * module files modprobe would load for each kind and whose they are, what is loaded, who claims the
 * link kinds, the gre module, headers and Secure Boot. findings.ts says what the facts mean.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type DkmsEntry, dkmsEntries, dkmsStateFor } from './dkms.ts';
import { field } from './elf.ts';
import { KmodError } from './error.ts';
import { headersPackages, type Kind } from './kinds.ts';
import type { Runner } from './runner.ts';
import {
  aliasOwners,
  bootDefaultRelease,
  installedReleases,
  isInTree,
  type KmodRoots,
  type LoadedModule,
  loadedModule,
  loadedModules,
  type ModuleIndex,
  readModuleFile,
  readModuleIndex,
  runningRelease,
  type SecureBootFacts,
  SYSTEM_ROOTS,
  secureBoot,
} from './system.ts';

export interface ModuleFile {
  path: string;
  /** greoip's mark (MODULE_INFO(greoip, version)); null: not greoip's, or unreadable. */
  greoip: string | null;
  version: string | null;
  /** The kernel release the file was built for (first word of vermagic). */
  builtFor: string | null;
  signed: boolean;
  readable: boolean;
}

export interface AliasClaim {
  module: string;
  path: string | null;
  ours: boolean;
}

export interface KindStatus {
  kind: Kind;
  /** null when not loaded or when the release inspected is not the running kernel's. */
  loaded: LoadedModule | null;
  /** The file `modprobe <kind>` would load (modules.dep). */
  file: ModuleFile | null;
  /** Modules declaring alias rtnl-link-<kind>, which `ip link add ... type <kind>` autoloads. */
  aliasClaims: AliasClaim[];
}

/** One installed kernel (a /lib/modules/<release> with modules.dep), as `greoip kmod status` lists them. */
export interface KernelSummary {
  release: string;
  /** The kernel that runs now: modules load into this one. */
  running: boolean;
  /** The default boot link points at this kernel's image: the one the next boot starts. */
  bootDefault: boolean;
  /** /lib/modules/<release>/build holds a Makefile: modules can be built for it (and DKMS can). */
  headers: boolean;
  /** What `modprobe <kind>` loads on that kernel: the file and its greoip version (null: not greoip's). */
  modules: Record<Kind, { path: string; greoip: string | null } | null>;
  /** DKMS's state of greoip's modules for that kernel (`installed`, `built`...); null: no entry. */
  dkms: string | null;
}

/** What is on the system for one kernel release, before any judgement. */
export interface KmodFacts {
  release: string;
  /** /lib/modules/<release> */
  dir: string;
  running: string | null;
  /** The running kernel can load modules (/proc/modules exists). */
  moduleSupport: boolean;
  modules: Record<Kind, KindStatus>;
  gre: { loaded: LoadedModule | null; file: string | null; inTree: boolean | null; builtin: boolean };
  headers: { path: string; present: boolean; packages: string[] };
  secureBoot: SecureBootFacts;
  /** Every installed kernel, oldest first. */
  kernels: KernelSummary[];
  /** DKMS's entries for greoip's modules (any kernel); null: dkms is not installed. */
  dkms: DkmsEntry[] | null;
}

export interface StatusOptions {
  roots?: KmodRoots;
  /** Release to inspect (default: the running kernel's); loaded modules are only checked for that one. */
  release?: string;
  /** Runs mokutil, dkms and the xz/zstd decompressors; null: none of them. */
  runner?: Runner | null;
  /** Ask DKMS for its entries (`dkms status`; default true). */
  dkms?: boolean;
}

export function detectModules(options: StatusOptions = {}): KmodFacts {
  const roots = options.roots ?? SYSTEM_ROOTS;
  const runner = options.runner ?? null;
  const running = runningRelease(roots);
  const release = options.release ?? running;
  if (release === null)
    throw new KmodError(
      'status',
      `cannot tell the running kernel's release (${join(roots.proc, 'sys/kernel/osrelease')}): give --kernel`,
    );
  const loaded = release === running ? loadedModules(roots) : null;
  const index = readModuleIndex(roots, release);
  const modules = {
    eoip: kindStatus('eoip', roots, index, loaded, runner),
    eoipv6: kindStatus('eoipv6', roots, index, loaded, runner),
  };
  const greFile = index.files.get('gre') ?? null;
  const dkms = options.dkms === false ? null : dkmsEntries(runner);
  return {
    release,
    dir: index.dir,
    running,
    moduleSupport: release !== running || loaded !== null,
    modules,
    gre: {
      loaded: loaded?.has('gre') ? loadedModule(roots, 'gre') : null,
      file: greFile,
      inTree: greFile === null ? null : isInTree(index, greFile),
      builtin: index.builtin.has('gre'),
    },
    headers: headers(roots, release),
    secureBoot: secureBoot(roots, runner),
    kernels: kernelSummaries(roots, running, dkms, runner),
    dkms,
  };
}

function kernelSummaries(
  roots: KmodRoots,
  running: string | null,
  dkms: DkmsEntry[] | null,
  runner: Runner | null,
): KernelSummary[] {
  const boot = bootDefaultRelease(roots);
  return installedReleases(roots).map((release) => {
    const index = readModuleIndex(roots, release);
    const module = (kind: Kind) => {
      const path = index.files.get(kind);
      return path === undefined ? null : { path, greoip: moduleFile(path, runner).greoip };
    };
    return {
      release,
      running: release === running,
      bootDefault: release === boot,
      headers: headers(roots, release).present,
      modules: { eoip: module('eoip'), eoipv6: module('eoipv6') },
      dkms: dkmsStateFor(dkms, release),
    };
  });
}

function kindStatus(
  kind: Kind,
  roots: KmodRoots,
  index: ModuleIndex,
  loaded: Set<string> | null,
  runner: Runner | null,
): KindStatus {
  const path = index.files.get(kind);
  const aliasClaims = aliasOwners(index, `rtnl-link-${kind}`).map((module) => {
    const file = index.files.get(module) ?? null;
    return { module, path: file, ours: file !== null && moduleFile(file, runner).greoip !== null };
  });
  return {
    kind,
    loaded: loaded?.has(kind) ? loadedModule(roots, kind) : null,
    file: path === undefined ? null : moduleFile(path, runner),
    aliasClaims,
  };
}

export function moduleFile(path: string, runner: Runner | null): ModuleFile {
  const info = readModuleFile(path, runner ?? undefined);
  return {
    path,
    greoip: field(info, 'greoip'),
    version: field(info, 'version'),
    builtFor: field(info, 'vermagic')?.split(' ')[0] ?? null,
    signed: info?.signed ?? false,
    readable: info !== null,
  };
}

function headers(roots: KmodRoots, release: string): KmodFacts['headers'] {
  const path = join(roots.modules, release, 'build');
  return { path, present: existsSync(join(path, 'Makefile')), packages: headersPackages(release) };
}
