/**
 * Runs one guest script in the kernel lab by hand (README.md):
 *
 *   npx tsx test/kernel/run.ts [--share] [--file GUEST=HOST]... [--timeout SECONDS] SCRIPT.sh
 *   npx tsx test/kernel/run.ts [--share] -c 'ip -d link show; lsmod'
 *   npx tsx test/kernel/run.ts --share --interactive [SCRIPT.sh]   # then a shell on the console
 *   npx tsx test/kernel/run.ts --cpus 2 --qemu '-icount shift=0,sleep=off' SCRIPT.sh   # more qemu settings
 *   npx tsx test/kernel/run.ts --kernel 6.12.118+deb12-amd64 -c 'uname -r'   # an installed kernel, exactly
 *   npx tsx test/kernel/run.ts --list-kernels
 *
 * Without --kernel: the first of GREOIP_KERNEL_VERSION, else the oldest installed kernel.
 * Prints the console output, then one line per marker; exits 1 when a marker is FAIL or the script's
 * status is not 0. --interactive hands the terminal to qemu (leave with `poweroff -f`, or Ctrl-A x).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { findKernel, installedKernels, prepareBoot, runInGuest } from './lab.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    share: { type: 'boolean', default: false },
    file: { type: 'string', multiple: true, default: [] },
    timeout: { type: 'string', default: '120' },
    command: { type: 'string', short: 'c' },
    interactive: { type: 'boolean', default: false },
    cpus: { type: 'string', default: '1' },
    qemu: { type: 'string', multiple: true, default: [] },
    kernel: { type: 'string' },
    'list-kernels': { type: 'boolean', default: false },
  },
});

if (values['list-kernels']) {
  for (const k of installedKernels()) process.stdout.write(`${k.version}\n`);
  process.exit(0);
}
const kernel = findKernel(values.kernel);

const cpus = Number(values.cpus);
if (!Number.isInteger(cpus) || cpus < 1)
  throw new Error(`--cpus wants a positive integer, got ${values.cpus}`);
// Each --qemu value is split on whitespace: --qemu '-icount shift=0,sleep=off'.
const qemuArgs = values.qemu.flatMap((a) => a.split(/\s+/).filter((w) => w !== ''));

let script = values.command ?? (positionals[0] !== undefined ? readFileSync(positionals[0], 'utf8') : '');
const files: Record<string, Buffer> = {};
for (const spec of values.file) {
  const at = spec.indexOf('=');
  if (at <= 0) throw new Error(`--file wants GUEST=HOST, got ${spec}`);
  files[spec.slice(0, at)] = readFileSync(spec.slice(at + 1));
}

if (values.interactive) {
  script += '\necho "lab: interactive shell (/usr/sbin/ip is iproute2; leave with poweroff -f)"\n';
  script += 'exec sh </dev/console >/dev/console 2>&1\n';
  const boot = prepareBoot({ kernel, script, files, shareHost: values.share, cpus, qemuArgs });
  try {
    process.exitCode = spawnSync(boot.command, boot.args, { stdio: 'inherit' }).status ?? 1;
  } finally {
    boot.cleanup();
  }
} else {
  const r = await runInGuest({
    kernel,
    script,
    files,
    shareHost: values.share,
    cpus,
    qemuArgs,
    timeoutMs: Number(values.timeout) * 1000,
  });
  process.stdout.write(r.output);
  for (const x of r.results) process.stdout.write(`${x.ok ? 'PASS' : 'FAIL'} ${x.name} ${x.detail}\n`);
  process.stdout.write(
    `kernel ${kernel.version}; script status ${r.scriptStatus}; init after ${r.bootMs} ms; whole boot ${r.durationMs} ms\n`,
  );
  if (r.scriptStatus !== 0 || r.results.some((x) => !x.ok)) process.exitCode = 1;
}
