/**
 * The kernel backend end to end on each of Debian's real kernels (lab.ts: 6.1, 6.12; one qemu boot each): the host's node
 * runs the greoip CLI in the guest (the host's filesystem over 9p), and `eoip ... backend kernel`
 * creates, changes, lists and deletes eoip.ko/eoipv6.ko links through the daemon over rtnetlink.
 * Guest half: guest/kernel-backend.sh.
 */
import type { TunnelStatus } from '../../src/backend/types.ts';
import { REPO_DIR } from '../helpers.ts';
import { buildKmod, kmodGuestFiles } from './kmod.ts';
import { type GuestResult, type RunResult, runInGuest } from './lab.ts';
import { guestScript, kernelSuite } from './suite.ts';

const labTest = kernelSuite((kernel) =>
  runInGuest({
    kernel,
    script: guestScript('kernel-backend.sh'),
    files: {
      ...kmodGuestFiles(buildKmod(kernel)),
      '/lab/topology.sh': guestScript('topology.sh'),
      '/lab/repo': REPO_DIR.replace(/\/$/, ''),
    },
    shareHost: true,
    timeoutMs: 420_000,
  }),
);

function result(r: RunResult, name: string): GuestResult {
  const x = r.results.find((y) => y.name === name);
  if (x === undefined) throw new Error(`${name}: not reported; console ends with:\n${r.output.slice(-3000)}`);
  return x;
}

function passed(r: RunResult, names: string[]): [boolean, string][] {
  return names.map((n) => {
    const x = result(r, n);
    return [x.ok, `${n}: ${x.detail}`];
  });
}

function tunnels(r: RunResult, name: string): TunnelStatus[] {
  return JSON.parse(result(r, name).detail) as TunnelStatus[];
}

labTest(
  'without the module, eoip add backend kernel is refused with the way to load it, and nothing is made',
  async (t, r) => {
    for (const [ok, why] of passed(r, ['nomod-refused', 'nomod-no-link', 'nomod-nothing-listed']))
      t.true(ok, why);
    t.regex(result(r, 'nomod-refused').detail, /greoip kmod install/);
  },
);

labTest(
  'eoip add backend kernel makes eoip and eoipv6 links that carry ping and TCP, gre alongside',
  async (t, r) => {
    const names = [
      'insmod-eoip',
      'insmod-eoipv6',
      'kinds',
      'ping-k4',
      'ping-k6',
      'ping-k6-ipv6',
      'ping-gk4-alongside',
    ];
    for (const side of ['A', 'B']) names.push(`add-k4-${side}`, `add-k6-${side}`);
    for (const [ok, why] of passed(r, names)) t.true(ok, why);
    // The module's own tool sees what the daemon asked for.
    t.regex(
      result(r, 'eoipctl-view').detail,
      /k4 kind eoip tunnel-id 100 local 192\.0\.2\.1 remote 192\.0\.2\.2 .*keepalive 1,3/,
    );
    t.regex(
      result(r, 'eoipctl-view').detail,
      /k6 kind eoipv6 tunnel-id 1234 local 2001:db8:e0::1 remote 2001:db8:e0::2/,
    );
    for (const target of ['10.4.0.2', '2001:db8:66::2']) {
      const x = result(r, `iperf3-${target}`);
      t.true(x.ok, x.detail);
      const m = /([\d.]+) ([KMG])Bytes\s+([\d.]+) ([KMG])bits\/sec\s+receiver/.exec(x.detail);
      t.truthy(m, x.detail);
      t.true(Number(m![1]) > 0, `iperf3 to ${target} moved nothing: ${x.detail}`);
      t.log(
        `iperf3 over ${target.includes(':') ? 'eoipv6' : 'eoip'} (TCG, not a speed): ${m![3]} ${m![4]}bit/s`,
      );
    }
  },
);

labTest(
  'eoip list reads state, keepalives and counters back from the kernel, beside userland tunnels',
  async (t, r) => {
    for (const [ok, why] of passed(r, ['add-u7-userland', 'clash-refused', 'del-u7'])) t.true(ok, why);
    const all = tunnels(r, 'list-A');
    t.deepEqual(all.map((s) => [s.config.name, s.backend, s.state, s.carrier]).sort(), [
      ['k4', 'kernel', 'up', true],
      ['k6', 'kernel', 'up', true],
      ['u7', 'userland', 'off', true],
    ]);
    t.regex(result(r, 'table-A').detail, /u7 +eoip +700 .* userland/);
    t.regex(result(r, 'table-A').detail, /k4 +eoip +100 .* kernel/);
    const list = all.filter((s) => s.backend === 'kernel');
    for (const s of list) {
      t.true(s.counters.rxPackets > 0 && s.counters.txPackets > 0, JSON.stringify(s.counters));
      t.true(s.counters.rxBytes > s.counters.rxPackets * 14, JSON.stringify(s.counters));
      t.true(s.counters.rxKeepalives > 0 && s.counters.txKeepalives > 0, JSON.stringify(s.counters));
      t.true(s.lastKeepaliveAgoMs !== null && s.lastKeepaliveAgoMs < 3000, String(s.lastKeepaliveAgoMs));
    }
    // A was the iperf3 client over both: megabytes sent, not a handful of pings.
    for (const s of list) t.true(s.counters.txBytes > 1_000_000, JSON.stringify(s.counters));
  },
);

labTest(
  'eoip set reaches the kernel: mtu, and the peer going keepalive none takes the carrier down and back',
  async (t, r) => {
    const names = ['set-mtu', 'mtu-applied', 'peer-keepalive-none', 'state-down', 'carrier-off'];
    for (const [ok, why] of passed(r, [...names, 'peer-keepalive-back', 'state-up-again'])) t.true(ok, why);
    t.log(
      `keepalive 1,3: listed down ${result(r, 'state-down').detail} after the peer's eoip set returned, up again ${result(r, 'state-up-again').detail} after (an eoip call takes about 2 s under TCG)`,
    );
  },
);

labTest('the daemon logs each carrier change the module makes, once', async (t, r) => {
  for (const [ok, why] of passed(r, ['carrier-down-logged-once', 'carrier-up-logged-once'])) t.true(ok, why);
});

labTest(
  "the kernel's refusal of a duplicate made outside greoip names the field; nothing is created",
  async (t, r) => {
    for (const [ok, why] of passed(r, ['eoipctl-x4', 'duplicate-refused', 'duplicate-no-link']))
      t.true(ok, why);
  },
);

labTest('kernel links forward without the daemon, and a restarted daemon takes them back', async (t, r) => {
  for (const [ok, why] of passed(r, ['daemon-stopped', 'ping-without-daemon', 'ping-after-restart']))
    t.true(ok, why);
  t.deepEqual(
    tunnels(r, 'list-after-restart').map((s) => [s.config.name, s.backend, s.config.mtu]),
    [
      ['k4', 'kernel', 1400],
      ['k6', 'kernel', 1500],
    ],
  );
});

labTest(
  'eoip del and greoip cleanup remove the links; the modules unload with no WARN, BUG or Oops',
  async (t, r) => {
    const names = ['del-k6', 'del-k6-gone', 'cleanup-B', 'cleanup-B-gone', 'del-k4', 'rmmod', 'no-oops'];
    for (const [ok, why] of passed(r, names)) t.true(ok, why);
    t.is(r.scriptStatus, 0);
    t.deepEqual(
      r.results.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`),
      [],
    );
  },
);
