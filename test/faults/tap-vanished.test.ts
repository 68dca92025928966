/**
 * Issue 12.2: a tunnel's tap deleted under the daemon (`ip link del`). The
 * daemon must not spin, must log it once and show it in `eoip list`, and must
 * take the interface up again when a tap of that name is re-created.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { ip } from '../../src/demo/netns.ts';
import { requireRoot } from '../helpers.ts';
import { createLab, EOIP, list, run, sleep, startDaemon, tunnelPair, waitFor } from '../live/harness.ts';

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const TICKS_PER_SECOND = 100;

test.serial('tap deleted and re-created: no spin, logged once, listed, taken up again', async (t) => {
  requireRoot();
  const lab = createLab(t, 'tapgone');
  const { a, b } = lab.pair;
  const daemon = await startDaemon(lab, a.netns);
  await startDaemon(lab, b.netns);
  tunnelPair(lab, 'tv0', 42, 4, ['198.51.100.1/24', '198.51.100.2/24'], ['keepalive', 'none']);
  const ping = () => run(lab, a.netns, ['ping', '-c', '3', '-i', '0.2', '-W', '1', '198.51.100.2']);
  t.is(ping().status, 0, 'traffic flows before');

  ip(['link', 'del', 'tv0'], a.netns);
  const log = () => lab.logs.get(a.netns) ?? '';
  await waitFor('the deletion in the log', () => log().includes('tv0: its interface was deleted'));
  const before = cpuTicks(daemon.pid!);
  await sleep(2000);
  const used = cpuTicks(daemon.pid!) - before;
  t.true(used < 0.2 * 2 * TICKS_PER_SECOND, `daemon used ${used} ticks in 2 s with the tap gone`);
  t.is(log().split('its interface was deleted').length - 1, 1, 'logged once');
  const gone = list(lab, a.netns).find((s) => s.config.name === 'tv0');
  t.is(gone?.interface, 'vanished');
  t.regex(run(lab, a.netns, [process.execPath, EOIP, 'list']).stdout, /interface deleted/);

  // Re-created by name, as an operator would: the daemon takes it as the tunnel's tap again.
  ip(['tuntap', 'add', 'name', 'tv0', 'mode', 'tap'], a.netns);
  await waitFor('the tap taken up again', () => log().includes('interface tv0 is back'));
  ip(['addr', 'add', '198.51.100.1/24', 'dev', 'tv0'], a.netns);
  ip(['link', 'set', 'tv0', 'up'], a.netns);
  t.is(list(lab, a.netns).find((s) => s.config.name === 'tv0')?.interface, 'present');
  t.is(ping().status, 0, 'traffic flows again');
});
