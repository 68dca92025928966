/** Status detection (src/module-manager/detect.ts, findings.ts) on fixture trees: each situation, its findings and their advice. */
import { rmSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { type Finding, type KmodStatus, kmodStatus, type Runner } from '../../src/module-manager/index.ts';
import {
  Fixture,
  foreignModinfo,
  OTHER_VERSION,
  ourModinfo,
  RELEASE,
  VERSION,
  VERSION_RE,
} from './fixture.ts';

function statusOf(f: Fixture, runner: Runner | null = null, release?: string): KmodStatus {
  return kmodStatus({ roots: f.roots, runner, release });
}

function finding(t: ExecutionContext, s: KmodStatus, id: string): Finding {
  const found = s.findings.find((x) => x.id === id);
  if (found === undefined) t.fail(`no finding ${id} in ${s.findings.map((x) => x.id).join(', ')}`);
  return found!;
}

function ids(s: KmodStatus): string[] {
  return s.findings.map((x) => `${x.id}:${x.severity}`);
}

function withFixture(name: string, fn: (t: ExecutionContext, f: Fixture) => void): void {
  test(name, (t) => {
    const f = Fixture.stock();
    t.teardown(() => f.cleanup());
    fn(t, f);
  });
}

withFixture('ours installed and loaded, stock gre, headers, no EFI: all is well', (t, f) => {
  f.ours();
  const s = statusOf(f);
  t.deepEqual(ids(s), [
    'eoip-loaded:ok',
    'eoipv6-loaded:ok',
    'gre-stock:ok',
    'headers:ok',
    'secure-boot-off:ok',
  ]);
  t.false(s.needsAction);
  t.is(s.modules.eoip.loaded?.greoip, VERSION);
  t.is(s.modules.eoip.file?.path, `${f.dir}/updates/greoip/eoip.ko`);
  t.is(s.modules.eoipv6.file?.builtFor, RELEASE);
  t.regex(
    finding(t, s, 'eoip-loaded').message,
    new RegExp(
      `greoip's eoip ${VERSION_RE} is loaded \\(taint OE\\), installed at .*updates\\/greoip\\/eoip\\.ko`,
    ),
  );
});

withFixture('nothing installed: a warning per module with the install command', (t, f) => {
  const s = statusOf(f);
  t.true(s.needsAction);
  const m = finding(t, s, 'eoip-missing');
  t.is(m.severity, 'warning');
  t.is(m.message, `eoip is not loaded nor installed for kernel ${RELEASE}`);
  t.deepEqual(m.advice, [
    'greoip kmod install',
    'or greoip kmod install --dkms (DKMS rebuilds it for every new kernel)',
  ]);
  t.is(finding(t, s, 'eoipv6-missing').severity, 'warning');
});

withFixture('installed but not loaded: info, modprobe; nothing needs action', (t, f) => {
  f.ours({ loaded: false });
  const s = statusOf(f);
  const i = finding(t, s, 'eoip-installed');
  t.is(i.severity, 'info');
  t.deepEqual(i.advice, ['modprobe eoip']);
  t.false(s.needsAction);
});

withFixture('a foreign eoip loaded (no greoip note): error, rmmod it and remove its file', (t, f) => {
  f.module('updates/dkms/eoip.ko', foreignModinfo('eoip'));
  f.load('eoip', { taint: 'OE', version: '1.1', holders: [] });
  const s = statusOf(f);
  t.true(s.needsAction);
  t.is(s.modules.eoip.loaded?.greoip, null);
  const e = finding(t, s, 'eoip-foreign-loaded');
  t.is(e.severity, 'error');
  t.regex(
    e.message,
    /the loaded eoip module is not greoip's \(no \.note\.greoip in \/sys\/module\/eoip\/notes, version 1\.1, taint OE\)/,
  );
  t.regex(e.message, /owns link kind eoip/);
  t.is(e.advice[0], 'rmmod eoip (this deletes its eoip devices)');
  t.true(e.advice.some((a) => a.startsWith(`remove ${f.dir}/updates/dkms/eoip.ko, or the package`)));
  t.true(e.advice.includes(`depmod -a ${RELEASE}`));
  t.is(e.advice.at(-1), 'greoip kmod install');
  // The file modprobe would load is foreign too.
  t.is(finding(t, s, 'eoip-foreign-file').severity, 'error');
});

withFixture('a foreign eoip with users: rmmod names them first', (t, f) => {
  f.load('eoip', { taint: 'O', holders: ['eoip_helper'] });
  const e = finding(t, statusOf(f), 'eoip-foreign-loaded');
  t.is(e.advice[0], 'rmmod eoip_helper eoip (this deletes its eoip devices)');
});

withFixture('a foreign eoip.ko is what modprobe would load: error naming the file', (t, f) => {
  f.module('misc/eoip.ko', foreignModinfo('eoip'));
  f.module('updates/greoip/eoipv6.ko', ourModinfo('eoipv6'));
  const s = statusOf(f);
  const e = finding(t, s, 'eoip-foreign-file');
  t.is(
    e.message,
    `modprobe eoip would load ${f.dir}/misc/eoip.ko, which is not greoip's module: it has no greoip mark (modinfo -F greoip ${f.dir}/misc/eoip.ko)`,
  );
  t.deepEqual(e.advice.slice(1), [`depmod -a ${RELEASE}`, 'greoip kmod install']);
  t.false(ids(s).includes('eoip-missing:warning'), 'a foreign file is not reported as missing too');
  t.is(finding(t, s, 'eoipv6-installed').severity, 'info');
});

withFixture('another module declaring rtnl-link-eoip in modules.alias: error', (t, f) => {
  f.ours();
  f.module('extra/eoip_tunnel.ko', { name: 'eoip_tunnel', license: 'GPL', vermagic: RELEASE });
  f.alias('rtnl-link-eoip', 'eoip_tunnel');
  f.alias('rtnl-link-eoipv*', 'eoip-any'); // a pattern, and a module with no file
  const s = statusOf(f);
  const e = finding(t, s, 'eoip-alias-claimed');
  t.is(e.severity, 'error');
  t.regex(
    e.message,
    /^module eoip_tunnel \(.*\/extra\/eoip_tunnel\.ko\) declares alias rtnl-link-eoip: "ip link add \.\.\. type eoip" may load it/,
  );
  t.true(e.advice[0]!.startsWith(`remove ${f.dir}/extra/eoip_tunnel.ko`));
  const v6 = finding(t, s, 'eoipv6-alias-claimed');
  t.regex(v6.message, /module eoip_any \(\(no file in modules\.dep\)\)/);
  t.deepEqual(v6.advice, [`depmod -a ${RELEASE}`]);
  // Our own modules' aliases are no claim.
  t.deepEqual(
    s.modules.eoip.aliasClaims.map((c) => [c.module, c.ours]),
    [
      ['eoip', true],
      ['eoip_tunnel', false],
    ],
  );
});

test("gre loaded out of tree (taint O): warning, unload it and restore Debian's gre.ko", (t) => {
  const f = new Fixture();
  t.teardown(() => f.cleanup());
  f.stockGre();
  f.headers();
  f.ours();
  f.load('gre', { taint: 'OE', holders: ['eoip_old', 'ip_gre'] });
  const s = statusOf(f);
  t.false(ids(s).some((i) => i.startsWith('gre-stock')));
  const w = finding(t, s, 'gre-out-of-tree-loaded');
  t.is(w.severity, 'warning');
  t.regex(w.message, /the loaded gre module is out of tree \(taint OE\).*patched gre\.ko/);
  t.deepEqual(w.advice, [
    'rmmod eoip_old ip_gre gre',
    `apt-get install --reinstall linux-image-${RELEASE} (restores Debian's kernel/net/ipv4/gre.ko)`,
    `depmod -a ${RELEASE}`,
    'modprobe gre',
  ]);
  t.true(s.needsAction);
});

withFixture(
  'gre that modprobe would load is in updates/: warning, remove it, reinstall the kernel',
  (t, f) => {
    f.ours();
    f.module('updates/gre.ko', { name: 'gre', license: 'GPL', vermagic: RELEASE });
    const s = statusOf(f);
    t.is(s.gre.inTree, false);
    const w = finding(t, s, 'gre-replaced');
    t.is(
      w.message,
      `modprobe gre would load ${f.dir}/updates/gre.ko, outside ${f.dir}/kernel/: a replaced gre.ko`,
    );
    t.deepEqual(w.advice, [
      `rm ${f.dir}/updates/gre.ko`,
      `apt-get install --reinstall linux-image-${RELEASE} (restores Debian's kernel/net/ipv4/gre.ko)`,
      `depmod -a ${RELEASE}`,
    ]);
  },
);

withFixture('gre built into the kernel is the stock one', (t, f) => {
  f.write(`${f.dir}/modules.builtin`, 'kernel/net/ipv4/gre.ko\n');
  f.write(`${f.dir}/modules.dep`, '');
  const s = statusOf(f);
  t.is(finding(t, s, 'gre-stock').message, "gre is the kernel's own (built in)");
});

test('no headers: a warning naming the packages when nothing is installed, info once it is', (t) => {
  const f = new Fixture();
  t.teardown(() => f.cleanup());
  f.stockGre();
  const s = statusOf(f);
  const w = finding(t, s, 'headers-missing');
  t.is(w.severity, 'warning');
  t.is(w.message, `no kernel headers for ${RELEASE} (${f.dir}/build): needed to build the modules`);
  t.deepEqual(w.advice, [`apt-get install linux-headers-${RELEASE} linux-headers-amd64`]);
  f.ours();
  const after = statusOf(f);
  t.is(finding(t, after, 'headers-missing').severity, 'info');
  t.false(after.needsAction);
});

withFixture(
  'Secure Boot on with unsigned modules installed: error, sign with an enrolled MOK key',
  (t, f) => {
    f.ours({ loaded: false });
    f.secureBoot(true);
    const s = statusOf(f);
    t.is(s.secureBoot.state, 'on');
    const e = finding(t, s, 'secure-boot-unsigned');
    t.is(e.severity, 'error');
    t.regex(
      e.message,
      /^Secure Boot is on \(.*efivars\/SecureBoot-8be4df61.*\): the kernel refuses unsigned modules, and .*eoip\.ko, .*eoipv6\.ko are unsigned$/,
    );
    t.regex(e.advice[0]!, /sign-file sha256 MOK\.priv MOK\.der FILE \(kmod\/README\.md, "Secure Boot"/);
    t.regex(e.advice[1]!, /--dkms.*mokutil --import \/var\/lib\/dkms\/mok\.pub/);
  },
);

withFixture('Secure Boot on with signed modules: info, check the key is enrolled', (t, f) => {
  f.ours({ signed: true });
  f.secureBoot(true);
  const s = statusOf(f);
  const i = finding(t, s, 'secure-boot-on');
  t.is(i.severity, 'info');
  t.deepEqual(i.advice, ['check the signing key is enrolled: mokutil --test-key KEY.der']);
  t.true(s.modules.eoip.file?.signed);
  t.false(s.needsAction);
});

withFixture('Secure Boot on, nothing installed yet: info saying to sign what gets installed', (t, f) => {
  f.secureBoot(true);
  const i = finding(t, statusOf(f), 'secure-boot-on');
  t.regex(i.advice[0]!, /sign them with a key enrolled as a Machine Owner Key/);
});

withFixture('Secure Boot off in efivars: ok', (t, f) => {
  f.ours();
  f.secureBoot(false);
  const s = statusOf(f);
  t.is(
    finding(t, s, 'secure-boot-off').message,
    `Secure Boot is off (${s.secureBoot.source}): unsigned modules load (the kernel is tainted E)`,
  );
  t.false(s.needsAction);
});

withFixture('EFI without readable efivars: mokutil decides; without it, unknown', (t, f) => {
  f.ours();
  f.write(`${f.roots.sys}/firmware/efi/fw_vendor`, '');
  t.is(finding(t, statusOf(f), 'secure-boot-unknown').severity, 'info');
  const mokutil: Runner = {
    has: (c) => c === 'mokutil',
    run: (c, args) => ({
      status: 0,
      stdout: c === 'mokutil' && args[0] === '--sb-state' ? 'SecureBoot enabled\n' : '',
      stderr: '',
    }),
  };
  const s = statusOf(f, mokutil);
  t.deepEqual([s.secureBoot.state, s.secureBoot.source], ['on', 'mokutil --sb-state']);
  t.is(finding(t, s, 'secure-boot-unsigned').severity, 'error');
});

withFixture('module.sig_enforce=1 without EFI also requires signatures', (t, f) => {
  f.ours();
  f.write(`${f.roots.sys}/module/module/parameters/sig_enforce`, 'Y\n');
  const e = finding(t, statusOf(f), 'secure-boot-unsigned');
  t.regex(e.message, /^module\.sig_enforce is set: /);
});

withFixture('loaded at one version, another installed: info, reload to use it', (t, f) => {
  f.module('updates/greoip/eoip.ko', ourModinfo('eoip', RELEASE, OTHER_VERSION));
  f.load('eoip', { taint: 'OE', version: VERSION, greoip: VERSION });
  const i = finding(t, statusOf(f), 'eoip-reload-pending');
  t.is(i.severity, 'info');
  t.deepEqual(i.advice, ['modprobe -r eoip && modprobe eoip to use it (this deletes the eoip devices)']);
});

withFixture('another release: installed files are checked, loaded modules are not', (t, f) => {
  f.load('eoip', { taint: 'O' }); // foreign, but in the running kernel, not the one inspected
  const other = new Fixture('6.1.0-57-amd64');
  t.teardown(() => other.cleanup());
  const roots = { ...other.roots, proc: f.roots.proc, sys: f.roots.sys };
  other.module('updates/greoip/eoip.ko', ourModinfo('eoip', '6.1.0-57-amd64'));
  const s = kmodStatus({ roots, release: '6.1.0-57-amd64' });
  t.deepEqual([s.release, s.running], ['6.1.0-57-amd64', RELEASE]);
  t.is(finding(t, s, 'eoip-installed').severity, 'ok');
  t.deepEqual(finding(t, s, 'eoipv6-missing').advice[0], 'greoip kmod install --kernel 6.1.0-57-amd64');
  t.false(ids(s).some((i) => i.includes('foreign')));
});

withFixture('a kernel without module support: one error, use the userland backend', (t, f) => {
  rmSync(`${f.roots.proc}/modules`);
  const s = statusOf(f);
  t.deepEqual(ids(s), ['modules-unsupported:error']);
  t.regex(s.findings[0]!.advice[0]!, /userland backend/);
});

withFixture('compressed module files are read (.ko.gz)', (t, f) => {
  f.module('updates/greoip/eoip.ko.gz', ourModinfo('eoip'));
  const s = statusOf(f);
  t.is(s.modules.eoip.file?.greoip, VERSION);
  t.is(finding(t, s, 'eoip-installed').severity, 'info');
});
