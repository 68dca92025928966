/**
 * The GRE keepalive reflector's metric families: packets seen by verdict (reply, or the reason it was
 * left alone), replies sent and failed; from the userland reflector's counters or, for the eBPF
 * programs, from their per-CPU counter maps (labels `dev`, `program`, `hook`).
 */
import type { DeviceCounters } from '../bpf/attach.ts';
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
