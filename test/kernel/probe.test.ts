/**
 * `gre-keepalive probe` on Debian's real gre and ip6gre stack (qemu, lab.ts; guest half guest/probe.sh):
 * namespace A probes gk4 (gre), gk6 (ip6gre) and their keyed twins gk4k/gk6k (key 77) every second,
 * down after 2 unanswered; B answers with greoip's reflector, then with Linux itself (accept_local=1).
 * Stopping B's answers takes A's devices down within interval x (retries + 1), and the routes through
 * them give way to their underlay backups; an answer brings them up with their addresses and routes;
 * a prober that stops gives the devices back. Also measured: what the kernel says to IFLA_PROTO_DOWN on
 * gre and ip6gre, and what it removed when the devices went administratively down.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { ProbeStatus } from '../../src/gre-keepalive-io/prober.ts';
import { REPO_DIR } from '../helpers.ts';
import { type GuestResult, type RunResult, runInGuest } from './lab.ts';

const INTERVAL = 1;
const RETRIES = 2;
const TUNNELS = ['gk4', 'gk6', 'gk4k', 'gk6k'];
/** The bound the issue sets (interval x retries, +1 interval), plus the guest's 0.1 s polling and TCG's slack. */
const DOWN_WITHIN = INTERVAL * (RETRIES + 1) + 0.5;
/** Up at the next answer: the next probe is at most one interval away. */
const UP_WITHIN = INTERVAL + 0.5;

/** Kernels to run on: the Debian 6.1 kernel the lab boots. */
const boots = new Map<string, Promise<RunResult>>();
function guest(kernel = 'default'): Promise<RunResult> {
  let boot = boots.get(kernel);
  if (boot === undefined) {
    boot = runInGuest({
      script: readFileSync(new URL('guest/probe.sh', import.meta.url), 'utf8'),
      files: {
        '/lab/topology.sh': readFileSync(new URL('guest/topology.sh', import.meta.url), 'utf8'),
        '/lab/repo': REPO_DIR.replace(/\/$/, ''),
      },
      shareHost: true,
      timeoutMs: 300_000,
    });
    boots.set(kernel, boot);
  }
  return boot;
}

function result(r: RunResult, name: string): GuestResult {
  const x = r.results.find((y) => y.name === name);
  if (x === undefined) throw new Error(`${name}: not reported; console ends with:\n${r.output.slice(-3000)}`);
  return x;
}

function ok(r: RunResult, name: string): string {
  const x = result(r, name);
  if (!x.ok) throw new Error(`${name} failed in the guest: ${x.detail}`);
  return x.detail;
}

/** "gk4=2.61 gk6=2.73 ..." -> seconds per tunnel. */
function times(detail: string): Record<string, number> {
  return Object.fromEntries(
    detail
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('='))
      .map(([k, v]) => [k!, Number(v)]),
  );
}

test('the four tunnels are probed and answered by the reflector; status is per namespace', async (t) => {
  const r = await guest();
  for (const name of ['topology', 'routes', 'routes-through-tunnels', 'reflector-start', 'probe-start'])
    ok(r, name);
  const { probes } = JSON.parse(ok(r, 'status-json')) as { probes: ProbeStatus[] };
  t.deepEqual(
    probes.map((p) => [p.device, p.layout, p.okey, p.ikey, p.state, p.error]),
    [
      ['gk4', 'gre', null, null, 'up', null],
      ['gk6', 'gre6-mikrotik', null, null, 'up', null],
      ['gk4k', 'gre', 77, 77, 'up', null],
      ['gk6k', 'gre6-mikrotik', 77, 77, 'up', null],
    ],
  );
  for (const p of probes)
    t.true(p.answers >= 2 && p.answers <= p.sent, `${p.device}: ${p.answers}/${p.sent}`);
  t.deepEqual((JSON.parse(ok(r, 'status-other-namespace')) as { probes: unknown[] }).probes, []);
});

test('IFLA_PROTO_DOWN on gre and ip6gre, as this kernel answers it', async (t) => {
  const r = await guest();
  // Debian 6.1: refused (the flag is for devices that declare IFF_CHANGE_PROTO_DOWN): admin down it is.
  t.regex(ok(r, 'protodown-gk4'), /^unsupported: .*(not supported|Operation not supported)/i);
  t.regex(ok(r, 'protodown-gk6'), /^unsupported: /);
  t.log(`gk4: ${ok(r, 'protodown-gk4')}`);
});

test('no answers: every tunnel down within interval x (retries + 1), routes take the backup', async (t) => {
  const r = await guest();
  for (const name of ['down-reflector', 'down-again', 'down-linux']) {
    const seconds = times(ok(r, name));
    t.deepEqual(Object.keys(seconds).sort(), [...TUNNELS].sort(), name);
    for (const [dev, s] of Object.entries(seconds)) {
      t.true(s >= INTERVAL * (RETRIES - 1) && s <= DOWN_WITHIN, `${name} ${dev}: down after ${s} s`);
    }
    t.log(`${name}: ${ok(r, name)}`);
  }
  ok(r, 'routes-avoid-down-tunnels');
  ok(r, 'routes-avoid-down-tunnels-linux');
  ok(r, 'ping-fails-while-down');
});

test('an answer brings every tunnel up with its addresses and routes, from either answerer', async (t) => {
  const r = await guest();
  for (const name of ['up-reflector', 'up-linux', 'exit-restores']) {
    const seconds = times(ok(r, name));
    t.deepEqual(Object.keys(seconds).sort(), [...TUNNELS].sort(), name);
    if (name !== 'exit-restores')
      for (const [dev, s] of Object.entries(seconds))
        t.true(s <= UP_WITHIN, `${name} ${dev}: up after ${s} s`);
    t.log(`${name}: ${ok(r, name)}`);
  }
  for (const name of [
    'routes-back-through-tunnels',
    'restored-after-up',
    'restored-after-linux-up',
    'restored-at-exit',
  ])
    ok(r, name);
  ok(r, 'ping-through-gk4');
  ok(r, 'ping-through-gk6k');
  t.pass();
});

test('hooks ran for every change; the log says what the kernel removed and what was put back', async (t) => {
  const r = await guest();
  const hooks = ok(r, 'hooks')
    .split(/(?=\b(?:down|up) gk)/)
    .map((s) => s.trim());
  // Three times down (reflector stopped twice, Linux stopped once), twice up (reflector, Linux).
  for (const dev of TUNNELS) {
    t.is(hooks.filter((h) => h.startsWith(`down ${dev} `)).length, 3, dev);
    t.is(hooks.filter((h) => h === `up ${dev}`).length, 2, dev);
  }
  const log = ok(r, 'probe-log');
  t.log(log);
  // What was kept and restored, measured: IPv4 addresses stay, IPv6 addresses and configured routes go.
  t.regex(log, /gk4: carrier off \(administratively down; 2 address\(es\), 1 route\(s\) saved\)/);
  t.regex(
    log,
    /gk4: carrier on \(administratively up; put back 1 address\(es\), 1 route\(s\) the kernel had removed\)/,
  );
  t.regex(log, /gk6: carrier on \(administratively up; put back 1 address\(es\), 1 route\(s\)/);
  ok(r, 'kept-while-down');
});
