/**
 * The GRE keepalive reflector's metric families: packets seen by verdict (reply, or the reason it was
 * left alone), replies sent and failed; from the userland reflector's counters or, for the eBPF
 * programs, from their per-CPU counter maps (labels `dev`, `program`, `hook`). And the probed
 * tunnels' (gre-keepalive probe): state, keepalives sent and answered, last answer, changes.
 */
import type { DeviceCounters } from '../bpf/attach.ts';
import type { ProbeStatus } from '../gre-keepalive-io/prober.ts';
import type { ReflectorCounters } from '../gre-keepalive-io/reflector.ts';
import { type Collector, family, type Sample } from './registry.ts';

const VERDICTS = 'greoip_gre_keepalive_packets_total';
const VERDICTS_HELP = 'GRE packets the reflector saw, by verdict: reply, or why it left the packet alone.';
const REPLY_ERRORS = 'greoip_gre_keepalive_reply_errors_total';
const REPLY_ERRORS_HELP = 'Keepalive replies that could not be sent.';

export function reflectorCollector(counters: () => ReflectorCounters): Collector {
  return () => {
    const c = counters();
    const engine = { engine: 'userland' };
    return [
      family(
        VERDICTS,
        'counter',
        VERDICTS_HELP,
        Object.entries(c.verdicts).map(
          ([verdict, value]): Sample => ({ labels: { ...engine, verdict }, value }),
        ),
      ),
      family('greoip_gre_keepalive_replies_sent_total', 'counter', 'Keepalive replies sent.', [
        { labels: engine, value: c.repliesSent },
      ]),
      family(REPLY_ERRORS, 'counter', REPLY_ERRORS_HELP, [{ labels: engine, value: c.replyErrors }]),
      family(
        'greoip_gre_keepalive_rate_limited_total',
        'counter',
        'Valid keepalive requests not answered: their source was over its rate (--rate-limit).',
        [{ labels: engine, value: c.rateLimited }],
      ),
      family(
        'greoip_gre_keepalive_unresolved_replies_total',
        'counter',
        'Replies sent while their on-link destination was unresolved (ARP/NDP), through their own socket.',
        [{ labels: engine, value: c.unresolved }],
      ),
      family(
        'greoip_gre_keepalive_unresolved_dropped_total',
        'counter',
        'Replies to unresolved destinations dropped because their socket was full.',
        [{ labels: engine, value: c.unresolvedDropped }],
      ),
    ];
  };
}

/** The probed tunnels (gre-keepalive probe, the daemon's probes): labels `tunnel`, `device`, `remote`. */
export function probeCollector(statuses: () => readonly ProbeStatus[]): Collector {
  return () => {
    const all = statuses();
    const labelsOf = (s: ProbeStatus) => ({
      tunnel: s.tunnel,
      device: s.device ?? '',
      remote: s.remote ?? '',
    });
    const each = (value: (s: ProbeStatus) => number | null): Sample[] =>
      all.flatMap((s) => {
        const v = value(s);
        return v === null ? [] : [{ labels: labelsOf(s), value: v }];
      });
    return [
      family(
        'greoip_gre_probe_up',
        'gauge',
        '1 while the probed tunnel answers, 0 while it is down.',
        each((s) => (s.state === 'up' ? 1 : 0)),
      ),
      family(
        'greoip_gre_probe_probing',
        'gauge',
        '1 while keepalives are sent; 0 while the device is missing or unfit.',
        each((s) => (s.error === null ? 1 : 0)),
      ),
      family(
        'greoip_gre_probe_keepalives_sent_total',
        'counter',
        'GRE keepalives sent to the peer.',
        each((s) => s.sent),
      ),
      family(
        'greoip_gre_probe_answers_total',
        'counter',
        'GRE keepalives the peer answered.',
        each((s) => s.answers),
      ),
      family(
        'greoip_gre_probe_state_changes_total',
        'counter',
        'Up/down changes of the probed tunnel.',
        each((s) => s.changes),
      ),
      family(
        'greoip_gre_probe_last_answer_age_seconds',
        'gauge',
        'Seconds since the peer last answered (absent before its first answer).',
        each((s) => (s.lastAnswerAgeMs === null ? null : s.lastAnswerAgeMs / 1000)),
      ),
    ];
  };
}

/** The eBPF programs' counters, as `gre-keepalive status` reads them from the maps. */
export function bpfReflectorCollector(devices: () => readonly DeviceCounters[]): Collector {
  return () => {
    const all = devices();
    const labelsOf = (d: DeviceCounters) => ({ engine: 'bpf', dev: d.dev, program: d.prog, hook: d.hook });
    return [
      family(
        VERDICTS,
        'counter',
        VERDICTS_HELP,
        all.flatMap((d) =>
          Object.entries(d.counters)
            .filter(([verdict]) => verdict !== 'tx_error')
            .map(([verdict, value]): Sample => ({ labels: { ...labelsOf(d), verdict }, value })),
        ),
      ),
      family(
        REPLY_ERRORS,
        'counter',
        REPLY_ERRORS_HELP,
        all.map((d) => ({ labels: labelsOf(d), value: d.counters.tx_error ?? 0 })),
      ),
    ];
  };
}
