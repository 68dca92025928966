/**
 * Golden vectors: every packet of every real RouterOS capture decodes and
 * re-encodes byte for byte, through the library and through the built CLI.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { PacketReport } from '../src/inspect/index.ts';
import { Inspector } from '../src/inspect/index.ts';
import { readCapture } from '../src/pcap/index.ts';
import * as packet from '../src/wire/packet.ts';
import { WireStatus } from '../src/wire/status.ts';
import { CAPTURE_FILES, CAPTURES_DIR, REPO_DIR } from './helpers.ts';

/** Tunnel ids and underlay addresses as fixtures/README.md describes them. */
const TUNNEL_IDS = new Set([100, 200]);
const UNDERLAY = new Set(['78.47.55.197', '128.140.114.175']);

for (const file of CAPTURE_FILES) {
  test(`${file}: every packet is EoIP and re-encodes exactly through the library`, (t) => {
    const records = readCapture(readFileSync(CAPTURES_DIR + file));
    t.true(records.length > 0);
    const d = packet.createDissection();
    for (const r of records) {
      const where = `${file} #${r.index + 1}`;
      t.is(packet.dissect(r.data, packet.LinkLayer.ETHERNET, d), WireStatus.OK, where);
      t.true(d.kind === packet.FrameKind.EOIP || d.kind === packet.FrameKind.EOIP_KEEPALIVE, where);
      const e = packet.findLayer(d, packet.LayerKind.EOIP)!;
      t.true(TUNNEL_IDS.has(e.eoip.tunnelId), where);
      const again = packet.reencode(d, r.data);
      t.not(again.buffer, r.data.buffer, 'a fresh buffer, not the input');
      t.deepEqual(Buffer.from(again), Buffer.from(r.data), where);
    }
  });
}

test('EoIP data frame lengths match the bytes present, keepalives carry nothing', (t) => {
  const d = packet.createDissection();
  let data = 0;
  let keepalives = 0;
  for (const file of CAPTURE_FILES) {
    for (const r of readCapture(readFileSync(CAPTURES_DIR + file))) {
      packet.dissect(r.data, packet.LinkLayer.ETHERNET, d);
      const e = packet.findLayer(d, packet.LayerKind.EOIP)!;
      const after = r.data.length - (e.offset + 8);
      if (e.eoip.frameLength === 0) keepalives++;
      else data++;
      t.is(e.eoip.frameLength, after, `${file} #${r.index + 1}`);
    }
  }
  t.true(data > 50 && keepalives > 10, `${data} data, ${keepalives} keepalives`);
});

function cliJson(file: string): PacketReport[] {
  const out = execFileSync(
    process.execPath,
    [`${REPO_DIR}dist/cli/greoip.js`, 'inspect', '--json', CAPTURES_DIR + file],
    {
      encoding: 'utf8',
    },
  );
  return out
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as PacketReport);
}

for (const file of CAPTURE_FILES) {
  test(`${file}: greoip inspect --json (built CLI) understands and re-encodes every packet`, (t) => {
    const reports = cliJson(file);
    const records = readCapture(readFileSync(CAPTURES_DIR + file));
    t.is(reports.length, records.length);
    for (const r of reports) {
      t.true(r.understood, `#${r.index}`);
      t.true(r.reencoded, `#${r.index}`);
      t.is(r.status, 'OK');
      t.not(r.eoip, null);
      t.true(UNDERLAY.has(r.underlay!.src) && UNDERLAY.has(r.underlay!.dst));
      t.is(r.underlay!.ttl === 255 || r.underlay!.ttl === 247, true, 'RouterOS TTL 255, minus hops');
      t.true(r.underlay!.checksumValid!);
      if (r.eoip!.keepalive) t.is(r.inner, null);
      else t.regex(r.inner!.src, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
    // The library and the CLI agree packet for packet.
    const inspector = new Inspector();
    t.deepEqual(
      reports,
      records.map((r) => inspector.report(r)),
    );
  });
}

test('known facts of mk-mk-arp.pcap: ARP request/reply then ICMP, tid 100', (t) => {
  const reports = cliJson('mk-mk-arp.pcap');
  t.deepEqual(
    reports.map((r) => [r.kind, r.eoip!.tunnelId, r.eoip!.frameLength, r.inner!.etherType]),
    [
      ['eoip', 100, 42, 0x0806],
      ['eoip', 100, 42, 0x0806],
      ['eoip', 100, 70, 0x0800],
      ['eoip', 100, 70, 0x0800],
    ],
  );
  t.is(reports[0]!.inner!.dst, 'ff:ff:ff:ff:ff:ff');
});

test('human output lists every packet with reenc yes and a totals line', (t) => {
  const out = execFileSync(
    process.execPath,
    [`${REPO_DIR}dist/cli/greoip.js`, 'inspect', `${CAPTURES_DIR}mk-mk-idle.pcap`],
    {
      encoding: 'utf8',
    },
  );
  const lines = out.trimEnd().split('\n');
  t.regex(lines[0]!, /^#\s+time\s+underlay\s+what\s+tid\s+len\s+inner\s+reenc\s+note$/);
  t.is(lines.filter((l) => /^\d+\s/.test(l) && /\syes(\s|$)/.test(l)).length, 24);
  t.is(lines.at(-1), '24 packets, 24 understood, 24 re-encoded exactly');
});
