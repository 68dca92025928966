/** `gre-keepalive attach|detach`: the eBPF reflector on a gre device or the underlay NIC (status: gre-keepalive-status.ts). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { AttachError, type AttachMode, attach, detach, type ReplyMode, type XdpMode } from '../bpf/attach.ts';
import { type Mode, PolicyError } from '../gre-keepalive/index.ts';
import { CliError } from './errors.ts';
import { peerOption, policyCliError, policyOption } from './gre-keepalive-options.ts';

const ATTACH_HELP = `
Attaches the eBPF reflector to a device, as users of the older XDP programs
know it (ip link set dev gre0 xdp object ...), and configures its maps:

  --mode gre (default on gre/ip6gre devices): generic XDP on the tunnel device.
    It answers whether the kernel shows it the outer headers (before Linux
    5.14, or a gre device without a remote) or only the decapsulated inner
    packet (5.14+). --reply tunnel (default) sends the inner packet back into
    the tunnel with XDP_TX: the peer receives outer B->A / GRE / inner, the
    bytes the older programs produced and routers accept. --reply plain uses
    a TC ingress program that sends the bare inner packet out of the underlay
    (bpf_redirect_neigh): what Cisco itself sends. The tunnel's local and
    remote addresses are read from the device and checked on every reply.
  --mode underlay (default elsewhere): native XDP on the physical NIC, no gre
    device needed. Keepalives (also on 802.1Q/QinQ underlays) are answered
    with XDP_TX, MAC addresses swapped; everything else passes untouched.

The policy (--policy, --peer) is the same as for "run". Needs root
(CAP_NET_ADMIN and CAP_BPF). Examples:
  gre-keepalive attach gre1
  gre-keepalive attach gre1 --reply plain
  gre-keepalive attach eth0 --mode underlay --peer 192.0.2.0/24
  gre-keepalive status
  gre-keepalive detach gre1`;

export function registerBpfCommands(program: Command): void {
  program
    .command('attach')
    .summary('attach the eBPF reflector to a gre device or the underlay NIC')
    .description('Attach the eBPF keepalive reflector to DEV and configure it.')
    .argument('<dev>', 'gre/ip6gre tunnel device, or underlay NIC with --mode underlay')
    .addOption(new Option('--mode <mode>', 'where the program runs').choices(['gre', 'underlay']))
    .addOption(
      new Option('--xdp <mode>', 'XDP mode (gre devices only have generic)').choices(['native', 'generic']),
    )
    .addOption(
      new Option(
        '--reply <how>',
        'gre mode: back into the tunnel (XDP_TX) or plain via the underlay (TC)',
      ).choices(['tunnel', 'plain']),
    )
    .addOption(peerOption())
    .addOption(policyOption())
    .addHelpText('after', ATTACH_HELP)
    .action(
      async (
        dev: string,
        opts: { mode?: AttachMode; xdp?: XdpMode; reply?: ReplyMode; peer: string[]; policy: Mode },
      ) => {
        const r = bpfCall(() =>
          attach(dev, {
            mode: opts.mode,
            xdp: opts.xdp,
            reply: opts.reply,
            peers: opts.peer,
            policy: opts.policy,
          }),
        );
        process.stdout.write(`${r.dev}: ${r.prog} attached (${r.hook}, program id ${r.id})\n`);
      },
    );
  program
    .command('detach')
    .summary('remove the eBPF reflector from a device')
    .argument('<dev>', 'device')
    .action(async (dev: string) => {
      const removed = bpfCall(() => detach(dev));
      if (removed.length === 0) throw new CliError(`${dev}: no greoip keepalive program attached`);
      for (const r of removed) process.stdout.write(`${r.dev}: ${r.prog} detached (${r.hook})\n`);
    });
}

function bpfCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AttachError) throw new CliError(`${err.field}: ${err.message}`);
    if (err instanceof PolicyError) throw policyCliError(err);
    throw new CliError((err as Error).message);
  }
}
