/**
 * The one loader of greoip's BPF objects, over the addon's libbpf (src/native/bpf.ts): load an object with
 * its maps pinned by name under a directory, find its programs and maps, and the bpffs directories they
 * are pinned in (one per network namespace for the daemon, a private mount for tests).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { bpf, type LoadedMap, type LoadedObject, type LoadedProgram } from '../native/bpf.ts';
import { close, netnsCookie } from '../native/index.ts';
import { bpfObjectDir } from './programs.ts';

/** statfs f_type of a bpffs. */
const BPF_FS_MAGIC = 0xcafe4a11;
/** Where systemd mounts the bpffs. */
export const BPFFS = '/sys/fs/bpf';

export class BpfLoadError extends Error {
  override name = 'BpfLoadError';
  constructor(
    message: string,
    /** libbpf's messages for the failed load (the verifier log), when there were any. */
    readonly log: string | null,
  ) {
    super(message);
  }
}

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** A loaded object: its programs and maps by name, open until close(). */
export class BpfObject {
  private constructor(
    readonly path: string,
    private readonly loaded: LoadedObject,
  ) {}

  static load(path: string, options: { pinRoot?: string; progType?: string } = {}): BpfObject {
    try {
      return new BpfObject(path, bpf.loadObject(path, options));
    } catch (err) {
      const e = err as Error & { log?: string };
      const log = typeof e.log === 'string' ? e.log.trim() : null;
      const tail = log ? `\n${log.split('\n').slice(-12).join('\n')}` : '';
      throw new BpfLoadError(`${e.message}${tail}`, log);
    }
  }

  /** Loads build/NAME.o (or $GREOIP_BPF_DIR/NAME.o). */
  static loadBuilt(name: string, options: { pinRoot?: string; progType?: string } = {}): BpfObject {
    return BpfObject.load(join(bpfObjectDir(), `${name}.o`), options);
  }

  program(name: string): LoadedProgram {
    const p = this.loaded.programs.find((x) => x.name === name);
    if (!p) throw new Error(`${this.path} has no program ${name}`);
    return p;
  }

  get programs(): readonly LoadedProgram[] {
    return this.loaded.programs;
  }

  map(name: string): LoadedMap {
    const m = this.loaded.maps.find((x) => x.name === name);
    if (!m) throw new Error(`${this.path} has no map ${name}`);
    return m;
  }

  close(): void {
    bpf.closeObject(this.loaded);
  }
}

/** A bpffs directory the caller owns, removed (and unmounted when it was mounted for it) by release(). */
export interface PinDir {
  path: string;
  release(): void;
}

/**
 * A private bpffs for tests and one-off runs: mounted in a fresh temp directory, so nothing is pinned
 * where other processes look. Needs CAP_SYS_ADMIN (root).
 */
export async function privateBpffs(): Promise<PinDir> {
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'greoip-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: 'pipe' });
  return {
    path: dir,
    release() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Names this network namespace's pin directory: its cookie (SO_NETNS_COOKIE), never reused while the
 * machine runs, unlike its inode, so a new namespace can never adopt a dead one's maps (bpffs pins do
 * not outlive a reboot either).
 */
export function netnsPinName(): string {
  return `net-${netnsCookie()}`;
}

/** A bpffs outside /sys, which `ip netns exec` replaces with the namespace's own sysfs. */
export const RUN_BPFFS = '/run/greoip/bpffs';

/**
 * The bpffs the daemon pins under: $GREOIP_BPFFS, else /sys/fs/bpf, else /run/greoip/bpffs. Pins must
 * outlive the daemon for a restart to adopt them, so the mount must belong to a mount namespace that
 * outlives it: systemd's /sys/fs/bpf for a daemon in the root namespaces; for one started with
 * `ip netns exec` (which remounts /sys), a bpffs mounted on /run/greoip/bpffs beforehand.
 */
export function pinRoot(): string {
  const override = process.env.GREOIP_BPFFS;
  if (override) {
    if (!isBpffs(override)) throw new Error(`GREOIP_BPFFS=${override} is not a bpffs`);
    return override;
  }
  for (const root of [BPFFS, RUN_BPFFS]) if (isBpffs(root)) return root;
  throw new Error(
    `no bpffs on ${BPFFS} or ${RUN_BPFFS}: mount one (mount -t bpf bpf ${BPFFS}; systemd does at boot; ` +
      `for a daemon started with "ip netns exec", mount -t bpf bpf ${RUN_BPFFS} first)`,
  );
}

/**
 * The daemon's pin directory for this network namespace, ROOT/greoip/net-COOKIE/NAME, created when
 * missing. A namespace's pins outlive the daemon (so a restart adopts them).
 */
export function namespacePinDir(name: string, root = pinRoot()): string {
  const dir = join(root, 'greoip', netnsPinName(), name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Removes a pin directory and whatever is pinned in it (pins are unlinked like files), then its parents
 * up to and including greoip/ while they are empty.
 */
export function removePinDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (
    let parent = dirname(dir);
    basename(parent) !== '' && parent !== dirname(parent);
    parent = dirname(parent)
  ) {
    try {
      rmdirSync(parent);
    } catch {
      return; // not empty, or not ours to remove
    }
    if (basename(parent) === 'greoip') return;
  }
}

/** Names pinned in a directory (empty when it does not exist). */
export function pinnedNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Opens a pinned object, or returns null when nothing is pinned there. */
export function openPinned(path: string): number | null {
  try {
    return bpf.objGet(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function closeFd(fd: number): void {
  close(fd);
}
