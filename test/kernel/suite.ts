/**
 * Declaring kernel-lab tests, what every test/kernel/*.test.ts needs: one ava test per lab kernel with
 * the kernel's version in its title, one boot per kernel shared by a file's tests, and marker checks.
 * Imports the lab (lab.ts), the root guard (../helpers.ts) and ava. The lab reads /boot/vmlinuz-*
 * and kernel modules, which are root's: each test fails (never skips) without root.
 *
 *   const labTest = kernelSuite((kernel) =>
 *     runInGuest({ kernel, script: guestScript('lab.sh'), files: { ... } }));
 *   labTest('ping works over gre', (t, r, kernel) => expectPass(t, r, ['ping-gk4']));
 *
 * declares `[6.1.0-57-amd64] ping works over gre` and `[6.12.118+deb12-amd64] ping works over gre`
 * (labKernels(): every installed kernel, or GREOIP_KERNEL_VERSION).
 */
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { requireRoot } from '../helpers.ts';
import { type GuestResult, type Kernel, labKernels, type RunResult } from './lab.ts';

/** A test body: the ava context, what the kernel's boot returned, and the kernel. */
export type KernelTestImpl<B> = (t: ExecutionContext, boot: B, kernel: Kernel) => void | Promise<void>;

/** `[6.12.118+deb12-amd64] title`: a failure names its kernel, and `ava -m '[6.12*'` picks one kernel. */
export function kernelTitle(kernel: Kernel, title: string): string {
  return `[${kernel.version}] ${title}`;
}

/**
 * The lab kernels to declare tests for. When there is none (or GREOIP_KERNEL_VERSION names one that is
 * not installed), a single failing test carries the message: the suite fails, it is never skipped.
 */
function kernelsOrFailure(what: string): Kernel[] {
  try {
    return labKernels();
  } catch (e) {
    const message = (e as Error).message;
    test(`${what}: no lab kernel`, (t) => t.fail(message));
    return [];
  }
}

let queue: Promise<unknown> = Promise.resolve();
/**
 * Runs `fn` after every earlier call in this process has settled: one qemu per test file at a time,
 * as ava runs two files at once on CI's two cores. The second kernel boots after the first.
 */
export function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => {});
  return run;
}

/**
 * Returns a function that declares a test per lab kernel, all of one kernel's tests sharing that
 * kernel's `boot` (started by the first of them to run, once; boots run one at a time in this process,
 * oldest kernel first). A boot that rejects fails each of its kernel's tests with its error.
 */
export function kernelSuite<B>(
  boot: (kernel: Kernel) => Promise<B>,
): (title: string, impl: KernelTestImpl<B>) => void {
  const kernels = kernelsOrFailure('kernel suite');
  const boots = new Map<string, Promise<B>>();
  const bootOf = (kernel: Kernel): Promise<B> => {
    let b = boots.get(kernel.version);
    if (b === undefined) {
      b = oneAtATime(() => boot(kernel));
      boots.set(kernel.version, b);
    }
    return b;
  };
  // Queue the boots in kernel order as soon as the first test runs, whatever order ava starts tests in.
  const bootAll = (kernel: Kernel): Promise<B> => {
    for (const k of kernels) bootOf(k).catch(() => {});
    return bootOf(kernel);
  };
  return (title, impl) => {
    for (const kernel of kernels)
      test(kernelTitle(kernel, title), async (t) => {
        requireRoot();
        await impl(t, await bootAll(kernel), kernel);
      });
  };
}

/** A test per lab kernel whose body boots by itself (`runInGuest({ kernel, ... })`), one at a time. */
export function kernelTest(
  title: string,
  impl: (t: ExecutionContext, kernel: Kernel) => void | Promise<void>,
): void {
  for (const kernel of kernelsOrFailure(title))
    test(kernelTitle(kernel, title), (t) => {
      requireRoot();
      return oneAtATime(async () => impl(t, kernel));
    });
}

/** A guest script or file from test/kernel/guest/. */
export function guestScript(name: string): string {
  return readFileSync(new URL(`./guest/${name}`, import.meta.url), 'utf8');
}

/** The marker `name`, or undefined when the guest did not print it. */
export function marker(r: RunResult, name: string): GuestResult | undefined {
  return r.results.find((x) => x.name === name);
}

/** The last lines of the guest's console, for failure messages. */
export function consoleTail(r: RunResult, lines = 40): string {
  return r.output.split('\n').slice(-lines).join('\n');
}

/** The marker `name`; fails the test (with the end of the console) when the guest did not print it. */
export function requireMarker(t: ExecutionContext, r: RunResult, name: string): GuestResult {
  const x = marker(r, name);
  if (x === undefined) {
    t.fail(`the guest printed no marker ${name}; console ends with:\n${consoleTail(r)}`);
    throw new Error(`no marker ${name}`);
  }
  return x;
}

/** Asserts that each named marker was printed and is PASS. */
export function expectPass(t: ExecutionContext, r: RunResult, names: readonly string[]): void {
  for (const name of names) {
    const x = marker(r, name);
    t.true(x?.ok, `${name}: ${x === undefined ? 'not reported' : x.detail}`);
  }
}
