/**
 * Attaching the keepalive programs to devices, configuring their maps and
 * reading their counters: `gre-keepalive attach|detach|status`. Uses iproute2
 * (users know `ip link set dev gre0 xdp object ...`) and bpftool for the maps.
 */
import { execFileSync } from 'node:child_process';
import { createPolicy, type Mode, type Policy, VERDICT_NAMES } from '../gre-keepalive/index.ts';
import { COUNTER_SLOTS, COUNTER_TX_ERROR, encodeConfig, lpm4Key, lpm6Key, readHostU64 } from './maps.ts';
import { type BpfProgramName, bpfObjectPath } from './programs.ts';

/** Our programs by the names bpftool shows: the full name from BTF, or the kernel's 15-character cut. */
const KERNEL_NAMES: Record<string, BpfProgramName> = Object.fromEntries(
  (['keepalive_gre', 'keepalive_gre6', 'keepalive_tc', 'keepalive_underlay'] as const).flatMap((n) => [
    [n, n],
    [n.slice(0, 15), n],
  ]),
);
/** tc filter priority of our ingress filter, so detach removes ours and nothing else. */
const TC_PREF = '49152';

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

interface NetEntry {
  xdp?: { devname: string; ifindex: number; mode: string; id: number; name?: string }[];
  tc?: { devname: string; ifindex: number; kind: string; name: string; id: number }[];
}

/** Program ids of ours attached to `dev` (XDP and TC ingress). */
function attachedIds(dev?: string): { dev: string; id: number; prog: BpfProgramName; hook: string }[] {
  const entries = json<NetEntry[]>('bpftool', ['net', 'show', '-j', ...(dev ? ['dev', dev] : [])]);
  const out: { dev: string; id: number; prog: BpfProgramName; hook: string }[] = [];
  for (const e of entries) {
    for (const x of e.xdp ?? []) {
      const name = progName(x.id);
      if (name) out.push({ dev: x.devname, id: x.id, prog: name, hook: `xdp (${x.mode})` });
    }
    for (const t of e.tc ?? []) {
      const name = progName(t.id);
      if (name && t.kind.includes('ingress'))
        out.push({ dev: t.devname, id: t.id, prog: name, hook: 'tc ingress' });
    }
  }
  return out;
}

function progName(id: number): BpfProgramName | null {
  const info = json<{ name?: string }>('bpftool', ['prog', 'show', 'id', String(id), '-j']);
  return KERNEL_NAMES[info.name ?? ''] ?? null;
}

/** Map ids by name for a loaded program. */
function maps(progId: number): Record<string, number> {
  const info = json<{ map_ids?: number[] }>('bpftool', ['prog', 'show', 'id', String(progId), '-j']);
  const byName: Record<string, number> = {};
  for (const id of info.map_ids ?? []) {
    const m = json<{ name?: string }>('bpftool', ['map', 'show', 'id', String(id), '-j']);
    if (m.name) byName[m.name] = id;
  }
  return byName;
}

const hexBytes = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0'));

function configure(progId: number, policy: Policy, underlayIfindex: number): void {
  const ids = maps(progId);
  const config = ids.ka_config;
  if (config === undefined) throw new Error(`program ${progId} has no ka_config map`);
  run('bpftool', [
    'map',
    'update',
    'id',
    String(config),
    'key',
    'hex',
    '00',
    '00',
    '00',
    '00',
    'value',
    'hex',
    ...hexBytes(encodeConfig(policy, { underlayIfindex })),
  ]);
  const one = ['value', 'hex', '01', '00', '00', '00'];
  for (const p of policy.peers4) {
    run('bpftool', [
      'map',
      'update',
      'id',
      String(ids.ka_peers4),
      'key',
      'hex',
      ...hexBytes(lpm4Key(p.addr, p.length)),
      ...one,
    ]);
  }
  for (const p of policy.peers6) {
    run('bpftool', [
      'map',
      'update',
      'id',
      String(ids.ka_peers6),
      'key',
      'hex',
      ...hexBytes(lpm6Key(p.addr, p.length)),
      ...one,
    ]);
  }
}

/** The underlay device a gre tunnel leaves by: its `link`, else the route to its remote. */
function underlayIfindex(info: LinkInfo): number {
  const remote = info.linkinfo?.info_data?.remote;
  if (!remote || remote === 'any') return 0;
  try {
    const route = json<{ dev?: string }[]>('ip', ['-j', 'route', 'get', remote])[0];
    return route?.dev ? linkInfo(route.dev).ifindex : 0;
  } catch {
    return 0;
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
  const object = bpfObjectPath(prog);
  if (hook === 'tc') {
    run('tc', ['qdisc', 'replace', 'dev', dev, 'clsact']);
    run('tc', [
      'filter',
      'replace',
      'dev',
      dev,
      'ingress',
      'pref',
      TC_PREF,
      'bpf',
      'da',
      'obj',
      object,
      'sec',
      'tc',
    ]);
  } else {
    run('ip', ['link', 'set', 'dev', dev, hook, 'object', object, 'section', 'prog']);
  }
  const attached = attachedIds(dev)[0];
  try {
    if (!attached) throw new Error(`${prog} did not show up on ${dev} after attaching`);
    configure(attached.id, policy, prog === 'keepalive_tc' ? underlayIfindex(info) : 0);
  } catch (err) {
    detach(dev);
    throw err;
  }
  return { dev, prog, hook: attached.hook, id: attached.id };
}

/** Removes our programs from `dev`; returns what was removed. */
export function detach(dev: string): AttachResult[] {
  linkInfo(dev);
  const found = attachedIds(dev);
  for (const a of found) {
    if (a.hook === 'tc ingress') run('tc', ['filter', 'del', 'dev', dev, 'ingress', 'pref', TC_PREF]);
    else run('ip', ['link', 'set', 'dev', dev, a.hook.includes('generic') ? 'xdpgeneric' : 'xdpdrv', 'off']);
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
    const counterMap = maps(a.id).ka_counters;
    const sums = new Array<bigint>(COUNTER_SLOTS).fill(0n);
    if (counterMap !== undefined) {
      const dump = json<{ key: string[]; values: { value: string[] }[] }[]>('bpftool', [
        'map',
        'dump',
        'id',
        String(counterMap),
        '-j',
      ]);
      for (const entry of dump) {
        const slot = Number.parseInt(entry.key[0]!, 16);
        for (const v of entry.values)
          sums[slot]! += readHostU64(Buffer.from(v.value.map((x) => Number.parseInt(x, 16))));
      }
    }
    const counters: Record<string, number> = {};
    VERDICT_NAMES.forEach((name, i) => {
      counters[name] = Number(sums[i]);
    });
    counters.tx_error = Number(sums[COUNTER_TX_ERROR]);
    return { dev: a.dev, prog: a.prog, hook: a.hook, id: a.id, counters };
  });
}
