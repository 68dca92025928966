import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { buildSync } from 'esbuild';
import { CAPTURES_DIR, REPO_DIR, tempDir } from '../helpers.ts';

/**
 * The probe is bundled to plain JavaScript first: a TypeScript loader
 * compiling and caching modules in the background would allocate during
 * the measured loop and blame the codecs for it.
 */
function bundleProbe(dir: string): string {
  const outfile = join(dir, 'alloc-probe.mjs');
  buildSync({
    entryPoints: [`${REPO_DIR}test/wire/alloc-probe.ts`],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'silent',
  });
  return outfile;
}

test('a million dissections and header encodes trigger no scavenge (no per-packet allocation)', (t) => {
  const dir = tempDir(t, 'greoip-alloc-');
  const out = execFileSync(
    process.execPath,
    ['--trace-gc', '--expose-gc', bundleProbe(dir), `${CAPTURES_DIR}mk-mk-ping.pcap`],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  const lines = out.split('\n');
  const begin = lines.indexOf('ALLOC-PROBE-BEGIN');
  const end = lines.indexOf('ALLOC-PROBE-END');
  t.true(begin >= 0 && end > begin, 'probe ran to completion');
  t.regex(out, /checksum [1-9]\d*/, 'the loop did real work');
  const scavenges = lines.slice(begin, end).filter((l) => l.includes('Scavenge'));
  t.deepEqual(scavenges, []);
  // --trace-gc is live in that process: the explicit gc() before the loop is reported.
  t.true(
    lines.slice(0, begin).some((l) => /Mark-Compact|Mark-sweep/i.test(l)),
    'trace-gc output present',
  );
});
