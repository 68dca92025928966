/**
 * The eBPF programs (bpf/*.c, built into build/*.o) against the TypeScript core: the verifier accepts
 * every object, every vector of the shared corpus gets the same verdict and reply bytes through
 * BPF_PROG_TEST_RUN as through decide(), and the objects attach the way the README says (ip link on a
 * veth in a private namespace, tc). Needs root, bpftool, clang (the objects are rebuilt with make) and
 * iproute2: missing tools fail these tests, they are never skipped.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import {
  CONFIG_LAYOUT,
  CONFIG_SIZE,
  COUNTER_SLOTS,
  COUNTER_TX_ERROR,
  encodeConfig,
  lpm6Key,
} from '../../src/bpf/maps.ts';
import {
  BPF_PROGRAM_NAMES,
  BPF_PROGRAMS,
  type BpfInput,
  type BpfProgramName,
  bpfDecide,
  bpfObjectPath,
  TcAction,
  XdpAction,
} from '../../src/bpf/programs.ts';
import { BpfTestRunner } from '../../src/bpf/testrun.ts';
import { createDecision, createPolicy, Verdict } from '../../src/gre-keepalive/index.ts';
import { VECTORS, type Vector } from '../gre-keepalive/vectors.ts';
import { REPO_DIR, requireRoot, toHex } from '../helpers.ts';
import { Netns } from '../netns.ts';

const exec = promisify(execFile);
const VERDICT_SLOTS = 9;

test.before(async () => {
  requireRoot();
  await exec('bpftool', ['version']).catch((e: Error) => {
    throw new Error(`bpftool is missing (apt-get install bpftool): ${e.message}`);
  });
  if (!process.env.GREOIP_BPF_DIR) {
    // Incremental: a no-op when build/ is current; fails (and so do these tests) without clang.
    await exec('make', ['-s', '-C', `${REPO_DIR}bpf`]).catch((e: Error & { stderr?: string }) => {
      throw new Error(`make -C bpf failed (needs clang, llvm, libbpf-dev): ${e.stderr ?? e.message}`);
    });
  }
});

/**
 * The bytes a program is given for L3 bytes: the TC and underlay programs take Ethernet frames. A TC test
 * run refuses (EINVAL) a frame whose EtherType names IPv4/IPv6 without a whole header of that family
 * behind it: such frames get an experimental EtherType (the program parses at the network header anyway).
 */
function frameFor(name: BpfProgramName, l3: Uint8Array): Buffer {
  const bytes = Buffer.from(l3);
  if (name !== 'keepalive_tc' && name !== 'keepalive_underlay') return bytes;
  const version = bytes.length > 0 ? bytes[0]! >>> 4 : 0;
  let type = version === 6 ? 0x86dd : 0x0800;
  if (name === 'keepalive_tc' && bytes.length < (version === 6 ? 40 : 20)) type = 0x88b5;
  const eth = Buffer.from(`020000000002020000000001${type.toString(16).padStart(4, '0')}`, 'hex');
  return Buffer.concat([eth, bytes]);
}

function inputFor(name: BpfProgramName, v: Vector): Buffer {
  const bytes = Buffer.from(v.hex, 'hex');
  return v.layout === 'outer-l2' ? bytes : frameFor(name, bytes);
}

test('the verifier accepts every object, each with its one program', async (t) => {
  for (const name of BPF_PROGRAM_NAMES) {
    const info = BPF_PROGRAMS[name];
    const runner = await BpfTestRunner.open(bpfObjectPath(name), info.type);
    t.teardown(() => runner.close());
    t.deepEqual(runner.programs, [name], `${info.file}: programs`);
  }
});

test("the map layouts in src/bpf/maps.ts match the objects' BTF", async (t) => {
  interface BtfType {
    kind: string;
    name?: string;
    size?: number;
    members?: { name: string; bits_offset: number }[];
  }
  for (const name of KEEPALIVE_PROGRAMS) {
    const { stdout } = await exec('bpftool', ['-j', 'btf', 'dump', 'file', bpfObjectPath(name)], {
      maxBuffer: 1 << 26,
    });
    const types = (JSON.parse(stdout) as { types: BtfType[] }).types;
    const struct = (n: string) => types.find((x) => x.kind === 'STRUCT' && x.name === n)!;
    const config = struct('ka_config');
    t.is(config.size, CONFIG_SIZE, name);
    t.deepEqual(
      Object.fromEntries(config.members!.map((m) => [m.name, m.bits_offset / 8])),
      { ...CONFIG_LAYOUT },
      `${name}: struct ka_config`,
    );
    t.is(struct('ka_lpm4_key').size, 8, name);
    t.is(struct('ka_lpm6_key').size, lpm6Key(new Uint8Array(16), 0).length, name);
  }
  const policy = createPolicy({
    mode: 'nat',
    peers: ['10.0.0.0/8'],
    local: '198.51.100.2',
    remote: '2001:db8::1',
  });
  const cfg = encodeConfig(policy, { underlayIfindex: 7 });
  t.is(cfg.readUInt32LE(CONFIG_LAYOUT.mode), 1);
  t.is(cfg.readUInt32LE(CONFIG_LAYOUT.flags), 0b10011, 'allow-list, local4, remote6');
  t.is(cfg.subarray(CONFIG_LAYOUT.local4, CONFIG_LAYOUT.local4 + 4).toString('hex'), 'c6336402');
  t.is(
    cfg.subarray(CONFIG_LAYOUT.remote6, CONFIG_LAYOUT.remote6 + 16).toString('hex'),
    '20010db8000000000000000000000001',
  );
  t.is(cfg.readUInt32LE(CONFIG_LAYOUT.underlay_ifindex), 7);
});

test('xdp_pass passes every packet untouched', async (t) => {
  const runner = await BpfTestRunner.open(bpfObjectPath('xdp_pass'), 'xdp');
  t.teardown(() => runner.close());
  for (const v of VECTORS.slice(0, 5)) {
    const input = Buffer.from(v.hex, 'hex');
    const r = await runner.run('xdp_pass', input);
    t.is(r.retval, XdpAction.PASS, v.name);
    t.is(toHex(r.dataOut), toHex(input), v.name);
  }
  t.true((await runner.timeRun('xdp_pass', Buffer.from(VECTORS[0]!.hex, 'hex'), 1000)) >= 0);
});

/**
 * Whether `name` reads vector `v` as the corpus means it (then the corpus expectation applies directly):
 * in the vector's own layout, or for the framed programs, the vector behind the test-run Ethernet header.
 * keepalive_tc only when the vector configures both tunnel addresses (its extra rule leaves those alone).
 */
function readsAsVector(name: BpfProgramName, v: Vector, input: BpfInput | null): boolean {
  if (input === null) return false;
  switch (name) {
    case 'keepalive_tc':
      return v.layout === 'inner-l3' && !!v.policy?.local && !!v.policy?.remote;
    case 'keepalive_underlay':
      return v.layout === 'outer-l2' || v.layout === 'outer-l3';
    default:
      return input.layout === v.layout;
  }
}

/** Per vector: the programs that read it as the corpus means it, and those that replied so. */
const tookOwnLayout = new Map<string, Set<BpfProgramName>>();
const replied = new Map<string, Set<BpfProgramName>>();
/** Corpus tests that ran to the end (the summary below needs all of them; --match may run fewer). */
const corpusDone = new Set<BpfProgramName>();

const KEEPALIVE_PROGRAMS: BpfProgramName[] = [
  'keepalive_gre',
  'keepalive_gre6',
  'keepalive_tc',
  'keepalive_underlay',
];

for (const name of KEEPALIVE_PROGRAMS) {
  test(`${name}: every corpus vector gets the core's verdict, return code and reply bytes`, async (t) => {
    const info = BPF_PROGRAMS[name];
    const runner = await BpfTestRunner.open(bpfObjectPath(name), info.type);
    const decision = createDecision();
    t.teardown(() => runner.close());
    for (const v of VECTORS) {
      const label = `${name} / ${v.name}`;
      const input = inputFor(name, v);
      const policy = createPolicy(v.policy ?? {});
      // keepalive_tc: a fixed egress interface, so no route lookup depends on this host.
      await runner.setPolicy(policy, { underlayIfindex: name === 'keepalive_tc' ? 1 : 0 });
      const want = bpfDecide(name, input, policy, decision);
      const got = await runner.runCounted(name, input);

      t.is(got.retval, want.retval, `${label}: return code`);
      const verdictDelta = got.counterDelta.slice(0, VERDICT_SLOTS);
      const counted = verdictDelta.indexOf(1n);
      t.is(counted, want.verdict, `${label}: verdict counter (core says ${want.verdict})`);
      t.is(
        verdictDelta.reduce((a, b) => a + b, 0n),
        1n,
        `${label}: exactly one verdict counted (${verdictDelta.join(',')})`,
      );
      t.is(got.counterDelta[COUNTER_TX_ERROR], want.txError ? 1n : 0n, `${label}: tx error counter`);
      t.is(got.counterDelta.length, COUNTER_SLOTS);
      if (want.output) t.is(toHex(got.dataOut), toHex(want.output), `${label}: reply bytes`);
      else t.is(toHex(got.dataOut), toHex(input), `${label}: passed untouched`);

      // Read as the vector's layout (a frame around an L3 vector is the same reading for the framed
      // programs): the corpus expectation itself must hold.
      if (readsAsVector(name, v, want.input)) {
        if (!tookOwnLayout.has(v.name)) tookOwnLayout.set(v.name, new Set());
        tookOwnLayout.get(v.name)!.add(name);
        t.is(counted, v.expect.verdict, `${label}: corpus verdict`);
        if (counted === Verdict.REPLY && v.expect.replyHex !== undefined) {
          const replyLength = v.expect.replyHex.length / 2;
          t.is(
            toHex(got.dataOut.subarray(got.dataOut.length - replyLength)),
            v.expect.replyHex,
            `${label}: corpus reply`,
          );
          if (!replied.has(v.name)) replied.set(v.name, new Set());
          replied.get(v.name)!.add(name);
        }
      }
    }
    corpusDone.add(name);
  });
}

/** A small deterministic PRNG (mulberry32) for the mutation corpus. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** BPF_PROG_TEST_RUN refuses inputs shorter than an Ethernet header. */
const MIN_TEST_RUN = 14;

/**
 * Derived inputs per vector: every truncation, trailing bytes after it (Ethernet padding, bytes after
 * an inner packet), and byte mutations. For the framed programs the L3 bytes are cut, then framed.
 */
function derivedInputs(name: BpfProgramName, v: Vector, rand: () => number): Buffer[] {
  const bytes = Buffer.from(v.hex, 'hex');
  const l3 = v.layout === 'outer-l2' && name === 'keepalive_tc' ? bytes.subarray(14) : bytes;
  const wrap = (b: Uint8Array) =>
    v.layout === 'outer-l2' && name !== 'keepalive_tc' ? Buffer.from(b) : frameFor(name, b);
  const out: Buffer[] = [];
  for (let end = 0; end < l3.length; end++) out.push(wrap(l3.subarray(0, end)));
  out.push(wrap(Buffer.concat([l3, Buffer.alloc(7, 0xa5)])));
  for (let i = 0; i < 24; i++) {
    const m = Buffer.from(l3);
    const changes = 1 + Math.floor(rand() * 3);
    for (let c = 0; c < changes && m.length > 0; c++) {
      const at = Math.floor(rand() * m.length);
      m[at] = rand() < 0.5 ? m[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
    }
    out.push(wrap(m));
  }
  return out.filter((b) => b.length >= MIN_TEST_RUN);
}

for (const name of KEEPALIVE_PROGRAMS) {
  test(`${name}: truncated, padded and mutated corpus packets get the core's verdict and bytes`, async (t) => {
    const info = BPF_PROGRAMS[name];
    const runner = await BpfTestRunner.open(bpfObjectPath(name), info.type);
    const decision = createDecision();
    const rand = prng(0x6b61 + name.length);
    let runs = 0;
    let replies = 0;
    t.teardown(() => runner.close());
    for (const v of VECTORS) {
      const policy = createPolicy(v.policy ?? {});
      await runner.setPolicy(policy, { underlayIfindex: name === 'keepalive_tc' ? 1 : 0 });
      const inputs = derivedInputs(name, v, rand);
      const results = await runner.runManyCounted(name, inputs);
      inputs.forEach((input, i) => {
        const got = results[i]!;
        const want = bpfDecide(name, input, policy, decision);
        const label = `${name} / ${v.name} / derived ${i} ${toHex(input)}`;
        const delta = got.counterDelta.slice(0, VERDICT_SLOTS);
        if (
          got.retval !== want.retval ||
          delta[want.verdict] !== 1n ||
          delta.reduce((a, b) => a + b, 0n) !== 1n ||
          got.counterDelta[COUNTER_TX_ERROR] !== (want.txError ? 1n : 0n) ||
          toHex(got.dataOut) !== toHex(want.output ?? input)
        ) {
          t.fail(
            `${label}: BPF retval ${got.retval} counters ${delta.join(',')} out ${toHex(got.dataOut)}; ` +
              `core verdict ${want.verdict} retval ${want.retval} out ${toHex(want.output ?? input)}`,
          );
        }
        runs++;
        if (want.verdict === Verdict.REPLY) replies++;
      });
    }
    t.true(runs > 1000, `${runs} runs`);
    t.true(replies > 0, `${replies} replies among them`);
    t.log(`${runs} runs, ${replies} replies`);
  });
}

test('keepalive_gre6 answers the pre-5.14 ip6gre layout (underlay Ethernet in front of the outer IPv6)', async (t) => {
  const runner = await BpfTestRunner.open(bpfObjectPath('keepalive_gre6'), 'xdp');
  t.teardown(() => runner.close());
  await runner.setPolicy(createPolicy());
  const framed = VECTORS.filter((v) => v.layout === 'outer-l2' && v.name.includes('gre6'));
  t.true(framed.length >= 2);
  for (const v of framed) {
    const got = await runner.runCounted('keepalive_gre6', Buffer.from(v.hex, 'hex'));
    t.is(got.retval, XdpAction.TX, v.name);
    t.is(got.counterDelta[Verdict.REPLY], 1n, v.name);
    t.is(toHex(got.dataOut), v.expect.replyHex!, `${v.name}: the bare inner packet, for the tunnel`);
  }
});

test('the keepalive_tc address rule: no local address, no plain reply', async (t) => {
  const runner = await BpfTestRunner.open(bpfObjectPath('keepalive_tc'), 'tc');
  const decision = createDecision();
  t.teardown(() => runner.close());
  const cisco = VECTORS.find((v) => v.layout === 'inner-l3' && v.expect.verdict === Verdict.REPLY)!;
  const input = inputFor('keepalive_tc', cisco);
  const cases: [Parameters<typeof createPolicy>[0], Verdict][] = [
    [{}, Verdict.FORGED_SOURCE],
    [{ remote: '192.0.2.1' }, Verdict.FORGED_SOURCE],
    [{ local: '198.51.100.2' }, Verdict.THIRD_PARTY],
    [{ local: '2001:db8::2', remote: '2001:db8::1' }, Verdict.FORGED_SOURCE],
    [{ local: '198.51.100.2', remote: '192.0.2.1' }, Verdict.REPLY],
  ];
  for (const [options, verdict] of cases) {
    const policy = createPolicy(options);
    await runner.setPolicy(policy, { underlayIfindex: 1 });
    const got = await runner.runCounted('keepalive_tc', input);
    t.is(bpfDecide('keepalive_tc', input, policy, decision).verdict, verdict, JSON.stringify(options));
    t.is(got.counterDelta[verdict], 1n, JSON.stringify(options));
    t.is(got.retval, verdict === Verdict.REPLY ? TcAction.REDIRECT : TcAction.OK, JSON.stringify(options));
  }
});

test.after.always(
  'every vector was read as the corpus means it by some program, every reply vector answered',
  (t) => {
    if (corpusDone.size < KEEPALIVE_PROGRAMS.length) return;
    for (const v of VECTORS) {
      t.true(tookOwnLayout.has(v.name), `${v.name}: no program read it in its layout`);
      if (v.expect.verdict === Verdict.REPLY) t.true(replied.has(v.name), `${v.name}: no program replied`);
    }
  },
);

/** Runs `ip`/`tc` in namespace `ns` (ip netns exec also gives it a private mount namespace: any bpffs iproute2 mounts stays there). */
async function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, cmd, ...args]);
  return stdout;
}

test('ip link attaches the XDP objects (native on a veth for the underlay) and tc the TC one', async (t) => {
  const ns = Netns.create(t, 'bpf').name;
  await inNs(ns, 'ip', ['link', 'add', 'ka0', 'type', 'veth', 'peer', 'name', 'ka1']);
  await inNs(ns, 'ip', ['link', 'set', 'ka0', 'up']);
  await inNs(ns, 'ip', ['link', 'set', 'ka1', 'up']);

  // Without `sec`: iproute2 looks for section "prog".
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'ka0', 'xdp', 'object', bpfObjectPath('keepalive_underlay')]);
  let link = await inNs(ns, 'ip', ['-d', 'link', 'show', 'dev', 'ka0']);
  t.regex(link, /\bxdp\b/, 'attached');
  t.notRegex(link, /xdpgeneric/, 'native XDP, not the generic fallback');
  t.regex(link, /prog\/xdp id \d+/);
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'ka0', 'xdp', 'off']);
  link = await inNs(ns, 'ip', ['-d', 'link', 'show', 'dev', 'ka0']);
  t.notRegex(link, /prog\/xdp/, 'detached');

  // The gre programs go on gre devices (generic XDP); here only their loading through iproute2 is shown.
  for (const name of ['keepalive_gre', 'keepalive_gre6', 'xdp_pass'] as const) {
    await inNs(ns, 'ip', ['link', 'set', 'dev', 'ka1', 'xdpgeneric', 'object', bpfObjectPath(name)]);
    t.regex(await inNs(ns, 'ip', ['-d', 'link', 'show', 'dev', 'ka1']), /xdpgeneric/, name);
    await inNs(ns, 'ip', ['link', 'set', 'dev', 'ka1', 'xdpgeneric', 'off']);
  }

  await inNs(ns, 'tc', ['qdisc', 'add', 'dev', 'ka1', 'clsact']);
  await inNs(ns, 'tc', [
    'filter',
    'add',
    'dev',
    'ka1',
    'ingress',
    'bpf',
    'da',
    'obj',
    bpfObjectPath('keepalive_tc'),
    'sec',
    'tc',
  ]);
  t.regex(await inNs(ns, 'tc', ['filter', 'show', 'dev', 'ka1', 'ingress']), /keepalive_tc/);
});
