/**
 * Names shared by building, installing and inspecting the modules: the link kinds greoip's modules
 * register, and where Debian keeps a kernel release's headers. Imports nothing of its folder, so
 * build.ts, install.ts and status.ts can all import it without a cycle.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The rtnetlink link kinds, one module each (eoip.ko, eoipv6.ko). */
export const KINDS = ['eoip', 'eoipv6'] as const;
export type Kind = (typeof KINDS)[number];

/** Debian's headers packages for a release: the exact one, and the flavour's metapackage that follows new kernels. */
export function headersPackages(release: string): string[] {
  const flavour = /^\d+\.\d+\.\d+-\d+-(.+)$/.exec(release)?.[1];
  return [`linux-headers-${release}`, ...(flavour ? [`linux-headers-${flavour}`] : [])];
}

/** The release a kernel build tree is for (include/config/kernel.release), or null. */
export function releaseOfKdir(kdir: string): string | null {
  try {
    return readFileSync(join(kdir, 'include', 'config', 'kernel.release'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}
