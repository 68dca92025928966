#!/usr/bin/env node
/** eoip: manage EoIP/EoIPv6 tunnels with the command line users of the eoip kernel tool know. */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { TunnelStatus } from '../backend/types.ts';
import { ArgsError, type EoipCommand, parseEoipArgs } from '../config/eoip-args.ts';
import { ClientError, NoDaemonError, request } from '../daemon/client.ts';
import { stoppedStatus, storedTunnels } from '../daemon/offline.ts';
import { runtimePaths } from '../daemon/paths.ts';
import type { Reply, Request } from '../daemon/protocol.ts';
import { StateError } from '../daemon/state.ts';
import { VERSION } from '../version.ts';
import { CliError, runCli } from './errors.ts';
import { formatTunnelTable } from './tunnel-table.ts';

const USAGE = `Usage:
  eoip add [name NAME] tunnel-id|tid ID [local ADDR] remote ADDR [ttl TTL] [tos TOS]
           [link IFNAME] [keepalive none|SECS[,RETRIES]] [mtu MTU] [backend userland|kernel|ebpf]
  eoip change|set name NAME [tunnel-id|tid ID] [local ADDR] [remote ADDR] [ttl TTL] [tos TOS]
           [link IFNAME] [keepalive none|SECS[,RETRIES]] [mtu MTU]
  eoip del|delete name NAME
  eoip list [--json]
  eoip version

Creates and manages MikroTik-compatible EoIP tunnels (IPv4 remote) and EoIPv6
tunnels (IPv6 remote) as Ethernet interfaces named NAME. Keywords may be
abbreviated to any unique prefix (eoip a n eoip1 tid 5 rem 192.0.2.2).

Parameters:
  name NAME        interface name, at most 15 bytes (default: the first free eoipN)
  tunnel-id, tid   0-65535 for EoIP, 0-4095 for EoIPv6; must match the peer
  local ADDR       our underlay address (default: chosen by the kernel's routing)
  remote ADDR      the peer's underlay address; only packets from it are accepted
  ttl TTL          outer TTL / hop limit, 1-255 (default 255, as RouterOS)
  tos TOS          outer TOS / traffic class, 0-255 (default 0)
  link IFNAME      send and receive only through this underlay interface
  keepalive        SECS,RETRIES as RouterOS (default 10,10): one keepalive every SECS,
                   carrier off after SECS x RETRIES without one from the peer, on again
                   at the next. Until the peer's first keepalive arrives the carrier
                   stays on (for peers set to !keepalive). "none" disables both.
  mtu MTU          interface MTU (default 1500; the outer packet is fragmented, DF clear)
  backend          userland (default): a tap whose packets the greoip daemon moves;
                   kernel: an eoip/eoipv6 link of greoip's kernel modules, which
                   carry the traffic and keepalives in the kernel (load them with
                   "modprobe eoip eoipv6" or install them with "greoip kmod install";
                   "greoip kmod status" checks). Also written --backend. With the
                   kernel backend, tos 1 means "inherit from the inner packet", as
                   in the old eoip module.
                   ebpf: a tap as with userland, but TC programs move the frames
                   in the kernel (no module; needs Linux 5.10+, a bpffs on
                   /sys/fs/bpf, CAP_BPF); the daemon sends keepalives and what the
                   programs cannot (frames over the underlay MTU, fragments).
                   "eoip list" shows it as ebpf/tcx (Linux 6.6+) or ebpf/clsact.
                   Fixed once the tunnel exists.

The tunnels of every backend are managed by the greoip daemon of the current
network namespace; "eoip add" starts one when none runs (log in its runtime
directory). Kernel links keep forwarding while no daemon runs. One (remote,
tunnel id) can belong to one tunnel only, whatever its backend: the kernel
module would take the packets a userland tunnel waits for. Changing tunnels
needs root.

Examples:
  eoip add name eoip0 local 203.0.113.50 remote 198.51.100.11 tunnel-id 1234
  eoip add name hq6 tid 77 remote 2001:db8::11 keepalive 5,6
  eoip add name fast0 tid 9 remote 198.51.100.11 backend kernel
  eoip add name bpf0 tid 10 remote 198.51.100.11 mtu 1458 backend ebpf
  eoip set name eoip0 keepalive none
  eoip list --json

Exit status: 0 on success, 1 on any error (the message names the field at fault),
and 1 from "eoip list" when no daemon runs but its state file lists tunnels (shown down).`;

/** The greoip entry point beside this one (dist/cli/greoip.js, or src/cli/greoip.ts under tsx). */
function greoipEntry(): string {
  const self = process.argv[1] ?? '';
  return join(dirname(self), `greoip${extname(self)}`);
}

async function startDaemon(): Promise<void> {
  const paths = runtimePaths();
  let logFd: number;
  try {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    logFd = openSync(join(paths.dir, 'daemon.log'), 'a', 0o600);
  } catch (err) {
    throw new CliError(`cannot start the greoip daemon: ${(err as Error).message}`);
  }
  // The V8 flag greoip's own #! line gives the daemon (see src/cli/greoip.ts).
  const v8Flags = process.execArgv.includes('--no-memory-reducer') ? [] : ['--no-memory-reducer'];
  const child = spawn(process.execPath, [...process.execArgv, ...v8Flags, greoipEntry(), 'daemon'], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  child.unref();
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      await request(paths.socket, { op: 'status' });
      return;
    } catch (err) {
      if (!(err instanceof NoDaemonError)) throw err;
    }
    if (child.exitCode !== null) break;
  }
  throw new CliError(`the greoip daemon did not start; see ${join(paths.dir, 'daemon.log')}`);
}

async function send(req: Request, autostart: boolean): Promise<Reply> {
  const { socket } = runtimePaths();
  try {
    return await request(socket, req);
  } catch (err) {
    if (!(err instanceof NoDaemonError) || !autostart) throw err;
    await startDaemon();
    return request(socket, req);
  }
}

function check(reply: Reply): Extract<Reply, { ok: true }> {
  if (!reply.ok) throw new CliError(reply.error);
  return reply;
}

async function run(cmd: EoipCommand): Promise<void> {
  switch (cmd.command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'version':
      process.stdout.write(`eoip (greoip) ${VERSION}\n`);
      return;
    case 'add': {
      const reply = check(await send({ op: 'add', config: cmd.config }, true));
      if (reply.tunnel) process.stdout.write(`${reply.tunnel.config.name}\n`);
      return;
    }
    case 'change':
      check(await send({ op: 'change', name: cmd.name, changes: cmd.changes }, false));
      return;
    case 'del':
      check(await send({ op: 'del', name: cmd.name }, false));
      return;
    case 'list': {
      let tunnels: TunnelStatus[] = [];
      try {
        tunnels = check(await send({ op: 'list' }, false)).tunnels ?? [];
      } catch (err) {
        if (!(err instanceof NoDaemonError)) throw err;
        await listStopped(cmd.json);
        return;
      }
      process.stdout.write(
        cmd.json ? `${JSON.stringify(tunnels, null, 2)}\n` : `${formatTunnelTable(tunnels)}\n`,
      );
      return;
    }
  }
}

/**
 * `eoip list` with no daemon: what the state file says a stopped daemon left
 * (shown down), with exit status 1 when it lists tunnels, since nothing moves
 * their traffic.
 */
async function listStopped(json: boolean): Promise<void> {
  const paths = runtimePaths();
  let stored: Awaited<ReturnType<typeof storedTunnels>>;
  try {
    stored = await storedTunnels(paths);
  } catch (err) {
    if (err instanceof StateError) throw new CliError(`no daemon runs, and ${err.message}`);
    throw err;
  }
  if (stored.note) process.stderr.write(`eoip: ${stored.note}\n`);
  const tunnels = stored.entries.map(stoppedStatus);
  process.stdout.write(json ? `${JSON.stringify(tunnels, null, 2)}\n` : `${formatTunnelTable(tunnels)}\n`);
  if (tunnels.length > 0) {
    throw new CliError(
      `no greoip daemon runs in this network namespace; ${paths.state} lists ${tunnels.length} tunnel(s), not running (start one: greoip daemon)`,
    );
  }
}

await runCli(basename(process.argv[1] ?? 'eoip', extname(process.argv[1] ?? '')) || 'eoip', async () => {
  let cmd: EoipCommand;
  try {
    cmd = parseEoipArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ArgsError) throw new CliError(`${err.message}\n(run "eoip help" for usage)`);
    throw err;
  }
  try {
    await run(cmd);
  } catch (err) {
    if (err instanceof ClientError) throw new CliError(err.message);
    throw err;
  }
});
