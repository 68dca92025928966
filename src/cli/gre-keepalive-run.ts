/**
 * `gre-keepalive run` (the userland reflector in the foreground) and `explain` (what it would do with a
 * packet or a capture, by the TypeScript core or by the BPF programs); also `greoip gre-keepalive`.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { type ExplainInput, explainWithBpf } from '../bpf/explain.ts';
import { type Explained, explainPacket } from '../gre-keepalive/explain.ts';
import { type Layout, type Mode, type Policy, VERDICT_NAMES, Verdict } from '../gre-keepalive/index.ts';
import { UserlandReflector } from '../gre-keepalive-io/reflector.ts';
import { reflectorCollector } from '../metrics/gre-keepalive.ts';
import { CaptureFormatError, LINKTYPE, readCaptureFile } from '../pcap/index.ts';
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

const RUN_HELP = `
Answers GRE keepalives (GRE over IPv4 and IPv6) from user space with raw
sockets: no gre device and no accept_local needed. A request is answered only
when its inner packet is a small GRE keepalive whose source is our own address
(the outer destination) and whose destination is the sender (or, with
--policy nat, the sender's private address, rewritten); everything else is
counted and ignored, so the reflector is never an open relay. Counters are
printed every --interval seconds and on exit (SIGINT/SIGTERM); with --metrics
they are served to Prometheus. Start and stop are logged (JSON lines off a
terminal, --log-format); packets never are. Under systemd (Type=notify) it
reports READY=1 once its sockets are open (gre-keepalive.service, installed by
greoip install-units).

A spoofed requester cannot hold up anyone else's answer. Each source (where
the answer goes) gets --rate-limit answers a second, default 10 with bursts
of 20 (a router sends one keepalive per tunnel and interval; raise it when
one peer has more than about 10 tunnels at a 1 s interval): the rest are
counted as "rate limited". Answers to an on-link address the kernel has not
resolved (ARP/NDP), such as a spoofed one nobody holds, would wait in the
kernel until resolution fails; they leave through sockets of their own with a
small buffer ("waiting on neighbour resolution", "dropped" when full), so the
answers to everyone else never queue behind them.

Needs CAP_NET_RAW. Examples:
  gre-keepalive run
  gre-keepalive run --interval 0 --metrics 127.0.0.1:9465
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
    const runCommand = program
      .command('run')
      .summary('answer GRE keepalives from user space (foreground)')
      .description('Answer GRE and GRE6 keepalives with raw sockets, in the foreground.')
      .addOption(peerOption())
      .addOption(policyOption())
      .addOption(rateLimitOption())
      .option('--no-ipv6', 'do not open the IPv6 socket')
      .option('--interval <seconds>', 'how often to print counters (0: only on exit)', '10')
      .option('--json', 'print counters as JSON lines');
    for (const option of serviceOptions()) runCommand.addOption(option);
    runCommand.addHelpText('after', RUN_HELP).action(async (opts: RunOptions) => {
      await run(opts);
    });
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

interface RunOptions extends ServiceOptions {
  peer: string[];
  policy: Mode;
  rateLimit: string;
  ipv6: boolean;
  interval: string;
  json?: boolean;
}

async function run(opts: RunOptions): Promise<void> {
  const interval = Number(opts.interval);
  if (!Number.isFinite(interval) || interval < 0)
    throw new CliError(`--interval: ${opts.interval} is not a number of seconds`);
  const log = loggerFrom(opts, 'gre-keepalive');
  const metricsAddress = metricsAddressFrom(opts);
  const notifier = createNotifier();
  const reflector = new UserlandReflector(policyFrom(opts), { limit: parseRateLimit(opts.rateLimit) });
  try {
    reflector.start({ ipv6: opts.ipv6 });
  } catch (err) {
    const message = `cannot open raw sockets: ${(err as Error).message} (needs CAP_NET_RAW)`;
    log.error('start failed', { error: message });
    throw new CliError(message, 1, true);
  }
  let metrics: Awaited<ReturnType<typeof startMetrics>>;
  try {
    metrics = await startMetrics(
      metricsAddress,
      'gre-keepalive',
      [reflectorCollector(() => reflector.counters())],
      log,
    );
  } catch (err) {
    reflector.close();
    throw err;
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
      `replies sent ${c.repliesSent}, failed ${c.replyErrors}, rate limited ${c.rateLimited}, ` +
        `waiting on neighbour resolution ${c.unresolved} (dropped ${c.unresolvedDropped}); ` +
        `seen: ${seen.join(', ') || 'nothing'}\n`,
    );
  };
  log.info('answering keepalives', {
    policy: opts.policy,
    peers: opts.peer.length > 0 ? opts.peer : 'any',
    ipv6: opts.ipv6,
  });
  notifier.ready(`answering keepalives (policy ${opts.policy})`);
  const timer = interval > 0 ? setInterval(print, interval * 1000) : null;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  notifier.stopping(`stopping (${signal})`);
  if (timer) clearInterval(timer);
  reflector.close();
  await metrics?.close();
  const c = reflector.counters();
  log.info('stopped', { reason: signal, replies_sent: c.repliesSent, reply_errors: c.replyErrors });
  print();
}

interface Input extends ExplainInput {
  index: number;
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

async function bpfEngine(inputs: Input[], policy: Policy): Promise<Explained[]> {
  try {
    return await explainWithBpf(inputs, policy);
  } catch (err) {
    throw new CliError(`bpf engine: ${(err as Error).message} (needs root, bpftool and npm run build:bpf)`);
  }
}

async function explain(hex: string | undefined, opts: ExplainOptions): Promise<void> {
  const policy = policyFrom(opts);
  const all = await inputs(hex, opts);
  const results =
    opts.engine === 'bpf'
      ? await bpfEngine(all, policy)
      : all.map((i) => explainPacket(i.bytes, i.layout, policy));
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
