/**
 * The eBPF programs of bpf/ (built into build/*.o by `npm run build:bpf`): where their objects are,
 * how they are attached, which input layouts they take, and what each one decides for given bytes,
 * expressed with the TypeScript core (docs/keepalive.md) so tests and tools can predict a program's
 * verdict, return code and output bytes.
 */
import { existsSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Decision, decide, type Layout, type Policy, Verdict } from '../gre-keepalive/index.ts';
import * as gre from '../wire/gre.ts';
import * as ipv4 from '../wire/ipv4.ts';
import * as ipv6 from '../wire/ipv6.ts';
import { WireStatus } from '../wire/status.ts';

export type BpfProgramName =
  | 'keepalive_gre'
  | 'keepalive_gre6'
  | 'keepalive_tc'
  | 'keepalive_underlay'
  | 'xdp_pass';

export interface BpfProgramInfo {
  name: BpfProgramName;
  /** Object file name in the build directory. */
  file: string;
  /** ELF section: `prog` is what `ip link set dev X xdp object FILE` looks for without `sec`. */
  section: 'prog' | 'tc';
  /** Program type for `bpftool prog load ... type T`. */
  type: 'xdp' | 'tc';
  /** Input layouts the program recognises (it picks among several itself, see bpfDecide). */
  layouts: readonly Layout[];
  /** What it sends on REPLY: the bare inner packet, or the inner packet behind an Ethernet header. */
  reply: 'inner' | 'ethernet' | 'none';
  /** Needs ka_config local and remote of the inner family to reply (plain-reply programs). */
  requiresAddresses: boolean;
  /** How it is attached. */
  attach: string;
}

export const BPF_PROGRAMS: Readonly<Record<BpfProgramName, BpfProgramInfo>> = {
  keepalive_gre: {
    name: 'keepalive_gre',
    file: 'keepalive_gre.o',
    section: 'prog',
    type: 'xdp',
    layouts: ['outer-l3', 'inner-l3'],
    reply: 'inner',
    requiresAddresses: false,
    attach: 'ip link set dev GRE xdp object keepalive_gre.o (generic XDP on a gre device)',
  },
  keepalive_gre6: {
    name: 'keepalive_gre6',
    file: 'keepalive_gre6.o',
    section: 'prog',
    type: 'xdp',
    layouts: ['outer-l2', 'outer-l3', 'inner-l3'],
    reply: 'inner',
    requiresAddresses: false,
    attach: 'ip link set dev IP6GRE xdp object keepalive_gre6.o (generic XDP on an ip6gre device)',
  },
  keepalive_tc: {
    name: 'keepalive_tc',
    file: 'keepalive_tc.o',
    section: 'tc',
    type: 'tc',
    layouts: ['inner-l3'],
    reply: 'ethernet',
    requiresAddresses: true,
    attach:
      'tc filter add dev GRE ingress bpf da obj keepalive_tc.o sec tc (after tc qdisc add dev GRE clsact)',
  },
  keepalive_underlay: {
    name: 'keepalive_underlay',
    file: 'keepalive_underlay.o',
    section: 'prog',
    type: 'xdp',
    layouts: ['outer-l2'],
    reply: 'ethernet',
    requiresAddresses: false,
    attach: 'ip link set dev NIC xdp object keepalive_underlay.o (native XDP on the underlay NIC)',
  },
  xdp_pass: {
    name: 'xdp_pass',
    file: 'xdp_pass.o',
    section: 'prog',
    type: 'xdp',
    layouts: [],
    reply: 'none',
    requiresAddresses: false,
    attach: 'benchmark baseline: returns XDP_PASS',
  },
};

export const BPF_PROGRAM_NAMES = Object.keys(BPF_PROGRAMS) as BpfProgramName[];

/** The build directory, relative to the package root. */
export const BPF_BUILD_RELATIVE_DIR = 'build';

/**
 * Directory holding the objects: $GREOIP_BPF_DIR when set, else build/ under the package root (found by
 * walking up from this file to the directory holding bpf/Makefile or the built objects).
 */
export function bpfObjectDir(): string {
  const override = process.env.GREOIP_BPF_DIR;
  if (override) return override;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (
      existsSync(join(dir, 'bpf', 'Makefile')) ||
      existsSync(join(dir, BPF_BUILD_RELATIVE_DIR, 'xdp_pass.o'))
    ) {
      return join(dir, BPF_BUILD_RELATIVE_DIR);
    }
    if (dir === parse(dir).root) break;
  }
  return join(here, '..', '..', BPF_BUILD_RELATIVE_DIR);
}

export function bpfObjectPath(name: BpfProgramName): string {
  return join(bpfObjectDir(), BPF_PROGRAMS[name].file);
}

/** XDP and TC return codes the programs use. */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export const TcAction = { UNSPEC: -1, OK: 0, SHOT: 2, REDIRECT: 7 } as const;

const ETH_HEADER_LENGTH = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TPIDS = [0x8100, 0x88a8, 0x9100];
const OUTER_GRE_PROTOCOLS: readonly number[] = [
  gre.GreProto.IPV4,
  gre.GreProto.HUAWEI_IPV4,
  gre.GreProto.IPV6,
];

const h4 = ipv4.create();
const h6 = ipv6.create();
const gh = gre.create();

/** Offset of the IP header after Ethernet and up to two VLAN tags, or -1 (as the programs skip it). */
export function skipEthernet(buf: Uint8Array, end = buf.length): number {
  let pos = 12;
  for (let tags = 0; tags <= 2; tags++) {
    if (end - pos < 2) return -1;
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) return pos + 2;
    if (!VLAN_TPIDS.includes(type) || tags === 2) return -1;
    pos += 4;
  }
  return -1;
}

/**
 * Whether the bytes at `at` hold an outer header as the gre/gre6 programs judge it (ka_decide_outer's
 * outer_committed): sound IP and GRE headers with a keepalive-capable protocol (0x0800, 0x0004,
 * 0x86DD), followed by at least a minimal IP header of the family that protocol names.
 */
export function looksLikeOuter(buf: Uint8Array, at: number, end = buf.length): boolean {
  if (at >= end) return false;
  const version = buf[at]! >>> 4;
  let payload: number;
  let ipEnd: number;
  if (version === 4) {
    if (end - at >= 20 && buf[at + 9] !== ipv4.IPPROTO_GRE) return false;
    if (ipv4.decode(buf, at, h4, end) !== WireStatus.OK) return false;
    ipEnd = at + h4.totalLength;
    if (ipEnd > end || ipv4.isFragment(h4)) return false;
    payload = at + h4.headerLength;
  } else if (version === 6) {
    if (ipv6.decode(buf, at, h6, end) !== WireStatus.OK || h6.upperProtocol !== ipv4.IPPROTO_GRE)
      return false;
    ipEnd = at + ipv6.IPV6_HEADER_LENGTH + h6.payloadLength;
    if (ipEnd > end) return false;
    if (h6.hasFragmentHeader && (h6.fragmentOffset !== 0 || h6.moreFragments)) return false;
    payload = at + h6.headerLength;
  } else {
    return false;
  }
  if (gre.decode(buf, payload, gh, ipEnd) !== WireStatus.OK) return false;
  if (!OUTER_GRE_PROTOCOLS.includes(gh.protocol)) return false;
  const innerAt = payload + gh.headerLength;
  if (innerAt >= ipEnd) return false;
  const wanted = gh.protocol === gre.GreProto.IPV6 ? 6 : 4;
  return buf[innerAt]! >>> 4 === wanted && ipEnd - innerAt >= (wanted === 6 ? 40 : 20);
}

export interface BpfInput {
  layout: Layout;
  /** Where the decision starts (the IP header for inner-l3 behind a test-run Ethernet frame). */
  offset: number;
}

/**
 * The layout a program applies to `buf` (its input as BPF_PROG_TEST_RUN gets it: keepalive_tc's is an
 * Ethernet frame) or null for xdp_pass.
 */
export function bpfInput(name: BpfProgramName, buf: Uint8Array): BpfInput | null {
  const version = (at: number) => (at < buf.length ? buf[at]! >>> 4 : 0);
  switch (name) {
    case 'keepalive_gre':
      return version(0) === 4 && looksLikeOuter(buf, 0)
        ? { layout: 'outer-l3', offset: 0 }
        : { layout: 'inner-l3', offset: 0 };
    case 'keepalive_gre6': {
      const l3 = skipEthernet(buf);
      if (l3 >= 0 && version(l3) === 6 && looksLikeOuter(buf, l3)) return { layout: 'outer-l2', offset: 0 };
      if (version(0) === 6 && looksLikeOuter(buf, 0)) return { layout: 'outer-l3', offset: 0 };
      return { layout: 'inner-l3', offset: 0 };
    }
    case 'keepalive_tc':
      return { layout: 'inner-l3', offset: ETH_HEADER_LENGTH };
    case 'keepalive_underlay':
      return { layout: 'outer-l2', offset: 0 };
    case 'xdp_pass':
      return null;
  }
}

export interface BpfExpectation {
  /** Verdict counter the program increments. */
  verdict: Verdict;
  /** Program return code. */
  retval: number;
  /** Whether it also counts a send failure (COUNTER_TX_ERROR). */
  txError: boolean;
  /** data_out of the test run when it replies: the reply as the program leaves it in the buffer. */
  output: Uint8Array | null;
  input: BpfInput | null;
}

/**
 * What program `name` does with `buf` under `policy`, derived from the TS core: the verdict counted,
 * the return code and, on REPLY, the output bytes. `out` is the caller's reusable Decision.
 */
export function bpfDecide(
  name: BpfProgramName,
  buf: Uint8Array,
  policy: Policy,
  out: Decision,
): BpfExpectation {
  const info = BPF_PROGRAMS[name];
  const input = bpfInput(name, buf);
  const pass = info.type === 'tc' ? TcAction.OK : XdpAction.PASS;
  if (input === null)
    return { verdict: Verdict.NOT_GRE, retval: XdpAction.PASS, txError: false, output: null, input };
  let verdict: Verdict = decide(buf, input.offset, buf.length, input.layout, policy, out);
  if (info.requiresAddresses) verdict = requireAddresses(verdict, policy, out);
  if (verdict !== Verdict.REPLY) return { verdict, retval: pass, txError: false, output: null, input };
  const reply = out.reply.subarray(0, out.replyLength);
  if (info.reply === 'inner')
    return { verdict, retval: XdpAction.TX, txError: false, output: reply.slice(), input };
  const l2Length = input.layout === 'outer-l2' ? out.outerOffset : input.offset;
  const etherType = out.family === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
  if (info.type === 'tc' && ((buf[12]! << 8) | buf[13]!) !== etherType) {
    // bpf_redirect_neigh routes by skb->protocol (the frame's EtherType in a test run): refused.
    return { verdict, retval: pass, txError: true, output: null, input };
  }
  const output = new Uint8Array(l2Length + reply.length);
  output.set(buf.subarray(6, 12), 0);
  output.set(buf.subarray(0, 6), 6);
  output.set(buf.subarray(12, l2Length), 12);
  output[l2Length - 2] = etherType >>> 8;
  output[l2Length - 1] = etherType & 0xff;
  output.set(reply, l2Length);
  return {
    verdict,
    retval: info.type === 'tc' ? TcAction.REDIRECT : XdpAction.TX,
    txError: false,
    output,
    input,
  };
}

/**
 * The plain-reply rule (keepalive_tc): the inner source can only be ours if our address of that family is
 * configured (else FORGED_SOURCE), and the destination only allowed with the remote configured (else
 * THIRD_PARTY). The core checks each address only when it is set.
 */
export function requireAddresses(verdict: Verdict, policy: Policy, out: Decision): Verdict {
  if (verdict !== Verdict.REPLY && verdict !== Verdict.THIRD_PARTY) return verdict;
  const local = out.family === 4 ? policy.local4 : policy.local6;
  const remote = out.family === 4 ? policy.remote4 : policy.remote6;
  if (local === null) return Verdict.FORGED_SOURCE;
  if (verdict === Verdict.REPLY && remote === null) return Verdict.THIRD_PARTY;
  return verdict;
}
