/** Runs tshark over packets we wrote: an independent decoder of what we put on the wire. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { writePcap } from '../../src/pcap/index.ts';
import { tempDir } from '../helpers.ts';

/**
 * Writes `packets` to a pcap of `linkType` and returns, per packet, the
 * requested tshark fields (repeated fields joined with commas, as tshark prints).
 */
export function tsharkFields(
  t: ExecutionContext,
  packets: Uint8Array[],
  linkType: number,
  fields: string[],
  prefs: string[] = [],
): Record<string, string>[] {
  const file = join(tempDir(t, 'greoip-tshark-'), 'packets.pcap');
  writeFileSync(
    file,
    writePcap(
      packets.map((data) => ({ data })),
      linkType,
    ),
  );
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=/t', ...prefs.flatMap((p) => ['-o', p])];
  for (const f of fields) args.push('-e', f);
  // stderr dropped: tshark warns about running as root.
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const cells = line.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, cells[i] ?? '']));
    });
}
