/**
 * Attaching the keepalive programs to devices, configuring their maps and
 * reading their counters: `gre-keepalive attach|detach|status`, through the one
 * loader (libbpf in the addon): XDP through bpf_xdp_attach, the TC program as a
 * clsact filter (handle 1, priority 49152), maps by fd. iproute2 is only asked
 * what a device is (`ip -j -d link show`).
 */
import { execFileSync } from 'node:child_process';
import { createPolicy, type Mode, type Policy, VERDICT_NAMES } from '../gre-keepalive/index.ts';
import { bpf, XdpFlags } from '../native/bpf.ts';
import { getRouteRequest, parseRoute } from '../netlink/route.ts';
import { RtnlSocket } from '../netlink/socket.ts';
import { BpfObject, closeFd } from './loader.ts';
import {
  COUNTER_SLOTS,
  COUNTER_TX_ERROR,
  encodeConfig,
  lpm4Key,
  lpm6Key,
  PEER_VALUE,
  readHostU64,
} from './maps.ts';
import type { BpfProgramName } from './programs.ts';

/** Our programs by the names bpftool shows: the full name from BTF, or the kernel's 15-character cut. */
const KERNEL_NAMES: Record<string, BpfProgramName> = Object.fromEntries(
  (['keepalive_gre', 'keepalive_gre6', 'keepalive_tc', 'keepalive_underlay'] as const).flatMap((n) => [
    [n, n],
    [n.slice(0, 15), n],
  ]),
);
/** tc filter priority of our ingress filter, so detach removes ours and nothing else. */
const TC_PREF = 49152;

export type AttachMode = 'gre' | 'underlay';
export type XdpMode = 'native' | 'generic';
export type ReplyMode = 'tunnel' | 'plain';

export interface AttachOptions {
  mode?: AttachMode;
  xdp?: XdpMode;
  reply?: ReplyMode;
  policy?: Mode;
  peers?: string[];
}

export class AttachError extends Error {
  override name = 'AttachError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

const json = <T>(cmd: string, args: string[]): T => JSON.parse(run(cmd, args)) as T;

interface LinkInfo {
  ifname: string;
  ifindex: number;
  link_type: string;
  linkinfo?: { info_kind?: string; info_data?: { local?: string; remote?: string; link?: string } };
  xdp?: { prog?: { id: number }; mode?: number };
}

function linkInfo(dev: string): LinkInfo {
  try {
    return json<LinkInfo[]>('ip', ['-j', '-d', 'link', 'show', 'dev', dev])[0]!;
  } catch {
    throw new AttachError('DEV', `no network device named ${dev}`);
  }
}

/** Which program and hook an attach request means, checked against the device. */
function plan(
  dev: string,
  info: LinkInfo,
  o: AttachOptions,
): { prog: BpfProgramName; hook: 'xdpgeneric' | 'xdpdrv' | 'tc' } {
  const kind = info.linkinfo?.info_kind ?? '';
  const isGre = kind === 'gre' || kind === 'ip6gre';
  const mode = o.mode ?? (isGre ? 'gre' : 'underlay');
  if (mode === 'gre') {
    if (!isGre)
      throw new AttachError(
        '--mode',
        `${dev} is not a gre or ip6gre device (it is ${kind || info.link_type}); use --mode underlay`,
      );
    if (o.xdp === 'native')
      throw new AttachError('--xdp', 'gre devices have no native XDP: use --xdp generic (the default there)');
    if (o.reply === 'plain') return { prog: 'keepalive_tc', hook: 'tc' };
    return { prog: kind === 'gre' ? 'keepalive_gre' : 'keepalive_gre6', hook: 'xdpgeneric' };
  }
  if (o.reply === 'plain')
    throw new AttachError('--reply', 'the underlay program always sends the plain reply: drop --reply');
  return { prog: 'keepalive_underlay', hook: o.xdp === 'generic' ? 'xdpgeneric' : 'xdpdrv' };
}

function policyFor(info: LinkInfo, o: AttachOptions, prog: BpfProgramName): Policy {
  const data = info.linkinfo?.info_data;
  const onGre = prog !== 'keepalive_underlay';
  const local = onGre && data?.local && data.local !== 'any' ? data.local : null;
  const remote = onGre && data?.remote && data.remote !== 'any' ? data.remote : null;
  if (prog === 'keepalive_tc' && (!local || !remote)) {
    throw new AttachError(
      '--reply',
      `the plain reply needs the tunnel's local and remote addresses; ${info.ifname} has ${local ?? 'no local'}, ${remote ?? 'no remote'}`,
    );
  }
  return createPolicy({ mode: o.policy ?? 'strict', peers: o.peers ?? [], local, remote });
}

/** Handle and priority of our clsact ingress filter, so detach removes ours and nothing else. */
const TC_HANDLE = 1;

function allDevices(): { ifname: string; ifindex: number }[] {
  return json<{ ifname: string; ifindex: number }[]>('ip', ['-j', 'link', 'show']);
}

/** The kernel's name of program `id`, mapped to ours, or null. */
function progName(id: number): BpfProgramName | null {
  const fd = bpf.progFdById(id);
  try {
    return KERNEL_NAMES[bpf.progInfo(fd).name] ?? null;
  } finally {
    closeFd(fd);
  }
}

/** Program ids of ours attached to `dev` (XDP and TC ingress). */
function attachedIds(dev?: string): { dev: string; id: number; prog: BpfProgramName; hook: string }[] {
  const devices = dev ? [{ ifname: dev, ifindex: linkInfo(dev).ifindex }] : allDevices();
  const out: { dev: string; id: number; prog: BpfProgramName; hook: string }[] = [];
  for (const d of devices) {
    const xdp = bpf.xdpQuery(d.ifindex);
    for (const [id, mode] of [
      [xdp.skb, 'generic'],
      [xdp.drv, 'driver'],
    ] as const) {
      const name = id ? progName(id) : null;
      if (name) out.push({ dev: d.ifname, id, prog: name, hook: `xdp (${mode})` });
    }
    const tcId = bpf.tcQuery(d.ifindex, 'ingress', TC_HANDLE, TC_PREF);
    const name = tcId ? progName(tcId) : null;
    if (name) out.push({ dev: d.ifname, id: tcId, prog: name, hook: 'tc ingress' });
  }
  return out;
}

/** Map fds by name for a loaded program (closed by the caller). */
function maps(progId: number): Record<string, number> {
  const fd = bpf.progFdById(progId);
  const byName: Record<string, number> = {};
  try {
    for (const id of bpf.progInfo(fd).mapIds) {
      const m = bpf.mapFdById(id);
      const name = bpf.mapInfo(m).name;
      if (name && byName[name] === undefined) byName[name] = m;
      else closeFd(m);
    }
  } finally {
    closeFd(fd);
  }
  return byName;
}

function closeAll(fds: Record<string, number>): void {
  for (const fd of Object.values(fds)) closeFd(fd);
}

function configure(fds: Record<string, number>, policy: Policy, underlayIfindex: number): void {
  const config = fds.ka_config;
  if (config === undefined) throw new Error('the program has no ka_config map');
  bpf.mapUpdate(config, Buffer.alloc(4), encodeConfig(policy, { underlayIfindex }));
  for (const p of policy.peers4) bpf.mapUpdate(fds.ka_peers4!, lpm4Key(p.addr, p.length), PEER_VALUE);
  for (const p of policy.peers6) bpf.mapUpdate(fds.ka_peers6!, lpm6Key(p.addr, p.length), PEER_VALUE);
}

/** The underlay device a gre tunnel leaves by: the route to its remote (rtnetlink). */
function underlayIfindex(info: LinkInfo): number {
  const remote = info.linkinfo?.info_data?.remote;
  if (!remote || remote === 'any') return 0;
  const rtnl = new RtnlSocket();
  try {
    const seq = 1;
    const [msg] = rtnl.request(getRouteRequest(seq, remote), seq, false);
    return msg ? parseRoute(msg).oif : 0;
  } catch {
    return 0;
  } finally {
    rtnl.close();
  }
}

export interface AttachResult {
  dev: string;
  prog: BpfProgramName;
  hook: string;
  id: number;
}

/** Attaches, then configures; if configuring fails the program is detached again. */
export function attach(dev: string, options: AttachOptions = {}): AttachResult {
  const info = linkInfo(dev);
  const { prog, hook } = plan(dev, info, options);
  const policy = policyFor(info, options, prog);
  if (attachedIds(dev).length > 0)
    throw new AttachError('DEV', `${dev} already has a greoip keepalive program: detach it first`);
  const object = BpfObject.loadBuilt(prog, { progType: hook === 'tc' ? 'tc' : 'xdp' });
  try {
    const progFd = object.program(object.programs[0]!.name).fd;
    if (hook === 'tc') {
      bpf.tcHookCreate(info.ifindex);
      bpf.tcAttach(info.ifindex, 'ingress', progFd, TC_HANDLE, TC_PREF);
    } else {
      const mode = hook === 'xdpgeneric' ? XdpFlags.SKB_MODE : XdpFlags.DRV_MODE;
      bpf.xdpAttach(info.ifindex, progFd, mode | XdpFlags.UPDATE_IF_NOEXIST);
    }
    const attached = attachedIds(dev)[0];
    try {
      if (!attached) throw new Error(`${prog} did not show up on ${dev} after attaching`);
      const fds = Object.fromEntries(
        ['ka_config', 'ka_peers4', 'ka_peers6'].map((m) => [m, object.map(m).fd]),
      );
      configure(fds, policy, prog === 'keepalive_tc' ? underlayIfindex(info) : 0);
    } catch (err) {
      detach(dev);
      throw err;
    }
    return { dev, prog, hook: attached.hook, id: attached.id };
  } finally {
    // The attachment holds the program and its maps; our fds are not needed.
    object.close();
  }
}

/** Removes our programs from `dev`; returns what was removed. */
export function detach(dev: string): AttachResult[] {
  linkInfo(dev);
  const found = attachedIds(dev);
  const ifindex = linkInfo(dev).ifindex;
  for (const a of found) {
    if (a.hook === 'tc ingress') bpf.tcDetach(ifindex, 'ingress', TC_HANDLE, TC_PREF);
    else bpf.xdpDetach(ifindex, a.hook.includes('generic') ? XdpFlags.SKB_MODE : XdpFlags.DRV_MODE);
  }
  return found.map((a) => ({ dev, prog: a.prog, hook: a.hook, id: a.id }));
}

export interface DeviceCounters extends AttachResult {
  counters: Record<string, number>;
}

/** Counters of our programs, summed over CPUs, per device. */
export function status(dev?: string): DeviceCounters[] {
  if (dev) linkInfo(dev);
  return attachedIds(dev).map((a) => {
    const fds = maps(a.id);
    const sums = new Array<bigint>(COUNTER_SLOTS).fill(0n);
    try {
      const counterMap = fds.ka_counters;
      const cpus = bpf.possibleCpus();
      for (let slot = 0; counterMap !== undefined && slot < COUNTER_SLOTS; slot++) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(slot); // host order: x86 and arm64 are little-endian
        const values = bpf.mapLookup(counterMap, key, 8 * cpus);
        for (let cpu = 0; values && cpu < cpus; cpu++)
          sums[slot]! += readHostU64(values.subarray(cpu * 8, cpu * 8 + 8));
      }
    } finally {
      closeAll(fds);
    }
    const counters: Record<string, number> = {};
    VERDICT_NAMES.forEach((name, i) => {
      counters[name] = Number(sums[i]);
    });
    counters.tx_error = Number(sums[COUNTER_TX_ERROR]);
    return { dev: a.dev, prog: a.prog, hook: a.hook, id: a.id, counters };
  });
}
