/**
 * `greoip kmod build|install|status` on Debian's real 6.1 kernel, in one qemu boot (lab.ts) with the host
 * shared at /host: the guest runs the built dist/cli/greoip.js with the host's node, and Debian's kmod
 * tools (depmod, modprobe, rmmod) from /host, as a Debian system would. The guest half is
 * guest/kmod-cli.sh.
 *
 * On the host: `greoip kmod build` builds eoip.ko/eoipv6.ko against the 6.1 headers, and
 * kmod/build.sh --test-modules the two stand-ins (a foreign eoip, an out-of-tree gre).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type Finding, type KmodStatus, parseModuleInfo } from '../../src/module-manager/index.ts';
import { REPO_DIR } from '../helpers.ts';
import { findKernel, type GuestResult, hostPath, type RunResult, runInGuest } from './lab.ts';

const KMOD = join(REPO_DIR, 'kmod');
const GREOIP = join(REPO_DIR, 'dist', 'cli', 'greoip.js');
const KMOD_BINARY = '/usr/bin/kmod';

interface Host {
  release: string;
  prebuilt: string;
  buildOutput: string;
  boot: RunResult;
}

/** greoip kmod build on the host into a temporary directory (not kmod/: eoip-kmod.test.ts builds there). */
function buildOnHost(release: string, out: string): string {
  if (!existsSync(GREOIP)) throw new Error(`${GREOIP} missing: run npm run build`);
  const r = spawnSync(process.execPath, [GREOIP, 'kmod', 'build', '--kernel', release, '--out', out], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(
      `greoip kmod build failed (apt-get install linux-headers-amd64?):\n${r.stdout}${r.stderr}`,
    );
  try {
    execFileSync(join(KMOD, 'build.sh'), ['--test-modules'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kmod/build.sh --test-modules failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  }
  return r.stdout;
}

/** Directories of kmod's shared libraries, as the guest sees them under /host. */
function kmodLibraryPath(): string {
  if (!existsSync(KMOD_BINARY)) throw new Error(`${KMOD_BINARY} missing: apt-get install kmod`);
  const dirs = execFileSync('ldd', [KMOD_BINARY], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /=>\s*(\/\S+)/.exec(l)?.[1])
    .filter((p) => p !== undefined)
    .map((p) => hostPath(dirname(p)));
  return [...new Set(dirs)].join(':');
}

let host: Promise<Host> | undefined;
function guest(): Promise<Host> {
  host ??= (async () => {
    const release = findKernel().version;
    const prebuilt = mkdtempSync(join(tmpdir(), 'greoip-kmod-cli-'));
    try {
      const buildOutput = buildOnHost(release, prebuilt);
      const env =
        `NODE=${hostPath(process.execPath)}\nGREOIP=${hostPath(GREOIP)}\n` +
        `KMOD=${hostPath(KMOD_BINARY)}\nKMOD_LIBS=${kmodLibraryPath()}\n`;
      const boot = await runInGuest({
        script: readFileSync(new URL('./guest/kmod-cli.sh', import.meta.url), 'utf8'),
        files: {
          '/lab/kmod-env.sh': env,
          '/lab/prebuilt/eoip.ko': readFileSync(join(prebuilt, 'eoip.ko')),
          '/lab/prebuilt/eoipv6.ko': readFileSync(join(prebuilt, 'eoipv6.ko')),
          '/lab/foreign/eoip.ko': readFileSync(join(KMOD, 'tests', 'foreign', 'eoip.ko')),
          '/lab/fake-gre/gre.ko': readFileSync(join(KMOD, 'tests', 'fake-gre', 'gre.ko')),
        },
        shareHost: true,
        timeoutMs: 300_000,
      });
      return { release, prebuilt, buildOutput, boot };
    } catch (e) {
      rmSync(prebuilt, { recursive: true, force: true });
      throw e;
    }
  })();
  return host;
}

test.after.always(async () => {
  if (host) rmSync((await host.catch(() => ({ prebuilt: '' }))).prebuilt, { recursive: true, force: true });
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

test('greoip kmod build on the host: warning-free modules for 6.1 carrying the greoip mark', async (t) => {
  const { release, prebuilt, buildOutput, boot } = await guest();
  t.log(`init after ${boot.bootMs} ms, whole boot ${boot.durationMs} ms`);
  t.is(
    buildOutput,
    `built for ${release} against /lib/modules/${release}/build:\n  ${prebuilt}/eoip.ko\n  ${prebuilt}/eoipv6.ko\n`,
  );
  for (const kind of ['eoip', 'eoipv6']) {
    const info = parseModuleInfo(readFileSync(join(prebuilt, `${kind}.ko`)));
    t.deepEqual(
      ['name', 'greoip', 'version', 'alias'].map((k) => info?.fields.get(k)?.[0]),
      [kind, '0.1.0', '0.1.0', `rtnl-link-${kind}`],
    );
    t.is(info?.fields.get('vermagic')?.[0]?.split(' ')[0], release);
  }
  const foreign = parseModuleInfo(readFileSync(join(KMOD, 'tests', 'foreign', 'eoip.ko')));
  t.deepEqual([foreign?.fields.get('name')?.[0], foreign?.fields.get('greoip')], ['eoip', undefined]);
});

test('before install: not loaded, exit 1 with the install hint', async (t) => {
  const { boot, release } = await guest();
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
    `gre is the kernel's own (/lib/modules/${release}/kernel/net/ipv4/gre.ko)`,
  );
  t.is(findingOf(t, s, 'headers-missing').severity, 'warning', 'the initramfs has no kernel headers');
  t.is(findingOf(t, s, 'secure-boot-off').severity, 'ok');
  const text = cli(t, boot, 'before');
  t.is(text.status, 1);
  t.regex(
    text.stdout,
    new RegExp(
      `WARNING  eoip is not loaded nor installed for kernel ${release}\\n {9}-> greoip kmod install\\n`,
    ),
  );
  t.regex(text.stdout, /\n3 findings need action\n$/);
});

test('install --prebuilt: copied into updates/greoip, depmod, modprobe; status says ours, exit 0', async (t) => {
  const { boot, release } = await guest();
  const install = cli(t, boot, 'install');
  t.is(install.status, 0, install.stderr);
  const dir = `/lib/modules/${release}/updates/greoip`;
  t.is(
    install.stdout,
    `copied eoip.ko and eoipv6.ko to ${dir}\ndepmod -a ${release}\nmodprobe eoip\nmodprobe eoipv6\n` +
      `installed for ${release}: ${dir}/eoip.ko, ${dir}/eoipv6.ko; loaded eoip, eoipv6\n`,
  );
  expectPass(t, boot, ['installed-files', 'modules-dep', 'modules-alias', 'loaded-ours', 'autoload-eoipv6']);
  const json = cli(t, boot, 'installed-json');
  const s = statusJson(t, json);
  t.is(json.status, 0, JSON.stringify(s.findings));
  t.false(s.needsAction);
  for (const kind of ['eoip', 'eoipv6'] as const) {
    t.is(findingOf(t, s, `${kind}-loaded`).severity, 'ok');
    t.is(s.modules[kind].loaded?.greoip, '0.1.0');
    t.is(s.modules[kind].loaded?.version, '0.1.0');
    t.regex(s.modules[kind].loaded?.taint ?? '', /O/);
    t.is(s.modules[kind].file?.path, `${dir}/${kind}.ko`);
  }
  t.is(findingOf(t, s, 'headers-missing').severity, 'info', 'installed: headers only matter for a rebuild');
  const text = cli(t, boot, 'installed');
  t.is(text.status, 0);
  t.regex(text.stdout, /^ok {7}greoip's eoip 0\.1\.0 is loaded \(taint OE\), installed at /m);
  t.regex(text.stdout, /\nall is well\n$/);
});

test('a foreign eoip module: status reports it with the advice, install refuses without --force', async (t) => {
  const { boot } = await guest();
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
  t.is(statusJson(t, cli(t, boot, 'forced-json')).modules.eoip.loaded?.greoip, '0.1.0');
});

test('an out-of-tree gre: status reports the replaced gre.ko, loaded and on disk', async (t) => {
  const { boot, release } = await guest();
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
});

test('nothing else failed, the kernel logged no warning, the guest script finished', async (t) => {
  const { boot } = await guest();
  expectPass(t, boot, ['dmesg-clean']);
  t.deepEqual(
    boot.results.filter((x) => !x.ok),
    [],
    boot.output,
  );
  t.is(boot.scriptStatus, 0);
});
