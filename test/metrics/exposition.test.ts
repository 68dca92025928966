/**
 * src/metrics: the text exposition format (checked by Prometheus's own promtool), the registry, the
 * --metrics address grammar and the HTTP endpoint on a unix socket.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { TunnelStatus } from '../../src/backend/types.ts';
import { DEFAULTS } from '../../src/eoip/config.ts';
import type { ProbeStatus } from '../../src/gre-keepalive-io/prober.ts';
import { buildInfoCollector } from '../../src/metrics/build-info.ts';
import {
  bpfReflectorCollector,
  probeCollector,
  reflectorCollector,
} from '../../src/metrics/gre-keepalive.ts';
import { family, MetricsError, MetricsRegistry, renderExposition } from '../../src/metrics/registry.ts';
import { MetricsAddressError, parseMetricsAddress, serveMetrics } from '../../src/metrics/server.ts';
import { tunnelCollector } from '../../src/metrics/tunnels.ts';
import { VERSION } from '../../src/version.ts';
import { tempDir } from '../helpers.ts';

const execFileAsync = promisify(execFile);

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function tunnel(name: string, state: TunnelStatus['state'], n: number): TunnelStatus {
  return {
    config: {
      ...DEFAULTS,
      name,
      tunnelId: n,
      remote: '192.0.2.2',
      local: null,
      family: 4,
    } as TunnelStatus['config'],
    backend: n % 2 === 0 ? 'userland' : 'kernel',
    state,
    carrier: state !== 'down',
    lastKeepaliveAgoMs: state === 'waiting' || state === 'off' ? null : 1500,
    counters: {
      rxPackets: n,
      rxBytes: n * 100,
      txPackets: n + 1,
      txBytes: n * 98,
      rxKeepalives: 7,
      txKeepalives: 8,
      rxErrors: 1,
      txErrors: 0,
    },
  };
}

function daemonRegistry(tunnels: TunnelStatus[]): MetricsRegistry {
  const registry = new MetricsRegistry();
  registry.register(buildInfoCollector('daemon'));
  registry.register(
    tunnelCollector({
      tunnels: () => tunnels,
      unmatchedDrops: () => ({ not_eoip: 3, unknown_tunnel_id: 12 }),
    }),
  );
  return registry;
}

test('promtool can fail: it rejects a malformed exposition (the oracle below is not a rubber stamp)', (t) => {
  t.not(promtool('# TYPE x_total counter\nx_total{a="b} 1\n').status, 0);
  t.not(promtool('# TYPE requests counter\nrequests 1\n').status, 0, 'a counter without _total');
});

test('the daemon exposition passes promtool check metrics and carries every tunnel counter', (t) => {
  const tunnels = [tunnel('eoip-a', 'up', 2), tunnel('eoip-b', 'waiting', 3), tunnel('e"c\\d', 'down', 4)];
  const text = daemonRegistry(tunnels).exposition();
  const check = promtool(text);
  t.is(check.status, 0, check.output);
  t.is(check.output, '', 'no lint warnings either');
  t.true(text.includes('greoip_tunnel_rx_packets_total{tunnel="eoip-a",backend="userland"} 2\n'));
  t.true(text.includes('greoip_tunnel_tx_bytes_total{tunnel="eoip-b",backend="kernel"} 294\n'));
  t.true(text.includes('greoip_tunnel_keepalives_received_total{tunnel="eoip-a",backend="userland"} 7\n'));
  t.true(
    text.includes('greoip_tunnel_keepalive_state{tunnel="eoip-b",backend="kernel",state="waiting"} 1\n'),
  );
  t.true(text.includes('greoip_tunnel_keepalive_state{tunnel="eoip-b",backend="kernel",state="up"} 0\n'));
  t.true(
    text.includes('greoip_tunnel_carrier{tunnel="e\\"c\\\\d",backend="userland"} 0\n'),
    'label values escaped',
  );
  t.true(text.includes('greoip_tunnel_last_keepalive_seconds{tunnel="eoip-a",backend="userland"} 1.5\n'));
  t.false(/greoip_tunnel_last_keepalive_seconds\{tunnel="eoip-b"/.test(text), 'absent until one arrives');
  t.true(text.includes('greoip_unmatched_drops_total{reason="unknown_tunnel_id"} 12\n'));
  t.true(text.includes('greoip_tunnels 3\n'));
  t.true(
    text.includes(`greoip_build_info{version="${VERSION}",node="${process.version}",component="daemon"} 1\n`),
  );
});

test('the reflector expositions (userland counters and BPF maps) pass promtool', (t) => {
  const userland = reflectorCollector(() => ({
    verdicts: { reply: 4, not_gre: 0, forged_source: 2 },
    repliesSent: 4,
    replyErrors: 0,
    rateLimited: 3,
    unresolved: 1,
    unresolvedDropped: 0,
  }))();
  const bpf = bpfReflectorCollector(() => [
    {
      dev: 'gre1',
      prog: 'keepalive_gre',
      hook: 'xdpgeneric',
      id: 7,
      counters: { reply: 9, malformed: 1, tx_error: 2 },
    },
  ])();
  for (const families of [userland, bpf]) {
    const text = renderExposition(families);
    const check = promtool(text);
    t.is(check.status, 0, check.output);
  }
  const text = renderExposition(bpf);
  t.true(
    text.includes(
      'greoip_gre_keepalive_packets_total{engine="bpf",dev="gre1",program="keepalive_gre",hook="xdpgeneric",verdict="reply"} 9\n',
    ),
  );
  t.true(
    text.includes(
      'greoip_gre_keepalive_reply_errors_total{engine="bpf",dev="gre1",program="keepalive_gre",hook="xdpgeneric"} 2\n',
    ),
  );
  t.false(text.includes('verdict="tx_error"'));
});

test('the registry merges same-named families and refuses conflicting or invalid ones', (t) => {
  const registry = new MetricsRegistry();
  registry.register(() => [family('x_total', 'counter', 'h', [{ labels: { a: '1' }, value: 1 }])]);
  const remove = registry.register(() => [
    family('x_total', 'counter', 'h', [{ labels: { a: '2' }, value: 2 }]),
  ]);
  t.is(
    registry.exposition(),
    '# HELP x_total h\n# TYPE x_total counter\nx_total{a="1"} 1\nx_total{a="2"} 2\n',
  );
  remove();
  t.is(registry.collect()[0]!.samples.length, 1);
  registry.register(() => [family('x_total', 'gauge', 'h', [])]);
  t.throws(() => registry.collect(), { instanceOf: MetricsError, message: /x_total registered twice/ });
  t.is(renderExposition(new MetricsRegistry().collect()), '', 'nothing registered, nothing written');
  const bad = new MetricsRegistry();
  bad.register(() => [family('requests', 'counter', 'h', [])]);
  t.throws(() => bad.collect(), { message: /must end in _total/ });
  const badLabel = new MetricsRegistry();
  badLabel.register(() => [family('g', 'gauge', 'h', [{ labels: { __x: 'y' }, value: 1 }])]);
  t.throws(() => badLabel.collect(), { message: /invalid label name __x/ });
  t.is(
    renderExposition([family('v', 'gauge', 'multi\nline \\ help', [{ value: Number.NaN }])]),
    '# HELP v multi\\nline \\\\ help\n# TYPE v gauge\nv NaN\n',
  );
});

test('--metrics addresses: host:port, :port, [v6]:port, unix:/path; mistakes are named', (t) => {
  t.deepEqual(parseMetricsAddress('127.0.0.1:9464'), { kind: 'tcp', host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseMetricsAddress(':9464'), { kind: 'tcp', host: '::', port: 9464 });
  t.deepEqual(parseMetricsAddress('[::1]:9464'), { kind: 'tcp', host: '::1', port: 9464 });
  t.deepEqual(parseMetricsAddress('localhost:1'), { kind: 'tcp', host: 'localhost', port: 1 });
  t.deepEqual(parseMetricsAddress('unix:/run/greoip/metrics.sock'), {
    kind: 'unix',
    path: '/run/greoip/metrics.sock',
  });
  for (const [bad, why] of [
    ['9464', /is not HOST:PORT/],
    ['127.0.0.1:0', /port 0 is not 1-65535/],
    ['127.0.0.1:70000', /port 70000/],
    ['::1:9464', /is not HOST:PORT/],
    ['example.com:9464', /not an IPv4 address/],
    ['[192.0.2.1]:80', /not an IPv6 address/],
    ['unix:relative.sock', /must be absolute/],
  ] as const) {
    t.throws(() => parseMetricsAddress(bad), { instanceOf: MetricsAddressError, message: why }, bad);
  }
});

function get(socketPath: string, path: string, method = 'GET') {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('the endpoint serves GET /metrics on a unix socket (mode 0660), 404 elsewhere, 405 for other methods', async (t) => {
  const dir = tempDir(t, 'greoip-metrics-');
  const path = join(dir, 'metrics.sock');
  const registry = daemonRegistry([tunnel('eoip-a', 'up', 2)]);
  const server = await serveMetrics({ kind: 'unix', path }, registry);
  t.teardown(() => server.close());
  t.is(statSync(path).mode & 0o777, 0o660);
  const ok = await get(path, '/metrics');
  t.is(ok.status, 200);
  t.is(ok.type, 'text/plain; version=0.0.4; charset=utf-8');
  t.is(ok.body, registry.exposition());
  t.is((await get(path, '/other')).status, 404);
  t.is((await get(path, '/metrics', 'POST')).status, 405);
  // curl as a second client, as Prometheus-side tooling would use it.
  const viaCurl = await execFileAsync('curl', ['-sf', '--unix-socket', path, 'http://localhost/metrics'], {
    encoding: 'utf8',
  });
  t.is(viaCurl.stdout, registry.exposition());
  await server.close();
  t.false(existsSync(path), 'the socket is removed on close');
});

test('the probed tunnels exposition passes promtool: state, keepalives, last answer', (t) => {
  const probe = (over: Partial<ProbeStatus>): ProbeStatus => ({
    pid: 1,
    tunnel: 'gre1',
    device: 'gre1',
    family: 4,
    layout: 'gre',
    local: '192.0.2.1',
    remote: '198.51.100.2',
    okey: null,
    ikey: null,
    interval: 10,
    retries: 3,
    state: 'down',
    lastAnswerAgeMs: 31_500,
    stateAgeMs: 1000,
    sent: 12,
    answers: 8,
    tunnelledAnswers: 0,
    changes: 1,
    carrier: 'admin',
    error: null,
    ...over,
  });
  const text = renderExposition(
    probeCollector(() => [
      probe({}),
      probe({
        tunnel: '192.0.2.1->203.0.113.9',
        device: null,
        remote: '203.0.113.9',
        state: 'up',
        lastAnswerAgeMs: null,
      }),
    ])(),
  );
  const check = promtool(text);
  t.is(check.status, 0, check.output);
  const labels = 'tunnel="gre1",device="gre1",remote="198.51.100.2"';
  t.true(text.includes(`greoip_gre_probe_up{${labels}} 0\n`));
  t.true(text.includes(`greoip_gre_probe_keepalives_sent_total{${labels}} 12\n`));
  t.true(text.includes(`greoip_gre_probe_answers_total{${labels}} 8\n`));
  t.true(text.includes(`greoip_gre_probe_last_answer_age_seconds{${labels}} 31.5\n`));
  t.true(
    text.includes('greoip_gre_probe_up{tunnel="192.0.2.1->203.0.113.9",device="",remote="203.0.113.9"} 1\n'),
  );
  t.false(
    text.includes('greoip_gre_probe_last_answer_age_seconds{tunnel="192.0.2.1->'),
    'no age before an answer',
  );
  const userland = renderExposition(
    reflectorCollector(() => ({
      verdicts: {},
      repliesSent: 0,
      replyErrors: 0,
      rateLimited: 7,
      unresolved: 2,
      unresolvedDropped: 1,
    }))(),
  );
  t.true(userland.includes('greoip_gre_keepalive_rate_limited_total{engine="userland"} 7\n'));
  t.true(userland.includes('greoip_gre_keepalive_unresolved_dropped_total{engine="userland"} 1\n'));
});
