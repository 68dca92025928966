/**
 * The probe core: request bytes against scapy-built packets (GRE, GRE with key and checksum, both GRE6
 * layouts), strict answer matching on scapy-built answers and near misses, and the state machine and
 * schedule on a fake clock (up, silence, down, recovery, jitter).
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';
import fc from 'fast-check';
import {
  AnswerForm,
  compileProbe,
  ProbeSet,
  type ProbeSpec,
  ProbeSpecError,
} from '../../src/gre-keepalive/probe.ts';
import { ProbeMachine, ProbeSchedule } from '../../src/gre-keepalive/probe-state.ts';
import { REPO_DIR } from '../helpers.ts';

interface Vectors {
  requests: { name: string; spec: ProbeSpec; hex: string }[];
  answers: { name: string; probe: number | null; form: 'plain' | 'tunnelled' | 'none'; hex: string }[];
}
/** Debian's python3 sees python3-scapy; the pyenv python3 on PATH does not. */
const VECTORS = JSON.parse(
  execFileSync('/usr/bin/python3', [`${REPO_DIR}test/gre-keepalive/probe_vectors.py`], { encoding: 'utf8' }),
) as Vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

for (const v of VECTORS.requests) {
  test(`request bytes equal scapy's: ${v.name}`, (t) => {
    t.is(hex(compileProbe(v.spec).request), v.hex);
  });
}

test('the request carries the answer: the inner packet, remote -> local', (t) => {
  for (const v of VECTORS.requests) {
    const p = compileProbe(v.spec);
    t.true(v.hex.endsWith(hex(p.answer)), v.name);
    t.is(p.answer.length, p.family === 4 ? (p.ikey === null ? 24 : 28) : p.ikey === null ? 44 : 48, v.name);
  }
});

const probes = new ProbeSet(VECTORS.requests.map((v) => compileProbe(v.spec)));
for (const v of VECTORS.answers) {
  test(`answer matching: ${v.name}`, (t) => {
    const bytes = Buffer.from(v.hex, 'hex');
    t.is(probes.match(bytes, 0, bytes.length), v.probe ?? -1);
    const form = { none: AnswerForm.NONE, plain: AnswerForm.PLAIN, tunnelled: AnswerForm.TUNNELLED }[v.form];
    t.is(probes.form, form);
  });
}

test('an answer is matched at an offset, within its end only', (t) => {
  const answer = Buffer.from(VECTORS.answers[0]!.hex, 'hex');
  const buf = Buffer.concat([Buffer.alloc(7, 0xee), answer, Buffer.alloc(5, 0xee)]);
  t.is(probes.match(buf, 7, 7 + answer.length), 0);
  t.is(probes.match(buf, 7, 7 + answer.length - 1), -1, 'one byte short');
  t.is(probes.match(buf, 7, 7 + answer.length + 1), -1, 'one byte long');
});

test('two tunnels to one peer are told apart by their keys', (t) => {
  const base = { local: '192.0.2.1', remote: '198.51.100.2' };
  const set = new ProbeSet([
    compileProbe({ ...base, okey: 1, ikey: 1 }),
    compileProbe({ ...base, okey: 2, ikey: 2 }),
    compileProbe(base),
  ]);
  for (const i of [0, 1, 2]) {
    const answer = set.tunnels[i]!.answer;
    t.is(set.match(answer, 0, answer.length), i);
  }
});

test('random and truncated input never matches by accident and never throws', (t) => {
  const answers = VECTORS.answers.map((a) => Buffer.from(a.hex, 'hex'));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      t.is(probes.match(bytes, 0, bytes.length), -1);
    }),
    { numRuns: 5000 },
  );
  for (const a of answers) for (let end = 0; end < a.length; end++) probes.match(a, 0, end);
  t.pass();
});

test('specs that must not probe are refused, naming the field', (t) => {
  const bad: [ProbeSpec, RegExp][] = [
    [{ local: '192.0.2.1', remote: 'peer' }, /^remote: "peer" is not an IPv4 or IPv6 address/],
    [{ local: '192.0.2.1', remote: '2001:db8::2' }, /^remote: .* not of the same family/],
    [{ local: '192.0.2.1', remote: '0.0.0.0' }, /^remote: 0.0.0.0 is not a unicast peer address/],
    [{ local: '192.0.2.1', remote: '224.0.0.5' }, /^remote: .* not a unicast/],
    [{ local: '2001:db8::1', remote: 'ff02::1' }, /^remote: .* not a unicast/],
    [{ local: '0.0.0.0', remote: '192.0.2.2' }, /^local: /],
    [{ local: '192.0.2.1', remote: '192.0.2.2', layout: 'gre6' }, /^layout: gre6 does not carry IPv4/],
    [{ local: '2001:db8::1', remote: '2001:db8::2', layout: 'gre' }, /^layout: gre does not carry IPv6/],
    [{ local: '192.0.2.1', remote: '192.0.2.2', ttl: 0 }, /^ttl: 0 is not 1 to 255/],
    [{ local: '192.0.2.1', remote: '192.0.2.2', okey: 2 ** 32 }, /^okey: /],
    [{ local: '192.0.2.1', remote: '192.0.2.2', ikey: -1 }, /^ikey: /],
  ];
  for (const [spec, message] of bad) {
    const err = t.throws(() => compileProbe(spec), { instanceOf: ProbeSpecError });
    t.regex(err!.message, message);
  }
});

const INTERVAL = 1000;

/**
 * Drives a machine and its schedule on a fake clock in 10 ms steps, as the prober does: a tick sends a
 * probe (late by `late(tick)` ms), an answered probe's answer comes back `rtt(tick)` ms later, and the
 * check runs at every step (the prober's timer at the deadline, to 10 ms). Returns the changes with the
 * tick count at that time and the silence (ms since the last answer) when it went down.
 */
function simulate(
  retries: number,
  ticks: number,
  answered: (tick: number) => boolean,
  late: (tick: number) => number = () => 0,
  rtt: (tick: number) => number = () => 50,
) {
  const m = new ProbeMachine(retries, INTERVAL, 0);
  const schedule = new ProbeSchedule(INTERVAL, 0, 0.5);
  const log: { tick: number; at: number; change: string; silence: number }[] = [];
  const answers: number[] = [];
  let tick = 0;
  let nextTick = schedule.delay(0) + late(0);
  for (let now = 0; tick < ticks || answers.length > 0; now += 10) {
    if (tick < ticks && now >= nextTick) {
      m.tick(now);
      schedule.advance(now);
      if (answered(tick)) answers.push(now + rtt(tick));
      tick++;
      nextTick = now + schedule.delay(now) + late(tick);
    }
    while (answers.length > 0 && answers[0]! <= now) {
      answers.shift();
      const change = m.answer(now);
      if (change) log.push({ tick, at: now, change, silence: 0 });
    }
    const last = m.lastAnswerMs;
    const change = m.check(now);
    if (change) log.push({ tick, at: now, change, silence: now - (last ?? 0) });
  }
  return { m, log };
}

test('state: up while answered, down after RETRIES intervals of silence, up again at the next answer', (t) => {
  // Probes 0-9 answered, 10-19 not, 20 on answered again.
  const { m, log } = simulate(3, 30, (tick) => tick < 10 || tick >= 20);
  t.deepEqual(
    log.map((l) => [l.tick, l.change]),
    [
      [13, 'down'], // probes 10, 11, 12 unanswered, 3.5 intervals after the answer to probe 9
      [21, 'up'], // probe 20's answer
    ],
  );
  t.is(log[0]!.silence, 3 * INTERVAL + INTERVAL / 2);
  t.is(m.sent, 30);
  t.is(m.answers, 20);
  t.is(m.state, 'up');
  t.is(m.changes, 2);
});

test('state: a peer that never answers is down RETRIES intervals (+ half) after the start; retries 1', (t) => {
  const never = simulate(3, 10, () => false).log;
  t.deepEqual(
    never.map((l) => [l.change, l.at]),
    [['down', 3500]],
  );
  // retries 1: probe 1 unanswered; down 1.5 intervals after the answer to probe 0.
  const one = simulate(1, 4, (tick) => tick === 0).log;
  t.deepEqual(
    one.map((l) => [l.change, l.silence]),
    [['down', 1500]],
  );
  t.throws(() => new ProbeMachine(0, INTERVAL, 0), { instanceOf: RangeError });
  t.throws(() => new ProbeMachine(1, 0, 0), { instanceOf: RangeError });
});

test('state: one answer in every RETRIES probes keeps the tunnel up; a lost probe or two is no flap', (t) => {
  t.deepEqual(simulate(3, 60, (tick) => tick % 3 === 0).log, []);
  t.deepEqual(simulate(3, 60, (tick) => tick % 7 !== 3 && tick % 7 !== 4).log, []);
});

test('state: a stalled sender decides nothing from silence alone', (t) => {
  const m = new ProbeMachine(3, INTERVAL, 0);
  m.tick(0);
  t.is(m.check(60_000), null, 'one probe unanswered, however long ago');
  m.tick(60_001);
  m.tick(61_001);
  t.is(m.check(61_002), 'down');
});

test('jitter: late timers and answers up to half an interval late never change the outcome', (t) => {
  // Timers up to 0.4 interval late, answers back 10 to 500 ms after their probe.
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 41, maxLength: 41 }),
      fc.array(fc.integer({ min: 10, max: 500 }), { minLength: 41, maxLength: 41 }),
      (lates, rtts) => {
        const { log } = simulate(
          3,
          40,
          (tick) => tick < 10 || tick >= 25,
          (tick) => lates[tick]!,
          (tick) => rtts[tick]!,
        );
        t.deepEqual(
          log.map((l) => l.change),
          ['down', 'up'],
        );
        // Never before RETRIES intervals of silence; within the bound, RETRIES + 1 intervals.
        t.true(log[0]!.silence >= 3 * INTERVAL && log[0]!.silence <= 4 * INTERVAL, `${log[0]!.silence}`);
      },
    ),
    { numRuns: 200 },
  );
});

test('schedule: a random first phase, then fixed steps from the plan; a stalled loop realigns', (t) => {
  const s = new ProbeSchedule(10_000, 5_000, 0.25);
  t.is(s.delay(5_000), 2_500);
  s.advance(7_600); // fired 100 ms late: the next tick stays on the plan
  t.is(s.delay(7_600), 9_900);
  s.advance(60_000); // stalled for far more than an interval: no burst of catch-up ticks
  t.is(s.delay(60_000), 10_000);
  t.throws(() => new ProbeSchedule(0, 0, 0), { instanceOf: RangeError });
});

test('the machine dates answers and changes from the injected clock', (t) => {
  const m = new ProbeMachine(2, 100, 100);
  t.is(m.sinceMs, 100);
  t.is(m.lastAnswerMs, null);
  t.is(m.answer(150), null);
  t.is(m.duplicates, 1, 'an answer before any probe is a copy, not an answer');
  t.is(m.answers, 0);
  m.tick(200);
  t.is(m.answer(250, true), null);
  t.is(m.answer(260), null);
  t.is(m.lastAnswerMs, 250);
  t.is(m.tunnelledAnswers, 1);
  t.is(m.answers, 1);
  t.is(m.duplicates, 2, 'the same probe answered plain and re-tunnelled counts once');
  m.tick(300);
  t.is(m.check(400), null, 'one probe unanswered');
  m.tick(400);
  t.is(m.deadlineMs, 250 + 2 * 100 + 50);
  t.is(m.check(499), null, 'before the deadline');
  t.is(m.check(500), 'down');
  t.is(m.sinceMs, 500);
  t.is(m.answer(510), 'up');
  t.is(m.sinceMs, 510);
});
