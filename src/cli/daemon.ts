/** `greoip daemon` and `greoip cleanup`. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Command } from 'commander';
import { KernelBackend } from '../backend/kernel.ts';
import { UserlandBackend } from '../backend/userland.ts';
import { loadConfigFile } from '../config/file.ts';
import { NoDaemonError, request } from '../daemon/client.ts';
import { runtimePaths } from '../daemon/paths.ts';
import { Daemon } from '../daemon/server.ts';
import { readState, writeState } from '../daemon/state.ts';
import { mallocTuneForDaemon, tap } from '../native/index.ts';
import { CliError } from './errors.ts';

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
the running tunnels stay as they are.

Userland tunnels (backend userland, the default) are taps whose packets the
daemon moves. Kernel tunnels (backend kernel) are eoip/eoipv6 links of
greoip's kernel modules (greoip kmod status): the daemon creates, changes and
reads them over rtnetlink, and the kernel carries their traffic and
keepalives, daemon or not.

SIGTERM and SIGINT stop it cleanly: tap interfaces stay in place with carrier
off, so addresses and bridge membership survive a restart; kernel links stay
up and keep forwarding. A restarted daemon takes both back. "eoip del"
removes one tunnel and its interface; "greoip cleanup" removes all of them.

Needs CAP_NET_ADMIN and CAP_NET_RAW (root).

Examples:
  greoip daemon &
  greoip daemon --config /etc/greoip/tunnels.yaml
  ip netns exec site-a greoip daemon`;

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .summary('run the userland tunnels of this network namespace (foreground)')
    .description('Run the userland EoIP/EoIPv6 tunnel daemon in the foreground.')
    .option('-c, --config <file>', 'create the tunnels of this YAML or TOML file and reload it on SIGHUP')
    .addHelpText('after', DAEMON_HELP)
    .action(async (opts: { config?: string }) => {
      await runDaemon(opts.config ?? null);
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

function log(line: string): void {
  process.stderr.write(`greoip daemon: ${line}\n`);
}

async function runDaemon(configFile: string | null): Promise<void> {
  // A daemon's young generation need not grow: the datapath does not allocate per packet, and
  // V8 keeps a grown one (up to 32 MB) resident for good after a burst of config work.
  setFlagsFromString('--semi-space-growth-factor=1');
  mallocTuneForDaemon();
  // A reload of many tunnels leaves megabytes of garbage behind; V8 may keep the heap it grew for
  // it long after. Collect once when the reload is done.
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const daemon = new Daemon({
    paths: runtimePaths(),
    backends: { userland: new UserlandBackend({ log }), kernel: new KernelBackend() },
    configFile,
    loadConfig: loadConfigFile,
    log,
  });
  try {
    await daemon.start();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      void daemon.stop(signal).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void daemon.reload().then(collect));
  });
}

async function showStatus(json: boolean): Promise<void> {
  let reply: Awaited<ReturnType<typeof request>>;
  try {
    reply = await request(runtimePaths().socket, { op: 'status' });
  } catch (err) {
    if (err instanceof NoDaemonError) throw new CliError(err.message);
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

async function cleanup(): Promise<void> {
  const paths = runtimePaths();
  try {
    const reply = await request(paths.socket, { op: 'flush' });
    if (!reply.ok) throw new CliError(reply.error);
    await request(paths.socket, { op: 'shutdown' });
    process.stdout.write('removed every tunnel; the daemon stopped\n');
    return;
  } catch (err) {
    if (!(err instanceof NoDaemonError)) throw err;
  }
  const tunnels = (await readState(paths.state)) ?? [];
  const failed: string[] = [];
  const kernel = tunnels.some((t) => t.backend === 'kernel') ? new KernelBackend() : null;
  for (const t of tunnels) {
    try {
      if (t.backend === 'kernel') kernel?.removeLink(t.name);
      else tap.delete(t.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENODEV')
        failed.push(`${t.name}: ${(err as Error).message}`);
    }
  }
  await kernel?.close({ keepInterfaces: true });
  await writeState(paths.state, []).catch(() => undefined);
  if (failed.length > 0) throw new CliError(`could not remove: ${failed.join('; ')}`);
  process.stdout.write(`removed ${tunnels.length} interface(s) left by a stopped daemon\n`);
}
