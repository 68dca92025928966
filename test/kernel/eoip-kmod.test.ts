/**
 * The kernel fast path (kmod/: eoip.ko, eoipv6.ko) on each of Debian's real kernels (lab.ts: 6.1 and
 * 6.12, one qemu boot each). The modules, kmod/tools/eoipctl (netlink client) and kmod/tests/pkt
 * (capture, raw send) are built here by kmod/build.sh against that kernel's headers; the guest half is
 * kmod/tests/guest.sh.
 *
 * Namespaces A and B (guest/topology.sh) run stock gre/ip6gre tunnels and, next to them, eoip e4
 * (tid 100) and eoipv6 e6 (tid 1234) kernel to kernel, with pptp loaded too. What the kernel sent is
 * decoded here with the project's own wire decoders (src/wire), which are checked against RouterOS
 * captures elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { finishChecksum, sumWords } from '../../src/wire/checksum.ts';
import * as eoip from '../../src/wire/eoip.ts';
import * as eoipv6 from '../../src/wire/eoipv6.ts';
import * as ethernet from '../../src/wire/ethernet.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';
import { WireStatus } from '../../src/wire/status.ts';
import { buildKmod, KMOD, kmodGuestFiles } from './kmod.ts';
import { type RunResult, runInGuest } from './lab.ts';
import { marker as byName, expectPass, guestScript, kernelSuite } from './suite.ts';

/** pptp and what it needs beyond the lab's modules (gre is already there). */
const PPTP_MODULES = ['slhc', 'ppp_generic', 'pppox', 'pptp'];

function moduleFile(version: string, name: string): string {
  return execFileSync('/usr/sbin/modinfo', ['-k', version, '-n', name], { encoding: 'utf8' }).trim();
}

const labTest = kernelSuite((kernel) => {
  const files: Record<string, Uint8Array | string> = {
    ...kmodGuestFiles(buildKmod(kernel)),
    '/lab/topology.sh': guestScript('topology.sh'),
  };
  for (const m of PPTP_MODULES) files[`/lab/mod/${m}.ko`] = readFileSync(moduleFile(kernel.version, m));
  return runInGuest({
    kernel,
    script: readFileSync(join(KMOD, 'tests', 'guest.sh'), 'utf8'),
    files,
    timeoutMs: 300_000,
  });
});

/** Captured packets: `in|out HEX` (from the IP header on) of the markers named prefix-N. */
function captured(r: RunResult, prefix: string): { dir: string; bytes: Buffer }[] {
  return r.results
    .filter((x) => x.name.startsWith(`${prefix}-`))
    .map((x) => {
      const [dir, hex] = x.detail.split(' ');
      return { dir: dir!, bytes: Buffer.from(hex!, 'hex') };
    });
}

/** One outer datagram as the peer's IP layer sees it after reassembly: its header, its payload. */
interface Datagram<H> {
  ip: H;
  payload: Buffer;
}

/**
 * Joins fragments (in capture order) into whole datagrams, the way the peer's IP layer would. A
 * datagram whose fragments were not all captured (the capture stopped) is left out; unfragmented
 * packets pass as they are. `key` tells datagrams apart, `place` gives a fragment's offset in
 * bytes, whether more follow, and its payload.
 */
function reassemble<H>(
  packets: Buffer[],
  decode: (bytes: Buffer) => H,
  key: (ip: H) => string,
  place: (ip: H, bytes: Buffer) => { offset: number; more: boolean; payload: Buffer },
): Datagram<H>[] {
  const pending = new Map<string, { first?: H; parts: Buffer[]; at: number; done: boolean }>();
  const order: string[] = [];
  for (const bytes of packets) {
    const ip = decode(bytes);
    const { offset, more, payload } = place(ip, bytes);
    const k = offset === 0 && !more ? `whole ${order.length}` : key(ip);
    let d = pending.get(k);
    if (d === undefined) {
      d = { parts: [], at: 0, done: false };
      pending.set(k, d);
      order.push(k);
    }
    // Our sender emits the fragments of a datagram in order; anything else would be a finding.
    if (offset !== d.at) throw new Error(`fragment at ${offset}, expected ${d.at} (${k})`);
    if (offset === 0) d.first = ip;
    d.parts.push(payload);
    d.at += payload.length;
    d.done = !more;
  }
  return order
    .map((k) => pending.get(k)!)
    .filter((d) => d.done && d.first !== undefined)
    .map((d) => ({ ip: d.first!, payload: Buffer.concat(d.parts) }));
}

function reassemble4(packets: Buffer[]): Datagram<ipv4.Ipv4Header>[] {
  return reassemble(
    packets,
    (bytes) => {
      const ip = ipv4.create();
      if (ipv4.decode(bytes, 0, ip) !== WireStatus.OK) throw new Error('bad IPv4 header');
      return ip;
    },
    (ip) => `${ip.src} ${ip.dst} ${ip.protocol} ${ip.identification}`,
    (ip, bytes) => ({
      offset: ip.fragmentOffset * 8,
      more: (ip.flags & ipv4.Ipv4Flags.MORE_FRAGMENTS) !== 0,
      payload: bytes.subarray(ip.headerLength, ip.totalLength),
    }),
  );
}

function reassemble6(packets: Buffer[]): Datagram<ipv6.Ipv6Header>[] {
  return reassemble(
    packets,
    (bytes) => {
      const ip = ipv6.create();
      if (ipv6.decode(bytes, 0, ip) !== WireStatus.OK) throw new Error('bad IPv6 header');
      return ip;
    },
    (ip) => `${ipv6.formatAddress(ip.src)} ${ipv6.formatAddress(ip.dst)} ${ip.fragmentId}`,
    (ip, bytes) => ({
      offset: ip.fragmentOffset * 8,
      more: ip.moreFragments,
      payload: bytes.subarray(ip.headerLength, 40 + ip.payloadLength),
    }),
  );
}

/** The TCP or UDP packet in an Ethernet frame (IPv4 or IPv6, no extension headers). */
interface InnerL4 {
  protocol: number;
  /** The L4 header and payload. */
  segment: Buffer;
  /** Whether the L4 checksum verifies against the pseudo header. */
  checksumOk: boolean;
}

function innerL4(frame: Buffer): InnerL4 | undefined {
  const eth = ethernet.create();
  if (ethernet.decode(frame, 0, eth) !== WireStatus.OK) return undefined;
  const at = ethernet.encodingLength(eth);
  let protocol: number;
  let start: number;
  let end: number;
  let addresses: [number, number];
  if (eth.etherType === ethernet.EtherType.IPV4) {
    const ip = ipv4.create();
    if (ipv4.decode(frame, at, ip) !== WireStatus.OK) return undefined;
    [protocol, start, end, addresses] = [
      ip.protocol,
      at + ip.headerLength,
      at + ip.totalLength,
      [at + 12, at + 20],
    ];
  } else if (eth.etherType === ethernet.EtherType.IPV6) {
    const ip = ipv6.create();
    if (ipv6.decode(frame, at, ip) !== WireStatus.OK) return undefined;
    [protocol, start, end, addresses] = [
      ip.nextHeader,
      at + ip.headerLength,
      at + 40 + ip.payloadLength,
      [at + 8, at + 40],
    ];
  } else return undefined;
  if ((protocol !== 6 && protocol !== 17) || end > frame.length) return undefined;
  const pseudo = sumWords(frame, addresses[0], addresses[1]) + protocol + (end - start);
  const segment = frame.subarray(start, end);
  // A UDP checksum of 0 means none was computed: not complete either.
  const absent = protocol === 17 && segment.readUInt16BE(6) === 0;
  return {
    protocol,
    segment,
    checksumOk: !absent && finishChecksum(sumWords(segment, 0, segment.length, pseudo)) === 0,
  };
}

/** The frames of EoIP packets (keepalives left out), the length field checked against each. */
function eoipFrames(t: ExecutionContext, packets: Buffer[], src: number, dst: number): Buffer[] {
  return reassemble4(packets).flatMap(({ ip, payload }) => {
    t.deepEqual([ip.protocol, ip.src, ip.dst], [47, src, dst]);
    const h = eoip.create();
    t.is(eoip.decode(payload, 0, h), WireStatus.OK);
    t.is(h.tunnelId, 100);
    if (eoip.isKeepalive(h)) return [];
    t.is(h.frameLength, payload.length - eoip.EOIP_HEADER_LENGTH, "the length field is this frame's");
    return [payload.subarray(eoip.EOIP_HEADER_LENGTH)];
  });
}

/** The frames of EoIPv6 packets (keepalives left out). */
function eoipv6Frames(t: ExecutionContext, packets: Buffer[], src: Uint8Array): Buffer[] {
  return reassemble6(packets).flatMap(({ ip, payload }) => {
    t.deepEqual([ip.upperProtocol, ipv6.formatAddress(ip.src)], [97, ipv6.formatAddress(src)]);
    const h = eoipv6.create();
    t.is(eoipv6.decode(payload, 0, h), WireStatus.OK);
    t.is(h.tunnelId, 1234);
    return payload.length === eoipv6.EOIPV6_HEADER_LENGTH
      ? []
      : [payload.subarray(eoipv6.EOIPV6_HEADER_LENGTH)];
  });
}

const A4 = ipv4.parseAddress('192.0.2.1')!;
const B4 = ipv4.parseAddress('192.0.2.2')!;
const A6 = ipv6.parseAddress('2001:db8:e0::1')!;
const B6 = ipv6.parseAddress('2001:db8:e0::2')!;

labTest('eoip.ko and eoipv6.ko load next to gre, ip_gre, ip6_gre and pptp', async (t, r) => {
  t.log(`init after ${r.bootMs} ms, whole boot ${r.durationMs} ms`);
  expectPass(t, r, ['insmod-eoip', 'insmod-eoipv6', ...PPTP_MODULES.map((m) => `insmod-${m}`)]);
  expectPass(t, r, ['modules-coexist']);
});

labTest('invalid settings are refused with extack messages naming the attribute', async (t, r) => {
  const cases: [string, RegExp][] = [
    ['reject-tid-range', /IFLA_GRE_IKEY: tunnel id.* out of range 0-65535/],
    ['reject-tid6-range', /IFLA_GRE_IKEY: tunnel id.* out of range 0-4095/],
    ['reject-no-remote', /IFLA_GRE_REMOTE: remote address required/],
    ['reject-no-tid', /IFLA_GRE_IKEY: tunnel id required/],
    ['reject-multicast', /IFLA_GRE_REMOTE: remote must be a unicast address/],
    ['reject-interval', /IFLA_EOIP_KA_INTERVAL: keepalive interval.* out of range 0-3600/],
    ['reject-retries', /IFLA_EOIP_KA_RETRIES: keepalive retries.* out of range 1-255/],
    ['reject-link', /IFLA_GRE_LINK: no such underlay interface/],
    ['reject-duplicate', /already has this remote, local and tunnel id/],
    ['change-reject-tid', /IFLA_GRE_IKEY: tunnel id.* out of range 0-4095/],
    ['change-reject-link', /IFLA_GRE_LINK/],
  ];
  for (const [name, message] of cases) {
    const x = byName(r, name);
    t.true(x?.ok, `${name}: ${x?.detail}`);
    t.regex(x?.detail ?? '', message, name);
  }
});

labTest(
  'an address of the wrong length for the kind is refused by the policy, naming it; the link keeps its own',
  async (t, r) => {
    const cases: [string, RegExp][] = [
      [
        'change-reject-long-local',
        /IFLA_GRE_LOCAL: local address of 16 bytes: binary attribute size out of range \(4 bytes\)/,
      ],
      [
        'change-reject-short-remote',
        /IFLA_GRE_REMOTE: remote address of 4 bytes: binary attribute size out of range \(16 bytes\)/,
      ],
    ];
    for (const [name, message] of cases) {
      const x = byName(r, name);
      t.true(x?.ok, `${name}: ${x?.detail}`);
      t.regex(x?.detail ?? '', message, name);
    }
    expectPass(t, r, ['change-rejected-untouched']);
  },
);

labTest('the links read back with their settings and the defaults (ttl 255, mtu 1500)', async (t, r) => {
  expectPass(t, r, ['list-e4', 'list-e6', 'iproute2-sees-kind']);
});

labTest(
  'kernel to kernel over eoip and eoipv6 (ping, fragments, TCP), stock gre and ip6gre alongside',
  async (t, r) => {
    expectPass(t, r, [
      'ping-e4',
      'ping-e6-ipv4',
      'ping-e6-ipv6',
      'ping-gk4-alongside',
      'ping-gk6-alongside',
      'ping-e4-fragmented',
      'ping-e6-fragmented',
      'ping-e6-ipv6-fragmented',
      'rx-counters',
      'tcp-e4',
      'tcp-e6-ipv4',
      'tcp-e6-ipv6',
    ]);
  },
);

labTest(
  'eoip packets are RouterOS EoIP: proto 47, DF clear, TTL 255, 20 01 64 00, BE length, LE tid',
  async (t, r) => {
    expectPass(t, r, ['wire-e4-keepalive', 'wire-e4-data']);
    const sent = captured(r, 'cap4').filter((p) => p.dir === 'out');
    let keepalives = 0;
    let frames = 0;
    for (const { bytes } of sent) {
      const ip = ipv4.create();
      t.is(ipv4.decode(bytes, 0, ip), WireStatus.OK);
      t.true(ipv4.checksumValid(bytes, 0));
      t.deepEqual(
        [ip.protocol, ip.ttl, ip.flags & ipv4.Ipv4Flags.DONT_FRAGMENT, ip.src, ip.dst],
        [47, 255, 0, A4, B4],
      );
      const h = eoip.create();
      t.is(eoip.decode(bytes, ip.headerLength, h), WireStatus.OK);
      t.is(h.tunnelId, 100);
      const available = bytes.length - ip.headerLength - eoip.EOIP_HEADER_LENGTH;
      t.is(eoip.checkFrame(h, available), WireStatus.OK);
      if (eoip.isKeepalive(h)) {
        keepalives++;
        t.is(ip.totalLength, 28, 'a keepalive is the bare 8-byte header');
      } else {
        frames++;
        t.is(h.frameLength, available, 'no padding after a frame we send');
      }
    }
    t.true(keepalives >= 1, `${keepalives} keepalives sent`);
    t.true(frames >= 3, `${frames} frames sent`);
  },
);

labTest(
  'eoipv6 packets are RouterOS EoIPv6: next header 97, hop limit 255, 43 d2 for tid 1234',
  async (t, r) => {
    expectPass(t, r, ['wire-e6-keepalive']);
    const sent = captured(r, 'cap6').filter((p) => p.dir === 'out');
    let keepalives = 0;
    let frames = 0;
    for (const { bytes } of sent) {
      const ip = ipv6.create();
      t.is(ipv6.decode(bytes, 0, ip), WireStatus.OK);
      t.deepEqual(
        [ip.nextHeader, ip.hopLimit, ipv6.formatAddress(ip.src), ipv6.formatAddress(ip.dst)],
        [97, 255, ipv6.formatAddress(A6), ipv6.formatAddress(B6)],
      );
      const h = eoipv6.create();
      t.is(eoipv6.decode(bytes, ip.headerLength, h), WireStatus.OK);
      t.is(h.tunnelId, 1234);
      t.deepEqual([...bytes.subarray(ip.headerLength, ip.headerLength + 2)], [0x43, 0xd2]);
      if (eoipv6.isKeepalive(ip.payloadLength)) keepalives++;
      else {
        frames++;
        t.true(ip.payloadLength >= 2 + 14, 'a whole Ethernet frame follows the header');
      }
    }
    t.true(keepalives >= 1, `${keepalives} keepalives sent`);
    t.true(frames >= 3, `${frames} frames sent`);
  },
);

labTest('the devices advertise GSO and checksum offload, which ethtool can turn off', async (t, r) => {
  expectPass(t, r, [
    'features-e4',
    'features-e6',
    'features-csum-off',
    'features-csum-on',
    'gso-in-eoip-xmit',
  ]);
});

/** One UDP GSO superpacket A -> B (4 x 1000 bytes): 4 datagrams on the wire, each with its checksum. */
function checkUdpGso(
  t: ExecutionContext,
  r: RunResult,
  prefix: string,
  frames: (packets: Buffer[]) => Buffer[],
): void {
  const udp = frames(captured(r, prefix).map((p) => p.bytes))
    .map(innerL4)
    .filter((x) => x?.protocol === 17);
  t.deepEqual(
    udp.map((x) => [x!.segment.length, x!.checksumOk]),
    Array(4).fill([8 + 1000, true]),
    `${prefix}: UDP datagrams (length, checksum good)`,
  );
}

labTest(
  'UDP GSO (UDP_SEGMENT) over eoip and eoipv6: the datagrams leave with complete checksums',
  async (t, r) => {
    expectPass(t, r, ['udp-gso-e4', 'udp-gso-e6-ipv6']);
    checkUdpGso(t, r, 'udp4', (packets) => eoipFrames(t, packets, A4, B4));
    checkUdpGso(t, r, 'udp66', (packets) => eoipv6Frames(t, packets, A6));
  },
);

/**
 * What a bulk TCP transfer put on the wire (B's side, data B -> A): after reassembly every EoIP
 * packet carries one frame no larger than the MTU allows, its length field (EoIP) says exactly that
 * frame, and the inner TCP checksum is complete: a peer that never finishes a partial checksum
 * (RouterOS, a raw socket) would drop anything else.
 */
function checkBulkTcp(
  t: ExecutionContext,
  r: RunResult,
  prefix: string,
  frames: (packets: Buffer[]) => Buffer[],
): void {
  const sent = captured(r, prefix).map((p) => p.bytes);
  let full = 0;
  let tcp = 0;
  for (const frame of frames(sent)) {
    t.true(frame.length <= 1514, `${prefix}: a frame of ${frame.length} bytes`);
    if (frame.length === 1514) full++;
    const l4 = innerL4(frame);
    if (l4?.protocol !== 6) continue;
    tcp++;
    t.true(l4.checksumOk, `${prefix}: bad TCP checksum in ${frame.subarray(0, 80).toString('hex')}`);
  }
  t.log(`${prefix}: ${full} full-sized frames, ${tcp} TCP frames in ${sent.length} captured packets`);
  t.true(full >= 10, `${prefix}: ${full} full-sized frames (of ${tcp} TCP) in ${sent.length} packets`);
}

labTest(
  'bulk TCP over eoip leaves as MTU-sized frames with their own length and complete checksums',
  async (t, r) => {
    expectPass(t, r, ['tcp-e4']);
    checkBulkTcp(t, r, 'gso4', (packets) => eoipFrames(t, packets, B4, A4));
  },
);

for (const [prefix, what] of [
  ['gso6', 'IPv4'],
  ['gso66', 'IPv6'],
] as const) {
  labTest(
    `bulk TCP over ${what} over eoipv6 leaves as MTU-sized frames with complete checksums`,
    async (t, r) => {
      expectPass(t, r, [prefix === 'gso6' ? 'tcp-e6-ipv4' : 'tcp-e6-ipv6']);
      checkBulkTcp(t, r, prefix, (packets) => eoipv6Frames(t, packets, B6));
    },
  );
}

labTest(
  'keepalive follows RouterOS: down after interval x retries of silence, waiting, none',
  async (t, r) => {
    expectPass(t, r, [
      'ka-up-A',
      'ka-peer-stops',
      'ka-down-after-silence',
      'ka-peer-none-carrier-on',
      'ka-sends-while-down',
      'ka-down-blocks-traffic',
      'ka-peer-resumes',
      'ka-up-again',
      'ping-e4-after-ka',
      'ka-waiting-keeps-carrier',
      'ka-none-set',
      'ka-none-sends-nothing',
      'ka-none-carrier-on',
    ]);
    // keepalive 1,3: the peer's last keepalive was at most ~1 s before it stopped.
    const down = Number.parseInt(byName(r, 'ka-down-after-silence')?.detail ?? '', 10);
    t.true(down >= 1000 && down <= 5000, `carrier dropped ${down} ms after the peer went quiet`);
  },
);

labTest(
  'receive checks: padding trimmed, short or overlong frames refused, padded keepalive',
  async (t, r) => {
    expectPass(t, r, [
      'rx4-padded-frame',
      'rx4-short-frame',
      'rx4-frame-beyond-data',
      'rx4-padded-keepalive',
      'rx6-frame',
      'rx6-short-frame',
      'rx6-not-version-3',
    ]);
  },
);

labTest('the LOCAL_IN hook takes only its tunnels: other EoIP still reaches raw sockets', async (t, r) => {
  expectPass(t, r, ['hook-passes-unknown-tid', 'hook-takes-own-tid']);
});

labTest("PPTP's GRE version-1 packets reach pptp's handler with eoip loaded", async (t, r) => {
  expectPass(t, r, ['pptp-gre-v1-reaches-pptp', 'pptp-gre-v1-not-eoip']);
  t.log(byName(r, 'pptp-gre-v1-reaches-pptp')?.detail);
});

labTest('changelink rehashes, and a namespace can die with a tunnel in it', async (t, r) => {
  expectPass(t, r, ['change-tid-A', 'change-tid-B', 'ping-e4-tid-101', 'add-in-netns-C', 'netns-delete']);
});

labTest('unload with tunnels up and traffic flowing; the kernel logs no warning', async (t, r) => {
  expectPass(t, r, [
    'traffic-flowing',
    'rmmod-eoip-busy',
    'rmmod-eoipv6-busy',
    'links-gone',
    'ping-gk4-after-unload',
    'reload-eoip',
    'reload-eoipv6',
    'rmmod-eoip-idle',
    'rmmod-eoipv6-idle',
    'dmesg-clean',
  ]);
});

labTest('nothing else failed and the guest script finished', async (t, r) => {
  t.deepEqual(
    r.results.filter((x) => !x.ok),
    [],
    r.output,
  );
  t.is(r.scriptStatus, 0);
});
