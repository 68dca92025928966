/**
 * The npm package as a user gets it (root): `npm pack` of the built tree, then `npm install -g` of the
 * tarball into an empty prefix with an empty HOME and npm cache (the addon builds at install, the BPF
 * objects come prebuilt), and the installed commands work: versions, `greoip demo`, and the eBPF
 * reflector's programs from the installed package under BPF_PROG_TEST_RUN.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { VERSION } from '../../src/version.ts';
import { CISCO_KEEPALIVE_REQUEST, REPO_DIR, requireRoot, tempDir } from '../helpers.ts';

test.before(() => requireRoot());

/** Every BPF object the build made (npm test builds before the tests run). */
const BPF_OBJECTS = readdirSync(join(REPO_DIR, 'build')).filter((f) => f.endsWith('.o'));

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = REPO_DIR) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', pid: r.pid };
}

test.serial('npm pack, npm install -g into a clean prefix, and the installed greoip runs the demo', (t) => {
  const dir = tempDir(t, 'greoip-npm-');
  // The tree is built already (npm test builds first); --ignore-scripts keeps prepack from rebuilding
  // dist/ under the other test files running meanwhile.
  const packed = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  t.is(packed.status, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const want of [
    'dist/cli/greoip.js',
    'dist/cli/eoip.js',
    'dist/cli/gre-keepalive.js',
    'native/binding.gyp',
    'native/src/addon.cc',
    'native/check-libbpf.cjs',
    'packaging/npm/build-addon.mjs',
    'packaging/systemd/greoip.service',
    'kmod/dkms.conf',
    'docs/eoip-wire.md',
    ...BPF_OBJECTS.map((o) => `build/${o}`),
  ])
    t.true(files.includes(want), `the tarball has ${want}`);
  t.deepEqual(
    files.filter((f) =>
      /^(test|src|bench|node_modules|native\/build|native\/node_modules|kmod\/tests)\//.test(f),
    ),
    [],
    'no tests, sources of the bundle, build trees or dependencies',
  );

  const prefix = join(dir, 'prefix');
  const env = {
    ...process.env,
    HOME: join(dir, 'home'),
    npm_config_cache: join(dir, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  const installed = sh('npm', ['install', '-g', '--prefix', prefix, join(dir, info!.filename)], env, dir);
  t.is(installed.status, 0, `${installed.stdout}\n${installed.stderr}`);
  const pkg = join(prefix, 'lib', 'node_modules', 'greoip');
  t.true(
    existsSync(join(pkg, 'native', 'build', 'Release', 'greoip.node')),
    'the addon was built at install',
  );
  t.deepEqual(readdirSync(join(pkg, 'build')).sort(), [...BPF_OBJECTS].sort());
  const bin = (name: string) => join(prefix, 'bin', name);

  t.is(sh(bin('greoip'), ['--version'], env, dir).stdout.trim(), VERSION);
  t.regex(sh(bin('eoip'), ['version'], env, dir).stdout, new RegExp(VERSION.replace(/\./g, '\\.')));
  t.regex(sh(bin('gre-keepalive'), ['--help'], env, dir).stdout, /attach/);

  const demo = sh(bin('greoip'), ['demo', '--duration', '2'], env, dir);
  t.is(demo.status, 0, demo.stderr);
  // Both tunnels carried pings (test/live/demo.test.ts asserts no loss; a busy CI machine may lose a first one here).
  t.deepEqual(
    [...demo.stdout.matchAll(/(\d+) received/g)].map((m) => Number(m[1]) > 0),
    [true, true],
    demo.stdout,
  );
  t.regex(demo.stdout, /eoip-demo\s+eoip\s+100\s/);

  // Its units run the installed package with the node that installed them, and systemd accepts them.
  const units = join(dir, 'units');
  const wrote = sh(
    bin('greoip'),
    ['install-units', '--unit-dir', units, '--config-dir', join(dir, 'etc'), '--no-reload'],
    env,
    dir,
  );
  t.is(wrote.status, 0, wrote.stderr);
  const unit = readFileSync(join(units, 'greoip.service'), 'utf8');
  t.regex(
    unit,
    new RegExp(`^ExecStart=${process.execPath} ${join(pkg, 'dist', 'cli', 'greoip.js')} daemon `, 'm'),
  );
  const verified = sh('systemd-analyze', [
    'verify',
    join(units, 'greoip.service'),
    join(units, 'gre-keepalive.service'),
  ]);
  t.is(verified.status, 0, verified.stderr);
  t.is(verified.stdout + verified.stderr, '');

  // The prebuilt BPF objects of the installed package load and answer a keepalive.
  const explained = sh(
    bin('gre-keepalive'),
    ['explain', '--engine', 'bpf', '--json', CISCO_KEEPALIVE_REQUEST.toString('hex')],
    env,
    dir,
  );
  t.is(explained.status, 0, explained.stderr);
  const verdicts = explained.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { verdict: string; program?: string });
  t.true(verdicts.length > 0 && verdicts.every((v) => v.verdict === 'reply'), explained.stdout);
});
