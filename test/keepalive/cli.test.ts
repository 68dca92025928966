/** `gre-keepalive explain` and `greoip keepalive explain` through the built CLI. */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { REPO_DIR } from '../helpers.ts';
import { VECTORS } from './vectors.ts';

const GK = `${REPO_DIR}dist/cli/gre-keepalive.js`;
const GREOIP = `${REPO_DIR}dist/cli/greoip.js`;
const cli = (bin: string, args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('explain HEX: the reply and where it goes', (t) => {
  const cisco = VECTORS[0]!;
  const r = cli(GK, ['explain', cisco.hex]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `#1 reply 24 bytes to 192.0.2.1: ${cisco.expect.replyHex}\n`);
  const mirrored = cli(GREOIP, ['keepalive', 'explain', cisco.hex]);
  t.is(mirrored.stdout, r.stdout, 'greoip keepalive explain is the same command');
});

test('explain --json for every corpus vector agrees with the corpus', (t) => {
  for (const v of VECTORS) {
    const args = ['explain', v.hex, '--layout', v.layout, '--json'];
    if (v.policy?.mode) args.push('--policy', v.policy.mode);
    for (const p of v.policy?.peers ?? []) args.push('--peer', p);
    if (v.policy?.local) args.push('--local', v.policy.local);
    if (v.policy?.remote) args.push('--remote', v.policy.remote);
    const r = cli(GK, args);
    t.is(r.status, 0, `${v.name}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { verdict: string; reply: string | null };
    t.is(out.reply, v.expect.replyHex ?? null, v.name);
  }
});

test('explain --pcap reads a capture; RouterOS EoIP is not a keepalive', (t) => {
  const r = cli(GK, ['explain', '--pcap', `${REPO_DIR}samples/routeros-7.18-ping.pcap`, '--json']);
  t.is(r.status, 0);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { verdict: string; layout: string });
  t.is(lines.length, 14);
  t.true(lines.every((l) => l.verdict === 'not_keepalive' && l.layout === 'outer-l2'));
});

test('bad input gets one clear line naming the field', (t) => {
  const badHex = cli(GK, ['explain', 'xyz']);
  t.is(badHex.status, 1);
  t.regex(badHex.stderr, /^gre-keepalive: hex: "xyz" is not an even number of hex digits/);
  const badPeer = cli(GK, ['explain', '00', '--peer', '10.0.0.0/40']);
  t.regex(badPeer.stderr, /--peer: "10\.0\.0\.0\/40": prefix length must be 0 to 32/);
  const both = cli(GK, ['explain']);
  t.regex(both.stderr, /give one packet as hex or --pcap FILE/);
  const badPolicy = cli(GK, ['explain', '00', '--policy', 'loose']);
  t.not(badPolicy.status, 0);
  t.regex(badPolicy.stderr, /Allowed choices are strict, nat/);
  const help = cli(GK, ['run', '--help']);
  t.regex(help.stdout, /never an open relay/);
});
