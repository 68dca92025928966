/**
 * The systemd units as `greoip install-units` writes them: systemd's own verifier accepts every unit and
 * template instance, the service settings the issue asks for are there, the example config loads, and
 * --remove removes only what install-units wrote.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadConfigFile } from '../../src/config/file.ts';
import { REPO_DIR, tempDir } from '../helpers.ts';

const GREOIP = join(REPO_DIR, 'dist', 'cli', 'greoip.js');
const UNITS = ['gre-keepalive-attach@.service', 'gre-keepalive.service', 'greoip.service', 'greoip@.service'];

function greoip(...args: string[]) {
  return spawnSync(process.execPath, [GREOIP, ...args], { encoding: 'utf8' });
}

function verify(...units: string[]): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', ...units], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

function install(t: ExecutionContext) {
  const dir = tempDir(t, 'greoip-units-');
  const unitDir = join(dir, 'system');
  const configDir = join(dir, 'etc-greoip');
  const r = greoip('install-units', '--unit-dir', unitDir, '--config-dir', configDir, '--no-reload');
  t.is(r.status, 0, r.stderr);
  return { unitDir, configDir, stdout: r.stdout };
}

/** The value of `key=` in a unit (the last one wins in systemd; ours have one each). */
function setting(text: string, key: string): string | undefined {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].pop()?.[1];
}

test('install-units writes every unit and an example config; systemd-analyze verify accepts all of them', (t) => {
  const { unitDir, configDir, stdout } = install(t);
  t.deepEqual(readdirSync(unitDir).sort(), UNITS);
  t.regex(stdout, /wrote .*tunnels\.yaml \(no tunnels yet\)/);
  t.deepEqual(readdirSync(configDir).sort(), ['netns', 'tunnels.yaml']);
  const paths = UNITS.map((u) => join(unitDir, u));
  // Templates are verified through an instance, as systemd would load them.
  const instances = [
    join(unitDir, 'greoip@site-a.service'),
    join(unitDir, 'gre-keepalive-attach@gre1.service'),
  ];
  const checked = verify(...paths.filter((p) => !p.endsWith('@.service')), ...instances);
  t.is(checked.status, 0, checked.output);
  t.is(checked.output, '', 'no warning either');
});

test('systemd-analyze verify does catch a broken unit (the check above can fail)', (t) => {
  const { unitDir } = install(t);
  const broken = join(unitDir, 'broken.service');
  writeFileSync(
    broken,
    readFileSync(join(unitDir, 'greoip.service'), 'utf8').replace('Type=notify', 'Type=notifyy'),
  );
  t.regex(verify(broken).output, /Failed to parse service type/);
  writeFileSync(
    broken,
    readFileSync(join(unitDir, 'greoip.service'), 'utf8').replace(
      /ExecStart=\S+/,
      'ExecStart=/nonexistent/node',
    ),
  );
  const missing = verify(broken);
  t.not(missing.status, 0);
  t.regex(missing.output, /is not executable/);
});

test('greoip.service: Type=notify, reload by SIGHUP, restart on failure, only the three capabilities, hardened', (t) => {
  const { unitDir } = install(t);
  for (const name of ['greoip.service', 'greoip@.service']) {
    const unit = readFileSync(join(unitDir, name), 'utf8');
    t.is(setting(unit, 'Type'), 'notify', name);
    t.is(setting(unit, 'NotifyAccess'), 'main');
    t.is(setting(unit, 'ExecReload'), '/bin/kill -HUP $MAINPID');
    t.is(setting(unit, 'Restart'), 'on-failure');
    t.is(setting(unit, 'CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW CAP_BPF');
    t.is(setting(unit, 'AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_RAW CAP_BPF');
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'yes'],
      ['RuntimeDirectory', 'greoip'],
      ['RuntimeDirectoryPreserve', 'yes'],
      ['DeviceAllow', '/dev/net/tun rw'],
    ])
      t.is(setting(unit, key!), value, `${name} ${key}`);
  }
  const host = readFileSync(join(unitDir, 'greoip.service'), 'utf8');
  t.is(setting(host, 'ExecStart'), `${process.execPath} ${GREOIP} daemon --config /etc/greoip/tunnels.yaml`);
  const netns = readFileSync(join(unitDir, 'greoip@.service'), 'utf8');
  t.is(setting(netns, 'NetworkNamespacePath'), '/run/netns/%i');
  t.is(
    setting(netns, 'ExecStart'),
    `${process.execPath} ${GREOIP} daemon --config /etc/greoip/netns/%i.yaml`,
  );
  const reflector = readFileSync(join(unitDir, 'gre-keepalive.service'), 'utf8');
  t.is(setting(reflector, 'Type'), 'notify');
  t.is(setting(reflector, 'CapabilityBoundingSet'), 'CAP_NET_RAW');
  t.regex(setting(reflector, 'ExecStart')!, /gre-keepalive\.js run --interval 0 \$GRE_KEEPALIVE_OPTIONS$/);
  const attach = readFileSync(join(unitDir, 'gre-keepalive-attach@.service'), 'utf8');
  t.regex(setting(attach, 'ExecStart')!, /gre-keepalive\.js attach %i /);
  t.regex(setting(attach, 'ExecStop')!, /gre-keepalive\.js detach %i$/);
});

test('the example config loads (no tunnels); a second install keeps it; --remove leaves foreign units', async (t) => {
  const { unitDir, configDir } = install(t);
  const config = join(configDir, 'tunnels.yaml');
  t.deepEqual(await loadConfigFile(config), []);
  writeFileSync(config, 'tunnels: []\n# mine\n');
  const again = greoip('install-units', '--unit-dir', unitDir, '--config-dir', configDir, '--no-reload');
  t.regex(again.stdout, /kept .*tunnels\.yaml/);
  t.is(readFileSync(config, 'utf8'), 'tunnels: []\n# mine\n');
  writeFileSync(join(unitDir, 'gre-keepalive.service'), '[Service]\nExecStart=/bin/true\n');
  const removed = greoip('install-units', '--remove', '--unit-dir', unitDir, '--no-reload');
  t.is(removed.status, 0, removed.stderr);
  t.regex(removed.stdout, /left .*gre-keepalive\.service: not written by greoip install-units/);
  t.deepEqual(readdirSync(unitDir), ['gre-keepalive.service']);
});

test('install-units names the option when it cannot write', (t) => {
  const file = join(tempDir(t, 'greoip-units-'), 'a-file');
  writeFileSync(file, '');
  const r = greoip('install-units', '--unit-dir', join(file, 'system'), '--no-reload');
  t.is(r.status, 1);
  t.regex(r.stderr, /^greoip: --unit-dir: cannot write \S+\/a-file\/system: ENOTDIR/);
});
