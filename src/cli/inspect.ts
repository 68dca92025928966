/** `greoip inspect`: what greoip understands in a capture file. */
import type { Command } from 'commander';
import { formatSummary, formatTable, Inspector } from '../inspect/index.ts';
import { CaptureFormatError, readCaptureFile } from '../pcap/index.ts';
import { CliError } from './errors.ts';

const DESCRIPTION = `Read a capture (pcap or pcapng; Ethernet or raw-IP link type) and show, for each
packet, what greoip understands in it: the underlay addresses, the GRE flags
and protocol, EoIP tunnel id / frame length / keepalive, EoIPv6 tunnel id, GRE
keepalive requests, the inner Ethernet addresses and type, and whether
encoding the decoded fields into a fresh buffer reproduces the packet exactly.`;

const AFTER = `
Output:
  Without --json, an aligned table and a totals line. With --json, one JSON
  object per packet per line (JSON Lines); the field names are stable and
  listed in the README ("inspect --json fields").

  Packets greoip does not understand are listed as such (understood: false,
  with a note); they never make the command fail.

Exit status:
  0  the capture was read (whatever its packets were)
  1  the file could not be read or is not a pcap/pcapng capture

Examples:
  greoip inspect samples/routeros-7.18-ping.pcap
  greoip inspect --json tunnel.pcapng | jq 'select(.eoip) | .eoip.tunnelId'
  tcpdump -i eth0 -w - 'ip proto 47' | greoip inspect /dev/stdin`;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .summary('show what greoip understands in a pcap/pcapng capture')
    .description(DESCRIPTION)
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--json', 'print one JSON object per packet (JSON Lines)')
    .addHelpText('after', AFTER)
    .action(async (file: string, opts: { json?: boolean }) => {
      await inspect(file, opts.json === true);
    });
}

async function inspect(file: string, json: boolean): Promise<void> {
  let records: Awaited<ReturnType<typeof readCaptureFile>>;
  try {
    records = await readCaptureFile(file);
  } catch (err) {
    if (err instanceof CaptureFormatError) throw new CliError(`${file}: ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file}: ${code ?? (err as Error).message}`);
  }
  const inspector = new Inspector();
  const reports = records.map((r) => inspector.report(r));
  if (json) {
    process.stdout.write(reports.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return;
  }
  process.stdout.write(`${formatTable(reports)}\n\n${formatSummary(reports)}\n`);
}
