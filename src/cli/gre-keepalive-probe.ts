/** `gre-keepalive probe`: send keepalives for gre tunnels and take them down when the peer is gone. */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  DEFAULT_INTERVAL_S,
  DEFAULT_RETRIES,
  INTERVAL_RANGE_S,
  PROBE_LAYOUTS,
  type ProbeLayout,
  type ProbeSpec,
  type ProbeTarget,
  RETRIES_RANGE,
} from '../gre-keepalive/index.ts';
import { Prober, ProbeTargetError } from '../gre-keepalive-io/prober.ts';
import { UserlandReflector } from '../gre-keepalive-io/reflector.ts';
import { probeCollector, reflectorCollector } from '../metrics/gre-keepalive.ts';
import { createNotifier } from '../systemd/notify.ts';
import { CliError } from './errors.ts';
import {
  parseRateLimit,
  peerOption,
  policyFrom,
  policyOption,
  rateLimitOption,
} from './gre-keepalive-options.ts';
import {
  loggerFrom,
  metricsAddressFrom,
  type ServiceOptions,
  serviceOptions,
  startMetrics,
} from './service-options.ts';

const PROBE_HELP = `
Does for a Linux GRE tunnel what "keepalive 10 3" does on a Cisco tunnel:
every --interval seconds it sends the peer the keepalive a router would send
(outer local->remote / GRE / inner remote->local / GRE protocol 0; for
ip6gre the MikroTik GRE6 layout, or the plain IPv6-in-GRE layout with
--layout gre6), with the tunnel's addresses, key, TTL, TOS and checksum
setting read from the device before every probe. The peer sends the inner
packet back (Cisco, MikroTik, Huawei and greoip's reflector do; so does a
Linux peer with accept_local=1). Answers are accepted plain or re-tunnelled,
and only from that peer, with that tunnel's key and the size we sent.

When --retries intervals pass without an answer (the last keepalive gets
half an interval more) the tunnel is down: the device's carrier goes off so
routes over it stop being used and routing daemons see it, --on-down runs,
and probing goes on; at the next answer it is up again and --on-up runs. With
the defaults, down 30 to 35 s after the last answer. Hooks get GRE_KEEPALIVE_STATE (up/down),
GRE_KEEPALIVE_TUNNEL, GRE_KEEPALIVE_DEVICE, GRE_KEEPALIVE_LOCAL and
GRE_KEEPALIVE_REMOTE in their environment.

The carrier: IFLA_PROTO_DOWN where the kernel supports it on the device
(the link stays administratively up). Debian's 6.1 and 6.12 kernels refuse it
on gre and ip6gre (EOPNOTSUPP), so there the device is set administratively
down; the kernel then removes its routes, and its IPv6 addresses unless
keep_addr_on_down is set (IPv4 addresses stay). They are read just before and
put back when the device comes up. --no-carrier leaves devices alone (state,
status and hooks only). On exit (SIGINT, SIGTERM) a device taken down is
brought back up.

Without a device, --local and --remote probe over the underlay only: for a
host whose GRE runs elsewhere, or a test. Repeat --remote for several peers;
each is probed from the --local of its family (one IPv4, one IPv6).
Nothing is sent for a device that is not a gre or ip6gre tunnel or has no
remote; a device that loses its remote stops being probed.

"gre-keepalive status" shows every probed tunnel in this network namespace.
--reflect also answers the peer's keepalives from this process (as "run").
Needs CAP_NET_RAW and CAP_NET_ADMIN. Examples:
  gre-keepalive probe gre1
  gre-keepalive probe gre1 gre2 --interval 5 --retries 4 --on-down 'logger gre down'
  gre-keepalive probe tun6 --layout gre6
  gre-keepalive probe --local 192.0.2.1 --remote 198.51.100.2 --key 77`;

interface ProbeOptions extends ServiceOptions {
  local: string[];
  remote: string[];
  key?: string;
  ttl?: string;
  layout?: ProbeLayout;
  interval: string;
  retries: string;
  onDown?: string;
  onUp?: string;
  carrier: boolean;
  reflect?: boolean;
  peer: string[];
  policy: 'strict' | 'nat';
  rateLimit: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerProbeCommand(program: Command): void {
  const command = program
    .command('probe')
    .summary('send keepalives for gre tunnels; take a tunnel down when its peer stops answering')
    .description('Probe gre/ip6gre tunnels with GRE keepalives, as routers do, and follow their state.')
    .argument('[dev...]', 'gre or ip6gre devices to probe')
    .addOption(
      new Option('--local <address>', 'without a device: our underlay address (one per family)')
        .argParser(collect)
        .default([], 'none'),
    )
    .addOption(
      new Option('--remote <address>', 'without a device: a peer (repeatable)')
        .argParser(collect)
        .default([], 'none'),
    )
    .option('--key <key>', 'without a device: the GRE key, both ways (0-4294967295)')
    .option('--ttl <ttl>', 'without a device: outer TTL / hop limit (default 255)')
    .addOption(
      new Option(
        '--layout <layout>',
        'GRE over IPv6: gre6-mikrotik (inner GRE 0x86DD) or gre6 (inner 0)',
      ).choices(PROBE_LAYOUTS.filter((l) => l !== 'gre')),
    )
    .option('--interval <seconds>', 'seconds between keepalives', String(DEFAULT_INTERVAL_S))
    .option('--retries <n>', 'intervals without an answer before the tunnel is down', String(DEFAULT_RETRIES))
    .option('--on-down <command>', 'shell command run when a tunnel goes down')
    .option('--on-up <command>', 'shell command run when a tunnel comes back up')
    .option('--no-carrier', "do not change the devices' carrier")
    .option('--reflect', 'also answer keepalives in this process (the userland reflector)')
    .addOption(peerOption())
    .addOption(policyOption())
    .addOption(rateLimitOption());
  for (const option of serviceOptions()) command.addOption(option);
  command.addHelpText('after', PROBE_HELP).action(async (devs: string[], opts: ProbeOptions) => {
    await probe(devs, opts);
  });
}

function number(option: string, text: string, min: number, max: number, integer: boolean): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const what = integer ? 'a whole number' : 'a number';
    throw new CliError(`${option}: "${text}" is not ${what} from ${min} to ${max}`);
  }
  return n;
}

/** The targets the command line asks for; every mistake names its option. */
export function targetsFrom(devs: string[], opts: ProbeOptions): ProbeTarget[] {
  const intervalMs = Math.round(number('--interval', opts.interval, ...INTERVAL_RANGE_S, false) * 1000);
  const retries = number('--retries', opts.retries, ...RETRIES_RANGE, true);
  const common = { intervalMs, retries, onDown: opts.onDown, onUp: opts.onUp, carrier: opts.carrier };
  const underlay = opts.local.length > 0 || opts.remote.length > 0;
  if (devs.length > 0 && underlay)
    throw new CliError('give devices or --local/--remote, not both (a device has its own addresses)');
  if (devs.length > 0) {
    for (const o of ['key', 'ttl'] as const)
      if (opts[o] !== undefined)
        throw new CliError(`--${o}: read from the device; only for --local/--remote`);
    return devs.map((device) => ({ device, ...(opts.layout ? { layout: opts.layout } : {}), ...common }));
  }
  if (opts.local.length === 0 || opts.remote.length === 0)
    throw new CliError('give one or more gre devices, or --local ADDR --remote ADDR (see --help)');
  const key = opts.key === undefined ? null : number('--key', opts.key, 0, 0xffffffff, true);
  const ttl = opts.ttl === undefined ? 255 : number('--ttl', opts.ttl, 1, 255, true);
  const locals = new Map<4 | 6, string>();
  for (const local of opts.local) {
    const family = familyOf('--local', local);
    if (locals.has(family))
      throw new CliError(`--local: one address per family (${locals.get(family)} and ${local})`);
    locals.set(family, local);
  }
  return opts.remote.map((remote) => {
    const family = familyOf('--remote', remote);
    const local = locals.get(family);
    if (local === undefined) throw new CliError(`--remote: ${remote} needs an IPv${family} --local`);
    const spec: ProbeSpec = { local, remote, okey: key, ikey: key, ttl };
    if (family === 6 && opts.layout) spec.layout = opts.layout;
    return { spec, ...common };
  });
}

function familyOf(option: string, text: string): 4 | 6 {
  if (isIP(text) === 0) throw new CliError(`${option}: "${text}" is not an IPv4 or IPv6 address`);
  return isIP(text) === 4 ? 4 : 6;
}

async function probe(devs: string[], opts: ProbeOptions): Promise<void> {
  const targets = targetsFrom(devs, opts);
  const log = loggerFrom(opts, 'gre-keepalive');
  const metricsAddress = metricsAddressFrom(opts);
  const notifier = createNotifier();
  const reflector = opts.reflect
    ? new UserlandReflector(policyFrom({ peer: opts.peer, policy: opts.policy }), {
        limit: parseRateLimit(opts.rateLimit),
      })
    : null;
  let prober: Prober;
  try {
    prober = new Prober(targets, { log: (line) => log.info(line) });
    await prober.start();
  } catch (err) {
    const message =
      err instanceof ProbeTargetError
        ? err.message
        : `cannot start probing: ${(err as Error).message} (needs CAP_NET_RAW and CAP_NET_ADMIN)`;
    log.error('start failed', { error: message });
    throw new CliError(message, 1, true);
  }
  try {
    reflector?.start();
  } catch (err) {
    await prober.close();
    throw new CliError(`cannot open the reflector's raw sockets: ${(err as Error).message}`);
  }
  let metrics: Awaited<ReturnType<typeof startMetrics>>;
  try {
    const collectors = [probeCollector(() => prober.statuses())];
    if (reflector) collectors.push(reflectorCollector(() => reflector.counters()));
    metrics = await startMetrics(metricsAddress, 'gre-keepalive', collectors, log);
  } catch (err) {
    reflector?.close();
    await prober.close();
    throw err;
  }
  for (const s of prober.statuses()) {
    const key = s.okey === null ? '' : `, key ${s.okey}${s.ikey !== s.okey ? `/${s.ikey}` : ''}`;
    log.info(
      `probing ${s.tunnel} (${s.local} -> ${s.remote}${key}, ${s.layout}) every ${s.interval} s, down after ${s.retries} intervals without an answer`,
    );
  }
  if (reflector) log.info('answering keepalives', { policy: opts.policy });
  notifier.ready(`probing ${targets.length} tunnel(s)`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  notifier.stopping(`stopping (${signal})`);
  reflector?.close();
  await prober.close();
  await metrics?.close();
  log.info('stopped', { reason: signal });
}
