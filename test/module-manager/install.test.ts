/**
 * `install` (src/module-manager/install.ts) on fixture trees, with depmod, modprobe, rmmod and dkms played by a fake
 * runner that changes the tree the way they would: the steps, the refusals, and the undo after a failure
 * at each step. (The real tools on a real kernel: test/kernel/kmod-cli.test.ts.)
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  type InstallOptions,
  type InstallResult,
  install,
  KmodError,
  kmodStatus,
  parseModuleInfo,
  type Runner,
  type RunOutput,
} from '../../src/module-manager/index.ts';
import { REPO_DIR } from '../helpers.ts';
import {
  elfModule,
  Fixture,
  foreignModinfo,
  type Modinfo,
  OTHER_VERSION,
  ourModinfo,
  RELEASE,
  VERSION,
  VERSION_RE,
} from './fixture.ts';

const OK: RunOutput = { status: 0, stdout: '', stderr: '' };

/** depmod, modprobe, rmmod and dkms acting on a fixture tree; `fail` makes a command (by prefix) fail. */
class FakeSystem implements Runner {
  readonly calls: string[] = [];
  readonly fail = new Map<string, RunOutput>();
  /** What the fake make prints (a compiler warning, say). */
  makeOutput = '';
  readonly tools = new Set(['depmod', 'modprobe', 'rmmod', 'make']);
  constructor(readonly f: Fixture) {}

  has(command: string): boolean {
    return this.tools.has(command);
  }

  run(command: string, args: string[]): RunOutput {
    const line = [command, ...args].join(' ');
    this.calls.push(line);
    for (const [prefix, out] of this.fail) if (line.startsWith(prefix)) return out;
    if (command === 'depmod') this.depmod();
    if (command === 'modprobe') this.modprobe(args.at(-1)!);
    if (command === 'rmmod') this.rmmod(args[0]!);
    if (command === 'dkms' && args[0] === 'install') this.dkmsInstall();
    if (command === 'make') return this.make(args[1]!);
    return OK;
  }

  /** One file per module name, updates/ first (depmod's default search order); aliases from .modinfo. */
  private depmod(): void {
    const files = this.moduleFiles(this.f.dir).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const chosen = new Map<string, { rel: string; info: Modinfo }>();
    for (const path of files) {
      const info = parseModuleInfo(readFileSync(path));
      const name = info?.fields.get('name')?.[0];
      if (name && !chosen.has(name)) chosen.set(name, { rel: relative(this.f.dir, path), info: {} });
      const aliases = info?.fields.get('alias') ?? [];
      if (name) chosen.get(name)!.info.alias = aliases;
    }
    this.f.write(join(this.f.dir, 'modules.dep'), [...chosen.values()].map((c) => `${c.rel}:\n`).join(''));
    const aliases = [...chosen].flatMap(([name, c]) =>
      [c.info.alias ?? []].flat().map((a) => `alias ${a} ${name}\n`),
    );
    this.f.write(join(this.f.dir, 'modules.alias'), aliases.join(''));
  }

  private moduleFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return e.name === 'build' ? [] : this.moduleFiles(path);
      return e.name.endsWith('.ko') ? [path] : [];
    });
  }

  private modprobe(name: string): void {
    const dep = readFileSync(join(this.f.dir, 'modules.dep'), 'utf8');
    const rel = dep.split('\n').find((l) => l.startsWith(`updates/`) && l.includes(`/${name}.ko:`));
    const info = rel ? parseModuleInfo(readFileSync(join(this.f.dir, rel.slice(0, -1)))) : null;
    const greoip = info?.fields.get('greoip')?.[0];
    this.f.load(name, { taint: 'OE', ...(greoip ? { greoip, version: greoip } : {}) });
  }

  private rmmod(name: string): void {
    const modules = join(this.f.roots.proc, 'modules');
    const kept = readFileSync(modules, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith(`${name} `));
    this.f.write(modules, kept.map((l) => `${l}\n`).join(''));
    rmSync(join(this.f.roots.sys, 'module', name), { recursive: true, force: true });
  }

  /** make -C DIR KDIR=...: the modules appear in DIR, as kmod/Makefile leaves them. */
  private make(dir: string): RunOutput {
    for (const kind of ['eoip', 'eoipv6']) this.f.write(join(dir, `${kind}.ko`), elfModule(ourModinfo(kind)));
    return { ...OK, stdout: this.makeOutput };
  }

  private dkmsInstall(): void {
    for (const kind of ['eoip', 'eoipv6'])
      this.f.write(join(this.f.dir, 'updates', 'dkms', `${kind}.ko`), elfModule(ourModinfo(kind), true));
    this.depmod();
  }
}

function rank(path: string): number {
  return path.includes('/updates/') ? 0 : 1;
}

function setup(): { f: Fixture; sys: FakeSystem; prebuilt: string } {
  const f = Fixture.stock();
  const prebuilt = join(f.root, 'prebuilt');
  for (const kind of ['eoip', 'eoipv6']) f.write(join(prebuilt, `${kind}.ko`), elfModule(ourModinfo(kind)));
  return { f, sys: new FakeSystem(f), prebuilt };
}

function run(
  f: Fixture,
  sys: FakeSystem,
  o: Partial<InstallOptions> & Pick<InstallOptions, 'from'>,
): InstallResult {
  return install({ roots: f.roots, runner: sys, source: join(REPO_DIR, 'kmod'), ...o });
}

function failure(t: ExecutionContext, fn: () => unknown): KmodError {
  const err = t.throws(fn);
  if (!(err instanceof KmodError)) t.fail(`not a KmodError: ${String(err)}`);
  return err as KmodError;
}

const DEST = (f: Fixture) => join(f.dir, 'updates', 'greoip');

test('--prebuilt: copied to updates/greoip, depmod, modprobe each; status is then all well', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  const lines: string[] = [];
  const r = run(f, sys, { from: { prebuilt }, log: (l) => lines.push(l) });
  t.deepEqual(r.files, { eoip: join(DEST(f), 'eoip.ko'), eoipv6: join(DEST(f), 'eoipv6.ko') });
  t.deepEqual(r.loaded, ['eoip', 'eoipv6']);
  t.deepEqual(sys.calls, [
    `depmod -b ${f.root} -a ${RELEASE}`,
    `modprobe -d ${f.root} eoip`,
    `modprobe -d ${f.root} eoipv6`,
  ]);
  t.deepEqual(readFileSync(r.files.eoip), readFileSync(join(prebuilt, 'eoip.ko')));
  t.is(lines[0], `copied eoip.ko and eoipv6.ko to ${DEST(f)}`);
  const s = kmodStatus({ roots: f.roots });
  t.false(s.needsAction, JSON.stringify(s.findings));
  t.deepEqual(
    s.findings.filter((x) => x.id.startsWith('eoip')).map((x) => x.id),
    ['eoip-loaded', 'eoipv6-loaded'],
  );
});

test('--no-load installs without modprobe', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  const r = run(f, sys, { from: { prebuilt }, load: false });
  t.deepEqual(r.loaded, []);
  t.false(sys.calls.some((c) => c.startsWith('modprobe')));
});

test('a foreign eoip loaded: refused with the reason and --force, nothing touched', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  f.load('eoip', { taint: 'OE', version: '1.1' });
  const e = failure(t, () => run(f, sys, { from: { prebuilt } }));
  t.is(e.step, 'check');
  t.regex(e.message, /^refusing to install over a foreign module \(--force to install anyway\):/);
  t.regex(e.message, /the loaded eoip module is not greoip's/);
  t.regex(e.message, /- rmmod eoip \(this deletes its eoip devices\)/);
  t.deepEqual(sys.calls, []);
  t.false(existsSync(DEST(f)));
});

test('--force over a loaded foreign eoip: it is unloaded, ours loaded', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  f.load('eoip', { taint: 'OE', version: '1.1' });
  const r = run(f, sys, { from: { prebuilt }, force: true });
  t.deepEqual(r.loaded, ['eoip', 'eoipv6']);
  t.deepEqual(sys.calls.slice(1), [
    'rmmod eoip',
    `modprobe -d ${f.root} eoip`,
    `modprobe -d ${f.root} eoipv6`,
  ]);
  t.is(kmodStatus({ roots: f.roots }).modules.eoip.loaded?.greoip, VERSION);
});

test('depmod fails: the copy is undone (a previous file restored) and the index rebuilt', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  const old = f.write(join(DEST(f), 'eoip.ko'), elfModule(ourModinfo('eoip', RELEASE, OTHER_VERSION)));
  const oldBytes = readFileSync(old);
  sys.fail.set('depmod', { status: 1, stdout: '', stderr: 'depmod: ERROR: could not open directory' });
  const e = failure(t, () => run(f, sys, { from: { prebuilt } }));
  t.is(e.step, 'depmod');
  t.regex(
    e.message,
    /depmod -b .* -a 6\.1\.0-56-amd64: exit status 1\ndepmod: ERROR: could not open directory/,
  );
  t.deepEqual(readFileSync(old), oldBytes, 'the previous eoip.ko is back');
  t.false(existsSync(join(DEST(f), 'eoipv6.ko')));
  t.is(e.undone.length, 1);
  t.regex(
    e.undone[0]!,
    /^removed .*eoip\.ko, .*eoipv6\.ko \(the previous files restored\); depmod -a failed too/,
  );
  t.is(sys.calls.filter((c) => c.startsWith('depmod')).length, 2, 'depmod run again by the undo');
});

test('modprobe eoipv6 fails: eoip unloaded again, files removed, index rebuilt', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  sys.fail.set(`modprobe -d ${f.root} eoipv6`, {
    status: 1,
    stdout: '',
    stderr: 'modprobe: ERROR: could not insert eoipv6: Exec format error',
  });
  const e = failure(t, () => run(f, sys, { from: { prebuilt } }));
  t.is(e.step, 'modprobe eoipv6');
  t.regex(e.message, /Exec format error/);
  t.deepEqual(e.undone[0], 'rmmod eoip');
  t.regex(e.undone[1]!, /^removed .*; depmod -a rebuilt the index$/);
  t.false(existsSync(DEST(f)), 'updates/greoip removed: install created it');
  const s = kmodStatus({ roots: f.roots });
  t.is(s.modules.eoip.loaded, null);
  t.is(s.modules.eoip.file, null, 'modules.dep no longer lists it');
});

test("prebuilt modules must be greoip's and built for this kernel", (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  f.write(join(prebuilt, 'eoip.ko'), elfModule(foreignModinfo('eoip')));
  t.regex(
    failure(t, () => run(f, sys, { from: { prebuilt } })).message,
    /eoip\.ko is not greoip's eoip module/,
  );
  f.write(join(prebuilt, 'eoip.ko'), elfModule(ourModinfo('eoip', '6.1.0-99-amd64')));
  t.regex(
    failure(t, () => run(f, sys, { from: { prebuilt } })).message,
    /eoip\.ko was built for kernel 6\.1\.0-99-amd64, not 6\.1\.0-56-amd64/,
  );
  rmSync(join(prebuilt, 'eoip.ko'));
  t.regex(failure(t, () => run(f, sys, { from: { prebuilt } })).message, /eoip\.ko: no such file/);
  t.deepEqual(sys.calls, []);
});

test('Secure Boot on and unsigned modules: refused before any change, unless --no-load', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  f.secureBoot(true);
  const e = failure(t, () => run(f, sys, { from: { prebuilt } }));
  t.is(e.step, 'check');
  t.regex(e.message, /Secure Boot is on and .*eoip\.ko is unsigned.*kmod\/README\.md, "Secure Boot"/);
  t.false(existsSync(DEST(f)));
  t.deepEqual(run(f, sys, { from: { prebuilt }, load: false }).loaded, []);
});

const buildDirs = () => readdirSync(tmpdir()).filter((d) => /^greoip-kmod-(out|build)-/.test(d));

test.serial('built here: make in a copy of kmod/, installed, temporary directories gone', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  const before = buildDirs();
  const r = run(f, sys, { from: { kdir: join(f.dir, 'build') } });
  const make = sys.calls[0]!;
  t.regex(make, new RegExp(`^make -C \\S+/greoip-kmod-build-\\w+ KDIR=${f.dir}/build$`));
  t.deepEqual(r.loaded, ['eoip', 'eoipv6']);
  t.true(existsSync(join(DEST(f), 'eoipv6.ko')));
  t.deepEqual(buildDirs(), before);
});

test.serial('a build that prints a warning fails, like kmod/build.sh, and installs nothing', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  const before = buildDirs();
  sys.makeOutput = "send4.c:12:5: warning: unused variable 'x' [-Wunused-variable]\n";
  const e = failure(t, () => run(f, sys, { from: { kdir: join(f.dir, 'build') } }));
  t.is(e.step, 'build');
  t.regex(e.message, /printed warnings:\nsend4\.c:12:5: warning: unused variable/);
  t.false(existsSync(DEST(f)));
  t.deepEqual(buildDirs(), before);
});

test('a build without headers fails naming the headers package', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  rmSync(join(f.dir, 'build'), { recursive: true });
  const e = failure(t, () => run(f, sys, { from: { kdir: join(f.dir, 'build') } }));
  t.is(e.step, 'build');
  t.is(
    e.message,
    `no kernel headers for ${RELEASE} at ${f.dir}/build: apt-get install linux-headers-${RELEASE} or linux-headers-amd64 (the metapackage follows new kernels)`,
  );
  t.deepEqual(e.undone, [], 'nothing was changed');
});

test('--dkms without dkms: apt-get install dkms', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  const e = failure(t, () => run(f, sys, { from: { dkms: true }, srcRoot: join(f.root, 'usr/src') }));
  t.is(e.step, 'dkms');
  t.regex(e.message, /^dkms is not installed: apt-get install dkms/);
});

test('--dkms: sources in /usr/src/greoip-eoip-<version>, dkms add, build, install, modprobe', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  sys.tools.add('dkms');
  const srcRoot = join(f.root, 'usr/src');
  const r = run(f, sys, { from: { dkms: true }, srcRoot });
  const tree = join(srcRoot, `greoip-eoip-${VERSION}`);
  for (const file of ['dkms.conf', 'Kbuild', 'Makefile', 'main.c', 'eoip.c', 'uapi/linux/if_eoip.h'])
    t.true(existsSync(join(tree, file)), file);
  t.false(existsSync(join(tree, 'tests')), 'only what the module build needs');
  t.deepEqual(sys.calls.slice(0, 3), [
    `dkms add -m greoip-eoip -v ${VERSION}`,
    `dkms build -m greoip-eoip -v ${VERSION} -k ${RELEASE}`,
    `dkms install -m greoip-eoip -v ${VERSION} -k ${RELEASE}`,
  ]);
  t.is(r.files.eoip, join(f.dir, 'updates', 'dkms', 'eoip.ko'));
  t.deepEqual(r.loaded, ['eoip', 'eoipv6']);
});

test('--dkms build fails: dkms remove --all and the /usr/src tree removed', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  sys.tools.add('dkms');
  sys.fail.set('dkms build', {
    status: 10,
    stdout: 'Error! Bad return status for module build',
    stderr: '',
  });
  const srcRoot = join(f.root, 'usr/src');
  const e = failure(t, () => run(f, sys, { from: { dkms: true }, srcRoot }));
  t.is(e.step, 'dkms build');
  t.regex(e.message, /Bad return status for module build/);
  t.deepEqual(e.undone, [
    `dkms remove greoip-eoip/${VERSION} --all`,
    `removed ${srcRoot}/greoip-eoip-${VERSION}`,
  ]);
  t.true(sys.calls.includes(`dkms remove -m greoip-eoip -v ${VERSION} --all`));
  t.false(existsSync(join(srcRoot, `greoip-eoip-${VERSION}`)));
});

test('--dkms over an existing tree of the same version: refused unless --force', (t) => {
  const { f, sys } = setup();
  t.teardown(() => f.cleanup());
  sys.tools.add('dkms');
  const srcRoot = join(f.root, 'usr/src');
  f.write(join(srcRoot, `greoip-eoip-${VERSION}`, 'dkms.conf'), 'old');
  const e = failure(t, () => run(f, sys, { from: { dkms: true }, srcRoot }));
  t.regex(
    e.message,
    new RegExp(`greoip-eoip-${VERSION_RE} already exists: dkms remove greoip-eoip\\/${VERSION_RE} --all`),
  );
  t.deepEqual(sys.calls, []);
  run(f, sys, { from: { dkms: true }, srcRoot, force: true });
  t.is(sys.calls[0], `dkms remove -m greoip-eoip -v ${VERSION} --all`);
  t.not(readFileSync(join(srcRoot, `greoip-eoip-${VERSION}`, 'dkms.conf'), 'utf8'), 'old');
});

test('another eoip.ko winning after depmod is an error, and the install is undone', (t) => {
  const { f, sys, prebuilt } = setup();
  t.teardown(() => f.cleanup());
  // An older DKMS install of the old project sorts before updates/greoip in this fake depmod.
  f.write(join(f.dir, 'updates', 'dkms', 'eoip.ko'), elfModule(foreignModinfo('eoip')));
  const e = failure(t, () => run(f, sys, { from: { prebuilt }, force: true }));
  t.is(e.step, 'depmod');
  t.regex(
    e.message,
    /modprobe eoip would load .*updates\/dkms\/eoip\.ko, not .*updates\/greoip\/eoip\.ko: that file takes precedence; remove it/,
  );
  t.false(existsSync(DEST(f)));
});

test('kmod marks: MODULE_VERSION and the greoip mark in main.c follow dkms.conf', (t) => {
  const main = readFileSync(join(REPO_DIR, 'kmod', 'main.c'), 'utf8');
  const conf = readFileSync(join(REPO_DIR, 'kmod', 'dkms.conf'), 'utf8');
  const version = /PACKAGE_VERSION="([^"]+)"/.exec(conf)?.[1];
  t.is(/#define GREOIP_KMOD_VERSION "([^"]+)"/.exec(main)?.[1], version);
  t.regex(main, /MODULE_VERSION\(GREOIP_KMOD_VERSION\);/);
  t.regex(main, /MODULE_INFO\(greoip, GREOIP_KMOD_VERSION\);/);
  t.regex(main, /ELFNOTE32\("greoip", 1, GREOIP_KMOD_VERSION\);/);
});
