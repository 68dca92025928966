/**
 * `greoip kmod build|install|status` on each of Debian's real kernels (6.1, 6.12; one qemu boot each, lab.ts) with the host
 * shared at /host: the guest runs the built dist/cli/greoip.js with the host's node, and Debian's kmod
 * tools (depmod, modprobe, rmmod) from /host, as a Debian system would. The guest half is
 * guest/kmod-cli.sh.
 *
 * On the host: `greoip kmod build` builds eoip.ko/eoipv6.ko against that kernel's headers, and
 * kmod/build.sh --test-modules the two stand-ins (a foreign eoip, an out-of-tree gre).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  type Finding,
  type KmodStatus,
  kmodVersion,
  parseModuleInfo,
} from '../../src/module-manager/index.ts';
import { REPO_DIR } from '../helpers.ts';
import { buildKmod, hostKmodEnv } from './kmod.ts';
import { type GuestResult, hostPath, type RunResult, runInGuest } from './lab.ts';
import { guestScript, kernelSuite } from './suite.ts';

const GREOIP = join(REPO_DIR, 'dist', 'cli', 'greoip.js');
/** The modules' version (kmod/dkms.conf PACKAGE_VERSION, which main.c's marks follow). */
const KMOD_VERSION = kmodVersion(join(REPO_DIR, 'kmod'));

interface Host {
  release: string;
  prebuilt: string;
  buildOutput: string;
  boot: RunResult;
  /** kmod/build/<kernel>/tests/foreign/eoip.ko */
  foreignEoip: string;
}

/** greoip kmod build on the host into a temporary directory (not kmod/build/: other tests build there). */
function buildOnHost(release: string, out: string): string {
  if (!existsSync(GREOIP)) throw new Error(`${GREOIP} missing: run npm run build`);
  const r = spawnSync(process.execPath, [GREOIP, 'kmod', 'build', '--kernel', release, '--out', out], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(
      `greoip kmod build failed (apt-get install linux-headers-${release}?):\n${r.stdout}${r.stderr}`,
    );
  return r.stdout;
}

const prebuiltDirs: string[] = [];
test.after.always(() => {
  for (const dir of prebuiltDirs) rmSync(dir, { recursive: true, force: true });
});

const labTest = kernelSuite(async (kernel): Promise<Host> => {
  const release = kernel.version;
  const prebuilt = mkdtempSync(join(tmpdir(), 'greoip-kmod-cli-'));
  prebuiltDirs.push(prebuilt);
  const buildOutput = buildOnHost(release, prebuilt);
  const stand = buildKmod(kernel, { testModules: true });
  const env = `NODE=${hostPath(process.execPath)}\nGREOIP=${hostPath(GREOIP)}\n${hostKmodEnv()}`;
  const boot = await runInGuest({
    kernel,
    script: guestScript('kmod-cli.sh'),
    files: {
      '/lab/kmod-env.sh': env,
      '/lab/host-kmod.sh': guestScript('host-kmod.sh'),
      '/lab/prebuilt/eoip.ko': readFileSync(join(prebuilt, 'eoip.ko')),
      '/lab/prebuilt/eoipv6.ko': readFileSync(join(prebuilt, 'eoipv6.ko')),
      '/lab/foreign/eoip.ko': readFileSync(stand.foreignEoip),
      '/lab/fake-gre/gre.ko': readFileSync(stand.fakeGre),
    },
    shareHost: true,
    timeoutMs: 300_000,
  });
  return { release, prebuilt, buildOutput, boot, foreignEoip: stand.foreignEoip };
});

function marker(r: RunResult, name: string): GuestResult | undefined {
  return r.results.find((x) => x.name === name);
}

interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** A greoip run the guest reported: `NAME <status> <stdout>` and `NAME-stderr <stderr>`, \n for newlines. */
function cli(t: ExecutionContext, r: RunResult, name: string): CliRun {
  const out = marker(r, name);
  if (out === undefined) t.fail(`greoip run ${name} not reported`);
  const m = /^(\d+) ?(.*)$/s.exec(out?.detail ?? '');
  const text = (s: string) => s.replace(/\\n/g, '\n');
  return {
    status: Number(m?.[1] ?? -1),
    stdout: text(m?.[2] ?? ''),
    stderr: text(marker(r, `${name}-stderr`)?.detail ?? ''),
  };
}

function statusJson(t: ExecutionContext, run: CliRun): KmodStatus {
  try {
    return JSON.parse(run.stdout) as KmodStatus;
  } catch {
    t.fail(`not JSON: ${run.stdout}\n${run.stderr}`);
    throw new Error('unreachable');
  }
}

function findingOf(t: ExecutionContext, s: KmodStatus, id: string): Finding {
  const f = s.findings.find((x) => x.id === id);
  if (f === undefined) t.fail(`no ${id} in ${s.findings.map((x) => x.id).join(', ')}`);
  return f!;
}

function expectPass(t: ExecutionContext, r: RunResult, names: string[]): void {
  for (const name of names) {
    const x = marker(r, name);
    t.true(x?.ok, `${name}: ${x === undefined ? 'not reported' : x.detail}`);
  }
}

labTest(
  'greoip kmod build on the host: warning-free modules carrying the greoip mark',
  async (t, { release, prebuilt, buildOutput, boot, foreignEoip }) => {
    t.log(`init after ${boot.bootMs} ms, whole boot ${boot.durationMs} ms`);
    t.is(
      buildOutput,
      `built for ${release} against /lib/modules/${release}/build:\n  ${prebuilt}/eoip.ko\n  ${prebuilt}/eoipv6.ko\n`,
    );
    for (const kind of ['eoip', 'eoipv6']) {
      const info = parseModuleInfo(readFileSync(join(prebuilt, `${kind}.ko`)));
      t.deepEqual(
        ['name', 'greoip', 'version', 'alias'].map((k) => info?.fields.get(k)?.[0]),
        [kind, KMOD_VERSION, KMOD_VERSION, `rtnl-link-${kind}`],
      );
      t.is(info?.fields.get('vermagic')?.[0]?.split(' ')[0], release);
    }
    const foreign = parseModuleInfo(readFileSync(foreignEoip));
    t.deepEqual([foreign?.fields.get('name')?.[0], foreign?.fields.get('greoip')], ['eoip', undefined]);
  },
);

labTest('before install: not loaded, exit 1 with the install hint', async (t, { boot, release }) => {
  expectPass(t, boot, ['kmod-tools']);
  const json = cli(t, boot, 'before-json');
  t.is(json.status, 1, json.stderr);
  const s = statusJson(t, json);
  t.deepEqual([s.release, s.running, s.moduleSupport], [release, release, true]);
  t.is(s.modules.eoip.loaded, null);
  t.is(s.modules.eoip.file, null);
  const missing = findingOf(t, s, 'eoip-missing');
  t.is(missing.severity, 'warning');
  t.is(missing.advice[0], 'greoip kmod install');
  t.is(
    findingOf(t, s, 'gre-stock').message,
    // 6.1's modules are plain .ko, 6.12's .ko.xz: the path modprobe would load, as the host's modinfo says.
    `gre is the kernel's own (${execFileSync('/usr/sbin/modinfo', ['-k', release, '-n', 'gre'], { encoding: 'utf8' }).trim()})`,
  );
  t.is(findingOf(t, s, 'headers-missing').severity, 'warning', 'the initramfs has no kernel headers');
  t.is(findingOf(t, s, 'secure-boot-off').severity, 'ok');
  const text = cli(t, boot, 'before');
  t.is(text.status, 1);
  t.regex(
    text.stdout,
    new RegExp(
      `WARNING  eoip is not loaded nor installed for kernel ${release.replace(/[.+]/g, '\\$&')}\\n {9}-> greoip kmod install\\n`,
    ),
  );
  t.regex(text.stdout, /\n3 findings need action\n$/);
});

labTest(
  'install --prebuilt: copied into updates/greoip, depmod, modprobe; status says ours, exit 0',
  async (t, { boot, release }) => {
    const install = cli(t, boot, 'install');
    t.is(install.status, 0, install.stderr);
    const dir = `/lib/modules/${release}/updates/greoip`;
    t.is(
      install.stdout,
      `copied eoip.ko and eoipv6.ko to ${dir}\ndepmod -a ${release}\nmodprobe eoip\nmodprobe eoipv6\n` +
        `installed for ${release}: ${dir}/eoip.ko, ${dir}/eoipv6.ko; loaded eoip, eoipv6\n`,
    );
    expectPass(t, boot, [
      'installed-files',
      'modules-dep',
      'modules-alias',
      'loaded-ours',
      'autoload-eoipv6',
    ]);
    const json = cli(t, boot, 'installed-json');
    const s = statusJson(t, json);
    t.is(json.status, 0, JSON.stringify(s.findings));
    t.false(s.needsAction);
    for (const kind of ['eoip', 'eoipv6'] as const) {
      t.is(findingOf(t, s, `${kind}-loaded`).severity, 'ok');
      t.is(s.modules[kind].loaded?.greoip, KMOD_VERSION);
      t.is(s.modules[kind].loaded?.version, KMOD_VERSION);
      t.regex(s.modules[kind].loaded?.taint ?? '', /O/);
      t.is(s.modules[kind].file?.path, `${dir}/${kind}.ko`);
    }
    t.is(findingOf(t, s, 'headers-missing').severity, 'info', 'installed: headers only matter for a rebuild');
    const text = cli(t, boot, 'installed');
    t.is(text.status, 0);
    t.regex(text.stdout, /^ok {7}greoip's eoip 0\.1\.0 is loaded \(taint OE\), installed at /m);
    t.regex(text.stdout, /\nall is well\n$/);
  },
);

labTest(
  'a foreign eoip module: status reports it with the advice, install refuses without --force',
  async (t, { boot }) => {
    expectPass(t, boot, ['rmmod-ours', 'insmod-foreign', 'foreign-owns-kind']);
    const json = cli(t, boot, 'foreign-json');
    t.is(json.status, 1);
    const s = statusJson(t, json);
    t.is(s.modules.eoip.loaded?.greoip, null);
    const e = findingOf(t, s, 'eoip-foreign-loaded');
    t.is(e.severity, 'error');
    t.regex(
      e.message,
      /^the loaded eoip module is not greoip's \(no \.note\.greoip in \/sys\/module\/eoip\/notes, taint OE\)/,
    );
    t.deepEqual(e.advice, ['rmmod eoip (this deletes its eoip devices)', 'greoip kmod install']);
    t.is(findingOf(t, s, 'eoipv6-loaded').severity, 'ok');
    t.regex(
      cli(t, boot, 'foreign').stdout,
      /\nERROR {4}the loaded eoip module is not greoip's .*\n {9}-> rmmod eoip /,
    );

    const refuse = cli(t, boot, 'refuse');
    t.is(refuse.status, 1);
    t.is(refuse.stdout, '');
    t.regex(
      refuse.stderr,
      /^greoip: install refused: refusing to install over a foreign module \(--force to install anyway\):\n {2}the loaded eoip module is not greoip's/,
    );
    expectPass(t, boot, ['refuse-untouched', 'refuse-foreign-still-loaded']);

    const force = cli(t, boot, 'force');
    t.is(force.status, 0, force.stderr);
    t.regex(force.stdout, /\nrmmod eoip\nmodprobe eoip\n/);
    t.regex(force.stdout, /; loaded eoip\n$/);
    expectPass(t, boot, ['force-ours-loaded']);
    t.is(statusJson(t, cli(t, boot, 'forced-json')).modules.eoip.loaded?.greoip, KMOD_VERSION);
  },
);

labTest(
  'an out-of-tree gre: status reports the replaced gre.ko, loaded and on disk',
  async (t, { boot, release }) => {
    expectPass(t, boot, ['rmmod-gre-stack', 'insmod-fake-gre', 'fake-gre-taint-O', 'depmod-fake-gre']);
    const loaded = cli(t, boot, 'gre-json');
    t.is(loaded.status, 1);
    const s = statusJson(t, loaded);
    const w = findingOf(t, s, 'gre-out-of-tree-loaded');
    t.is(w.severity, 'warning');
    t.regex(w.message, /^the loaded gre module is out of tree \(taint OE\)/);
    t.deepEqual(w.advice, [
      'rmmod gre',
      `apt-get install --reinstall linux-image-${release} (restores Debian's kernel/net/ipv4/gre.ko)`,
      `depmod -a ${release}`,
      'modprobe gre',
    ]);
    t.false(s.findings.some((f) => f.id === 'gre-stock'));
    t.regex(cli(t, boot, 'gre').stdout, /\nWARNING {2}the loaded gre module is out of tree/);

    const onDisk = statusJson(t, cli(t, boot, 'gre-file-json'));
    const replaced = `/lib/modules/${release}/updates/gre.ko`;
    t.is(onDisk.gre.file, replaced);
    t.is(findingOf(t, onDisk, 'gre-replaced').advice[0], `rm ${replaced}`);
    t.is(findingOf(t, onDisk, 'gre-out-of-tree-loaded').advice[1], `rm ${replaced}`);
  },
);

labTest(
  'nothing else failed, the kernel logged no warning, the guest script finished',
  async (t, { boot }) => {
    expectPass(t, boot, ['dmesg-clean']);
    t.deepEqual(
      boot.results.filter((x) => !x.ok),
      [],
      boot.output,
    );
    t.is(boot.scriptStatus, 0);
  },
);
