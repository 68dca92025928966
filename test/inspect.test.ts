/**
 * `greoip inspect` through the built CLI on captures we write: every kind of
 * packet is listed, the ones greoip does not understand say why, and bad
 * files give one clear error line and exit status 1.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { PacketReport } from '../src/inspect/index.ts';
import { LINKTYPE, writePcap, writePcapng } from '../src/pcap/index.ts';
import * as build from '../src/wire/build.ts';
import { EtherType } from '../src/wire/ethernet.ts';
import { GreProto } from '../src/wire/gre.ts';
import { Ipv4Flags, parseAddress as v4 } from '../src/wire/ipv4.ts';
import { parseAddress as v6 } from '../src/wire/ipv6.ts';
import { REPO_DIR, tempDir } from './helpers.ts';

const CLI = `${REPO_DIR}dist/cli/greoip.js`;
const A4 = v4('192.0.2.1')!;
const B4 = v4('198.51.100.2')!;
const A6 = v6('2001:db8::1')!;
const B6 = v6('2001:db8::2')!;
const MAC_A = 0x020000000001;
const MAC_B = 0x020000000002;

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

function withCapture(t: ExecutionContext, bytes: Buffer, fn: (file: string) => void): void {
  const file = join(tempDir(t, 'greoip-inspect-'), 'capture');
  writeFileSync(file, bytes);
  fn(file);
}

function eth(ip: Uint8Array, type: number = EtherType.IPV4): Uint8Array {
  return build.ethernetFrame(MAC_B, MAC_A, type, ip);
}

const arp = build.ethernetFrame(0xffffffffffff, MAC_A, EtherType.ARP, new Uint8Array(28));
const innerFrame = build.ethernetFrame(
  MAC_B,
  MAC_A,
  EtherType.IPV4,
  build.ipv4Packet({ src: 1, dst: 2 }, 1, new Uint8Array(1400)),
);
const eoipWhole = build.eoipPacket({ src: A4, dst: B4, identification: 0x4242 }, 300, innerFrame);

/** Splits an IPv4 packet into two fragments the way a router would (first 1000 payload bytes, then the rest). */
function fragments(ip: Uint8Array): [Uint8Array, Uint8Array] {
  const payload = ip.subarray(20);
  const first = build.ipv4Packet(
    { src: A4, dst: B4, identification: 0x4242, flags: Ipv4Flags.MORE_FRAGMENTS, ttl: 255 },
    47,
    payload.subarray(0, 1000),
  );
  const second = build.ipv4Packet(
    { src: A4, dst: B4, identification: 0x4242, ttl: 255 },
    47,
    payload.subarray(1000),
  );
  second[6] = 0;
  second[7] = 1000 / 8; // fragment offset in 8-byte units
  return [first, second];
}

const [frag1, frag2] = fragments(eoipWhole);

const PACKETS: { name: string; frame: Uint8Array; expect: Partial<PacketReport> }[] = [
  {
    name: 'ARP',
    frame: arp,
    expect: { understood: false, kind: 'other', note: 'EtherType 0x0806 is not IP' },
  },
  {
    name: 'UDP',
    frame: eth(build.ipv4Packet({ src: A4, dst: B4 }, 17, new Uint8Array(8))),
    expect: { understood: false, kind: 'ip' },
  },
  {
    name: 'GRE keepalive',
    frame: eth(build.greKeepaliveRequest4(A4, B4)),
    expect: { understood: true, kind: 'gre-keepalive' },
  },
  {
    name: 'GRE6 keepalive',
    frame: eth(build.greKeepaliveRequest6(A6, B6), EtherType.IPV6),
    expect: { understood: true, kind: 'gre-keepalive' },
  },
  {
    name: 'EoIPv6 keepalive',
    frame: eth(build.eoipv6Packet({ src: A6, dst: B6 }, 7, new Uint8Array(0)), EtherType.IPV6),
    expect: { understood: true, kind: 'eoipv6-keepalive' },
  },
  {
    name: 'PPTP',
    frame: eth(build.ipv4Packet({ src: A4, dst: B4 }, 47, Buffer.from('3001880b0000000000000001', 'hex'))),
    expect: { understood: true, kind: 'pptp' },
  },
  {
    name: 'GRE version 2',
    frame: eth(build.ipv4Packet({ src: A4, dst: B4 }, 47, Buffer.from('00020800', 'hex'))),
    expect: { understood: false, status: 'GRE_BAD_VERSION' },
  },
  { name: 'EoIP first fragment', frame: eth(frag1), expect: { understood: true, kind: 'eoip' } },
  {
    name: 'EoIP later fragment',
    frame: eth(frag2),
    expect: { understood: true, kind: 'ip-fragment', continues: 8, note: 'continues packet 8' },
  },
  {
    name: 'truncated IPv4',
    frame: eth(build.ipv4Packet({ src: A4, dst: B4 }, 47, new Uint8Array(0))).subarray(0, 20),
    expect: { understood: false, status: 'IPV4_TRUNCATED' },
  },
  {
    name: 'GRE/TEB with key',
    frame: eth(
      build.ipv4Packet(
        { src: A4, dst: B4 },
        47,
        build.grePayload({ protocol: GreProto.TEB, key: 5, checksum: true }, arp),
      ),
    ),
    expect: { understood: true, kind: 'gre' },
  },
];

test('pcapng with mixed traffic: every packet listed, understood or with a reason, all re-encoded', (t) => {
  withCapture(
    t,
    writePcapng(
      PACKETS.map((p) => ({ data: p.frame })),
      LINKTYPE.ETHERNET,
    ),
    (file) => {
      const r = run(['inspect', '--json', file]);
      t.is(r.status, 0, r.stderr);
      const reports = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as PacketReport);
      t.is(reports.length, PACKETS.length);
      PACKETS.forEach((p, i) => {
        const report = reports[i]!;
        t.like(report, p.expect, p.name);
        t.true(report.reencoded, `${p.name} re-encodes`);
        if (!report.understood) t.truthy(report.note, `${p.name} says why`);
      });
      const first = reports[7]!;
      t.like(first.eoip, { tunnelId: 300, partial: true });
      t.like(first.underlay!.fragment, { offset: 0, more: true, id: 0x4242 });
      t.like(reports[10]!.gre, { flags: 'CK', key: 5, checksumValid: true, protocol: GreProto.TEB });
      t.like(reports[2]!.greKeepalive, {
        family: 4,
        innerSrc: '198.51.100.2',
        innerDst: '192.0.2.1',
        innerProtocol: 0,
      });
    },
  );
});

test('the human table has a row per packet and a totals line', (t) => {
  withCapture(
    t,
    writePcapng(
      PACKETS.map((p) => ({ data: p.frame })),
      LINKTYPE.ETHERNET,
    ),
    (file) => {
      const r = run(['inspect', file]);
      t.is(r.status, 0);
      const lines = r.stdout.trimEnd().split('\n');
      t.is(lines.length, 1 + PACKETS.length + 2);
      t.regex(lines[1]!, /^1\s+0\.000\s+-\s+not understood\s/);
      t.is(lines.at(-1), `${PACKETS.length} packets, 7 understood, ${PACKETS.length} re-encoded exactly`);
    },
  );
});

test('raw-IP pcap is read from the IP header', (t) => {
  withCapture(t, writePcap([{ data: build.greKeepaliveRequest4(A4, B4) }], LINKTYPE.RAW), (file) => {
    const [report] = run(['inspect', '--json', file])
      .stdout.trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as PacketReport);
    t.like(report, { linkType: 'raw', kind: 'gre-keepalive', understood: true, reencoded: true });
  });
});

test('a link type greoip does not read is listed, not an error', (t) => {
  withCapture(t, writePcap([{ data: new Uint8Array(30) }], LINKTYPE.LINUX_SLL), (file) => {
    const r = run(['inspect', '--json', file]);
    t.is(r.status, 0);
    t.like(JSON.parse(r.stdout) as PacketReport, {
      understood: false,
      linkType: 'linux-sll',
      note: 'link type linux-sll is not read by greoip',
    });
  });
});

test('bad files: one error line naming the file, exit status 1', (t) => {
  const missing = run(['inspect', '/nonexistent/x.pcap']);
  t.is(missing.status, 1);
  t.is(missing.stderr, 'greoip: cannot read /nonexistent/x.pcap: ENOENT\n');
  withCapture(t, Buffer.from('not a capture at all'), (file) => {
    const r = run(['inspect', file]);
    t.is(r.status, 1);
    t.regex(r.stderr, /^greoip: .*capture: not a pcap or pcapng file: magic 0x/);
    t.is(r.stdout, '');
  });
});

test('usage errors and help', (t) => {
  const noFile = run(['inspect']);
  t.is(noFile.status, 1);
  t.regex(noFile.stderr, /missing required argument 'file'/);
  const typo = run(['inspec']);
  t.not(typo.status, 0);
  t.regex(typo.stderr, /Did you mean inspect\?/);
  const help = run(['inspect', '--help']);
  t.is(help.status, 0);
  for (const section of ['Usage: greoip inspect', '--json', 'Exit status:', 'Examples:'])
    t.true(help.stdout.includes(section), section);
  const version = run(['--version']);
  t.regex(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('eoip and gre-keepalive answer version', (t) => {
  for (const bin of ['eoip', 'gre-keepalive']) {
    const v = spawnSync(process.execPath, [`${REPO_DIR}dist/cli/${bin}.js`, 'version'], { encoding: 'utf8' });
    t.is(v.status, 0);
    t.regex(v.stdout, new RegExp(`^${bin} \\(greoip\\) \\d+\\.\\d+\\.\\d+\\n$`));
  }
});
