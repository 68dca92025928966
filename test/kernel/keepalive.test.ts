/**
 * The GRE keepalive answered by our BPF programs (build/keepalive_*.o, docs/keepalive.md) on Debian's
 * real gre/ip6gre stacks (lab.ts: 6.1 and 6.12, one qemu boot each). Namespace A is the router, B runs the programs;
 * accept_local is 0 everywhere, so B's kernel on its own drops the decapsulated request as a martian.
 *
 * A (the host's node running guest/keepalive-driver.mjs) sends each request through a raw IPPROTO_GRE
 * socket: the GRE header and inner packet built here by src/wire/build.ts, the outer header A->B added
 * by A's kernel. The reply is read by raw sockets bound to A's underlay veth, its bytes printed by the
 * guest and compared here with what the builders say the reply must be.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { NATIVE_ADDON_RELATIVE_PATH } from '../../src/native/index.ts';
import { greKeepaliveRequest4, greKeepaliveRequest6, grePayload, ipv4Packet } from '../../src/wire/build.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import { GreProto } from '../../src/wire/gre.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';
import { REPO_DIR, toHex } from '../helpers.ts';
import { type GuestResult, hostPath, type RunResult, runInGuest } from './lab.ts';
import { guestScript, kernelSuite } from './suite.ts';

/** Where `npm run build:bpf` puts the objects (GREOIP_BPF_DIR points elsewhere, e.g. a scratch build). */
const BUILD = process.env.GREOIP_BPF_DIR ?? join(REPO_DIR, 'build');
const OBJECTS = {
  gre: join(BUILD, 'keepalive_gre.o'),
  gre6: join(BUILD, 'keepalive_gre6.o'),
  tc: join(BUILD, 'keepalive_tc.o'),
};
const ADDON = join(REPO_DIR, NATIVE_ADDON_RELATIVE_PATH);

// guest/topology.sh
const A4 = '192.0.2.1';
const B4 = '192.0.2.2';
const A6 = '2001:db8:e0::1';
const B6 = '2001:db8:e0::2';
const v4 = (s: string) => ipv4.parseAddress(s)!;
const v6 = (s: string) => ipv6.parseAddress(s)!;

const REQUEST4 = greKeepaliveRequest4(v4(A4), v4(B4));
const REQUEST6 = greKeepaliveRequest6(v6(A6), v6(B6));
/** What B must send back: the inner packet (docs/gre-keepalive-packets.md: request bytes 24..47). */
const INNER4 = REQUEST4.subarray(24);
const INNER6 = REQUEST6.subarray(44);
/** What A's raw socket sends: everything after the outer IP header, which A's kernel writes. */
const PAYLOAD4 = REQUEST4.subarray(20);
const PAYLOAD6 = REQUEST6.subarray(40);

/** An ICMP echo request inside GRE: B's kernel answers it through the tunnel (checks the capture path). */
function echoInGre(src: string, dst: string): Uint8Array {
  const icmp = Uint8Array.from([8, 0, 0, 0, 0x12, 0x34, 0, 1, ...Buffer.from('greoip')]);
  const sum = internetChecksum(icmp);
  icmp[2] = sum >> 8;
  icmp[3] = sum & 0xff;
  return grePayload({ protocol: GreProto.IPV4 }, ipv4Packet({ src: v4(src), dst: v4(dst) }, 1, icmp));
}

type Step =
  | { run: string[]; name?: string }
  | { send: Send }
  | { configure: Hook & { value: string; underlay?: string }; name: string }
  | { counters: Hook; name: string };
interface Hook {
  ns: string;
  dev: string;
  hook: 'xdp' | 'tc';
}
interface Send {
  name: string;
  family: 4 | 6;
  dst: string;
  payload: string;
  expect: 'reply' | 'none';
  waitMs?: number;
}

/** Verdict numbers shared by TS and BPF (docs/keepalive.md). */
const VERDICT = { REPLY: 0, FORGED_SOURCE: 6, THIRD_PARTY: 7 } as const;

/**
 * struct ka_config (bpf/include/gre_keepalive_maps.h): strict mode, B's and A's addresses. underlay_ifindex
 * stays 0 here; the TC steps have the driver put vb's ifindex there (with 0 the program asks
 * bpf_fib_lookup, which answers FWD_DISABLED on a gre device without forwarding enabled).
 */
function kaConfig(): string {
  const b = Buffer.alloc(56);
  b.writeUInt32LE(0, 0); // KA_MODE_STRICT
  b.writeUInt32LE((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4), 4); // LOCAL4 REMOTE4 LOCAL6 REMOTE6
  b.writeUInt32BE(v4(B4), 8); // local4: our (B's) tunnel address
  b.writeUInt32BE(v4(A4), 12); // remote4: the router
  b.set(v6(B6), 16);
  b.set(v6(A6), 32);
  b.writeUInt32LE(0, 48); // underlay_ifindex 0: bpf_fib_lookup
  return b.toString('hex');
}

/** Requests the policy must refuse: inner source not B (forged), inner destination not A (third party). */
const X4 = '192.0.2.99';
const X6 = '2001:db8:e0::99';
const FORGED4 = greKeepaliveRequest4(v4(A4), v4(X4)).subarray(20);
const THIRD4 = greKeepaliveRequest4(v4(X4), v4(B4)).subarray(20);
const FORGED6 = greKeepaliveRequest6(v6(A6), v6(X6)).subarray(40);
const THIRD6 = greKeepaliveRequest6(v6(X6), v6(B6)).subarray(40);

const ip = (...args: string[]) => ['/usr/sbin/ip', ...args];
const tc = (...args: string[]) => ['/usr/sbin/tc', ...args];
const send = (name: string, family: 4 | 6, payload: Uint8Array, expect: Send['expect']): Step => ({
  send: { name, family, dst: family === 4 ? B4 : B6, payload: toHex(payload), expect },
});

interface Variant {
  tag: string;
  dev: 'gk4' | 'gk6';
  family: 4 | 6;
  hook: 'xdp' | 'tc';
  object: string;
}

const VARIANTS: Variant[] = [
  { tag: 'xdp4', dev: 'gk4', family: 4, hook: 'xdp', object: 'gre' },
  { tag: 'xdp6', dev: 'gk6', family: 6, hook: 'xdp', object: 'gre6' },
  { tag: 'tc4', dev: 'gk4', family: 4, hook: 'tc', object: 'tc' },
  { tag: 'tc6', dev: 'gk6', family: 6, hook: 'tc', object: 'tc' },
].map((v) => ({ ...v, object: OBJECTS[v.object as keyof typeof OBJECTS] }) as Variant);

/**
 * Per variant: attach in B; a request answered (XDP: with ka_config empty, the way `ip link set ... xdp
 * object` users run it; TC: configured, as the plain reply requires); then, configured strict, a forged
 * and a third-party request ignored; the verdict counters; other traffic still flowing; detach.
 */
function variantSteps(v: Variant): Step[] {
  const where = { ns: 'B', dev: v.dev, hook: v.hook };
  const [request, forged, third] = v.family === 4 ? [PAYLOAD4, FORGED4, THIRD4] : [PAYLOAD6, FORGED6, THIRD6];
  const ping = v.family === 4 ? '198.51.100.2' : '2001:db8:f6::2';
  const attach: Step[] =
    v.hook === 'xdp'
      ? [
          {
            name: `${v.tag}.attach`,
            run: ip('-n', 'B', 'link', 'set', 'dev', v.dev, 'xdp', 'object', hostPath(v.object)),
          },
          { name: `${v.tag}.link`, run: ip('-n', 'B', '-d', 'link', 'show', 'dev', v.dev) },
        ]
      : [
          { name: `${v.tag}.qdisc`, run: tc('-n', 'B', 'qdisc', 'add', 'dev', v.dev, 'clsact') },
          {
            name: `${v.tag}.attach`,
            run: tc(
              '-n',
              'B',
              'filter',
              'add',
              'dev',
              v.dev,
              'ingress',
              'bpf',
              'da',
              'obj',
              hostPath(v.object),
              'sec',
              'tc',
            ),
          },
          { name: `${v.tag}.configure`, configure: { ...where, value: kaConfig(), underlay: 'vb' } },
        ];
  const detach =
    v.hook === 'xdp'
      ? ip('-n', 'B', 'link', 'set', 'dev', v.dev, 'xdp', 'off')
      : tc('-n', 'B', 'qdisc', 'del', 'dev', v.dev, 'clsact');
  return [
    ...attach,
    send(v.tag, v.family, request, 'reply'),
    ...(v.hook === 'xdp' ? [{ name: `${v.tag}.configure`, configure: { ...where, value: kaConfig() } }] : []),
    send(`${v.tag}.forged`, v.family, forged, 'none'),
    send(`${v.tag}.third-party`, v.family, third, 'none'),
    { name: `${v.tag}.counters`, counters: where },
    { name: `${v.tag}.data-passes`, run: ['ping', v.family === 4 ? '-4' : '-6', '-c', '1', '-W', '5', ping] },
    { name: `${v.tag}.detach`, run: detach },
  ];
}

function plan(): Step[] {
  const steps: Step[] = [
    send('sanity4', 4, echoInGre('198.51.100.1', '198.51.100.2'), 'reply'),
    send('sanity6', 6, echoInGre('203.0.113.1', '203.0.113.2'), 'reply'),
    send('baseline4', 4, PAYLOAD4, 'none'),
    send('baseline6', 6, PAYLOAD6, 'none'),
  ];
  for (const v of VARIANTS) if (existsSync(v.object)) steps.push(...variantSteps(v));
  return steps;
}

const labTest = kernelSuite((kernel) => {
  if (!existsSync(ADDON)) throw new Error(`native addon missing at ${ADDON}: run npm run build:native`);
  return runInGuest({
    kernel,
    script: `NODE=${hostPath(process.execPath)}\n${guestScript('keepalive.sh')}`,
    shareHost: true,
    timeoutMs: 150_000,
    files: {
      '/lab/topology.sh': guestScript('topology.sh'),
      '/lab/keepalive-driver.mjs': guestScript('keepalive-driver.mjs'),
      '/lab/plan.json': JSON.stringify({ addon: hostPath(ADDON), steps: plan() }),
    },
  });
});

function result(t: ExecutionContext, r: RunResult, name: string): GuestResult {
  const found = r.results.find((x) => x.name === name);
  if (found === undefined) {
    t.fail(`guest printed no marker ${name}; console output:\n${r.output.split('\n').slice(-40).join('\n')}`);
    throw new Error(`no marker ${name}`);
  }
  return found;
}

/** The guest's PASS marker for `name` and the packets (json) it carries. */
function packets(t: ExecutionContext, r: RunResult, name: string): Packet[] {
  const m = result(t, r, name);
  t.true(m.ok, `${name}: ${m.detail}`);
  return JSON.parse(m.detail) as Packet[];
}

interface Packet {
  src: string;
  dst: string;
  data: string;
}

function requireObject(t: ExecutionContext, path: string): void {
  if (!existsSync(path))
    t.fail(`${path} is missing: run npm run build:bpf (make -C bpf; needs clang, llvm, libbpf-dev)`);
}

const hex4 = (s: string) => toHex(Uint8Array.from(s.split('.').map(Number)));
const hex6 = (s: string) => toHex(v6(s));

labTest(
  'the guest builds namespaces A and B with gre gk4 and ip6gre gk6 and accept_local 0',
  async (t, r) => {
    t.log(`boot ${r.bootMs} ms, whole run ${r.durationMs} ms`);
    t.is(r.scriptStatus, 0);
    t.true(result(t, r, 'topology').ok);
    const accept = r.results.filter((x) => x.name.startsWith('accept_local-'));
    t.true(accept.length >= 10, 'accept_local read back on every interface');
    for (const a of accept) t.true(a.ok && a.detail === '0', `${a.name}: ${a.detail}`);
    t.true(result(t, r, 'driver-done').ok, 'the driver ran every step');
    for (const x of r.results.filter((x) => !x.ok)) t.log(`FAIL ${x.name} ${x.detail}`);
  },
);

labTest(
  'capture path: B answers an echo request sent raw into gk4 and gk6, A reads it on the veth',
  async (t, r) => {
    for (const [name, src, dst] of [
      ['sanity4', '198.51.100.2', '198.51.100.1'],
      ['sanity6', '203.0.113.2', '203.0.113.1'],
    ] as const) {
      const [p] = packets(t, r, name);
      const data = Buffer.from(p!.data, 'hex');
      if (name === 'sanity4') {
        t.is(p!.src, hex4(B4));
        t.is(data.subarray(12, 16).toString('hex'), hex4(B4), 'outer B->A');
        t.is(data.subarray(16, 20).toString('hex'), hex4(A4));
        t.is(data[9], 47);
      } else {
        t.is(p!.src, hex6(B6));
        t.is(p!.dst, hex6(A6));
      }
      const gre = name === 'sanity4' ? data.subarray((data[0]! & 0x0f) * 4) : data;
      t.is(gre.readUInt16BE(2), GreProto.IPV4);
      const inner = gre.subarray(4);
      t.is(inner.subarray(12, 16).toString('hex'), hex4(src), 'echo reply from the tunnel address');
      t.is(inner.subarray(16, 20).toString('hex'), hex4(dst));
      t.is(inner[20], 0, 'ICMP echo reply');
    }
  },
);

labTest(
  'without a program B does not answer a keepalive (accept_local 0 drops the inner packet)',
  async (t, r) => {
    t.deepEqual(packets(t, r, 'baseline4'), []);
    t.deepEqual(packets(t, r, 'baseline6'), []);
  },
);

/** What A must receive on its veth for each variant (see the comments in each case). */
function expectedReply(v: Variant, got: Packet): Packet {
  if (v.hook === 'xdp' && v.family === 4) {
    // XDP_TX on gre: B's device re-encapsulates. Outer B->A, TTL inherited from the inner packet (255),
    // DF from pmtudisc (the default), identification chosen by the kernel: the one field taken from
    // the packet itself.
    const outer = ipv4Packet(
      {
        src: v4(B4),
        dst: v4(A4),
        ttl: 255,
        flags: ipv4.Ipv4Flags.DONT_FRAGMENT,
        identification: Buffer.from(got.data, 'hex').readUInt16BE(4),
      },
      ipv4.IPPROTO_GRE,
      grePayload({ protocol: GreProto.IPV4 }, INNER4),
    );
    return { src: hex4(B4), dst: hex4(A4), data: toHex(outer) };
  }
  if (v.hook === 'xdp') {
    // The IPv6 raw socket gives what follows the outer header chain: GRE 0x86DD + the inner packet.
    return { src: hex6(B6), dst: hex6(A6), data: toHex(grePayload({ protocol: GreProto.IPV6 }, INNER6)) };
  }
  if (v.family === 4) return { src: hex4(B4), dst: hex4(A4), data: toHex(INNER4) }; // the plain inner packet
  // Plain IPv6 reply: the raw socket shows the inner GRE header; the addresses come beside it.
  return { src: hex6(B6), dst: hex6(A6), data: toHex(INNER6.subarray(40)) };
}

const TITLES: Record<string, string> = {
  xdp4: 'XDP keepalive_gre.o on gre gk4: XDP_TX sends the inner packet back into the tunnel',
  xdp6: 'XDP keepalive_gre6.o on ip6gre gk6: the MikroTik GRE6 keepalive is answered into the tunnel',
  tc4: 'TC keepalive_tc.o on gre gk4: the plain inner packet leaves through the underlay to A',
  tc6: 'TC keepalive_tc.o on ip6gre gk6: the plain inner packet leaves through the underlay to A',
};

for (const v of VARIANTS) {
  labTest(TITLES[v.tag]!, async (t, r) => {
    requireObject(t, v.object);
    const attach = result(t, r, `${v.tag}.attach`);
    t.true(attach.ok, attach.detail);
    if (!attach.ok) return;
    if (v.hook === 'xdp')
      t.regex(result(t, r, `${v.tag}.link`).detail, /xdpgeneric/, 'gre has no native XDP');
    t.true(result(t, r, `${v.tag}.configure`).ok, result(t, r, `${v.tag}.configure`).detail);

    const got = packets(t, r, v.tag);
    t.is(got.length, 1, 'exactly one reply reached A');
    if (got[0] !== undefined) t.deepEqual(got[0], expectedReply(v, got[0]));

    t.deepEqual(packets(t, r, `${v.tag}.forged`), [], 'inner source not ours: no reply');
    t.deepEqual(packets(t, r, `${v.tag}.third-party`), [], 'inner destination not the peer: no reply');
    const counters = result(t, r, `${v.tag}.counters`);
    t.true(counters.ok, counters.detail);
    if (counters.ok) {
      const slots = JSON.parse(counters.detail) as Record<string, number>;
      t.is(slots[VERDICT.REPLY], 1, `counters ${counters.detail}`);
      t.is(slots[VERDICT.FORGED_SOURCE], 1, `counters ${counters.detail}`);
      t.is(slots[VERDICT.THIRD_PARTY], 1, `counters ${counters.detail}`);
    }
    t.true(result(t, r, `${v.tag}.data-passes`).ok, 'other traffic still passes');
    t.true(result(t, r, `${v.tag}.detach`).ok);
  });
}
