/**
 * Fixture trees for src/module-manager: proc/, sys/ and lib/modules/<release>/ in a temporary directory, with module
 * files that are minimal ELF relocatables holding a .modinfo section (what modinfo reads), and loaded
 * modules as /proc/modules lines plus /sys/module/<m>/ (taint, version, holders, the greoip ELF note).
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { KmodRoots } from '../../src/module-manager/index.ts';
import { VERSION } from '../../src/version.ts';

export const RELEASE = '6.1.0-56-amd64';
export { VERSION };
/** A version that is not ours (another build installed or loaded). */
export const OTHER_VERSION = `${VERSION}-other`;
/** VERSION inside a regular expression. */
export const VERSION_RE = VERSION.replaceAll('.', '\\.');
const SIGNATURE_MAGIC = '~Module signature appended~\n';

export type Modinfo = Record<string, string | string[]>;

/** .modinfo of greoip's module `kind` built for `release`. */
export function ourModinfo(kind: string, release = RELEASE, version = VERSION): Modinfo {
  return {
    alias: `rtnl-link-${kind}`,
    greoip: version,
    version,
    license: 'GPL',
    name: kind,
    vermagic: `${release} SMP preempt mod_unload modversions `,
  };
}

/** .modinfo of the old project's module: same name and alias, no greoip mark. */
export function foreignModinfo(kind: string, release = RELEASE): Modinfo {
  return { alias: `rtnl-link-${kind}`, license: 'GPL', name: kind, vermagic: `${release} SMP mod_unload ` };
}

/** An ELF64 little-endian relocatable with sections: null, .modinfo, .shstrtab. */
export function elfModule(modinfo: Modinfo, signed = false): Buffer {
  const entries = Object.entries(modinfo).flatMap(([k, v]) =>
    (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}\0`),
  );
  const info = Buffer.from(entries.join(''), 'utf8');
  const names = Buffer.from('\0.modinfo\0.shstrtab\0', 'latin1');
  const infoAt = 64;
  const namesAt = infoAt + info.length;
  const shoff = Math.ceil((namesAt + names.length) / 8) * 8;
  const elf = Buffer.alloc(shoff + 3 * 64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // ELFCLASS64
  elf[5] = 1; // little endian
  elf[6] = 1;
  elf.writeUInt16LE(1, 16); // ET_REL
  elf.writeUInt16LE(62, 18); // x86-64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(64, 0x34);
  elf.writeUInt16LE(64, 0x3a);
  elf.writeUInt16LE(3, 0x3c);
  elf.writeUInt16LE(2, 0x3e);
  info.copy(elf, infoAt);
  names.copy(elf, namesAt);
  const section = (i: number, name: number, type: number, offset: number, size: number) => {
    const at = shoff + i * 64;
    elf.writeUInt32LE(name, at);
    elf.writeUInt32LE(type, at + 4);
    elf.writeBigUInt64LE(BigInt(offset), at + 24);
    elf.writeBigUInt64LE(BigInt(size), at + 32);
  };
  section(1, 1, 1, infoAt, info.length);
  section(2, 10, 3, namesAt, names.length);
  return signed ? Buffer.concat([elf, Buffer.alloc(300, 0xaa), Buffer.from(SIGNATURE_MAGIC)]) : elf;
}

/** What /sys/module/<m>/notes/.note.greoip holds: Elf32_Nhdr, "greoip\0" padded, the version padded. */
export function greoipNote(version: string): Buffer {
  const name = Buffer.from('greoip\0');
  const desc = Buffer.from(`${version}\0`);
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(name.length, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(1, 8);
  return Buffer.concat([head, pad(name), pad(desc)]);
}

export interface LoadOptions {
  taint?: string;
  version?: string;
  /** greoip's note with this version; absent: a foreign module. */
  greoip?: string;
  holders?: string[];
}

export class Fixture {
  readonly root = mkdtempSync(join(tmpdir(), 'greoip-kmod-fixture-'));
  readonly roots: KmodRoots = {
    proc: join(this.root, 'proc'),
    sys: join(this.root, 'sys'),
    modules: join(this.root, 'lib', 'modules'),
  };
  readonly dir: string;
  private readonly dep = new Map<string, string>();

  constructor(readonly release = RELEASE) {
    this.dir = join(this.roots.modules, release);
    this.write(join(this.roots.proc, 'sys', 'kernel', 'osrelease'), `${release}\n`);
    this.write(join(this.roots.proc, 'modules'), '');
    this.write(join(this.dir, 'modules.alias'), '# Aliases extracted from modules themselves.\n');
    this.write(join(this.dir, 'modules.builtin'), '');
    this.writeDep();
  }

  write(path: string, data: string | Uint8Array): string {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
    return path;
  }

  /** A module file under lib/modules/<release>/ (gzip-compressed when rel ends in .gz), listed in modules.dep. */
  module(rel: string, modinfo: Modinfo, options: { signed?: boolean; indexed?: boolean } = {}): string {
    const elf = elfModule(modinfo, options.signed);
    const path = this.write(join(this.dir, rel), rel.endsWith('.gz') ? gzipSync(elf) : elf);
    if (options.indexed !== false) {
      const name = String(modinfo.name ?? rel.replace(/.*\//, '').replace(/\.ko.*$/, ''));
      this.dep.set(name, rel);
      this.writeDep();
      for (const a of [modinfo.alias ?? []].flat()) this.alias(a, name);
    }
    return path;
  }

  /** The kernel's own gre.ko under kernel/net/ipv4/. */
  stockGre(): string {
    return this.module('kernel/net/ipv4/gre.ko', {
      name: 'gre',
      license: 'GPL',
      vermagic: `${this.release} SMP`,
    });
  }

  alias(pattern: string, module: string): void {
    appendFileSync(join(this.dir, 'modules.alias'), `alias ${pattern} ${module}\n`);
  }

  private writeDep(): void {
    this.write(join(this.dir, 'modules.dep'), [...this.dep.values()].map((rel) => `${rel}:\n`).join(''));
  }

  load(name: string, o: LoadOptions = {}): void {
    appendFileSync(
      join(this.roots.proc, 'modules'),
      `${name} 28672 0 - Live 0x0000000000000000 (${o.taint ?? ''})\n`,
    );
    const dir = join(this.roots.sys, 'module', name);
    this.write(join(dir, 'taint'), `${o.taint ?? ''}\n`);
    if (o.version) this.write(join(dir, 'version'), `${o.version}\n`);
    mkdirSync(join(dir, 'holders'), { recursive: true });
    for (const h of o.holders ?? []) mkdirSync(join(dir, 'holders', h));
    mkdirSync(join(dir, 'notes'), { recursive: true });
    this.write(join(dir, 'notes', '.note.gnu.build-id'), Buffer.alloc(36));
    if (o.greoip) this.write(join(dir, 'notes', '.note.greoip'), greoipNote(o.greoip));
  }

  /** greoip's eoip and eoipv6 installed in updates/greoip and loaded. */
  ours(options: { loaded?: boolean; signed?: boolean } = {}): void {
    for (const kind of ['eoip', 'eoipv6']) {
      this.module(`updates/greoip/${kind}.ko`, ourModinfo(kind, this.release), { signed: options.signed });
      if (options.loaded !== false) this.load(kind, { taint: 'OE', version: VERSION, greoip: VERSION });
    }
  }

  headers(): void {
    this.write(join(this.dir, 'build', 'Makefile'), '# kernel build tree\n');
  }

  /** efivarfs SecureBoot variable: 4 attribute bytes, then 1 (on) or 0 (off). */
  secureBoot(on: boolean): void {
    const path = join(
      this.roots.sys,
      'firmware',
      'efi',
      'efivars',
      'SecureBoot-8be4df61-93ca-11d0-aa0d-00e098032b8c',
    );
    this.write(path, Buffer.from([6, 0, 0, 0, on ? 1 : 0]));
  }

  /** A healthy machine without greoip: stock gre loaded, headers, no EFI. */
  static stock(): Fixture {
    const f = new Fixture();
    f.stockGre();
    f.load('gre', { holders: ['ip_gre'] });
    f.headers();
    return f;
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
