/**
 * The kernel lab itself (lab.ts), on each lab kernel (6.1 and 6.12): Debian's kernel boots under qemu
 * TCG, runs guest/lab.sh and reports: two namespaces joined by a veth, real gre (gk4) and ip6gre (gk6) tunnels between them,
 * accept_local 0 read back on every interface, ping over both tunnels. One boot per kernel.
 * A missing kernel, qemu or tool fails these tests (CI installs them through scripts/setup.sh).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { requireRoot } from '../helpers.ts';
import { CpioTree } from './cpio.ts';
import {
  ensureVmlinux,
  findKernel,
  installedKernels,
  LabError,
  labKernels,
  parseMarkers,
  prepareBoot,
  runInGuest,
} from './lab.ts';
import { marker as byName, guestScript, kernelSuite } from './suite.ts';

const labTest = kernelSuite((kernel) =>
  runInGuest({
    kernel,
    script: guestScript('lab.sh'),
    files: { '/lab/topology.sh': guestScript('topology.sh') },
    timeoutMs: 120_000,
  }),
);

labTest('boots under TCG and reports markers, failures and the script status', async (t, r, kernel) => {
  t.log(`init after ${r.bootMs} ms, whole boot ${r.durationMs} ms`);
  t.is(byName(r, 'kernel')?.detail, kernel.version);
  t.true(byName(r, 'kernel-booted')?.ok, byName(r, 'kernel-booted')?.detail);
  t.deepEqual(byName(r, 'selftest-fail'), {
    name: 'selftest-fail',
    ok: false,
    detail: 'a deliberate failure',
  });
  t.is(r.scriptStatus, 7, 'the status of `exit 7` at the end of the script');
  t.true(r.durationMs < 60_000, `a boot takes ${r.durationMs} ms`);
  const unexpected = r.results.filter((x) => !x.ok && x.name !== 'selftest-fail');
  t.deepEqual(unexpected, [], r.output);
});

labTest('gre gk4 and ip6gre gk6 join namespaces A and B, not the fallback gre0', async (t, r) => {
  t.true(byName(r, 'topology')?.ok, byName(r, 'topology')?.detail);
  for (const side of ['A', 'B']) {
    t.true(byName(r, `gk4-is-gre-${side}`)?.ok, `gk4 in ${side} is a gre device with a remote`);
    t.true(byName(r, `gk6-is-ip6gre-${side}`)?.ok, `gk6 in ${side} is an ip6gre device with a remote`);
  }
});

labTest('accept_local reads back 0 on every interface of both namespaces', async (t, r) => {
  const names = r.results.filter((x) => x.name.startsWith('accept_local-')).map((x) => x.name);
  for (const side of ['A', 'B']) {
    for (const c of ['all', 'default', side === 'A' ? 'va' : 'vb', 'gk4', 'gk6']) {
      t.true(names.includes(`accept_local-${side}-${c}`), `${side} ${c} was read`);
    }
  }
  for (const x of r.results.filter((x) => x.name.startsWith('accept_local-'))) {
    t.true(x.ok, `${x.name}: ${x.detail}`);
    t.is(x.detail, '0');
  }
});

labTest('ping works over the underlay, gre gk4 and ip6gre gk6 (IPv4 and IPv6 inside)', async (t, r) => {
  for (const name of ['ping-underlay', 'ping-gk4', 'ping-gk6-ipv4', 'ping-gk6-ipv6', 'gk4-rx', 'gk6-rx']) {
    const x = byName(r, name);
    t.true(x?.ok, `${name}: ${x?.detail}`);
  }
});

test('parseMarkers reads PASS/FAIL/DONE lines even after console noise', (t) => {
  const out = [
    '[    1.0] something',
    '@@GREOIP BOOT 1.00',
    '@@GREOIP PASS a',
    'noise @@GREOIP FAIL b exit 1: x y',
    '@@GREOIP PASS c {"k":1}',
    '@@GREOIP DONE 3 2.0',
  ].join('\n');
  t.deepEqual(parseMarkers(out), {
    results: [
      { name: 'a', ok: true, detail: '' },
      { name: 'b', ok: false, detail: 'exit 1: x y' },
      { name: 'c', ok: true, detail: '{"k":1}' },
    ],
    done: 3,
  });
});

/** Sets GREOIP_KERNEL_VERSION (undefined: unsets it) until the test ends. */
function kernelEnv(t: ExecutionContext, value: string | undefined): void {
  const saved = process.env.GREOIP_KERNEL_VERSION;
  t.teardown(() => {
    if (saved === undefined) delete process.env.GREOIP_KERNEL_VERSION;
    else process.env.GREOIP_KERNEL_VERSION = saved;
  });
  if (value === undefined) delete process.env.GREOIP_KERNEL_VERSION;
  else process.env.GREOIP_KERNEL_VERSION = value;
}

test('a kernel that is not installed fails with a message naming what to install', (t) => {
  kernelEnv(t, '0.0.0-none');
  const e = t.throws(() => findKernel(), { instanceOf: LabError });
  t.regex(e?.message ?? '', /linux-image-amd64/);
});

test('kernels are chosen by exact version: a prefix such as 6.1 matches neither 6.1.* nor 6.12.*', (t) => {
  const installed = installedKernels();
  t.true(installed.length > 0, 'scripts/setup.sh installs the lab kernels');
  for (const k of installed) t.is(findKernel(k.version).vmlinuz, `/boot/vmlinuz-${k.version}`);
  for (const prefix of ['6.1', '6.12', '6']) t.throws(() => findKernel(prefix), { instanceOf: LabError });
});

test('GREOIP_KERNEL_VERSION picks the lab kernels (exact versions, comma-separated); unset: every installed one', (t) => {
  kernelEnv(t, undefined);
  const all = installedKernels().map((k) => k.version);
  t.deepEqual(
    labKernels().map((k) => k.version),
    all,
  );
  process.env.GREOIP_KERNEL_VERSION = [...all].reverse().join(',');
  t.deepEqual(
    labKernels().map((k) => k.version),
    [...all].reverse(),
  );
  process.env.GREOIP_KERNEL_VERSION = `${all[0]}, 0.0.0-none`;
  t.throws(() => labKernels(), { instanceOf: LabError, message: /kernel 0\.0\.0-none is not installed/ });
});

test('ensureVmlinux refuses an image without a boot header, or compressed in an unknown way', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'greoip-lab-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const image = (name: string, payload: Buffer | undefined) => {
    const data = Buffer.alloc(8192);
    if (payload !== undefined) {
      data.write('HdrS', 0x202, 'latin1');
      data.writeUInt16LE(0x20f, 0x206);
      data[0x1f1] = 4; // setup sectors: the payload counts from (4 + 1) * 512
      data.writeUInt32LE(16, 0x248);
      data.writeUInt32LE(payload.length + 4, 0x24c);
      payload.copy(data, 5 * 512 + 16);
    }
    const path = join(dir, `vmlinuz-${name}`);
    const fd = openSync(path, 'w');
    writeSync(fd, data);
    closeSync(fd);
    return { version: `${name}-${process.pid}`, vmlinuz: path, modules: dir };
  };
  t.throws(() => ensureVmlinux(image('nohdr', undefined)), {
    instanceOf: LabError,
    message: /not a bzImage/,
  });
  t.throws(() => ensureVmlinux(image('lz4', Buffer.from('02214c18aabbcc', 'hex'))), {
    instanceOf: LabError,
    message: /none of xz, zstd, gzip \(starts 02214c18aabb\)/,
  });
});

test('a guest network on a tap that is missing or not a tap is refused before qemu starts', (t) => {
  const netns = `gi-lab-${process.pid.toString(36)}`;
  requireRoot();
  execFileSync('/usr/sbin/ip', ['netns', 'add', netns]);
  t.teardown(() => execFileSync('/usr/sbin/ip', ['netns', 'del', netns]));
  const missing = t.throws(() => prepareBoot({ script: '', network: { netns, tap: 'gi-none' } }), {
    instanceOf: LabError,
  });
  t.regex(missing?.message ?? '', new RegExp(`ip -n ${netns} tuntap add dev gi-none mode tap`));
  const notTap = t.throws(() => prepareBoot({ script: '', network: { netns, tap: 'lo' } }), {
    instanceOf: LabError,
  });
  t.regex(notTap?.message ?? '', /lo in gi-lab-\S+ is not a tap/);
});

test('cpio: newc records, parents first, symlinks resolved for placement', (t) => {
  const tree = new CpioTree();
  tree.symlink('lib', 'usr/lib');
  tree.file(`${tree.resolveDir('/lib/x86_64-linux-gnu')}/libc.so.6`, 'elf');
  const cpio = tree.cpio().toString('latin1');
  const names = [...cpio.matchAll(/070701[0-9a-f]{104}([^\0]+)\0/g)].map((m) => m[1]);
  t.deepEqual(names, [
    'lib',
    'usr',
    'usr/lib',
    'usr/lib/x86_64-linux-gnu',
    'usr/lib/x86_64-linux-gnu/libc.so.6',
    'TRAILER!!!',
  ]);
  t.is(cpio.length % 4, 0);
});
