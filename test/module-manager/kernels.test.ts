/**
 * Several installed kernels on fixture trees: `greoip kmod status` lists each (running, next boot,
 * headers, the module modprobe loads, DKMS's state), `install --dkms` builds for every one and checks
 * all their headers first, `uninstall` removes DKMS entries and installed files. dkms and depmod are
 * played by a fake that records its calls; the real ones run in test/kernel/dkms.test.ts.
 */
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { formatStatus } from '../../src/cli/kmod.ts';
import {
  install,
  KmodError,
  kmodStatus,
  parseDkmsStatus,
  type Runner,
  type RunOutput,
  uninstall,
} from '../../src/module-manager/index.ts';
import { REPO_DIR } from '../helpers.ts';
import { elfModule, Fixture, ourModinfo, RELEASE, VERSION } from './fixture.ts';

const NEWER = '6.12.118+deb12-amd64';
const OK: RunOutput = { status: 0, stdout: '', stderr: '' };

/**
 * dkms (its status as given), depmod and rmmod, recording each call; dpkg-query knows the packages in
 * `owned` (path -> package) and no other file.
 */
class FakeTools implements Runner {
  readonly calls: string[] = [];
  readonly owned = new Map<string, string>();
  constructor(public dkmsStatus: string | null) {}
  has(command: string): boolean {
    return command !== 'dkms' || this.dkmsStatus !== null;
  }
  run(command: string, args: string[]): RunOutput {
    if (command === 'dpkg-query') {
      const pkg = this.owned.get(args[1]!);
      return pkg === undefined
        ? { status: 1, stdout: '', stderr: `dpkg-query: no path found matching pattern ${args[1]}` }
        : { ...OK, stdout: `${pkg}: ${args[1]}\n` };
    }
    this.calls.push([command, ...args].join(' '));
    if (command === 'dkms' && args[0] === 'status') return { ...OK, stdout: this.dkmsStatus ?? '' };
    return OK;
  }
}

/** The running 6.1 of Fixture.stock() and a second kernel, 6.12, with or without headers. */
function twoKernels(newerHeaders: boolean): Fixture {
  const f = Fixture.stock();
  const newer = join(f.roots.modules, NEWER);
  f.write(join(newer, 'modules.dep'), '');
  if (newerHeaders) f.write(join(newer, 'build', 'Makefile'), '# kernel build tree\n');
  return f;
}

test('dkms status lines of dkms 3 and dkms 2, other modules ignored', (t) => {
  const text = [
    `greoip-eoip/0.1.0, ${RELEASE}, x86_64: installed`,
    `greoip-eoip/0.1.0, ${NEWER}, x86_64: built`,
    'greoip-eoip/0.2.0: added',
    'greoip-eoip, 0.0.9, 5.10.0-30-amd64, x86_64: installed (original_module exists)',
    'zfs/2.1.11, 6.1.0-57-amd64, x86_64: installed',
  ].join('\n');
  t.deepEqual(parseDkmsStatus(text), [
    { version: '0.1.0', release: RELEASE, state: 'installed' },
    { version: '0.1.0', release: NEWER, state: 'built' },
    { version: '0.2.0', release: null, state: 'added' },
    { version: '0.0.9', release: '5.10.0-30-amd64', state: 'installed (original_module exists)' },
  ]);
});

test('status lists every installed kernel: running, next boot, headers, modules, DKMS', (t) => {
  const f = twoKernels(false);
  t.teardown(() => f.cleanup());
  f.ours();
  const link = join(f.root, 'vmlinuz');
  symlinkSync(`boot/vmlinuz-${NEWER}`, link);
  const tools = new FakeTools(`greoip-eoip/0.1.0, ${RELEASE}, x86_64: installed\n`);
  const s = kmodStatus({ roots: { ...f.roots, bootLinks: [link] }, runner: tools });
  t.deepEqual(s.kernels, [
    {
      release: RELEASE,
      running: true,
      bootDefault: false,
      headers: true,
      modules: {
        eoip: { path: join(f.dir, 'updates/greoip/eoip.ko'), greoip: VERSION },
        eoipv6: { path: join(f.dir, 'updates/greoip/eoipv6.ko'), greoip: VERSION },
      },
      dkms: 'installed',
    },
    {
      release: NEWER,
      running: false,
      bootDefault: true,
      headers: false,
      modules: { eoip: null, eoipv6: null },
      dkms: null,
    },
  ]);
  // Registered in DKMS but not installed for the kernel the next boot starts: that needs action.
  const noHeaders = s.findings.find((x) => x.id === 'dkms-no-headers');
  t.is(noHeaders?.severity, 'warning');
  t.regex(
    noHeaders?.message ?? '',
    new RegExp(`cannot build greoip's modules for kernel ${NEWER.replace(/[.+]/g, '\\$&')}`),
  );
  t.deepEqual(noHeaders?.advice[0], `apt-get install linux-headers-${NEWER}`);
  t.true(s.needsAction);
  t.is(s.findings.find((x) => x.id === 'dkms-installed')?.severity, 'ok');
  // The text form: one line per kernel after the findings.
  const text = formatStatus(s).split('\n');
  const at = text.indexOf('installed kernels:');
  t.true(at > 0, text.join('\n'));
  t.regex(
    text[at + 1]!,
    new RegExp(`^  ${RELEASE} +running +headers yes  eoip ${VERSION}  eoipv6 ${VERSION}  dkms installed$`),
  );
  t.regex(
    text[at + 2]!,
    /^ {2}6\.12\.118\+deb12-amd64 +boots next +headers no +eoip none {2}eoipv6 none {2}dkms none$/,
  );
});

test("install --dkms checks every kernel's headers first: one missing is named, nothing is done", (t) => {
  const f = twoKernels(false);
  t.teardown(() => f.cleanup());
  const tools = new FakeTools('');
  const srcRoot = join(f.root, 'usr/src');
  const e = t.throws(
    () =>
      install({
        roots: f.roots,
        runner: tools,
        from: { dkms: true },
        srcRoot,
        source: join(REPO_DIR, 'kmod'),
      }),
    { instanceOf: KmodError },
  );
  t.is(e?.step, 'dkms');
  t.true(e?.message.includes(`none for ${NEWER} (${join(f.roots.modules, NEWER, 'build')})`), e?.message);
  t.regex(e?.message ?? '', /pick kernels with --kernel RELEASE$/);
  t.deepEqual(tools.calls, []);
  t.false(existsSync(join(srcRoot, `greoip-eoip-${VERSION}`)));
});

test('install --dkms builds and installs for every installed kernel, oldest first', (t) => {
  const f = twoKernels(true);
  t.teardown(() => f.cleanup());
  const tools = new FakeTools('');
  const srcRoot = join(f.root, 'usr/src');
  // What dkms install leaves: the modules in updates/dkms, in each kernel's index.
  tools.run = (command, args) => {
    tools.calls.push([command, ...args].join(' '));
    if (command === 'dkms' && args[0] === 'install') {
      const release = args.at(-1)!;
      const dir = join(f.roots.modules, release);
      for (const kind of ['eoip', 'eoipv6'])
        f.write(join(dir, 'updates', 'dkms', `${kind}.ko`), fixtureModule(kind, release));
      f.write(join(dir, 'modules.dep'), 'updates/dkms/eoip.ko:\nupdates/dkms/eoipv6.ko:\n');
    }
    return OK;
  };
  const r = install({
    roots: f.roots,
    runner: tools,
    from: { dkms: true },
    srcRoot,
    source: join(REPO_DIR, 'kmod'),
    load: false,
  });
  t.deepEqual(tools.calls, [
    `dkms add -m greoip-eoip -v ${VERSION}`,
    `dkms build -m greoip-eoip -v ${VERSION} -k ${RELEASE}`,
    `dkms install -m greoip-eoip -v ${VERSION} -k ${RELEASE}`,
    `dkms build -m greoip-eoip -v ${VERSION} -k ${NEWER}`,
    `dkms install -m greoip-eoip -v ${VERSION} -k ${NEWER}`,
  ]);
  t.deepEqual(
    r.kernels.map((k) => [k.release, k.files.eoipv6]),
    [
      [RELEASE, join(f.roots.modules, RELEASE, 'updates/dkms/eoipv6.ko')],
      [NEWER, join(f.roots.modules, NEWER, 'updates/dkms/eoipv6.ko')],
    ],
  );
});

test('install --dkms: a build failing for the second kernel names it and removes everything', (t) => {
  const f = twoKernels(true);
  t.teardown(() => f.cleanup());
  const tools = new FakeTools('');
  const srcRoot = join(f.root, 'usr/src');
  tools.run = (command, args) => {
    tools.calls.push([command, ...args].join(' '));
    if (command === 'dkms' && args[0] === 'build' && args.at(-1) === NEWER)
      return { status: 10, stdout: 'Error! Bad return status for module build on kernel', stderr: '' };
    if (command === 'dkms' && args[0] === 'install') {
      const dir = join(f.roots.modules, args.at(-1)!);
      for (const kind of ['eoip', 'eoipv6'])
        f.write(join(dir, 'updates', 'dkms', `${kind}.ko`), fixtureModule(kind, args.at(-1)!));
    }
    return OK;
  };
  const e = t.throws(
    () =>
      install({
        roots: f.roots,
        runner: tools,
        from: { dkms: true },
        srcRoot,
        source: join(REPO_DIR, 'kmod'),
      }),
    { instanceOf: KmodError },
  );
  t.is(e?.step, 'dkms build');
  t.true(
    e?.message.startsWith(`for kernel ${NEWER}: dkms build -m greoip-eoip -v ${VERSION} -k ${NEWER}`),
    e?.message,
  );
  t.deepEqual(e?.undone, [
    `dkms remove greoip-eoip/${VERSION} --all`,
    `removed ${srcRoot}/greoip-eoip-${VERSION}`,
  ]);
  t.is(tools.calls.at(-1), `dkms remove -m greoip-eoip -v ${VERSION} --all`);
});

test('uninstall: every DKMS version removed, /usr/src trees, installed files, depmod per kernel', (t) => {
  const f = twoKernels(true);
  t.teardown(() => f.cleanup());
  f.ours({ loaded: false });
  const srcRoot = join(f.root, 'usr/src');
  f.write(join(srcRoot, `greoip-eoip-${VERSION}`, 'dkms.conf'), '');
  f.write(join(srcRoot, 'greoip-eoip-0.0.1', 'dkms.conf'), '');
  f.write(join(srcRoot, 'zfs-2.1.11', 'dkms.conf'), '');
  const tools = new FakeTools(
    `greoip-eoip/${VERSION}, ${RELEASE}, x86_64: installed\ngreoip-eoip/${VERSION}, ${NEWER}, x86_64: installed\n`,
  );
  const r = uninstall({ roots: f.roots, runner: tools, srcRoot });
  t.deepEqual(tools.calls, [
    'dkms status -m greoip-eoip',
    `dkms remove -m greoip-eoip -v ${VERSION} --all`,
    `depmod -b ${f.root} -a ${RELEASE}`,
  ]);
  t.false(existsSync(join(f.dir, 'updates', 'greoip')));
  t.false(existsSync(join(srcRoot, `greoip-eoip-${VERSION}`)));
  t.false(existsSync(join(srcRoot, 'greoip-eoip-0.0.1')));
  t.true(existsSync(join(srcRoot, 'zfs-2.1.11')), "another module's DKMS tree is left alone");
  t.deepEqual(r.unloaded, []);
  t.true(r.removed.includes(join(f.dir, 'updates', 'greoip', 'eoip.ko')));
});

test('uninstall leaves a tree a Debian package owns, with the command that removes it', (t) => {
  const f = Fixture.stock();
  t.teardown(() => f.cleanup());
  const srcRoot = join(f.root, 'usr/src');
  const tree = f.write(join(srcRoot, `greoip-eoip-${VERSION}`, 'dkms.conf'), '');
  const tools = new FakeTools(`greoip-eoip/${VERSION}, ${RELEASE}, x86_64: installed\n`);
  tools.owned.set(join(srcRoot, `greoip-eoip-${VERSION}`), 'greoip-dkms');
  const r = uninstall({ roots: f.roots, runner: tools, srcRoot });
  t.deepEqual(tools.calls, ['dkms status -m greoip-eoip']);
  t.true(existsSync(tree));
  t.deepEqual(r.notes, [
    `greoip-eoip/${VERSION} comes from the greoip-dkms package: apt-get remove greoip-dkms`,
  ]);
});

test('uninstall leaves loaded modules loaded unless --unload, and says so', (t) => {
  const f = Fixture.stock();
  t.teardown(() => f.cleanup());
  f.ours();
  // Every test passes srcRoot: the default is the machine's /usr/src.
  const kept = uninstall({ roots: f.roots, runner: new FakeTools(null), srcRoot: join(f.root, 'usr/src') });
  t.deepEqual(kept.notes, [
    `eoipv6 stays loaded in ${RELEASE} until a reboot or rmmod eoipv6 (which deletes its links)`,
    `eoip stays loaded in ${RELEASE} until a reboot or rmmod eoip (which deletes its links)`,
  ]);
  const f2 = Fixture.stock();
  t.teardown(() => f2.cleanup());
  f2.ours();
  const tools = new FakeTools(null);
  const unloaded = uninstall({
    roots: f2.roots,
    runner: tools,
    unload: true,
    srcRoot: join(f2.root, 'usr/src'),
  });
  t.deepEqual(unloaded.unloaded, ['eoipv6', 'eoip']);
  t.deepEqual(tools.calls.slice(0, 2), ['rmmod eoipv6', 'rmmod eoip']);
});

function fixtureModule(kind: string, release: string): Buffer {
  return elfModule(ourModinfo(kind, release));
}
