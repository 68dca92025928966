/**
 * Fault: a flood of spoofed GRE fragments (20,000 per second, each a datagram
 * that never completes) fills the target namespace's IPv4 reassembly memory,
 * and an EoIP tunnel at MTU 1500, whose outer packets arrive fragmented,
 * stalls (issue 12, defect 7). The two mitigations docs/fragment-floods.md
 * gives are checked against the same flood: MTU 1458 on both ends (nothing to
 * reassemble), and a reassembly budget for the flood (ipfrag_high_thresh and
 * ipfrag_time in the tunnel's namespace). Without either, the same test sees
 * the stall, so it proves the flood is real.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import { REPO_DIR, requireRoot } from '../helpers.ts';
import { createLab, run, sleep, startDaemon, tunnelPair } from '../live/harness.ts';

const FLOOD = `${REPO_DIR}test/faults/frag-flood.ts`;
const PPS = 20_000;

async function pingUnderFlood(
  t: import('ava').ExecutionContext,
  tag: string,
  options: { mtu?: number; sysctls?: string[] },
): Promise<number> {
  const lab = createLab(t, tag);
  const { a, b } = lab.pair;
  if (options.sysctls) run(lab, a.netns, ['sysctl', '-qw', ...options.sysctls]);
  await startDaemon(lab, a.netns);
  await startDaemon(lab, b.netns);
  const mtu = options.mtu ?? 1500;
  // Full-size packets: at MTU 1500 their EoIP packets (1542 bytes) go out in two fragments.
  const size = String(mtu - 28);
  const extra = ['mtu', String(mtu), 'keepalive', 'none'];
  tunnelPair(lab, 'ff', 7, 4, ['198.51.100.1/24', '198.51.100.2/24'], extra);
  const warm = run(lab, a.netns, ['ping', '-c', '3', '-i', '0.2', '-W', '1', '-s', size, '198.51.100.2']);
  t.regex(warm.stdout, / 0% packet loss/, 'the tunnel works before the flood');
  const flood = spawn(
    '/usr/sbin/ip',
    [
      'netns',
      'exec',
      b.netns,
      process.execPath,
      '--import',
      'tsx',
      FLOOD,
      JSON.stringify({ dst: a.v4, pps: PPS, seconds: 6 }),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => flood.kill('SIGKILL'));
  await sleep(1500);
  // Replies come back from b as fragmented EoIP packets (at MTU 1500) that a must reassemble.
  const ping = run(lab, a.netns, ['ping', '-c', '12', '-i', '0.2', '-W', '1', '-s', size, '198.51.100.2']);
  const loss = Number(/ (\d+(?:\.\d+)?)% packet loss/.exec(ping.stdout)?.[1] ?? 'NaN');
  const frag = /FRAG: inuse (\d+) memory (\d+)/.exec(run(lab, a.netns, ['cat', '/proc/net/sockstat']).stdout);
  t.log(`${tag}: ${loss}% of full-size pings lost; reassembly holds ${frag?.[1]} queues, ${frag?.[2]} bytes`);
  return loss;
}

test.serial('at MTU 1500 with default reassembly limits, the flood stalls the tunnel', async (t) => {
  requireRoot();
  t.true((await pingUnderFlood(t, 'frdef', {})) >= 50);
});

test.serial(
  'mitigation: MTU 1458 on both ends, full-size packets need no reassembly, no ping lost',
  async (t) => {
    requireRoot();
    t.is(await pingUnderFlood(t, 'fr1458', { mtu: 1458 }), 0);
  },
);

test.serial('mitigation: a reassembly budget for the flood (128 MiB, 1 s), no ping lost', async (t) => {
  requireRoot();
  const loss = await pingUnderFlood(t, 'frbud', {
    sysctls: ['net.ipv4.ipfrag_high_thresh=134217728', 'net.ipv4.ipfrag_time=1'],
  });
  t.is(loss, 0);
});
