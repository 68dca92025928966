/** The metric samples the GRE keepalive hands to the metrics module (the seam until it lands). */
import test from 'ava';
import { probeSamples, reflectorSamples } from '../../src/gre-keepalive-io/metrics.ts';
import type { ProbeStatus } from '../../src/gre-keepalive-io/prober.ts';

const status: ProbeStatus = {
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
  stateAgeMs: 1_000,
  sent: 12,
  answers: 8,
  tunnelledAnswers: 0,
  changes: 1,
  carrier: 'admin',
  error: null,
};

test('a probed tunnel: up 0 while down, counts, the last answer age in seconds', (t) => {
  const byName = Object.fromEntries(probeSamples([status]).map((s) => [s.name, s]));
  t.is(byName.greoip_gre_probe_up!.value, 0);
  t.deepEqual(byName.greoip_gre_probe_up!.labels, { tunnel: 'gre1', device: 'gre1', remote: '198.51.100.2' });
  t.is(byName.greoip_gre_probe_sent_total!.value, 12);
  t.is(byName.greoip_gre_probe_answers_total!.value, 8);
  t.is(byName.greoip_gre_probe_last_answer_age_seconds!.value, 31.5);
  t.is(byName.greoip_gre_probe_probing!.value, 1);
  const never = probeSamples([{ ...status, state: 'up', lastAnswerAgeMs: null, error: 'no remote' }]);
  t.false(
    never.some((s) => s.name === 'greoip_gre_probe_last_answer_age_seconds'),
    'no age before an answer',
  );
  t.is(never.find((s) => s.name === 'greoip_gre_probe_up')!.value, 1);
  t.is(never.find((s) => s.name === 'greoip_gre_probe_probing')!.value, 0);
});

test('the reflector: requests by verdict and what the spoofing defences held back', (t) => {
  const samples = reflectorSamples({
    verdicts: { reply: 5, forged_source: 2 },
    repliesSent: 4,
    replyErrors: 1,
    rateLimited: 7,
    unresolved: 3,
    unresolvedDropped: 1,
  });
  t.deepEqual(
    samples
      .filter((s) => s.name === 'greoip_gre_reflector_requests_total')
      .map((s) => [s.labels.verdict, s.value]),
    [
      ['reply', 5],
      ['forged_source', 2],
    ],
  );
  t.is(samples.find((s) => s.name === 'greoip_gre_reflector_rate_limited_total')!.value, 7);
  t.true(samples.every((s) => s.type === 'counter'));
});
