/**
 * The greoip-dkms Debian package (root): built by packaging/deb/build-dkms-deb.sh with Debian's tools,
 * installed with dpkg -i (DKMS builds eoip.ko and eoipv6.ko for the kernels that have headers), shown by
 * `dkms status`, and removed leaving no trace. DKMS state is machine-wide: everything that touches it
 * runs under the exclusive /tmp/greoip-dkms.lock, and the teardown puts back what the test changed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { REPO_DIR, requireRoot, tempDir } from '../helpers.ts';

test.before(() => requireRoot());

const LOCK = '/tmp/greoip-dkms.lock';
const SCRIPT = join(REPO_DIR, 'packaging', 'deb', 'build-dkms-deb.sh');
const MODULES = ['eoip.ko', 'eoipv6.ko'];

function sh(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 900_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

/** Takes the machine-wide DKMS lock for the rest of the test: flock holds it while its child waits on stdin. */
async function holdDkmsLock(t: ExecutionContext): Promise<void> {
  const holder = spawn('flock', ['-x', LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const released = new Promise((resolve) => holder.once('exit', resolve));
  // Teardowns run last-registered first: this one, registered first, releases the lock after the restore.
  t.teardown(async () => {
    holder.stdin!.end();
    await released;
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`flock ${LOCK} exited ${code}`)));
  });
}

function dkmsStatus(name: string): string[] {
  return sh('dkms', ['status', '-m', name])
    .stdout.split('\n')
    .filter((l) => l.trim() !== '');
}

function packageStatus(): string {
  // dpkg-query's own ${Status} field syntax, not a template placeholder.
  const format = ['-f=$', '{Status}'].join('');
  return sh('dpkg-query', ['-W', format, 'greoip-dkms']).stdout.trim();
}

/** The modules in every kernel's updates/dkms/, to compare before and after. */
function installedModules(): string[] {
  const out: string[] = [];
  for (const kernel of readdirSync('/lib/modules')) {
    const dir = join('/lib/modules', kernel, 'updates', 'dkms');
    if (existsSync(dir)) for (const f of readdirSync(dir)) out.push(`${kernel}/${f}`);
  }
  return out.sort();
}

test.serial(
  'greoip-dkms: built with dpkg-buildpackage, installed by dpkg -i, shown by dkms status, removed cleanly',
  async (t) => {
    const out = tempDir(t, 'greoip-deb-');
    const built = sh('bash', [SCRIPT, out]);
    t.is(built.status, 0, built.out);
    const deb = built.stdout.trim().split('\n').at(-1)!;
    t.regex(deb, /greoip-dkms_[0-9.]+_all\.deb$/);
    const version = /greoip-dkms_([0-9.]+)_all\.deb$/.exec(deb)![1]!;
    const info = sh('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Depends']).stdout;
    t.regex(info, /^Package: greoip-dkms$/m);
    t.regex(info, new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
    t.regex(info, /^Architecture: all$/m);
    t.regex(info, /^Depends: .*\bdkms\b/m);
    const source = `/usr/src/greoip-eoip-${version}`;
    const contents = sh('dpkg-deb', ['-c', deb]).stdout;
    for (const f of [
      'dkms.conf',
      'Kbuild',
      'Makefile',
      'main.c',
      'eoip.c',
      'eoipv6.c',
      'uapi/linux/if_eoip.h',
    ])
      t.true(contents.includes(`.${source}/${f}`), `the package has ${source}/${f}`);
    t.false(/\/(tests|tools)\//.test(contents), 'no test or tool sources');

    await holdDkmsLock(t);
    // Only a clean machine is ours to change: never touch someone else's greoip-eoip.
    const before = { dkms: dkmsStatus('greoip-eoip'), pkg: packageStatus(), modules: installedModules() };
    if (before.dkms.length > 0 || before.pkg.includes('installed') || existsSync(source)) {
      t.fail(
        `greoip-eoip is already on this machine (${before.dkms.join('; ')} ${before.pkg}); not touching it`,
      );
      return;
    }
    // Module files of the same name that DKMS does not know (left by a `greoip kmod install`, say) would be
    // replaced by the install and deleted by the removal: keep a copy and put them back afterwards.
    const saved = tempDir(t, 'greoip-deb-saved-');
    const ours = before.modules.filter((m) =>
      MODULES.some((ko) => m.endsWith(`/${ko}`) || m.includes(`/${ko}.`)),
    );
    for (const m of ours) cpSync(join('/lib/modules', m.replace('/', '/updates/dkms/')), join(saved, m));
    const restore = () => {
      if (packageStatus() !== '') sh('dpkg', ['--purge', 'greoip-dkms']);
      if (dkmsStatus('greoip-eoip').length > 0) sh('dkms', ['remove', `greoip-eoip/${version}`, '--all']);
      const kernels = new Set<string>();
      for (const m of ours) {
        const target = join('/lib/modules', m.replace('/', '/updates/dkms/'));
        if (!existsSync(target)) {
          cpSync(join(saved, m), target);
          kernels.add(m.split('/')[0]!);
        }
      }
      for (const kernel of kernels) sh('depmod', [kernel]);
    };
    t.teardown(restore);
    if (ours.length > 0) t.log(`kept aside and restored after: ${ours.join(' ')}`);

    const installed = sh('dpkg', ['-i', deb]);
    t.is(installed.status, 0, installed.out);
    t.is(packageStatus(), 'install ok installed');
    const status = dkmsStatus('greoip-eoip');
    t.log(status.join('\n'));
    // Kernels with headers get the modules; the newest of them at least (dkms' postinst rule).
    const withHeaders = readdirSync('/lib/modules')
      .filter((k) => existsSync(join('/lib/modules', k, 'build', 'Makefile')))
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    t.true(withHeaders.length > 0, 'this machine has kernel headers (scripts/setup.sh installs them)');
    const newest = withHeaders.at(-1)!;
    t.true(
      status.some((l) => l.startsWith(`greoip-eoip/${version}, ${newest}, `) && /: installed\b/.test(l)),
      status.join('\n'),
    );
    for (const line of status) {
      // A module file DKMS did not put there (restored below) shows as "installed (WARNING! ...)".
      t.regex(
        line,
        new RegExp(`^greoip-eoip/${version.replace(/\./g, '\\.')}, \\S+, x86_64: installed( \\(.*\\))?$`),
      );
      const kernel = line.split(', ')[1]!;
      const dir = join('/lib/modules', kernel, 'updates', 'dkms');
      for (const ko of MODULES) {
        // DKMS compresses a module the way the kernel's own are (6.12: eoip.ko.xz).
        const file = readdirSync(dir).find((f) => f === ko || f.startsWith(`${ko}.`));
        t.truthy(file, `${ko} in ${dir}`);
        const path = join(dir, file ?? ko);
        t.is(sh('modinfo', ['-F', 'version', path]).stdout.trim(), version, path);
      }
    }

    const removed = sh('dpkg', ['--purge', 'greoip-dkms']);
    t.is(removed.status, 0, removed.out);
    t.is(packageStatus(), '', 'dpkg forgot the package');
    t.deepEqual(dkmsStatus('greoip-eoip'), [], 'dkms forgot the modules');
    t.false(existsSync(source), `${source} removed`);
    t.false(existsSync(`/var/lib/dkms/greoip-eoip`), 'no DKMS tree left');
    t.deepEqual(
      installedModules().filter((m) => !ours.includes(m)),
      before.modules.filter((m) => !ours.includes(m)),
      'nothing else in updates/dkms changed',
    );
    restore();
    t.deepEqual(installedModules(), before.modules, 'the kernels have the modules they had before');
  },
);
