/**
 * Real-kernel lab: boots one of Debian's own kernels (6.1, 6.12; the host's kernel has no GRE) under qemu
 * TCG with a busybox initramfs, runs a shell script inside, and reports what it found through greppable
 * console markers. Recipe and gotchas: docs/kernel-lab.md; declaring tests per kernel: suite.ts; how to
 * run a script by hand: README.md here.
 *
 * Everything the guest does stays inside the guest: the VM has no network card (-nic none), unless
 * `network` gives it a virtio NIC attached to a tap in a host network namespace the caller made.
 *
 * Markers the guest prints (one line each; names have no spaces):
 *   @@GREOIP BOOT <uptime>          the init script started
 *   @@GREOIP READY <uptime>         modules loaded, host mounted: the script starts
 *   @@GREOIP PASS <name> [detail]   a check passed (detail: data the host may compare, e.g. packet hex)
 *   @@GREOIP FAIL <name> <detail>   a check failed
 *   @@GREOIP DONE <status> <uptime> the script ended with <status>; the guest powers off next
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CpioTree } from './cpio.ts';

export const QEMU = '/usr/bin/qemu-system-x86_64';
const IP = '/usr/sbin/ip';
export const QBOOT = '/usr/share/qemu/qboot.rom';
/** Where the guest mounts the host's root (read-only) when `shareHost` is set. */
export const GUEST_HOST_ROOT = '/host';

/** Modules always in the initramfs (with their dependencies, from modprobe --show-depends). */
export const LAB_MODULES = [
  'gre',
  'ip_gre',
  'ip6_gre',
  'veth',
  'tun',
  'ip_tunnel',
  'ip6_tunnel',
  'tunnel6',
  'sch_ingress',
  'cls_bpf',
  '9p',
  '9pnet_virtio',
  'virtio_pci',
  'virtio_net',
];
/** Loaded at boot only when the host filesystem is shared. */
const SHARE_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];
/** Loaded at boot only when the guest has a network card. */
const NETWORK_MODULES = ['virtio_pci', 'virtio_net'];
/** Real binaries (with their libraries); busybox provides the rest. Call them by full path in the guest. */
export const LAB_BINARIES = [
  '/usr/sbin/ip',
  '/usr/sbin/tc',
  '/usr/sbin/bpftool',
  '/usr/bin/iperf3',
  '/usr/sbin/ethtool',
];

export class LabError extends Error {
  override name = 'LabError';
}

export interface Kernel {
  /** `uname -r` of that kernel, e.g. 6.1.0-57-amd64 or 6.12.118+deb12-amd64 */
  version: string;
  vmlinuz: string;
  modules: string;
}

export interface GuestResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** The guest's network card: virtio-net on a persistent tap that already exists in a host namespace. */
export interface GuestNetwork {
  /** Host network namespace holding the tap; qemu runs in it (`ip netns exec NETNS qemu ...`). */
  netns: string;
  /**
   * A persistent tap in `netns` (`ip -n NETNS tuntap add dev TAP mode tap`), made and addressed by the
   * caller before the boot; qemu attaches to it and the tap outlives the VM. It shows carrier only while
   * qemu holds it. The guest sees the card as eth0.
   */
  tap: string;
  /** The guest card's MAC address (default qemu's 52:54:00:12:34:56). */
  mac?: string;
}

/** What an `onMarker` callback can do while the guest runs. */
export interface GuestConsole {
  /**
   * Writes one line to the guest's serial console (qemu's stdin); the guest reads it with the prelude's
   * `from_host` / `wait_host`. Lines wait in the guest's tty until read. No newline inside `line`.
   */
  send(line: string): void;
  /** Milliseconds since qemu was spawned. */
  elapsedMs(): number;
}

export interface RunOptions {
  /** The kernel to boot (installedKernels(), labKernels(), findKernel(version)); default findKernel(). */
  kernel?: Kernel;
  /** Shell script (busybox sh) run by /init after setup; helpers from the prelude are available (README.md). */
  script: string;
  /** Extra files copied into the initramfs: absolute guest path -> content (mode 0755 when it starts with #!). */
  files?: Record<string, string | Uint8Array>;
  /** Mount the host's / read-only at /host over 9p (needed to run the host's node, BPF objects, ...). */
  shareHost?: boolean;
  /** Wall-clock limit for the whole boot; the VM is killed after it. Default 120 s. */
  timeoutMs?: number;
  /** Extra kernel command line arguments. */
  append?: string;
  /** Guest memory in MiB (default 1024). */
  memoryMiB?: number;
  /** Virtual CPUs (default 1). */
  cpus?: number;
  /**
   * Extra qemu arguments, appended last (e.g. `['-icount', 'shift=0,sleep=off']` for bench/kernel.mjs:
   * guest time then counts instructions, so figures do not depend on how busy the host is).
   */
  qemuArgs?: string[];
  /** A network card for the guest (default none: `-nic none`). */
  network?: GuestNetwork;
  /**
   * Called for each PASS/FAIL marker as soon as its line reaches the console, while the guest runs
   * (runInGuest only). A callback that throws or rejects stops the VM and runInGuest rejects with its
   * error; runInGuest settles only after every callback it started has finished.
   */
  onMarker?: (marker: GuestResult, guest: GuestConsole) => void | Promise<void>;
}

export interface RunResult {
  /** Everything the serial console printed (kernel and guest), with \r removed. */
  output: string;
  /** PASS/FAIL markers in the order printed. */
  results: GuestResult[];
  /** From spawning qemu to its exit. */
  durationMs: number;
  /** From spawning qemu to the BOOT marker (init running, modules not yet loaded). */
  bootMs: number | undefined;
  /** Exit status of the guest script (from the DONE marker). */
  scriptStatus: number;
}

/** The guest path of a host path when the host is shared. */
export function hostPath(path: string): string {
  return `${GUEST_HOST_ROOT}${resolve(path)}`;
}

function cacheRoot(): string {
  const dir = process.env.GREOIP_KERNEL_LAB_CACHE ?? join(homedir(), '.cache', 'greoip-kernel-lab');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function kernelAt(version: string): Kernel {
  return { version, vmlinuz: join('/boot', `vmlinuz-${version}`), modules: join('/lib/modules', version) };
}

/** Every kernel the lab can boot: /boot/vmlinuz-<version> with /lib/modules/<version>/modules.dep, oldest first. */
export function installedKernels(): Kernel[] {
  if (!existsSync('/boot')) return [];
  return readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join('/lib/modules', v, 'modules.dep')))
    .sort(compareVersions)
    .map(kernelAt);
}

const INSTALL_HINT =
  'run scripts/setup.sh (apt-get install linux-image-amd64 and the newest linux-image-6.12.*+deb12-amd64)';

/**
 * The installed kernel of exactly `version` (`6.1.0-57-amd64`; no prefix match: 6.1 is not 6.12).
 * Without a version: the first of labKernels().
 */
export function findKernel(version?: string): Kernel {
  if (version === undefined) return labKernels()[0]!;
  const kernel = installedKernels().find((k) => k.version === version);
  if (kernel === undefined) {
    const have = installedKernels().map((k) => k.version);
    throw new LabError(
      `kernel lab: kernel ${version} is not installed (/boot/vmlinuz-${version} and ` +
        `/lib/modules/${version}/modules.dep; installed: ${have.length > 0 ? have.join(', ') : 'none'}): ` +
        `apt-get install linux-image-${version}, or ${INSTALL_HINT}`,
    );
  }
  return kernel;
}

/**
 * The kernels lab tests run on, oldest first: the exact versions in GREOIP_KERNEL_VERSION (comma- or
 * space-separated) when set, else every installed kernel (installedKernels()).
 */
export function labKernels(): Kernel[] {
  const wanted = (process.env.GREOIP_KERNEL_VERSION ?? '').split(/[\s,]+/).filter((v) => v !== '');
  if (wanted.length > 0) return wanted.map((v) => findKernel(v));
  const all = installedKernels();
  if (all.length === 0) {
    throw new LabError(
      'kernel lab: no Debian kernel with modules (/boot/vmlinuz-<version> and ' +
        `/lib/modules/<version>/modules.dep): ${INSTALL_HINT}`,
    );
  }
  return all;
}

/** Checks every host tool the lab needs; throws one message naming all that are missing. */
export function checkHostTools(): void {
  const missing = [QEMU, QBOOT, '/usr/bin/busybox', '/usr/sbin/depmod', '/usr/sbin/modprobe', ...LAB_BINARIES]
    .filter((p) => !existsSync(p))
    .concat(['xz', 'zstd'].filter((c) => !commandExists(c)));
  if (missing.length > 0) {
    throw new LabError(
      `kernel lab: missing ${missing.join(', ')}: run scripts/setup.sh ` +
        '(apt-get install qemu-system-x86 busybox-static bpftool iproute2 iperf3 ethtool kmod xz-utils zstd)',
    );
  }
}

function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes atomically (temp file + rename), so parallel test files never see half a cache entry. */
function writeAtomic(path: string, data: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * The compressed kernel inside a bzImage, located by its x86 boot protocol header (2.08+):
 * payload_offset/payload_length at 0x248/0x24c, counted from the protected-mode code, which starts
 * after (setup_sects + 1) sectors of 512 bytes. The kernel's build appends the uncompressed size
 * (4 bytes, little endian) to the compressed stream.
 */
function bzImagePayload(image: Buffer, path: string): { stream: Buffer; size: number } {
  if (image.length < 0x250 || image.readUInt32LE(0x202) !== 0x53726448 /* "HdrS" */)
    throw new LabError(`kernel lab: ${path} is not a bzImage (no HdrS boot header)`);
  if (image.readUInt16LE(0x206) < 0x208)
    throw new LabError(`kernel lab: ${path}: boot protocol before 2.08 has no payload fields`);
  const setupSectors = image[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (length < 8 || start + length > image.length)
    throw new LabError(`kernel lab: ${path}: payload ${start}+${length} outside the file`);
  return { stream: image.subarray(start, start + length - 4), size: image.readUInt32LE(start + length - 4) };
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Decompresses the payload by its magic: xz (Debian's 6.1), zstd (Debian's 6.12) or gzip. */
function decompressKernel(stream: Buffer, path: string): Buffer {
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { input: stream, maxBuffer: 512 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
  if (stream.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) return run('xz', ['-dc', '--single-stream']);
  if (stream.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) return run('zstd', ['-dc', '-q']);
  if (stream.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) return gunzipSync(stream);
  throw new LabError(
    `kernel lab: ${path}: the kernel is compressed with none of xz, zstd, gzip (starts ${stream.subarray(0, 6).toString('hex')})`,
  );
}

/**
 * The uncompressed kernel (qboot boots the ELF through its PVH entry, faster than the bzImage), extracted
 * once from the compressed payload inside vmlinuz and cached per kernel version, size and mtime.
 */
export function ensureVmlinux(kernel: Kernel): string {
  const st = statSync(kernel.vmlinuz);
  const path = join(cacheRoot(), kernel.version, `vmlinux-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(path)) return path;
  const { stream, size } = bzImagePayload(readFileSync(kernel.vmlinuz), kernel.vmlinuz);
  const elf = decompressKernel(stream, kernel.vmlinuz);
  if (elf.length < 4 || elf.readUInt32BE(0) !== 0x7f454c46)
    throw new LabError(`kernel lab: ${kernel.vmlinuz} did not hold an ELF`);
  if (elf.length % 2 ** 32 !== size)
    throw new LabError(`kernel lab: ${kernel.vmlinuz}: unpacked ${elf.length} bytes, the image says ${size}`);
  writeAtomic(path, elf);
  return path;
}

/** Adds a host path and every symlink on the way to it (e.g. /lib -> usr/lib), content at its real place. */
function addHostPath(tree: CpioTree, path: string, depth = 0): void {
  if (depth > 32) throw new LabError(`kernel lab: symlink loop at ${path}`);
  const parts = path.split('/').filter((p) => p !== '');
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]}`;
    const st = lstatSync(cur);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(cur);
      if (!tree.has(cur)) tree.symlink(cur, target);
      const rest = parts.slice(i + 1).join('/');
      addHostPath(tree, posix.join(posix.resolve(posix.dirname(cur), target), rest), depth + 1);
      return;
    }
    if (i < parts.length - 1 || st.isDirectory()) tree.dir(cur);
    else tree.file(cur, readFileSync(cur), st.mode & 0o7777);
  }
}

/** The shared libraries of an ELF (ldd), with the dynamic loader. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1] !== undefined) libs.push(m[1]);
  }
  return libs;
}

/** Module files (in load order) that modprobe would insert for `names`. */
function moduleFiles(kernel: Kernel, names: string[]): string[] {
  const out = execFileSync('/usr/sbin/modprobe', ['-S', kernel.version, '--show-depends', '-a', ...names], {
    encoding: 'utf8',
  });
  const files: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^insmod (\S+)/.exec(line);
    if (m?.[1] !== undefined && !files.includes(m[1])) files.push(m[1]);
  }
  return files;
}

const INIT = `#!/bin/sh
# greoip kernel lab /init (test/kernel/lab.ts): set up, run /lab/script.sh, report, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /root
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "@@GREOIP BOOT $(cut -d' ' -f1 /proc/uptime)"
[ -f /lab/env.sh ] && . /lab/env.sh
# The host writes lines for from_host/wait_host: no echo of them into the markers it parses.
[ "$LAB_CONSOLE_INPUT" = 1 ] && stty -echo </dev/console
for m in $LAB_LOAD_MODULES; do
  modprobe "$m" || echo "@@GREOIP FAIL modprobe-$m modprobe $m failed"
done
if [ "$LAB_SHARE_HOST" = 1 ]; then
  mkdir -p ${GUEST_HOST_ROOT}
  mounted=0
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 host ${GUEST_HOST_ROOT} 2>/tmp/mount.err; then
      mounted=1; break
    fi
    sleep 0.2
  done
  [ $mounted = 1 ] || echo "@@GREOIP FAIL mount-host $(tr '\\n' ' ' </tmp/mount.err)"
fi
ip link set lo up 2>/dev/null || /usr/sbin/ip link set lo up
echo "@@GREOIP READY $(cut -d' ' -f1 /proc/uptime)"
if [ -f /lab/script.sh ]; then
  sh -c '. /lab/prelude.sh; . /lab/script.sh' </dev/null
  status=$?
else
  # Booted by hand with the base initramfs alone: a shell on the console.
  sh </dev/console >/dev/console 2>&1
  status=$?
fi
echo "@@GREOIP DONE $status $(cut -d' ' -f1 /proc/uptime)"
# echo returns once its line is in the console's buffer, not on the wire: a power-off now cut the last
# lines (DONE too) when a loaded host drained the serial console slowly. stty sets the mode with
# TCSADRAIN, so it returns only once the console has sent everything written before.
stty -echo </dev/console
sync
poweroff -f
`;

/** Helpers every guest script can use (sourced before it). */
const PRELUDE = `# greoip kernel lab prelude (test/kernel/lab.ts)
# Busybox's sh runs its own applets before $PATH: these make a bare ip/tc the real iproute2.
ip() { /usr/sbin/ip "$@"; }
tc() { /usr/sbin/tc "$@"; }
bpftool() { /usr/sbin/bpftool "$@"; }
oneline() { printf '%s' "$*" | tr '\\n' ' '; }
pass() { _n=$1; shift; echo "@@GREOIP PASS $_n $(oneline "$*")"; }
fail() { _n=$1; shift; echo "@@GREOIP FAIL $_n $(oneline "$*")"; }
# check NAME CMD...: PASS when CMD exits 0, else FAIL with its status and output.
check() {
  _n=$1; shift
  if _out=$("$@" 2>&1); then pass "$_n"; else _s=$?; fail "$_n" "exit $_s: $_out"; fi
}
# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1" "$3"; else fail "$1" "expected '$2' got '$3'"; fi
}
# from_host [SECONDS]: prints the next line the host wrote to the console (runInGuest's onMarker,
# guest.send); status 1 when none came in SECONDS (default 60).
from_host() {
  IFS= read -r -t "\${1:-60}" _line </dev/console || return 1
  printf '%s\\n' "$_line"
}
# wait_host LINE [SECONDS]: until the host writes exactly LINE (other lines are skipped); status 1
# when it did not come in SECONDS (default 60).
wait_host() {
  _end=$(($(cut -d. -f1 /proc/uptime) + \${2:-60}))
  while :; do
    _left=$((_end - $(cut -d. -f1 /proc/uptime)))
    [ "$_left" -gt 0 ] || return 1
    _got=$(from_host "$_left") || return 1
    [ "$_got" = "$1" ] && return 0
  done
}
`;

/**
 * The cached base initramfs: busybox and its applet links, iproute2's ip and tc, bpftool, the host's
 * node's libraries (so /host/<node> runs), the lab modules with depmod's index, /init and the prelude.
 * Cached under a hash of its whole content.
 */
export function ensureInitramfs(kernel: Kernel): string {
  checkHostTools();
  const tree = new CpioTree();
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'root', 'etc', 'lab', 'host', 'mnt', 'var'])
    tree.dir(d);
  tree.charDevice('dev/console', 5, 1);
  tree.charDevice('dev/null', 1, 3, 0o666);
  tree.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  tree.file('etc/group', 'root:x:0:\n');
  tree.symlink('var/run', '../run');

  const binaries = [...LAB_BINARIES];
  const libraries = new Set<string>();
  for (const b of binaries) for (const l of sharedLibraries(b)) libraries.add(l);
  // The host's node and the project's addon run from /host: their libraries must be here.
  try {
    for (const l of sharedLibraries(process.execPath)) libraries.add(l);
  } catch {
    // a static node needs none
  }
  for (const p of [...binaries, ...libraries]) addHostPath(tree, p);

  addHostPath(tree, '/usr/bin/busybox');
  const applets = execFileSync('/usr/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n');
  for (const applet of applets) {
    if (applet === '' || /(^|\/)(ip|tc|bpftool|iperf3|ethtool)$/.test(applet)) continue;
    const at = posix.join(tree.resolveDir(posix.dirname(`/${applet}`)), posix.basename(applet));
    if (!tree.has(at)) tree.symlink(at, '/usr/bin/busybox');
  }
  // Busybox sh: /bin/sh must exist for #! lines even if busybox lists it elsewhere.
  const sh = posix.join(tree.resolveDir('/bin'), 'sh');
  if (!tree.has(sh)) tree.symlink(sh, '/usr/bin/busybox');

  // Modules, with an index made by depmod over exactly these files.
  const modules = moduleFiles(kernel, LAB_MODULES);
  addHostPath(tree, kernel.modules.replace(/\/$/, ''));
  const modDir = tree.resolveDir(kernel.modules);
  const moduleData = new Map<string, Buffer>();
  for (const m of modules) {
    const rel = posix.relative(kernel.modules, m);
    moduleData.set(rel, readFileSync(m));
  }
  const depmodInputs = ['modules.builtin', 'modules.builtin.modinfo', 'modules.order'].filter((f) =>
    existsSync(join(kernel.modules, f)),
  );
  const inputHash = createHash('sha256');
  for (const [rel, data] of [...moduleData].sort(([a], [b]) => (a < b ? -1 : 1)))
    inputHash.update(rel).update(data);
  for (const f of depmodInputs) inputHash.update(f).update(readFileSync(join(kernel.modules, f)));
  for (const [rel, data] of moduleData) tree.file(posix.join(modDir, rel), data);
  for (const f of depmodInputs) tree.file(posix.join(modDir, f), readFileSync(join(kernel.modules, f)));

  tree.file('init', INIT, 0o755);
  tree.file('lab/prelude.sh', PRELUDE);

  // Hash before depmod: depmod's output is a function of the modules and builtin lists hashed above.
  const key = createHash('sha256').update(tree.hash()).update(inputHash.digest()).digest('hex').slice(0, 16);
  const path = join(cacheRoot(), kernel.version, `initramfs-${key}.cpio.gz`);
  if (existsSync(path)) return path;

  const root = mkdtempSync(join(tmpdir(), 'greoip-depmod-'));
  try {
    const dir = join(root, 'lib', 'modules', kernel.version);
    for (const [rel, data] of moduleData) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), data);
    }
    for (const f of depmodInputs) writeFileSync(join(dir, f), readFileSync(join(kernel.modules, f)));
    execFileSync('/usr/sbin/depmod', ['-b', root, kernel.version], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (const f of readdirSync(dir)) {
      if (f.startsWith('modules.') && statSync(join(dir, f)).isFile()) {
        tree.file(posix.join(modDir, f), readFileSync(join(dir, f)));
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  writeAtomic(path, tree.cpioGz());
  // Older images (another init script or package version) go after an hour unused by a new build.
  for (const f of readdirSync(dirname(path))) {
    const p = join(dirname(path), f);
    if (/^initramfs-.*\.cpio\.gz$/.test(f) && p !== path && Date.now() - statSync(p).mtimeMs > 3_600_000) {
      rmSync(p, { force: true });
    }
  }
  return path;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One console line: a PASS/FAIL result, DONE with the script's status, or nothing. */
function parseMarkerLine(raw: string): GuestResult | { done: number } | undefined {
  const at = raw.indexOf('@@GREOIP ');
  if (at < 0) return undefined;
  const line = raw.slice(at + '@@GREOIP '.length).trimEnd();
  const m = /^(PASS|FAIL|DONE) (\S+)(?: (.*))?$/.exec(line);
  if (m === null) return undefined;
  if (m[1] === 'DONE') return { done: Number(m[2]) };
  return { name: m[2]!, ok: m[1] === 'PASS', detail: m[3] ?? '' };
}

/** Parses the PASS/FAIL markers out of console output. */
export function parseMarkers(output: string): { results: GuestResult[]; done: number | undefined } {
  const results: GuestResult[] = [];
  let done: number | undefined;
  for (const raw of output.split('\n')) {
    const m = parseMarkerLine(raw);
    if (m === undefined) continue;
    if ('done' in m) done = m.done;
    else results.push(m);
  }
  return { results, done };
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export interface Boot {
  /** qemu-system-x86_64 */
  command: string;
  args: string[];
  kernel: Kernel;
  /** Removes the per-boot initramfs. */
  cleanup(): void;
}

/**
 * Everything but the run: the cached kernel and base initramfs, a per-boot initramfs with the script
 * and files appended (the kernel unpacks concatenated cpio archives in order), and qemu's arguments.
 */
export function prepareBoot(options: Omit<RunOptions, 'timeoutMs'>): Boot {
  checkHostTools();
  const kernel = options.kernel ?? findKernel();
  const vmlinux = ensureVmlinux(kernel);
  const base = ensureInitramfs(kernel);
  const share = options.shareHost === true;

  const network = options.network;
  if (network !== undefined) checkTap(network);

  const extra = new CpioTree();
  const load = LAB_MODULES.filter((m) => !SHARE_MODULES.includes(m) && !NETWORK_MODULES.includes(m));
  for (const m of [...(share ? SHARE_MODULES : []), ...(network ? NETWORK_MODULES : [])])
    if (!load.includes(m)) load.push(m);
  extra.file(
    'lab/env.sh',
    `LAB_SHARE_HOST=${share ? 1 : 0}\nLAB_LOAD_MODULES=${shellQuote(load.join(' '))}\n` +
      `LAB_CONSOLE_INPUT=${options.onMarker === undefined ? 0 : 1}\n` +
      `LAB_KERNEL=${shellQuote(kernel.version)}\nexport LAB_SHARE_HOST LAB_KERNEL\n`,
  );
  extra.file('lab/script.sh', options.script, 0o755);
  for (const [path, content] of Object.entries(options.files ?? {})) {
    const text = typeof content === 'string' ? content : Buffer.from(content).toString('latin1');
    extra.file(path, content, text.startsWith('#!') ? 0o755 : 0o644);
  }
  const work = mkdtempSync(join(tmpdir(), 'greoip-lab-'));
  const initrd = join(work, 'initrd.cpio.gz');
  writeFileSync(initrd, Buffer.concat([readFileSync(base), extra.cpioGz()]));

  const args = [
    '-accel',
    'tcg',
    '-cpu',
    'max',
    '-m',
    String(options.memoryMiB ?? 1024),
    '-smp',
    String(options.cpus ?? 1),
    '-nographic',
    ...(network === undefined
      ? ['-nic', 'none']
      : [
          '-netdev',
          `tap,id=n0,ifname=${network.tap},script=no,downscript=no`,
          '-device',
          `virtio-net-pci,netdev=n0${network.mac ? `,mac=${network.mac}` : ''}`,
        ]),
    '-no-reboot',
    '-bios',
    QBOOT,
    '-kernel',
    vmlinux,
    '-initrd',
    initrd,
    '-append',
    // no_timer_check: on a loaded host TCG can miss the kernel's early IO-APIC timer test, which then
    // panics ("IO-APIC + timer doesn't work!"); cloud images pass it for the same reason.
    `console=ttyS0 panic=-1 rdinit=/init quiet no_timer_check${options.append ? ` ${options.append}` : ''}`,
  ];
  if (share) args.push('-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on');
  args.push(...(options.qemuArgs ?? []));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  // `ip netns exec` execs qemu in place: the pid (and the signals sent to it) stay qemu's.
  if (network !== undefined)
    return { command: IP, args: ['netns', 'exec', network.netns, QEMU, ...args], kernel, cleanup };
  return { command: QEMU, args, kernel, cleanup };
}

/**
 * The guest's tap must exist before the boot: given a missing name, qemu would make a fresh tap of its
 * own (down, unaddressed, gone with the VM) and the test would talk to nothing.
 */
function checkTap(network: GuestNetwork): void {
  let detail: string;
  try {
    detail = execFileSync(IP, ['-n', network.netns, '-d', 'link', 'show', 'dev', network.tap], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new LabError(
      `kernel lab: no tap ${network.tap} in network namespace ${network.netns} (${(err.stderr ?? err.message).trim()}): ` +
        `make it first: ip -n ${network.netns} tuntap add dev ${network.tap} mode tap`,
    );
  }
  if (!/\btun type tap\b/.test(detail))
    throw new LabError(`kernel lab: ${network.tap} in ${network.netns} is not a tap:\n${detail}`);
}

/**
 * Boots the lab kernel, runs `script` as root in the guest's initial namespace and resolves with the
 * markers it printed. Rejects (LabError) when a tool is missing, the guest did not reach DONE before the
 * timeout, or qemu failed; the message carries the end of the console output.
 */
export async function runInGuest(options: RunOptions): Promise<RunResult> {
  const boot = prepareBoot(options);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const onMarker = options.onMarker;
  const started = Date.now();
  let bootMs: number | undefined;
  let output = '';
  try {
    const { code, signal, timedOut, callbackError } = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      timedOut: boolean;
      callbackError: { marker: string; error: unknown } | undefined;
    }>((resolvePromise, reject) => {
      // stdin is the guest's console input only when a callback can write to it.
      const qemu = spawn(boot.command, boot.args, {
        stdio: [onMarker === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let timedOut = false;
      let callbackError: { marker: string; error: unknown } | undefined;
      const pending = new Set<Promise<void>>();
      const timer = setTimeout(() => {
        timedOut = true;
        qemu.kill('SIGKILL');
      }, timeoutMs);
      const guest: GuestConsole = {
        send(line) {
          if (/[\r\n]/.test(line))
            throw new LabError(`kernel lab: a console line cannot hold a newline: ${line}`);
          if (qemu.stdin?.writable) qemu.stdin.write(`${line}\n`);
        },
        elapsedMs: () => Date.now() - started,
      };
      const failed = (marker: string, error: unknown) => {
        if (callbackError !== undefined) return;
        callbackError = { marker, error };
        qemu.kill('SIGKILL');
      };
      let partial = '';
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        output += text;
        if (bootMs === undefined && output.includes('@@GREOIP BOOT')) bootMs = Date.now() - started;
        if (onMarker === undefined) return;
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = parseMarkerLine(line.replace(/\r/g, ''));
          if (m === undefined || 'done' in m || callbackError !== undefined) continue;
          try {
            const p = Promise.resolve(onMarker(m, guest)).catch((e: unknown) => failed(m.name, e));
            pending.add(p);
            void p.finally(() => pending.delete(p));
          } catch (e) {
            failed(m.name, e);
          }
        }
      };
      qemu.stdout?.on('data', onData);
      qemu.stderr?.on('data', onData);
      // A guest that powered off while the host still writes: nothing to report.
      qemu.stdin?.on('error', () => {});
      qemu.on('error', (e) => {
        clearTimeout(timer);
        reject(new LabError(`kernel lab: cannot start ${boot.command}: ${e.message}`));
      });
      qemu.on('close', (c, s) => {
        clearTimeout(timer);
        void Promise.allSettled([...pending]).then(() =>
          resolvePromise({ code: c, signal: s, timedOut, callbackError }),
        );
      });
    });
    output = output.replace(/\r/g, '');
    // GREOIP_LAB_LOG=DIR keeps every boot's console output there (one file per boot).
    const logDir = process.env.GREOIP_LAB_LOG;
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      writeFileSync(join(logDir, `boot-${started}-${process.pid}.log`), output);
    }
    const durationMs = Date.now() - started;
    if (callbackError !== undefined) {
      const { marker, error } = callbackError;
      const why = error instanceof Error ? (error.stack ?? error.message) : String(error);
      throw new LabError(
        `kernel lab: onMarker failed on ${marker}, VM stopped: ${why}\nconsole output ends with:\n${tail(output, 60)}`,
        { cause: error },
      );
    }
    const { results, done } = parseMarkers(output);
    if (done === undefined) {
      const why = timedOut
        ? `timed out after ${timeoutMs} ms`
        : `qemu exited (code ${code}, signal ${signal}) before the guest printed DONE`;
      throw new LabError(`kernel lab: ${why}; console output ends with:\n${tail(output, 60)}`);
    }
    return { output, results, durationMs, bootMs, scriptStatus: done };
  } finally {
    boot.cleanup();
  }
}
