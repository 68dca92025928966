/**
 * kmod/ builds against every installed kernel headers tree (/lib/modules/<release>/build: Debian's 6.1
 * and 6.12 here), warning-free: kmod/build.sh fails on any compiler or modpost warning, Kbuild's
 * -Werror really applies, and the header probe in Kbuild follows what each tree contains. On the host,
 * no boot.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { buildKmod, KMOD, KMOD_BUILD_LOCK } from './kmod.ts';
import { findKernel, installedKernels } from './lab.ts';
import { kernelTitle } from './suite.ts';

/** Releases with a kernel build tree. */
function headersTrees(): string[] {
  return readdirSync('/lib/modules')
    .filter((r) => existsSync(join('/lib/modules', r, 'build', 'Makefile')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

const trees = headersTrees();
test('every lab kernel has its headers installed (scripts/setup.sh installs both)', (t) => {
  t.true(trees.length > 0, 'no /lib/modules/*/build: apt-get install linux-headers-amd64');
  for (const k of installedKernels())
    t.true(trees.includes(k.version), `${k.version}: apt-get install linux-headers-${k.version}`);
});

for (const release of trees) {
  const kernel = { version: release, vmlinuz: '', modules: join('/lib/modules', release) };

  test(
    kernelTitle(kernel, 'kmod/build.sh: eoip.ko and eoipv6.ko with -Werror, no compiler or modpost warning'),
    (t) => {
      const r = spawnSync('flock', [KMOD_BUILD_LOCK, join(KMOD, 'build.sh'), '--kernel', release], {
        encoding: 'utf8',
      });
      const output = `${r.stdout}${r.stderr}`;
      t.is(r.status, 0, output);
      t.deepEqual(
        output.split('\n').filter((l) => /warning/i.test(l)),
        [],
      );
      t.regex(output, new RegExp(`built build/${release.replace(/[.+]/g, '\\$&')}/eoip\\.ko and`));
      for (const m of ['eoip', 'eoipv6']) {
        const vermagic = execFileSync(
          '/usr/sbin/modinfo',
          ['-F', 'vermagic', join(KMOD, 'build', release, `${m}.ko`)],
          {
            encoding: 'utf8',
          },
        );
        t.is(vermagic.split(' ')[0], release);
      }
    },
  );

  test(kernelTitle(kernel, "Kbuild's -Werror: a warning fails the module build"), (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'greoip-werror-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const f of readdirSync(KMOD).filter((f) => /\.[ch]$/.test(f) || f === 'Kbuild' || f === 'Makefile'))
      cpSync(join(KMOD, f), join(dir, f));
    cpSync(join(KMOD, 'uapi'), join(dir, 'uapi'), { recursive: true });
    appendFileSync(join(dir, 'netlink.c'), '\nstatic int eoip_unused_for_the_test(void) { return 0; }\n');
    const r = spawnSync('make', ['-C', join('/lib/modules', release, 'build'), `M=${dir}`, 'modules'], {
      encoding: 'utf8',
    });
    t.not(r.status, 0);
    t.regex(`${r.stdout}${r.stderr}`, /eoip_unused_for_the_test.*\[-Werror=unused-function\]/);
  });

  test(
    kernelTitle(kernel, 'the Kbuild probe follows the headers: netns_immutable where the tree has it'),
    (t) => {
      buildKmod(findKernelOrTree(release));
      // Debian splits the headers: build/ holds the configured part, source/ (srctree) include/linux/.
      const header = ['source', 'build']
        .map((d) => join('/lib/modules', release, d, 'include', 'linux', 'netdevice.h'))
        .find((p) => existsSync(p));
      t.truthy(header, 'include/linux/netdevice.h under source/ or build/');
      const cmd = readFileSync(join(KMOD, 'build', release, '.eoip.o.cmd'), 'utf8');
      t.is(
        cmd.includes('-DEOIP_HAVE_NETNS_IMMUTABLE'),
        /netns_immutable:1;/.test(readFileSync(header!, 'utf8')),
      );
    },
  );
}

/** The lab kernel of that release, or a kernel record for a headers tree without an image. */
function findKernelOrTree(release: string) {
  return installedKernels().some((k) => k.version === release)
    ? findKernel(release)
    : { version: release, vmlinuz: '', modules: join('/lib/modules', release) };
}
