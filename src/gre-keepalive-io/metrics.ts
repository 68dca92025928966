/**
 * The GRE keepalive's numbers as metric samples (Prometheus naming), for the
 * metrics module to export. That module (src/metrics*, issue 15) is not on
 * main yet: these functions are the seam it plugs into; nothing here serves
 * HTTP or formats text.
 */
import type { ProbeStatus } from './prober.ts';
import type { ReflectorCounters } from './reflector.ts';

export interface MetricSample {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labels: Record<string, string>;
  value: number;
}

/** One sample set per probed tunnel: state, answers, age of the last answer, changes. */
export function probeSamples(statuses: readonly ProbeStatus[]): MetricSample[] {
  return statuses.flatMap((s) => {
    const labels = { tunnel: s.tunnel, device: s.device ?? '', remote: s.remote ?? '' };
    const sample = (name: string, type: MetricSample['type'], help: string, value: number): MetricSample => ({
      name,
      help,
      type,
      labels,
      value,
    });
    const out = [
      sample(
        'greoip_gre_probe_up',
        'gauge',
        '1 while the probed tunnel answers, 0 while it is down',
        s.state === 'up' ? 1 : 0,
      ),
      sample('greoip_gre_probe_sent_total', 'counter', 'keepalives sent', s.sent),
      sample('greoip_gre_probe_answers_total', 'counter', 'keepalives answered', s.answers),
      sample('greoip_gre_probe_state_changes_total', 'counter', 'up/down changes', s.changes),
      sample(
        'greoip_gre_probe_probing',
        'gauge',
        '0 while nothing is sent (device missing or unfit)',
        s.error === null ? 1 : 0,
      ),
    ];
    if (s.lastAnswerAgeMs !== null)
      out.push(
        sample(
          'greoip_gre_probe_last_answer_age_seconds',
          'gauge',
          'seconds since the last answer',
          s.lastAnswerAgeMs / 1000,
        ),
      );
    return out;
  });
}

/** The userland reflector's counters: requests by verdict, answers, and what the spoofing defences held back. */
export function reflectorSamples(c: ReflectorCounters): MetricSample[] {
  const counter = (
    name: string,
    help: string,
    value: number,
    labels: Record<string, string> = {},
  ): MetricSample => ({
    name,
    help,
    type: 'counter',
    labels,
    value,
  });
  return [
    ...Object.entries(c.verdicts).map(([verdict, n]) =>
      counter('greoip_gre_reflector_requests_total', 'GRE packets seen, by verdict', n, { verdict }),
    ),
    counter('greoip_gre_reflector_replies_total', 'answers sent', c.repliesSent),
    counter('greoip_gre_reflector_reply_errors_total', 'answers the kernel did not take', c.replyErrors),
    counter(
      'greoip_gre_reflector_rate_limited_total',
      'valid requests not answered: over the per-source rate',
      c.rateLimited,
    ),
    counter(
      'greoip_gre_reflector_unresolved_total',
      'answers sent while their neighbour was unresolved',
      c.unresolved,
    ),
    counter(
      'greoip_gre_reflector_unresolved_dropped_total',
      'answers to unresolved neighbours dropped (their socket full)',
      c.unresolvedDropped,
    ),
  ];
}
