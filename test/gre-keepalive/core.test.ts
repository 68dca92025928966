import test from 'ava';
import fc from 'fast-check';
import {
  createDecision,
  createPolicy,
  decide,
  PolicyError,
  VERDICT_NAMES,
  Verdict,
} from '../../src/gre-keepalive/index.ts';
import { VECTORS } from './vectors.ts';

const NAMES = VERDICT_NAMES;

for (const v of VECTORS) {
  test(`corpus: ${v.name}`, (t) => {
    const bytes = Buffer.from(v.hex, 'hex');
    const out = createDecision();
    const verdict = decide(bytes, 0, bytes.length, v.layout, createPolicy(v.policy ?? {}), out);
    t.is(NAMES[verdict], NAMES[v.expect.verdict]);
    if (v.expect.replyHex !== undefined)
      t.is(Buffer.from(out.reply.subarray(0, out.replyLength)).toString('hex'), v.expect.replyHex);
  });
}

test('the corpus covers every verdict and every layout', (t) => {
  t.deepEqual(new Set(VECTORS.map((v) => v.expect.verdict)).size, Object.keys(Verdict).length);
  t.deepEqual([...new Set(VECTORS.map((v) => v.layout))].sort(), ['inner-l3', 'outer-l2', 'outer-l3']);
});

test('the reply goes to the outer source (IPv4 and IPv6) and nat rewrites are flagged', (t) => {
  const out = createDecision();
  const cisco = Buffer.from(VECTORS[0]!.hex, 'hex');
  t.is(decide(cisco, 0, cisco.length, 'outer-l3', createPolicy(), out), Verdict.REPLY);
  t.deepEqual([...out.dst.subarray(0, 4)], [192, 0, 2, 1]);
  t.is(out.family, 4);
  t.false(out.rewritten);
  const nat = VECTORS.find((v) => v.name.startsWith('nat: private'))!;
  const bytes = Buffer.from(nat.hex, 'hex');
  t.is(decide(bytes, 0, bytes.length, 'outer-l3', createPolicy({ mode: 'nat' }), out), Verdict.REPLY);
  t.true(out.rewritten);
  const gre6 = Buffer.from(VECTORS.find((v) => v.name.startsWith('mikrotik gre6'))!.hex, 'hex');
  t.is(decide(gre6, 0, gre6.length, 'outer-l3', createPolicy(), out), Verdict.REPLY);
  t.is(out.family, 6);
  t.is(Buffer.from(out.dst).toString('hex'), '20010db8000000000000000000000001');
  t.is(out.replyLength, 44, 'MikroTik GRE6 keepalive reply: 40 + 4 bytes');
});

test('every truncation of every corpus packet yields a verdict, never an exception', (t) => {
  const out = createDecision();
  let n = 0;
  for (const v of VECTORS) {
    const bytes = Buffer.from(v.hex, 'hex');
    const policy = createPolicy(v.policy ?? {});
    for (let end = 0; end < bytes.length; end++) {
      const verdict = decide(bytes, 0, end, v.layout, policy, out);
      if (verdict === Verdict.REPLY)
        t.fail(`${v.name}: a truncated packet (${end}/${bytes.length}) was answered`);
      n++;
    }
  }
  t.true(n > 2000);
});

test('random and mutated bytes: a verdict in range, and a reply only for a well-formed keepalive', (t) => {
  const out = createDecision();
  const policy = createPolicy();
  const samples = VECTORS.map((v) => Buffer.from(v.hex, 'hex'));
  fc.assert(
    fc.property(
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.constantFrom('outer-l3', 'outer-l2', 'inner-l3' as const),
      (which, flips, layout) => {
        const bytes = Buffer.from(samples[which % samples.length]!);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        const verdict = decide(bytes, 0, bytes.length, layout, policy, out);
        if (verdict < 0 || verdict >= NAMES.length) return false;
        // A reply is always a small GRE packet whose source is not forged.
        return verdict !== Verdict.REPLY || (out.replyLength > 0 && out.replyLength <= 128);
      },
    ),
    { numRuns: 20000 },
  );
  t.pass('property held for every generated input');
});

test('policy errors name the field', (t) => {
  t.throws(() => createPolicy({ peers: ['10.0.0.0/33'] }), {
    instanceOf: PolicyError,
    message: /^peer: "10\.0\.0\.0\/33"/,
  });
  t.throws(() => createPolicy({ peers: ['nope'] }), { message: /^peer:/ });
  t.throws(() => createPolicy({ mode: 'loose' as 'nat' }), { message: /^policy:/ });
  t.throws(() => createPolicy({ local: '1.2.3' }), { message: /^local:/ });
  t.notThrows(() => createPolicy({ peers: ['192.0.2.0/24', '2001:db8::/32', '203.0.113.5'] }));
});
