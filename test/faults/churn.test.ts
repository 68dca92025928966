/**
 * Issue 12.3: tunnels added and deleted over and over must not leak. One
 * daemon in a namespace reloads a config file of 1000 tunnels and an empty
 * one, five times; its RSS and open descriptors are read from /proc.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { createLab, list, startDaemon, waitFor } from '../live/harness.ts';

const TUNNELS = 1000;
const CYCLES = 5;
/** Issue 12's bound for one daemon with 1000 tunnels. */
const RSS_LIMIT_KB = 80 * 1024;
/** The end of the last cycle within 10 % of the end of the first. */
const GROWTH_LIMIT = 1.1;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

function configOf(count: number, remote: string): string {
  const lines = ['tunnels:'];
  for (let i = 0; i < count; i++)
    lines.push(`  - name: ch${i}`, `    tid: ${i + 1}`, `    remote: ${remote}`, '    keepalive: 10,3');
  return `${lines.join('\n')}\n`;
}

test.serial('1000 tunnels added and deleted 5 times: RSS <= 80 MB, no growth, no fd leak', async (t) => {
  requireRoot();
  t.timeout(600_000);
  const lab = createLab(t, 'churn');
  const { a, b } = lab.pair;
  const file = join(lab.runtime, 'tunnels.yaml');
  writeFileSync(file, configOf(0, b.v4));
  const daemon = await startDaemon(lab, a.netns, ['--config', file]);
  const pid = daemon.pid!;
  const reloads = () => (lab.logs.get(a.netns) ?? '').split('reloaded').length - 1;
  const apply = async (count: number) => {
    const before = reloads();
    writeFileSync(file, configOf(count, b.v4));
    daemon.kill('SIGHUP');
    await waitFor(`reload to ${count} tunnels`, () => reloads() > before, 300_000);
    t.is(list(lab, a.netns).length, count);
  };
  const full: number[] = [];
  const empty: { rss: number; fds: number }[] = [];
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    await apply(TUNNELS);
    full.push(rssKb(pid));
    await apply(0);
    empty.push({ rss: rssKb(pid), fds: fdCount(pid) });
  }
  t.log(`RSS with ${TUNNELS} tunnels per cycle (kB): ${full.join(', ')}`);
  t.log(`after deleting them (kB, fds): ${empty.map((e) => `${e.rss}/${e.fds}`).join(', ')}`);
  t.true(full[0]! <= RSS_LIMIT_KB, `${full[0]} kB with ${TUNNELS} tunnels`);
  t.true(
    full[CYCLES - 1]! <= full[0]! * GROWTH_LIMIT,
    `cycle ${CYCLES} ends at ${full[CYCLES - 1]} kB, cycle 1 at ${full[0]} kB`,
  );
  t.true(empty[CYCLES - 1]!.rss <= empty[0]!.rss * GROWTH_LIMIT, 'RSS with no tunnels does not grow');
  t.is(empty[CYCLES - 1]!.fds, empty[0]!.fds, 'every descriptor of a deleted tunnel is closed');
});
