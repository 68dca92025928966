/**
 * The GRE keepalive reflector's commands, shared by `gre-keepalive` and
 * `greoip keepalive`: run (userland, foreground) and explain.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { UserlandReflector } from '../backend/reflector.ts';
import {
  AttachError,
  type AttachMode,
  attach,
  detach,
  type ReplyMode,
  status,
  type XdpMode,
} from '../bpf/attach.ts';
import { type BpfProgramName, bpfObjectPath, skipEthernet } from '../bpf/programs.ts';
import { BpfTestRunner } from '../bpf/testrun.ts';
import {
  createDecision,
  createPolicy,
  decide,
  type Layout,
  type Mode,
  type Policy,
  PolicyError,
  VERDICT_NAMES,
  Verdict,
} from '../keepalive/index.ts';
import { CaptureFormatError, LINKTYPE, readCaptureFile } from '../pcap/index.ts';
import { ETH_HEADER_LENGTH } from '../wire/ethernet.ts';
import { formatAddress as format4 } from '../wire/ipv4.ts';
import { formatAddress as format6 } from '../wire/ipv6.ts';
import { CliError } from './errors.ts';

const WHY: Record<number, string> = {
  [Verdict.NOT_GRE]: 'not GRE (IP protocol 47)',
  [Verdict.NOT_KEEPALIVE]: 'GRE, but not a keepalive request',
  [Verdict.MALFORMED]: 'truncated or invalid headers',
  [Verdict.FRAGMENT]: 'an IP fragment',
  [Verdict.PEER_NOT_ALLOWED]: 'the peer is not in the allow-list (--peer)',
  [Verdict.FORGED_SOURCE]: 'the inner source is not our address (forged)',
  [Verdict.THIRD_PARTY]: 'the inner destination is neither the peer nor allowed by the policy',
  [Verdict.TOO_LARGE]: 'the inner packet is larger than a keepalive (128 bytes)',
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function policyFrom(opts: { peer: string[]; policy: Mode; local?: string; remote?: string }): Policy {
  try {
    return createPolicy({
      mode: opts.policy,
      peers: opts.peer,
      local: opts.local ?? null,
      remote: opts.remote ?? null,
    });
  } catch (err) {
    if (err instanceof PolicyError)
      throw new CliError(`--${err.field}: ${err.message.slice(err.field.length + 2)}`);
    throw err;
  }
}

const policyOption = () =>
  new Option(
    '--policy <mode>',
    "strict: reply only to the outer sender; nat: also when the inner destination is the peer's private address (rewritten)",
  )
    .choices(['strict', 'nat'])
    .default('strict');
const peerOption = () =>
  new Option('--peer <prefix>', 'answer only peers in this prefix (repeatable; default: any peer)')
    .argParser(collect)
    .default([]);

const RUN_HELP = `
Answers GRE keepalives (GRE over IPv4 and IPv6) from user space with raw
sockets: no gre device and no accept_local needed. A request is answered only
when its inner packet is a small GRE keepalive whose source is our own address
(the outer destination) and whose destination is the sender (or, with
--policy nat, the sender's private address, rewritten); everything else is
counted and ignored, so the reflector is never an open relay. Counters are
printed every --interval seconds and on exit (SIGINT/SIGTERM).

Needs CAP_NET_RAW. Examples:
  gre-keepalive run
  gre-keepalive run --peer 192.0.2.0/24 --peer 2001:db8::/32 --policy nat`;

const EXPLAIN_HELP = `
Says, for each packet, what the reflector would send or why it ignores it.
Input is one packet as hex (layout outer-l3 unless --layout says otherwise) or
a capture (--pcap; Ethernet captures are read as outer-l2, raw IP as outer-l3).
Layouts: outer-l3 (from the outer IP header), outer-l2 (Ethernet first),
inner-l3 (the decapsulated inner packet, as XDP sees it on a gre device since
Linux 5.14; --local/--remote give the tunnel addresses to check against).

Examples:
  gre-keepalive explain 45000030000000 00ff2fcf67c0000201c6336402000008004500...
  gre-keepalive explain --pcap keepalives.pcapng --json`;

export function registerKeepaliveCommands(program: Command, withRun = true): void {
  if (withRun) {
    program
      .command('run')
      .summary('answer GRE keepalives from user space (foreground)')
      .description('Answer GRE and GRE6 keepalives with raw sockets, in the foreground.')
      .addOption(peerOption())
      .addOption(policyOption())
      .option('--no-ipv6', 'do not open the IPv6 socket')
      .option('--interval <seconds>', 'how often to print counters (0: only on exit)', '10')
      .option('--json', 'print counters as JSON lines')
      .addHelpText('after', RUN_HELP)
      .action(
        async (opts: { peer: string[]; policy: Mode; ipv6: boolean; interval: string; json?: boolean }) => {
          await run(opts);
        },
      );
  }
  program
    .command('explain')
    .summary('what the reflector would do with a packet or a capture')
    .description("Explain the reflector's decision for one packet (hex) or every packet of a capture.")
    .argument('[hex]', 'one packet as hex (spaces and colons allowed)')
    .option('--pcap <file>', 'read packets from a pcap or pcapng capture')
    .addOption(
      new Option('--layout <layout>', 'where the packet starts').choices([
        'outer-l3',
        'outer-l2',
        'inner-l3',
      ]),
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'ts: the TypeScript core; bpf: the BPF programs under BPF_PROG_TEST_RUN (root)',
      )
        .choices(['ts', 'bpf'])
        .default('ts'),
    )
    .addOption(peerOption())
    .addOption(policyOption())
    .option('--local <address>', 'our tunnel address (inner-l3 layout)')
    .option('--remote <address>', "the peer's tunnel address (inner-l3 layout)")
    .option('--json', 'one JSON object per packet')
    .addHelpText('after', EXPLAIN_HELP)
    .action(async (hex: string | undefined, opts: ExplainOptions) => {
      await explain(hex, opts);
    });
}

interface ExplainOptions {
  pcap?: string;
  layout?: Layout;
  engine: 'ts' | 'bpf';
  peer: string[];
  policy: Mode;
  local?: string;
  remote?: string;
  json?: boolean;
}

async function run(opts: {
  peer: string[];
  policy: Mode;
  ipv6: boolean;
  interval: string;
  json?: boolean;
}): Promise<void> {
  const interval = Number(opts.interval);
  if (!Number.isFinite(interval) || interval < 0)
    throw new CliError(`--interval: ${opts.interval} is not a number of seconds`);
  const reflector = new UserlandReflector(policyFrom(opts));
  try {
    reflector.start({ ipv6: opts.ipv6 });
  } catch (err) {
    throw new CliError(`cannot open raw sockets: ${(err as Error).message} (needs CAP_NET_RAW)`);
  }
  const print = () => {
    const c = reflector.counters();
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...c })}\n`);
      return;
    }
    const seen = Object.entries(c.verdicts)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    process.stdout.write(
      `replies sent ${c.repliesSent}, failed ${c.replyErrors}; seen: ${seen.join(', ') || 'nothing'}\n`,
    );
  };
  process.stderr.write(
    `gre-keepalive: answering keepalives (policy ${opts.policy}${opts.peer.length ? `, peers ${opts.peer.join(' ')}` : ', any peer'})\n`,
  );
  const timer = interval > 0 ? setInterval(print, interval * 1000) : null;
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (timer) clearInterval(timer);
  reflector.close();
  print();
}

interface Input {
  index: number;
  bytes: Uint8Array;
  layout: Layout;
}

async function inputs(hex: string | undefined, opts: ExplainOptions): Promise<Input[]> {
  if ((hex === undefined) === (opts.pcap === undefined))
    throw new CliError('give one packet as hex or --pcap FILE (not both)');
  if (hex !== undefined) {
    const clean = hex.replace(/[\s:]/g, '');
    if (!/^([0-9a-fA-F]{2})+$/.test(clean))
      throw new CliError(`hex: "${hex.slice(0, 40)}" is not an even number of hex digits`);
    return [{ index: 1, bytes: Buffer.from(clean, 'hex'), layout: opts.layout ?? 'outer-l3' }];
  }
  let records: Awaited<ReturnType<typeof readCaptureFile>>;
  try {
    records = await readCaptureFile(opts.pcap!);
  } catch (err) {
    if (err instanceof CaptureFormatError) throw new CliError(`--pcap: ${opts.pcap}: ${err.message}`);
    throw new CliError(
      `--pcap: cannot read ${opts.pcap}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return records.map((r) => ({
    index: r.index + 1,
    bytes: r.data,
    layout: opts.layout ?? (r.linkType === LINKTYPE.ETHERNET ? 'outer-l2' : 'outer-l3'),
  }));
}

interface Explained {
  verdict: number;
  reply: Uint8Array | null;
  to: string | null;
  rewritten: boolean;
  /** bpf engine: the program that ran and its return code. */
  program?: string;
  retval?: number;
}

function explainTs(input: Input, policy: Policy): Explained {
  const d = createDecision();
  const verdict = decide(input.bytes, 0, input.bytes.length, input.layout, policy, d);
  if (verdict !== Verdict.REPLY) return { verdict, reply: null, to: null, rewritten: false };
  const to =
    d.family === 4
      ? format4(d.dst[0]! * 0x1000000 + ((d.dst[1]! << 16) | (d.dst[2]! << 8) | d.dst[3]!))
      : format6(d.dst);
  return { verdict, reply: d.reply.slice(0, d.replyLength), to, rewritten: d.rewritten };
}

/** The program that sees this layout where it runs: the NIC program for Ethernet input, the tunnel programs otherwise. */
function programFor(input: Input): BpfProgramName {
  if (input.layout === 'outer-l2') return 'keepalive_underlay';
  return (input.bytes[0] ?? 0) >>> 4 === 6 ? 'keepalive_gre6' : 'keepalive_gre';
}

async function explainBpf(inputs: Input[], policy: Policy): Promise<Explained[]> {
  const runners = new Map<BpfProgramName, BpfTestRunner>();
  try {
    const out: Explained[] = [];
    for (const input of inputs) {
      const prog = programFor(input);
      let runner = runners.get(prog);
      if (!runner) {
        runner = await BpfTestRunner.open(bpfObjectPath(prog), 'xdp');
        await runner.setPolicy(policy);
        runners.set(prog, runner);
      }
      // BPF_PROG_TEST_RUN refuses XDP input under 14 bytes.
      if (input.bytes.length < ETH_HEADER_LENGTH) {
        out.push({
          verdict: Verdict.MALFORMED,
          reply: null,
          to: null,
          rewritten: false,
          program: prog,
          retval: -1,
        });
        continue;
      }
      const r = await runner.runCounted(prog, input.bytes);
      const verdict = r.counterDelta.slice(0, VERDICT_NAMES.length).findIndex((d) => d > 0n);
      const replied = verdict === Verdict.REPLY;
      const reply = replied
        ? prog === 'keepalive_underlay'
          ? r.dataOut.subarray(skipEthernet(r.dataOut))
          : r.dataOut
        : null;
      out.push({
        verdict: verdict < 0 ? Verdict.NOT_GRE : verdict,
        reply,
        to: null,
        rewritten: false,
        program: prog,
        retval: r.retval,
      });
    }
    return out;
  } catch (err) {
    throw new CliError(`bpf engine: ${(err as Error).message} (needs root, bpftool and npm run build:bpf)`);
  } finally {
    for (const r of runners.values()) await r.close();
  }
}

async function explain(hex: string | undefined, opts: ExplainOptions): Promise<void> {
  const policy = policyFrom(opts);
  const all = await inputs(hex, opts);
  const results =
    opts.engine === 'bpf' ? await explainBpf(all, policy) : all.map((i) => explainTs(i, policy));
  all.forEach((input, i) => {
    const e = results[i]!;
    const reply = e.reply ? Buffer.from(e.reply).toString('hex') : null;
    if (opts.json) {
      const record = {
        index: input.index,
        layout: input.layout,
        engine: opts.engine,
        verdict: VERDICT_NAMES[e.verdict],
        reply,
        to: e.to,
        rewritten: e.rewritten,
        ...(e.program ? { program: e.program, retval: e.retval } : {}),
      };
      process.stdout.write(`${JSON.stringify(record)}\n`);
    } else if (reply) {
      const where = e.to ? ` to ${e.to}` : ` (${e.program}, XDP action ${e.retval})`;
      process.stdout.write(
        `#${input.index} reply ${e.reply!.length} bytes${where}${e.rewritten ? ' (inner destination rewritten: nat)' : ''}: ${reply}\n`,
      );
    } else {
      process.stdout.write(`#${input.index} ignore: ${VERDICT_NAMES[e.verdict]} (${WHY[e.verdict]})\n`);
    }
  });
}

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
  program
    .command('status')
    .summary('devices with the eBPF reflector and its counters')
    .argument('[dev]', 'only this device')
    .option('--json', 'print JSON')
    .action(async (dev: string | undefined, opts: { json?: boolean }) => {
      const all = bpfCall(() => status(dev));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        return;
      }
      if (all.length === 0) {
        process.stdout.write(
          dev ? `${dev}: no greoip keepalive program attached\n` : 'no greoip keepalive program attached\n',
        );
        return;
      }
      for (const s of all) {
        const seen = Object.entries(s.counters)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`);
        process.stdout.write(
          `${s.dev}: ${s.prog} (${s.hook}, id ${s.id}): ${seen.join(', ') || 'no packets yet'}\n`,
        );
      }
    });
}

function bpfCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AttachError) throw new CliError(`${err.field}: ${err.message}`);
    if (err instanceof PolicyError)
      throw new CliError(`--${err.field}: ${err.message.slice(err.field.length + 2)}`);
    throw new CliError((err as Error).message);
  }
}
