/**
 * The userland keepalive reflector live: a keepalive peer written with scapy
 * in one namespace, `gre-keepalive run` in the other, no gre device anywhere
 * and accept_local off. The peer must capture exactly the expected replies,
 * and nothing for the open-relay, forged-source or (strict) NAT requests.
 */
import { spawn } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { ip } from '../../src/demo/netns.ts';
import * as ipv4 from '../../src/wire/checksum.ts';
import { setChecksum } from '../../src/wire/ipv4.ts';
import { REPO_DIR, requireRoot } from '../helpers.ts';
import { createLab, run, sleep, waitFor } from './harness.ts';

const PEER = `${REPO_DIR}test/live/fixtures/keepalive_peer.py`;
const GRE_KEEPALIVE = `${REPO_DIR}dist/cli/gre-keepalive.js`;
const FLOOD = `${REPO_DIR}test/live/fixtures/keepalive_flood.py`;
const THIRD_PARTY = '203.0.113.77';

/**
 * Linux fills in a zero IPv4 identification on IP_HDRINCL sends (and the
 * header checksum with it); keepalive requests carry id 0. Everything else
 * must be the inner packet byte for byte: this puts id 0 back, after checking
 * that the kernel's checksum is valid.
 */
function normalize(t: ExecutionContext, hex: string): string {
  const b = Buffer.from(hex, 'hex');
  if (b[0]! >> 4 !== 4) return hex;
  t.is(ipv4.internetChecksum(b, 0, (b[0]! & 0x0f) * 4), 0, `reply header checksum valid: ${hex}`);
  b.writeUInt16BE(0, 4);
  setChecksum(b, 0);
  return b.toString('hex');
}

interface PeerResult {
  sent: Record<string, string>;
  received: string[];
}

async function exchange(
  t: ExecutionContext,
  policy: string,
): Promise<{ result: PeerResult; counters: string }> {
  const lab = createLab(t, `rf${policy}`);
  const { a, b } = lab.pair;
  // Any packet B sends, to any address, would cross the veth to A and be seen.
  ip(['route', 'add', 'default', 'via', a.v4], b.netns);
  ip(['-6', 'route', 'add', 'default', 'via', a.v6], b.netns);
  t.is(run(lab, b.netns, ['sysctl', '-n', 'net.ipv4.conf.all.accept_local']).stdout.trim(), '0');
  t.is(run(lab, b.netns, ['sysctl', '-n', `net.ipv4.conf.${b.dev}.accept_local`]).stdout.trim(), '0');
  t.is(ip(['-o', 'link', 'show', 'type', 'gre'], b.netns), '', 'no gre device in the reflector namespace');
  const reflector = spawn(
    '/usr/sbin/ip',
    [
      'netns',
      'exec',
      b.netns,
      process.execPath,
      GRE_KEEPALIVE,
      'run',
      '--policy',
      policy,
      '--interval',
      '0',
      '--json',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  reflector.stdout.on('data', (c: Buffer) => (stdout += c));
  reflector.stderr.on('data', (c: Buffer) => (stderr += c));
  t.teardown(() => reflector.kill('SIGKILL'));
  await waitFor('the reflector to start', () => stderr.includes('answering keepalives'));
  await sleep(200);
  const peer = run(lab, a.netns, ['/usr/bin/python3', PEER, a.v4, b.v4, a.v6, b.v6, a.dev, THIRD_PARTY]);
  t.is(peer.status, 0, peer.stderr);
  reflector.kill('SIGTERM');
  await new Promise((resolve) => reflector.once('close', resolve));
  return { result: JSON.parse(peer.stdout) as PeerResult, counters: stdout };
}

test.serial(
  'strict: every valid request answered with exactly its inner packet; NAT, relay and forged requests get nothing',
  async (t) => {
    requireRoot();
    const { result, counters } = await exchange(t, 'strict');
    const expected = ['cisco', 'huawei', 'keyed', 'mikrotik6', 'gre6_proto0'].map((k) => result.sent[k]!);
    t.deepEqual(result.received.map((r) => normalize(t, r)).sort(), [...expected].sort());
    const final = JSON.parse(counters.trim().split('\n').at(-1)!) as {
      repliesSent: number;
      verdicts: Record<string, number>;
    };
    t.is(final.repliesSent, 5);
    t.is(final.verdicts.third_party, 2, 'the NAT request (strict) and the open-relay attempt');
    t.is(final.verdicts.forged_source, 1);
  },
);

test.serial(
  'nat: the private inner destination is rewritten to the peer; the relay and forged requests still get nothing',
  async (t) => {
    requireRoot();
    const { result } = await exchange(t, 'nat');
    // The NAT reply is the request's inner packet with its destination set to the outer source, checksum fixed.
    const natExpected = Buffer.from(result.sent.nat_private!, 'hex');
    natExpected.set([192, 0, 2, 1], 16);
    natExpected.writeUInt16BE(0, 10);
    setChecksum(natExpected, 0);
    const expected = ['cisco', 'huawei', 'keyed', 'mikrotik6', 'gre6_proto0'].map((k) => result.sent[k]!);
    expected.push(natExpected.toString('hex'));
    t.deepEqual(result.received.map((r) => normalize(t, r)).sort(), expected.sort());
    t.false(
      result.received.some((r) => r.includes('cb00714d')),
      `nothing for ${THIRD_PARTY}`,
    );
  },
);

test.serial(
  'underlay XDP program on the veth: the same exact replies, nothing for relay, forged or strict-NAT requests',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'rfxdp');
    const { a, b } = lab.pair;
    ip(['route', 'add', 'default', 'via', a.v4], b.netns);
    ip(['-6', 'route', 'add', 'default', 'via', a.v6], b.netns);
    t.is(run(lab, b.netns, ['sysctl', '-n', 'net.ipv4.conf.all.accept_local']).stdout.trim(), '0');
    // Native XDP on B's veth; XDP_TX frames reach A's veth only when it runs an XDP program too.
    ip(
      [
        'link',
        'set',
        'dev',
        b.dev,
        'xdpdrv',
        'object',
        `${REPO_DIR}build/keepalive_underlay.o`,
        'section',
        'prog',
      ],
      b.netns,
    );
    ip(
      ['link', 'set', 'dev', a.dev, 'xdpdrv', 'object', `${REPO_DIR}build/xdp_pass.o`, 'section', 'prog'],
      a.netns,
    );
    t.regex(ip(['-d', 'link', 'show', 'dev', b.dev], b.netns), /xdp/);
    const peer = run(lab, a.netns, ['/usr/bin/python3', PEER, a.v4, b.v4, a.v6, b.v6, a.dev, THIRD_PARTY]);
    t.is(peer.status, 0, peer.stderr);
    const result = JSON.parse(peer.stdout) as PeerResult;
    // XDP_TX sends the inner packet as it is: no kernel rewrite of the identification.
    const expected = ['cisco', 'huawei', 'keyed', 'mikrotik6', 'gre6_proto0'].map((k) => result.sent[k]!);
    t.deepEqual([...result.received].sort(), expected.sort());
  },
);

test.serial(
  'gre-keepalive attach/status/detach drive the underlay program, with the policy in its maps',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'rfcli');
    const { a, b } = lab.pair;
    const gk = (args: string[]) => run(lab, b.netns, [process.execPath, GRE_KEEPALIVE, ...args]);
    ip(['route', 'add', 'default', 'via', a.v4], b.netns);
    ip(['-6', 'route', 'add', 'default', 'via', a.v6], b.netns);
    ip(
      ['link', 'set', 'dev', a.dev, 'xdpdrv', 'object', `${REPO_DIR}build/xdp_pass.o`, 'section', 'prog'],
      a.netns,
    );

    const wrongMode = gk(['attach', b.dev, '--mode', 'gre']);
    t.is(wrongMode.status, 1);
    t.regex(wrongMode.stderr, /--mode: veth-b is not a gre or ip6gre device/);
    t.regex(gk(['attach', 'nope0']).stderr, /DEV: no network device named nope0/);
    t.regex(gk(['detach', b.dev]).stderr, /no greoip keepalive program attached/);

    // Only IPv4 peers in 192.0.2.0/25 are answered: the IPv6 requests are counted as not allowed.
    const attached = gk(['attach', b.dev, '--peer', '192.0.2.0/25']);
    t.is(attached.status, 0, attached.stderr);
    t.regex(attached.stdout, /veth-b: keepalive_underlay attached \(xdp \(driver\), program id \d+\)/);
    t.regex(gk(['attach', b.dev]).stderr, /already has a greoip keepalive program/);

    const peer = run(lab, a.netns, ['/usr/bin/python3', PEER, a.v4, b.v4, a.v6, b.v6, a.dev, THIRD_PARTY]);
    const result = JSON.parse(peer.stdout) as PeerResult;
    t.deepEqual([...result.received].sort(), ['cisco', 'huawei', 'keyed'].map((k) => result.sent[k]!).sort());
    const { reflectors, probes } = JSON.parse(gk(['status', '--json']).stdout) as {
      reflectors: { dev: string; counters: Record<string, number> }[];
      probes: unknown[];
    };
    t.deepEqual(probes, [], 'nothing probed in this namespace');
    const [s] = reflectors;
    t.is(s!.dev, b.dev);
    t.like(s!.counters, { reply: 3, peer_not_allowed: 2, third_party: 2, forged_source: 1 });
    t.regex(gk(['status']).stdout, /veth-b: keepalive_underlay \(xdp \(driver\), id \d+\): .*reply 3/);
    t.regex(gk(['detach', b.dev]).stdout, /veth-b: keepalive_underlay detached/);
    t.notRegex(ip(['-d', 'link', 'show', 'dev', b.dev], b.netns), /prog\/xdp/);
    t.regex(gk(['status']).stdout, /no greoip keepalive program attached/);
  },
);

/**
 * Issue 12 defect 6: a spoofed requester whose address is on-link but held by nobody makes every answer to
 * it wait on neighbour resolution (ARP, NDP) until that fails, 3 s later. Those answers must not hold up the
 * answers to real peers. 20 real peers (5 requests a second each) and one spoofed source (100 a second):
 * every real request is answered, with the per-source limit on (the default) and with it off (the
 * answers that would wait leave through their own socket either way).
 */
async function spoofedFlood(t: ExecutionContext, tag: string, reflectorArgs: string[]) {
  const lab = createLab(t, tag);
  const { a, b } = lab.pair;
  const real4 = Array.from({ length: 20 }, (_, i) => `192.0.2.${10 + i}`);
  const real6 = Array.from({ length: 20 }, (_, i) => `2001:db8:e0::${(0x10 + i).toString(16)}`);
  for (const addr of real4) ip(['addr', 'add', `${addr}/24`, 'dev', a.dev], a.netns);
  for (const addr of real6) ip(['addr', 'add', `${addr}/64`, 'dev', a.dev, 'nodad'], a.netns);
  const reflector = spawn(
    '/usr/sbin/ip',
    [
      'netns',
      'exec',
      b.netns,
      process.execPath,
      GRE_KEEPALIVE,
      'run',
      '--interval',
      '0',
      '--json',
      ...reflectorArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  reflector.stdout.on('data', (c: Buffer) => (stdout += c));
  reflector.stderr.on('data', (c: Buffer) => (stderr += c));
  t.teardown(() => reflector.kill('SIGKILL'));
  await waitFor('the reflector to start', () => stderr.includes('answering keepalives'));
  for (const [family, peer, spoof, real] of [
    ['4', b.v4, '192.0.2.99', real4],
    ['6', b.v6, '2001:db8:e0::99', real6],
  ] as const) {
    const r = run(lab, a.netns, ['/usr/bin/python3', FLOOD, family, peer, spoof, '100', '3', ...real]);
    t.is(r.status, 0, r.stderr);
    const { sent, spoofed, answered } = JSON.parse(r.stdout) as {
      sent: number;
      spoofed: number;
      answered: number;
    };
    t.true(
      sent >= 250 && spoofed === sent,
      `IPv${family}: ${sent} real and ${spoofed} spoofed requests sent`,
    );
    t.is(answered, sent, `IPv${family}: every real request answered`);
  }
  reflector.kill('SIGTERM');
  await new Promise((resolve) => reflector.once('close', resolve));
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

test.serial('spoofed requests from an unresolvable on-link address cost real peers no answer', async (t) => {
  requireRoot();
  const limited = await spoofedFlood(t, 'rfspoof', []);
  t.true(limited.rateLimited! > 400, `the spoofed source was rate limited (${limited.rateLimited})`);
  t.true(limited.unresolved! > 0, 'answers that would wait on neighbour resolution were set apart');
  const unlimited = await spoofedFlood(t, 'rfspoofnl', ['--rate-limit', 'off']);
  t.is(unlimited.rateLimited, 0);
  t.true(unlimited.unresolved! + unlimited.unresolvedDropped! >= 500, 'every spoofed answer was set apart');
});
