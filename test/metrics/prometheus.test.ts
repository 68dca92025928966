/**
 * Metrics end to end (root, network namespaces): a real Prometheus (Debian's package) scrapes `greoip
 * daemon --metrics` and `gre-keepalive run --metrics` inside the namespace they run in; promtool checks
 * what they serve; after a ping through a tunnel the counters Prometheus stored equal `eoip list --json`,
 * and the reflector's verdict counters equal what a scapy keepalive peer sent. `gre-keepalive status
 * --metrics` reads the same counters from the BPF maps of an attached program.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { TunnelCounters } from '../../src/backend/types.ts';
import { ip } from '../../src/demo/netns.ts';
import { REPO_DIR, requireRoot, tempDir } from '../helpers.ts';
import { createLab, type Lab, list, run, sleep, startDaemon, tunnelPair, waitFor } from '../live/harness.ts';

test.before(() => requireRoot());

const GRE_KEEPALIVE = `${REPO_DIR}dist/cli/gre-keepalive.js`;
const PEER = `${REPO_DIR}test/live/fixtures/keepalive_peer.py`;
const DAEMON_METRICS = '127.0.0.1:9464';
const REFLECTOR_METRICS = '127.0.0.1:9465';
const PROMETHEUS = '127.0.0.1:9090';

function background(
  t: ExecutionContext,
  netns: string,
  argv: string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn('/usr/sbin/ip', ['netns', 'exec', netns, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  t.teardown(() => child.kill('SIGKILL'));
  return { child, output: () => output };
}

function curl(lab: Lab, netns: string, url: string): string {
  const r = run(lab, netns, ['curl', '-sf', '--max-time', '5', url]);
  if (r.status !== 0) throw new Error(`curl ${url}: ${r.status} ${r.stderr}`);
  return r.stdout;
}

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query against the Prometheus in `netns`. */
function query(lab: Lab, netns: string, promql: string): Series[] {
  const body = JSON.parse(
    curl(lab, netns, `http://${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(promql)}`),
  ) as { status: string; data: { result: Series[] } };
  if (body.status !== 'success') throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
  return body.data.result;
}

function startPrometheus(t: ExecutionContext, netns: string): ReturnType<typeof background> {
  const dir = tempDir(t, 'greoip-prometheus-');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      'scrape_configs:',
      '  - job_name: greoip',
      `    static_configs: [{ targets: ['${DAEMON_METRICS}'] }]`,
      '  - job_name: gre-keepalive',
      `    static_configs: [{ targets: ['${REFLECTOR_METRICS}'] }]`,
      '',
    ].join('\n'),
  );
  return background(t, netns, [
    'prometheus',
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=${PROMETHEUS}`,
    '--log.level=warn',
  ]);
}

/** promtool check metrics on what an endpoint serves: exit 0 and no lint complaint. */
function promtoolCheck(t: ExecutionContext, lab: Lab, netns: string, address: string): string {
  const text = curl(lab, netns, `http://${address}/metrics`);
  const check = run(lab, netns, ['promtool', 'check', 'metrics'], text);
  t.is(check.status, 0, `${address}: ${check.stdout}${check.stderr}`);
  t.is(check.stdout + check.stderr, '', `${address}: no lint warnings`);
  return text;
}

const COUNTER_METRICS: Record<keyof TunnelCounters, string> = {
  rxPackets: 'greoip_tunnel_rx_packets_total',
  rxBytes: 'greoip_tunnel_rx_bytes_total',
  txPackets: 'greoip_tunnel_tx_packets_total',
  txBytes: 'greoip_tunnel_tx_bytes_total',
  rxErrors: 'greoip_tunnel_rx_errors_total',
  txErrors: 'greoip_tunnel_tx_errors_total',
  txKeepalives: 'greoip_tunnel_keepalives_sent_total',
  rxKeepalives: 'greoip_tunnel_keepalives_received_total',
};

test.serial(
  'Prometheus scrapes the daemon and the reflector; after a ping its counters equal eoip list --json',
  async (t) => {
    const lab = createLab(t, 'prom');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns, ['--metrics', DAEMON_METRICS]);
    const reflector = background(t, b.netns, [
      process.execPath,
      GRE_KEEPALIVE,
      'run',
      '--interval',
      '0',
      '--json',
      '--metrics',
      REFLECTOR_METRICS,
    ]);
    await waitFor('the reflector', () => reflector.output().includes('answering keepalives'));
    const prometheus = startPrometheus(t, b.netns);
    tunnelPair(lab, 'prom0', 42, 4, ['198.51.100.1/24', '198.51.100.2/24']);
    await waitFor(
      'Prometheus to scrape both targets',
      () => {
        try {
          return query(lab, b.netns, 'up == 1').length === 2;
        } catch {
          return false;
        }
      },
      30_000,
    ).catch((err) => t.fail(`${err.message}: ${prometheus.output()}`));

    promtoolCheck(t, lab, b.netns, DAEMON_METRICS);
    promtoolCheck(t, lab, b.netns, REFLECTOR_METRICS);

    const ping = run(lab, a.netns, ['ping', '-c', '5', '-i', '0.2', '-W', '2', '198.51.100.2']);
    t.regex(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);

    // A snapshot is comparable when eoip list gives the same counters before and after Prometheus
    // scraped at least twice (background frames such as ARP may move them meanwhile: then try again).
    let compared = false;
    for (let attempt = 0; attempt < 8 && !compared; attempt++) {
      const before = list(lab, b.netns)[0]!;
      await sleep(2500);
      const scraped = query(lab, b.netns, '{__name__=~"greoip_tunnel_.*", tunnel="prom0"}');
      const after = list(lab, b.netns)[0]!;
      if (JSON.stringify(before.counters) !== JSON.stringify(after.counters)) continue;
      const value = (name: string, extra: Record<string, string> = {}) => {
        const s = scraped.find(
          (x) => x.metric.__name__ === name && Object.entries(extra).every(([k, v]) => x.metric[k] === v),
        );
        return s === undefined ? undefined : Number(s.value[1]);
      };
      const fromPrometheus = Object.fromEntries(
        Object.entries(COUNTER_METRICS).map(([key, name]) => [key, value(name)]),
      ) as Record<keyof TunnelCounters, number>;
      t.deepEqual(fromPrometheus, after.counters);
      t.true(after.counters.rxPackets >= 5 && after.counters.txPackets >= 5, JSON.stringify(after.counters));
      t.is(value('greoip_tunnel_carrier'), after.carrier ? 1 : 0);
      t.is(value('greoip_tunnel_keepalive_state', { state: after.state }), 1);
      t.is(
        scraped.find((x) => x.metric.__name__ === 'greoip_tunnel_rx_packets_total')!.metric.backend,
        'userland',
      );
      compared = true;
    }
    t.true(compared, 'the tunnel counters held still for a scrape');

    // The reflector: a scapy router sends 5 answerable requests, a NAT one and a relay attempt (both
    // third_party under the strict policy) and a forged one.
    ip(['route', 'add', 'default', 'via', b.v4], a.netns);
    ip(['-6', 'route', 'add', 'default', 'via', b.v6], a.netns);
    const peer = run(lab, a.netns, ['/usr/bin/python3', PEER, a.v4, b.v4, a.v6, b.v6, a.dev, '203.0.113.77']);
    t.is(peer.status, 0, peer.stderr);
    await sleep(2500);
    const verdict = (v: string) =>
      Number(query(lab, b.netns, `greoip_gre_keepalive_packets_total{verdict="${v}"}`)[0]?.value[1]);
    t.is(verdict('reply'), 5);
    t.is(verdict('third_party'), 2);
    t.is(verdict('forged_source'), 1);
    t.is(Number(query(lab, b.netns, 'greoip_gre_keepalive_replies_sent_total')[0]?.value[1]), 5);
    const build = query(lab, b.netns, 'greoip_build_info');
    t.deepEqual(build.map((s) => s.metric.component).sort(), ['daemon', 'gre-keepalive']);
    // The reflector's own final counters (printed on SIGTERM) agree with what Prometheus stored.
    reflector.child.kill('SIGTERM');
    await new Promise((resolve) => reflector.child.once('close', resolve));
    const final = JSON.parse(reflector.output().trim().split('\n').at(-1)!) as {
      verdicts: Record<string, number>;
    };
    t.is(final.verdicts.reply, 5);
    t.is(final.verdicts.forged_source, 1);
  },
);

test.serial(
  'gre-keepalive status --metrics reads the BPF maps: promtool accepts it and it matches status --json',
  async (t) => {
    const lab = createLab(t, 'prombpf');
    const { a, b } = lab.pair;
    const attach = run(lab, b.netns, [
      process.execPath,
      GRE_KEEPALIVE,
      'attach',
      b.dev,
      '--mode',
      'underlay',
    ]);
    t.is(attach.status, 0, attach.stderr);
    t.teardown(() => run(lab, b.netns, [process.execPath, GRE_KEEPALIVE, 'detach', b.dev]));
    ip(['route', 'add', 'default', 'via', b.v4], a.netns);
    ip(['-6', 'route', 'add', 'default', 'via', b.v6], a.netns);
    const peer = run(lab, a.netns, ['/usr/bin/python3', PEER, a.v4, b.v4, a.v6, b.v6, a.dev, '203.0.113.77']);
    t.is(peer.status, 0, peer.stderr);
    interface Status {
      dev: string;
      prog: string;
      counters: Record<string, number>;
    }
    const statusJson = () =>
      (
        JSON.parse(run(lab, b.netns, [process.execPath, GRE_KEEPALIVE, 'status', '--json']).stdout) as {
          reflectors: Status[];
        }
      ).reflectors;
    // Stray packets (IPv6 neighbour discovery) may reach the program meanwhile: the exposition must lie
    // between two readings taken around it.
    const first = statusJson();
    const text = run(lab, b.netns, [process.execPath, GRE_KEEPALIVE, 'status', '--metrics']);
    const last = statusJson();
    t.is(text.status, 0, text.stderr);
    const check = run(lab, b.netns, ['promtool', 'check', 'metrics'], text.stdout);
    t.is(check.status, 0, check.stdout + check.stderr);
    t.is(first.length, 1);
    const { dev, prog, counters } = first[0]!;
    t.true(counters.reply! >= 5, JSON.stringify(counters));
    for (const [verdict, n] of Object.entries(counters)) {
      if (verdict === 'tx_error') continue;
      const line = `greoip_gre_keepalive_packets_total{engine="bpf",dev="${dev}",program="${prog}",`;
      const sample = text.stdout
        .split('\n')
        .find((l) => l.startsWith(line) && l.includes(`verdict="${verdict}"}`));
      const value = Number(sample?.split(' ').at(-1));
      t.true(
        value >= n && value <= last[0]!.counters[verdict]!,
        `${verdict}: ${value} in [${n}, ${last[0]!.counters[verdict]}]`,
      );
    }
  },
);
