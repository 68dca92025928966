/** `gre-keepalive status`: the probed tunnels in this network namespace and the eBPF reflectors' counters. */
import type { Command } from 'commander';
import { AttachError, status as bpfStatus, type DeviceCounters } from '../bpf/attach.ts';
import type { ProbeStatus } from '../gre-keepalive-io/prober.ts';
import { listProbers, queryProber } from '../gre-keepalive-io/status-socket.ts';
import { buildInfoCollector } from '../metrics/build-info.ts';
import { bpfReflectorCollector, probeCollector } from '../metrics/gre-keepalive.ts';
import { renderExposition } from '../metrics/registry.ts';
import { CliError } from './errors.ts';

const STATUS_HELP = `
Probed tunnels (gre-keepalive probe, and the daemon's probes) running in this
network namespace, from any shell in it: state (up/down), when the last answer
came, keepalives sent and answered. Then the devices with the eBPF reflector
(gre-keepalive attach) and its counters per verdict.

--json prints {"probes": [...], "reflectors": [...]}; --metrics the same in the
Prometheus text format, e.g. for node_exporter's textfile collector:
  gre-keepalive status --metrics > /var/lib/prometheus/node-exporter/gre-keepalive.prom`;

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .summary('probed tunnels and their state; devices with the eBPF reflector and its counters')
    .argument('[dev]', 'only this device (or probed tunnel)')
    .option('--json', 'print JSON')
    .option('--metrics', 'print the Prometheus text format (node_exporter textfile, scripts)')
    .addHelpText('after', STATUS_HELP)
    .action(async (dev: string | undefined, opts: { json?: boolean; metrics?: boolean }) => {
      const probes = (await probeStatuses()).filter(
        (p) => dev === undefined || p.device === dev || p.tunnel === dev,
      );
      let reflectors: DeviceCounters[] = [];
      try {
        reflectors = bpfStatus(dev);
      } catch (err) {
        // A probed tunnel without a device of its name (an underlay probe) has no reflector to show.
        if (!(err instanceof AttachError && probes.length > 0)) {
          throw new CliError(
            err instanceof AttachError ? `${err.field}: ${err.message}` : (err as Error).message,
          );
        }
      }
      if (opts.metrics) {
        const collectors = [
          buildInfoCollector('gre-keepalive'),
          bpfReflectorCollector(() => reflectors),
          probeCollector(() => probes),
        ];
        process.stdout.write(renderExposition(collectors.flatMap((c) => c())));
        return;
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ probes, reflectors }, null, 2)}\n`);
        return;
      }
      for (const p of probes) process.stdout.write(`${probeLine(p)}\n`);
      if (reflectors.length === 0 && probes.length === 0) {
        process.stdout.write(
          dev
            ? `${dev}: not probed, no greoip keepalive program attached\n`
            : 'no probed tunnels, no greoip keepalive program attached\n',
        );
      }
      for (const s of reflectors) {
        const seen = Object.entries(s.counters)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`);
        process.stdout.write(
          `${s.dev}: ${s.prog} (${s.hook}, id ${s.id}): ${seen.join(', ') || 'no packets yet'}\n`,
        );
      }
    });
}

async function probeStatuses(): Promise<ProbeStatus[]> {
  const all: ProbeStatus[] = [];
  for (const pid of listProbers()) {
    try {
      const answer = (await queryProber(pid)) as ProbeStatus[] | { error: string };
      if (!Array.isArray(answer)) throw new CliError(`prober ${pid}: ${answer.error}`);
      all.push(...answer);
    } catch (err) {
      if (err instanceof CliError) throw err;
      // It exited between the listing and the question.
    }
  }
  return all;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function probeLine(p: ProbeStatus): string {
  const key = p.okey === null ? '' : ` key ${p.okey}`;
  const last = p.lastAnswerAgeMs === null ? 'no answer yet' : `last answer ${seconds(p.lastAnswerAgeMs)} ago`;
  const carrier = p.carrier === null || p.carrier === 'none' ? '' : `, carrier by ${p.carrier}`;
  const error = p.error ? ` NOT PROBING: ${p.error}` : '';
  return (
    `${p.tunnel}: ${p.state} for ${seconds(p.stateAgeMs)}, ${p.local ?? '?'} -> ${p.remote ?? '?'}${key}, ${last}, ` +
    `sent ${p.sent}, answered ${p.answers} (every ${p.interval} s, down after ${p.retries}${carrier}; pid ${p.pid})${error}`
  );
}
