/**
 * A tiny in-memory initramfs: a tree of directories, regular files, symlinks and device nodes, written
 * as a gzipped cpio "newc" archive (the format the kernel unpacks into its rootfs). Parents are created
 * on demand and entries are written sorted, so each directory precedes what it contains.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { gzipSync } from 'node:zlib';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

interface Entry {
  mode: number;
  data: Uint8Array;
  rdevMajor: number;
  rdevMinor: number;
}

function clean(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new Error(`cpio: ".." in ${path}`);
  return parts.join('/');
}

export class CpioTree {
  readonly #entries = new Map<string, Entry>();

  has(path: string): boolean {
    return this.#entries.has(clean(path));
  }

  /** Follows symlinks already in the tree for every directory component (used to place files). */
  resolveDir(path: string): string {
    let parts = clean(path)
      .split('/')
      .filter((p) => p !== '');
    for (let hops = 0, i = 0; i < parts.length; i++) {
      const prefix = parts.slice(0, i + 1).join('/');
      const e = this.#entries.get(prefix);
      if (e !== undefined && (e.mode & 0o170000) === S_IFLNK) {
        if (++hops > 32) throw new Error(`cpio: symlink loop at ${path}`);
        const target = Buffer.from(e.data).toString();
        const base = target.startsWith('/') ? '' : parts.slice(0, i).join('/');
        parts = clean(posix.normalize(`/${base}/${target}/${parts.slice(i + 1).join('/')}`)).split('/');
        i = -1;
      }
    }
    return parts.join('/');
  }

  dir(path: string, mode = 0o755): void {
    const p = clean(path);
    if (p === '') return;
    const existing = this.#entries.get(p);
    if (existing !== undefined) {
      if ((existing.mode & 0o170000) === S_IFDIR || (existing.mode & 0o170000) === S_IFLNK) return;
      throw new Error(`cpio: ${p} exists and is not a directory`);
    }
    this.#parents(p);
    this.#entries.set(p, { mode: S_IFDIR | mode, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 });
  }

  file(path: string, data: Uint8Array | string, mode = 0o644): void {
    const p = clean(path);
    this.#parents(p);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.#entries.set(p, { mode: S_IFREG | mode, data: bytes, rdevMajor: 0, rdevMinor: 0 });
  }

  symlink(path: string, target: string): void {
    const p = clean(path);
    this.#parents(p);
    this.#entries.set(p, { mode: S_IFLNK | 0o777, data: Buffer.from(target), rdevMajor: 0, rdevMinor: 0 });
  }

  charDevice(path: string, major: number, minor: number, mode = 0o600): void {
    const p = clean(path);
    this.#parents(p);
    this.#entries.set(p, {
      mode: S_IFCHR | mode,
      data: new Uint8Array(0),
      rdevMajor: major,
      rdevMinor: minor,
    });
  }

  #parents(p: string): void {
    const i = p.lastIndexOf('/');
    if (i > 0) this.dir(p.slice(0, i));
  }

  /** A hash of everything the archive will hold (names, modes, contents). */
  hash(): string {
    const h = createHash('sha256');
    for (const [name, e] of this.#sorted()) {
      h.update(`${name}\0${e.mode}\0${e.rdevMajor}:${e.rdevMinor}\0${e.data.length}\0`);
      h.update(e.data);
    }
    return h.digest('hex');
  }

  #sorted(): [string, Entry][] {
    return [...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The uncompressed newc archive, ending with the TRAILER!!! record. */
  cpio(): Buffer {
    const chunks: Buffer[] = [];
    let ino = 1;
    const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
    const record = (name: string, e: Entry) => {
      const nameBytes = Buffer.from(`${name}\0`);
      const fields = [
        ino++,
        e.mode,
        0, // uid
        0, // gid
        (e.mode & 0o170000) === S_IFDIR ? 2 : 1,
        0, // mtime: reproducible archives
        e.data.length,
        0,
        0,
        e.rdevMajor,
        e.rdevMinor,
        nameBytes.length,
        0,
      ];
      const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
      chunks.push(header, nameBytes, pad(header.length + nameBytes.length));
      chunks.push(Buffer.from(e.data), pad(e.data.length));
    };
    for (const [name, e] of this.#sorted()) record(name, e);
    record('TRAILER!!!', { mode: 0, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 });
    return Buffer.concat(chunks);
  }

  /** The gzipped archive (the kernel accepts several such archives concatenated). */
  cpioGz(): Buffer {
    return gzipSync(this.cpio(), { level: 6 });
  }
}
