/**
 * Facts about the kernel's modules, read from procfs, sysfs and /lib/modules under injectable roots (so
 * detection runs on fixture trees in tests): what is loaded and whether it carries greoip's mark, where
 * modprobe would load a module from (modules.dep, which depmod writes with one winning file per name),
 * who declares an alias (modules.alias), and Secure Boot.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type ModuleInfo, parseModuleInfo } from './elf.ts';
import { KmodError } from './error.ts';
import type { Runner } from './runner.ts';

export interface KmodRoots {
  /** procfs, normally /proc */
  proc: string;
  /** sysfs, normally /sys */
  sys: string;
  /** the directory holding one directory per kernel release, normally /lib/modules */
  modules: string;
  /**
   * Symlinks to the kernel image the boot loader starts by default (Debian: /vmlinuz ->
   * boot/vmlinuz-<release>, or /boot/vmlinuz); none: not known.
   */
  bootLinks?: string[];
}

export const SYSTEM_ROOTS: KmodRoots = {
  proc: '/proc',
  sys: '/sys',
  modules: '/lib/modules',
  bootLinks: ['/vmlinuz', '/boot/vmlinuz'],
};

/** The note section main.c adds (ELFNOTE32("greoip", 1, version)), shown under /sys/module/<m>/notes/. */
export const GREOIP_NOTE = '.note.greoip';
/** The .modinfo key main.c adds (MODULE_INFO(greoip, version)). */
export const GREOIP_MODINFO_KEY = 'greoip';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The running kernel's release (uname -r), from procfs. */
export function runningRelease(roots: KmodRoots): string | null {
  return readText(join(roots.proc, 'sys', 'kernel', 'osrelease'))?.trim() || null;
}

/** Kernels with modules installed (a modules.dep under /lib/modules/<release>), oldest first. */
export function installedReleases(roots: KmodRoots): string[] {
  let names: string[];
  try {
    names = readdirSync(roots.modules);
  } catch {
    return [];
  }
  return names
    .filter((r) => existsSync(join(roots.modules, r, 'modules.dep')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** depmod -b / modprobe -d for a modules tree that is not the system's (fixture trees, chroots). */
export function modulesTreeArgs(roots: KmodRoots, flag: '-b' | '-d'): string[] {
  const m = roots.modules.replace(/\/+$/, '');
  if (m === '/lib/modules') return [];
  if (!m.endsWith('/lib/modules'))
    throw new KmodError('depmod', `${m}: depmod needs a tree ending in /lib/modules`);
  return [flag, m.slice(0, -'/lib/modules'.length) || '/'];
}

/** The release whose image the default boot link points at (vmlinuz-<release>), or null. */
export function bootDefaultRelease(roots: KmodRoots): string | null {
  for (const link of roots.bootLinks ?? []) {
    try {
      const m = /(?:^|\/)vmlinuz-(.+)$/.exec(readlinkSync(link));
      if (m?.[1] !== undefined) return m[1];
    } catch {
      // not a symlink, or absent
    }
  }
  return null;
}

/** Names of the loaded modules; null when the kernel has no module support (no /proc/modules). */
export function loadedModules(roots: KmodRoots): Set<string> | null {
  const text = readText(join(roots.proc, 'modules'));
  if (text === null) return null;
  return new Set(
    text
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n !== ''),
  );
}

export interface LoadedModule {
  name: string;
  /** Taint flags of this module (O: out of tree, E: unsigned, ...); '' for a signed in-tree module. */
  taint: string;
  /** MODULE_VERSION, when the module has one. */
  version: string | null;
  /** The version in greoip's ELF note; null: not greoip's module. */
  greoip: string | null;
  /** Modules that use this one (they must go before it can be unloaded). */
  holders: string[];
}

export function loadedModule(roots: KmodRoots, name: string): LoadedModule {
  const dir = join(roots.sys, 'module', name);
  let holders: string[] = [];
  try {
    holders = readdirSync(join(dir, 'holders')).sort();
  } catch {
    // no holders directory: nothing uses it
  }
  return {
    name,
    taint: readText(join(dir, 'taint'))?.trim() ?? '',
    version: readText(join(dir, 'version'))?.trim() || null,
    greoip: readNote(join(dir, 'notes', GREOIP_NOTE)),
    holders,
  };
}

/** The description of an ELF note named "greoip" (namesz, descsz, type, then the padded name and desc). */
function readNote(path: string): string | null {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    return null;
  }
  if (data.length < 12) return null;
  const u32 = (at: number) => (endianness() === 'LE' ? data.readUInt32LE(at) : data.readUInt32BE(at));
  const namesz = u32(0);
  const descsz = u32(4);
  const descAt = 12 + Math.ceil(namesz / 4) * 4;
  if (data.toString('latin1', 12, 12 + namesz).replace(/\0+$/, '') !== 'greoip') return null;
  if (descAt + descsz > data.length) return null;
  return data.toString('utf8', descAt, descAt + descsz).replace(/\0+$/, '');
}

export interface ModuleIndex {
  /** /lib/modules/<release> */
  dir: string;
  /** modules.dep was found (depmod has run for this release). */
  present: boolean;
  /** module name -> absolute path of the file modprobe would load */
  files: Map<string, string>;
  aliases: { pattern: string; module: string }[];
  /** names of modules built into the kernel (modules.builtin) */
  builtin: Set<string>;
}

/** A module's name from its file name: eoip.ko.xz -> eoip; dashes and underscores are the same name. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export function readModuleIndex(roots: KmodRoots, release: string): ModuleIndex {
  const dir = join(roots.modules, release);
  const dep = readText(join(dir, 'modules.dep'));
  const files = new Map<string, string>();
  for (const line of (dep ?? '').split('\n')) {
    const path = line.slice(0, line.indexOf(':'));
    if (path === '') continue;
    const name = moduleName(path);
    if (!files.has(name)) files.set(name, isAbsolute(path) ? path : join(dir, path));
  }
  const aliases = (readText(join(dir, 'modules.alias')) ?? '')
    .split('\n')
    .map((l) => /^alias\s+(\S+)\s+(\S+)/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pattern: m[1]!, module: m[2]!.replace(/-/g, '_') }));
  const builtin = new Set(
    (readText(join(dir, 'modules.builtin')) ?? '')
      .split('\n')
      .filter((l) => l !== '')
      .map(moduleName),
  );
  return { dir, present: dep !== null, files, aliases, builtin };
}

/** Modules declaring an alias that matches `name` (modprobe matches alias patterns with fnmatch). */
export function aliasOwners(index: ModuleIndex, name: string): string[] {
  const owners = index.aliases.filter((a) => globMatch(a.pattern, name)).map((a) => a.module);
  return [...new Set(owners)];
}

function globMatch(pattern: string, text: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(text);
}

/** Whether a module file (absolute path) is one of the kernel's own: under /lib/modules/<release>/kernel/. */
export function isInTree(index: ModuleIndex, path: string): boolean {
  return path.startsWith(`${join(index.dir, 'kernel')}/`);
}

/**
 * The .modinfo of a module file; compressed modules are unpacked in memory (gzip here, xz and zstd with
 * their tools when installed). Null when the file cannot be read or is no module.
 */
export function readModuleFile(path: string, runner?: Runner): ModuleInfo | null {
  try {
    if (path.endsWith('.gz')) return parseModuleInfo(gunzipSync(readFileSync(path)));
    for (const [ext, tool] of [
      ['.xz', 'xz'],
      ['.zst', 'zstd'],
    ] as const) {
      if (!path.endsWith(ext)) continue;
      if (runner !== undefined && !runner.has(tool)) return null;
      return parseModuleInfo(execFileSync(tool, ['-dc', path], { maxBuffer: 256 * 1024 * 1024 }));
    }
    return parseModuleInfo(readFileSync(path));
  } catch {
    return null;
  }
}

export type SecureBootState = 'on' | 'off' | 'unknown';

export interface SecureBootFacts {
  state: SecureBootState;
  /** Where the state came from, for the report. */
  source: string;
  /** /sys/module/module/parameters/sig_enforce (module.sig_enforce=1): unsigned modules refused. */
  sigEnforce: boolean | null;
}

/** The EFI global-variable GUID that SecureBoot lives under. */
const EFI_GLOBAL = '8be4df61-93ca-11d0-aa0d-00e098032b8c';

export function secureBoot(roots: KmodRoots, runner: Runner | null): SecureBootFacts {
  const enforce = readText(join(roots.sys, 'module', 'module', 'parameters', 'sig_enforce'))?.trim();
  const sigEnforce = enforce === undefined ? null : enforce === 'Y' || enforce === '1';
  const efi = join(roots.sys, 'firmware', 'efi');
  if (!existsSync(efi)) return { state: 'off', source: `no ${efi}: booted without EFI`, sigEnforce };
  const fromVar = efivarState(join(efi, 'efivars'));
  if (fromVar !== null) return { ...fromVar, sigEnforce };
  return { ...mokutilState(runner), sigEnforce };
}

/** efivarfs: 4 bytes of attributes, then the variable: 1 byte, 1 when Secure Boot is enforced. */
function efivarState(dir: string): Omit<SecureBootFacts, 'sigEnforce'> | null {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.startsWith('SecureBoot-'));
  } catch {
    return null;
  }
  const name = names.find((f) => f === `SecureBoot-${EFI_GLOBAL}`) ?? names[0];
  if (name === undefined) return null;
  try {
    const data = readFileSync(join(dir, name));
    if (data.length < 5) return null;
    return { state: data[4] === 1 ? 'on' : 'off', source: join(dir, name) };
  } catch {
    return null;
  }
}

function mokutilState(runner: Runner | null): Omit<SecureBootFacts, 'sigEnforce'> {
  if (runner === null || !runner.has('mokutil'))
    return { state: 'unknown', source: 'efivars unreadable and no mokutil' };
  const r = runner.run('mokutil', ['--sb-state']);
  const text = `${r.stdout}${r.stderr}`;
  if (/SecureBoot enabled/i.test(text)) return { state: 'on', source: 'mokutil --sb-state' };
  if (/SecureBoot disabled/i.test(text)) return { state: 'off', source: 'mokutil --sb-state' };
  return { state: 'unknown', source: `mokutil --sb-state: ${text.trim().split('\n')[0] ?? ''}` };
}
