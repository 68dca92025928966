/** The daemon's record of its tunnels, written after every change so a restart restores them. */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { TunnelConfig } from '../eoip/config.ts';

interface StateFile {
  version: 1;
  tunnels: TunnelConfig[];
}

export async function readState(path: string): Promise<TunnelConfig[] | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = JSON.parse(text) as StateFile;
  if (parsed.version !== 1 || !Array.isArray(parsed.tunnels))
    throw new Error(`${path}: not a greoip state file`);
  return parsed.tunnels;
}

/** Atomic: written beside the target, then renamed over it. */
export async function writeState(path: string, tunnels: TunnelConfig[]): Promise<void> {
  const body: StateFile = { version: 1, tunnels };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
