/** `greoip daemon` and `greoip cleanup`. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Command } from 'commander';
import { EbpfBackend } from '../backend/ebpf.ts';
import { KernelBackend } from '../backend/kernel.ts';
import type { TunnelStateChange } from '../backend/types.ts';
import { UserlandBackend } from '../backend/userland.ts';
import { loadConfigDocument } from '../config/file.ts';
import { ClientError, NoDaemonError, request } from '../daemon/client.ts';
import { cleanupStopped } from '../daemon/offline.ts';
import { runtimePaths } from '../daemon/paths.ts';
import { Daemon } from '../daemon/server.ts';
import { StateError } from '../daemon/state.ts';

import { DaemonProbes } from '../gre-keepalive-io/daemon-probes.ts';
import type { Logger } from '../log/logger.ts';
import { probeCollector } from '../metrics/gre-keepalive.ts';
import { tunnelCollector } from '../metrics/tunnels.ts';
import { mallocTuneForDaemon } from '../native/index.ts';
import { createNotifier } from '../systemd/notify.ts';
import { type CapabilityName, effectiveCapabilities, missingCapabilities } from './capabilities.ts';

import { CliError } from './errors.ts';
import {
  loggerFrom,
  metricsAddressFrom,
  type ServiceOptions,
  serviceOptions,
  startMetrics,
} from './service-options.ts';

const DAEMON_HELP = `
The daemon runs the EoIP/EoIPv6 tunnels of the network namespace it is
started in (one process, many tunnels) and is driven by the eoip command
over a root-only unix socket in /run/greoip/net-<namespace inode>/
(GREOIP_RUNTIME_DIR overrides /run/greoip). Daemons started with
"ip netns exec" in different namespaces do not collide.

Without --config it restores the tunnels it had when it last stopped (the
state file beside the socket). With --config it creates the tunnels of the
file (YAML or TOML; see the README) and reloads it on SIGHUP, applying only the
difference; an invalid file is refused with the offending field named, and
the running tunnels stay as they are. A "gre-keepalive:" list in the file
probes gre tunnels as "gre-keepalive probe" does (README, "Detecting a dead
peer"); "gre-keepalive status" shows them.

Userland tunnels (backend userland, the default) are taps whose packets the
daemon moves. Kernel tunnels (backend kernel) are eoip/eoipv6 links of
greoip's kernel modules (greoip kmod status): the daemon creates, changes and
reads them over rtnetlink, and the kernel carries their traffic and
keepalives, daemon or not.

SIGTERM and SIGINT stop it cleanly: tap interfaces stay in place with carrier
off, so addresses and bridge membership survive a restart; kernel links stay
up and keep forwarding. A restarted daemon takes both back. "eoip del"
removes one tunnel and its interface; "greoip cleanup" removes all of them.

The state file records the network namespace's cookie and each interface's
ifindex: a namespace that reuses a deleted one's inode adopts nothing of it,
and cleanup without a daemon removes only interfaces it can prove greoip made.
Each change is checked against the host first and applied whole, with the
state written, or not at all; an unusable state file is set aside
(state.json.corrupt-*) and the daemon starts anyway.

Logs one line per event (tunnel added, carrier and keepalive state changes,
reloads and what they changed, refused requests), never per packet: JSON
lines when stderr is not a terminal (journald), text on a terminal;
--log-format overrides. With --metrics it serves Prometheus metrics (per
tunnel counters as eoip list shows them, keepalive state, carrier, drops by
reason) on that address, inside the daemon's network namespace.

Under systemd (Type=notify, $NOTIFY_SOCKET set) it reports READY=1 once every
tunnel of the config exists, RELOADING=1 on SIGHUP and STOPPING=1 on SIGTERM.
Units: greoip install-units.

Needs CAP_NET_ADMIN and CAP_NET_RAW (root); CAP_BPF for the eBPF backend.

Examples:
  greoip daemon &
  greoip daemon --config /etc/greoip/tunnels.yaml --metrics 127.0.0.1:9464
  ip netns exec site-a greoip daemon`;

export function registerDaemon(program: Command): void {
  const daemon = program
    .command('daemon')
    .summary('run the userland tunnels of this network namespace (foreground)')
    .description('Run the userland EoIP/EoIPv6 tunnel daemon in the foreground.')
    .option('-c, --config <file>', 'create the tunnels of this YAML or TOML file and reload it on SIGHUP');
  for (const option of serviceOptions()) daemon.addOption(option);
  daemon.addHelpText('after', DAEMON_HELP).action(async (opts: { config?: string } & ServiceOptions) => {
    await runDaemon(opts.config ?? null, opts);
  });
  program
    .command('status')
    .summary('show the daemon of this network namespace and what it dropped')
    .description(
      'Show the greoip daemon of this network namespace: pid, version, config file, tunnels, and the\npackets it dropped that matched no tunnel, by reason (per-tunnel counters: eoip list).',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await showStatus(opts.json === true);
    });
  program
    .command('cleanup')
    .summary('remove every userland tunnel and its interface in this namespace')
    .description(
      'Remove every userland tunnel of this network namespace and its interface. Through the daemon when\none runs (which then stops); otherwise from the state file it left.',
    )
    .action(async () => {
      await cleanup();
    });
}

/** Carrier and keepalive state changes, one line each (the backend reports each change once). */
function logStateChange(log: Logger, c: TunnelStateChange): void {
  const fields = {
    tunnel: c.tunnel,
    backend: c.backend,
    state: c.state,
    previous: c.previous,
    cause: c.cause,
  };
  const carrierBefore = c.previous !== 'down';
  if (c.carrier !== carrierBefore)
    log.log(c.carrier ? 'info' : 'warn', c.carrier ? 'carrier up' : 'carrier down', fields);
  else log.info('keepalive state changed', fields);
}

/** Taps and links (CAP_NET_ADMIN), raw IP sockets for the tunnels (CAP_NET_RAW). CAP_BPF is for eBPF only. */
const NEEDED: readonly CapabilityName[] = ['CAP_NET_ADMIN', 'CAP_NET_RAW'];

async function runDaemon(configFile: string | null, opts: ServiceOptions): Promise<void> {
  // A daemon's young generation need not grow: the datapath does not allocate per packet, and
  // V8 keeps a grown one (up to 32 MB) resident for good after a burst of config work.
  setFlagsFromString('--semi-space-growth-factor=1');
  mallocTuneForDaemon();
  // A reload of many tunnels leaves megabytes of garbage behind; V8 may keep the heap it grew for
  // it long after. Collect once when the reload is done.
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  // stderr may be a file on a full disk or a pipe nobody reads: its errors must not stop the daemon
  // (the logger drops a line it cannot write).
  process.stderr.on('error', () => undefined);
  const log = loggerFrom(opts, 'daemon');
  const metricsAddress = metricsAddressFrom(opts);
  const missing = missingCapabilities(NEEDED, effectiveCapabilities());
  if (missing.length > 0) {
    const message = `missing ${missing.join(' and ')}: the daemon needs CAP_NET_ADMIN (taps, links) and CAP_NET_RAW (raw IP sockets); run it as root or grant them (greoip.service does)`;
    log.error('start failed', { error: message, missing });
    throw new CliError(message, 1, true);
  }
  const notifier = createNotifier();
  const userland = new UserlandBackend({
    onStateChange: (c) => logStateChange(log, c),
    log: (line) => log.warn(line),
    // The documented switch for kernels (or peers) where tap offloads misbehave.
    tapOffload: process.env.GREOIP_TAP_OFFLOAD !== 'off',
  });
  const kernel = new KernelBackend({ onStateChange: (c) => logStateChange(log, c) });
  const probes = new DaemonProbes((line) => log.info(line));
  const daemon = new Daemon({
    paths: runtimePaths(),
    // The ebpf backend's slow path is the userland backend itself: one table, one set of raw sockets.
    backends: { userland, kernel, ebpf: new EbpfBackend({ slowPath: userland }) },
    configFile,
    loadConfig: async (path) => {
      const doc = await loadConfigDocument(path);
      probes.stage(doc.probes);
      return doc.tunnels;
    },
    onConfigApplied: () => probes.commit(),
    log,
  });
  // Listening first: a taken port fails before any tunnel is touched.
  const metrics = await startMetrics(
    metricsAddress,
    'daemon',
    [
      tunnelCollector({
        tunnels: () => daemon.list(),
        unmatchedDrops: () => sumDrops([userland.unmatchedDrops(), kernel.unmatchedDrops()]),
      }),
      probeCollector(() => probes.statuses()),
    ],
    log,
  );
  try {
    await daemon.start();
  } catch (err) {
    await metrics?.close();
    const field = (err as { field?: unknown }).field;
    log.error('start failed', {
      error: (err as Error).message,
      field: typeof field === 'string' ? field : undefined,
    });
    throw new CliError((err as Error).message, 1, true);
  }
  const summary = () => `${daemon.list().length} tunnel(s)`;
  notifier.ready(summary());
  const stop = (signal: string) => {
    notifier.stopping(`stopping (${signal})`);
    void daemon.stop(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    notifier.reloading('reloading');
    void daemon.reload().then(() => {
      collect();
      notifier.ready(summary());
    });
  });
  await daemon.stopped;
  // Probed devices the daemon took down come back up: without it nobody would.
  await probes.close();
  await metrics?.close();
}

function sumDrops(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const drops of all) for (const [k, v] of Object.entries(drops)) out[k] = (out[k] ?? 0) + v;
  return out;
}

async function showStatus(json: boolean): Promise<void> {
  let reply: Awaited<ReturnType<typeof request>>;
  try {
    reply = await request(runtimePaths().socket, { op: 'status' });
  } catch (err) {
    if (err instanceof ClientError) throw new CliError(err.message);
    throw err;
  }
  if (!reply.ok || !reply.status) throw new CliError(reply.ok ? 'the daemon sent no status' : reply.error);
  const s = reply.status;
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const drops = Object.entries(s.unmatchedDrops)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  process.stdout.write(
    `${[
      `daemon      pid ${s.pid}, greoip ${s.version}, ${s.netns}, since ${s.startedAt}`,
      `config      ${s.configFile ?? '(none: tunnels restored from the state file)'}`,
      `tunnels     ${s.tunnels}`,
      `unmatched   ${drops.length > 0 ? drops.join(', ') : 'none dropped'}`,
    ].join('\n')}\n`,
  );
}

/** Per tunnel, the time a flush may take on a slow machine (deleting an interface, mostly). */
const FLUSH_MS_PER_TUNNEL = 100;

async function cleanup(): Promise<void> {
  const paths = runtimePaths();
  try {
    const status = await request(paths.socket, { op: 'status' });
    const count = status.ok ? (status.status?.tunnels ?? 0) : 0;
    const reply = await request(paths.socket, { op: 'flush' }, 30_000 + FLUSH_MS_PER_TUNNEL * count);
    if (!reply.ok) throw new CliError(reply.error);
    await request(paths.socket, { op: 'shutdown' });
    process.stdout.write('removed every tunnel; the daemon stopped\n');
    return;
  } catch (err) {
    if (err instanceof NoDaemonError) {
      // no daemon: work from its state file below
    } else if (err instanceof ClientError) {
      throw new CliError(err.message);
    } else {
      throw err;
    }
  }
  let result: Awaited<ReturnType<typeof cleanupStopped>>;
  try {
    result = await cleanupStopped(paths);
  } catch (err) {
    if (err instanceof StateError) throw new CliError(`${err.message}; nothing removed`);
    throw err;
  }
  if (result.note) process.stderr.write(`greoip: ${result.note}\n`);
  if (result.notOurs.length > 0) {
    process.stderr.write(
      `greoip: left alone (an interface of that name exists, but not the one greoip made): ${result.notOurs.join(', ')}\n`,
    );
  }
  process.stdout.write(`removed ${result.removed.length} interface(s) left by a stopped daemon\n`);
}
