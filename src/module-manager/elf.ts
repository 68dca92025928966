/**
 * What `modinfo` shows, read straight from a module's ELF image: the NUL-separated `key=value` strings of
 * its .modinfo section, and whether a signature is appended. Reading them here rather than running
 * `modinfo` keeps status detection working on fixture trees and in a bare initramfs whose busybox
 * modinfo cannot take a path for another kernel.
 */

/** The trailer `scripts/sign-file` appends after the module signature (include/linux/module_signature.h). */
const SIGNATURE_MAGIC = '~Module signature appended~\n';

export interface ModuleInfo {
  /** Every .modinfo key with its values in file order (alias, depends... can repeat). */
  fields: Map<string, string[]>;
  signed: boolean;
}

interface Section {
  name: number;
  offset: number;
  size: number;
}

/** The .modinfo fields of a module image, or null when it is not an ELF relocatable with a .modinfo. */
export function parseModuleInfo(image: Uint8Array): ModuleInfo | null {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const section = findSection(buf, '.modinfo');
  if (section === null) return null;
  return {
    fields: parseFields(buf.subarray(section.offset, section.offset + section.size)),
    signed: isSigned(buf),
  };
}

export function isSigned(image: Buffer): boolean {
  return (
    image.length > SIGNATURE_MAGIC.length &&
    image.toString('latin1', image.length - SIGNATURE_MAGIC.length) === SIGNATURE_MAGIC
  );
}

/** The first value of a field, or null. */
export function field(info: ModuleInfo | null, key: string): string | null {
  return info?.fields.get(key)?.[0] ?? null;
}

function parseFields(data: Buffer): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const entry of data.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue; // alignment padding between entries
    const key = entry.slice(0, eq);
    fields.set(key, [...(fields.get(key) ?? []), entry.slice(eq + 1)]);
  }
  return fields;
}

/** ELF32 or ELF64, either byte order: section headers, then names from the section-name string table. */
function findSection(buf: Buffer, wanted: string): Section | null {
  if (buf.length < 52 || buf.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = buf[4] === 2;
  const le = buf[5] !== 2;
  const u16 = (at: number) => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const word = (at: number) =>
    is64 ? Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at)) : u32(at);
  if (buf.length < (is64 ? 64 : 52)) return null;
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  const header = (i: number): Section | null => {
    const at = shoff + i * shentsize;
    if (at + shentsize > buf.length) return null;
    return is64
      ? { name: u32(at), offset: word(at + 24), size: word(at + 32) }
      : { name: u32(at), offset: u32(at + 16), size: u32(at + 20) };
  };
  const names = header(shstrndx);
  if (names === null) return null;
  for (let i = 1; i < shnum; i++) {
    const s = header(i);
    if (s === null || s.offset + s.size > buf.length) continue;
    const start = names.offset + s.name;
    const end = buf.indexOf(0, start);
    if (end > 0 && buf.toString('latin1', start, end) === wanted) return s;
  }
  return null;
}
