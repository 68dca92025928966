/**
 * `greoip kmod` through the built CLI: output, --json, exit statuses 0/1/2, help. Status runs on
 * fixture trees (--root) but asks the machine's real `dkms status`, which test/kernel/dkms.test.ts
 * and test/packaging/dkms-deb.test.ts change under their exclusive /tmp/greoip-dkms.lock: each
 * command here runs under a shared hold of it, so it sees DKMS as it is between those scenarios.
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import type { KmodStatus } from '../../src/module-manager/index.ts';
import { REPO_DIR } from '../helpers.ts';
import { Fixture, VERSION_RE } from './fixture.ts';

const GREOIP = `${REPO_DIR}dist/cli/greoip.js`;
const DKMS_LOCK = '/tmp/greoip-dkms.lock';
const greoip = (...args: string[]) =>
  spawnSync('flock', ['-s', DKMS_LOCK, process.execPath, GREOIP, 'kmod', ...args], { encoding: 'utf8' });

test('status: all is well, exit 0', (t) => {
  const f = Fixture.stock();
  t.teardown(() => f.cleanup());
  f.ours();
  const r = greoip('status', '--root', f.root);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[0], 'kernel 6.1.0-56-amd64 (running)');
  t.regex(lines[1]!, new RegExp(`^ok {7}greoip's eoip ${VERSION_RE} is loaded`));
  t.is(lines.at(-1), 'all is well');
});

test('status: a foreign module is an ERROR with its fixes, exit 1; --json has the same findings', (t) => {
  const f = Fixture.stock();
  t.teardown(() => f.cleanup());
  f.load('eoip', { taint: 'OE', version: '1.1' });
  const r = greoip('status', '--root', f.root);
  t.is(r.status, 1);
  t.regex(
    r.stdout,
    /\nERROR {4}the loaded eoip module is not greoip's .*\n {9}-> rmmod eoip \(this deletes its eoip devices\)\n/,
  );
  t.regex(r.stdout, /\n2 findings need action\n$/);
  const j = greoip('status', '--json', '--root', f.root);
  t.is(j.status, 1);
  const s = JSON.parse(j.stdout) as KmodStatus;
  t.true(s.needsAction);
  t.deepEqual(
    s.findings.filter((x) => x.severity === 'error' || x.severity === 'warning').map((x) => x.id),
    ['eoip-foreign-loaded', 'eoipv6-missing'],
  );
  t.is(s.modules.eoip.loaded?.version, '1.1');
});

test('usage errors exit 2', (t) => {
  for (const args of [
    ['status', '--bogus'],
    ['frob'],
    [],
    ['build', '--kdir', '/x', '--kernel', '6.1.0-56-amd64'],
    ['install', '--prebuilt', '/x', '--dkms'],
    ['install', '--kdir', '/x', '--prebuilt', '/y'],
    ['status', '--kernel'],
  ]) {
    const r = greoip(...args);
    t.is(r.status, 2, `greoip kmod ${args.join(' ')}: ${r.stderr}`);
  }
});

test('build without headers: exit 1 naming the package', (t) => {
  const r = greoip('build', '--kernel', '6.1.0-999-cloud-amd64', '--out', '/nonexistent');
  t.is(r.status, 1);
  t.is(
    r.stderr,
    'greoip: build failed: no kernel headers for 6.1.0-999-cloud-amd64 at /lib/modules/6.1.0-999-cloud-amd64/build: ' +
      'apt-get install linux-headers-6.1.0-999-cloud-amd64 or linux-headers-cloud-amd64 (the metapackage follows new kernels)\n',
  );
});

test('each subcommand has help with examples', (t) => {
  for (const sub of ['status', 'build', 'install', 'uninstall']) {
    const r = greoip(sub, '--help');
    t.is(r.status, 0);
    t.regex(r.stdout, new RegExp(`Usage: greoip kmod ${sub} \\[options\\]`));
    t.regex(r.stdout, /\nExamples:\n {2}greoip kmod /);
  }
  t.regex(
    greoip('--help').stdout,
    /Exit status: 0 all is well, 1 a finding needs action or a step failed, 2 a\nusage error/,
  );
  t.notRegex(greoip('status', '--help').stdout, /--root/, 'the fixture option stays hidden');
});
