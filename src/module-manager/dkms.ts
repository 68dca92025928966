/**
 * What DKMS knows of greoip's modules (`dkms status`), and removing them from it: the entries of
 * DKMS_NAME by version and kernel. install.ts adds, builds and installs; this reads and removes.
 */
import { KmodError } from './error.ts';
import { describeFailure, type Runner } from './runner.ts';
import { DKMS_NAME } from './source.ts';

export interface DkmsEntry {
  version: string;
  /** null: added (sources registered), built for no kernel yet */
  release: string | null;
  /** `installed`, `built`, `added`, ... as dkms prints it (with any note in parentheses) */
  state: string;
}

/**
 * Parses `dkms status` lines, `greoip-eoip/0.1.0, 6.1.0-57-amd64, x86_64: installed` and
 * `greoip-eoip/0.1.0: added` (dkms 3; dkms 2 wrote `greoip-eoip, 0.1.0, ...`).
 */
export function parseDkmsStatus(text: string): DkmsEntry[] {
  const out: DkmsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([^/,\s]+)[/,]\s*([^,:\s]+)(?:,\s*([^,:\s]+))?(?:,\s*[^,:\s]+)?:\s*(.+)$/.exec(line.trim());
    if (m === null || m[1] !== DKMS_NAME) continue;
    out.push({ version: m[2]!, release: m[3] ?? null, state: m[4]!.trim() });
  }
  return out;
}

/** DKMS's entries for greoip's modules; null when dkms is not installed (or no runner was given). */
export function dkmsEntries(runner: Runner | null): DkmsEntry[] | null {
  if (runner === null || !runner.has('dkms')) return null;
  const r = runner.run('dkms', ['status', '-m', DKMS_NAME]);
  if (r.status !== 0) throw new KmodError('dkms', describeFailure('dkms', ['status', '-m', DKMS_NAME], r));
  return parseDkmsStatus(r.stdout);
}

/** The state DKMS gives greoip's modules on `release` (the newest version's), or null. */
export function dkmsStateFor(entries: DkmsEntry[] | null, release: string): string | null {
  const mine = (entries ?? []).filter((e) => e.release === release);
  mine.sort((a, b) => b.version.localeCompare(a.version, 'en', { numeric: true }));
  return mine[0]?.state ?? null;
}
