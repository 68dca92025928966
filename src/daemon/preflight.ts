/**
 * What the host must have before a plan touches anything: the backend, the
 * underlay link, a local address assigned here, and a free name (or an
 * interface this daemon can prove it made). A plan that fails here changes
 * nothing, and the error names the field instead of the system call that
 * would have failed half-way through.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { BackendName, TunnelConfig } from '../eoip/config.ts';
import { isNativeSystemError, link } from '../native/index.ts';
import { formatAddress as format4, parseAddress as parse4 } from '../wire/ipv4.ts';
import { formatAddress as format6, parseAddress as parse6 } from '../wire/ipv6.ts';
import { FieldError, type Plan } from './plan.ts';

/** The facts of this network namespace a plan depends on. */
export interface Host {
  /** The ifindex of the interface of that name, or null when there is none. */
  interfaceIndex(name: string): number | null;
  /** Whether a tunnel may bind this (canonical) local address. */
  canBind(address: string): boolean;
}

function canonical(address: string): string {
  const v4 = parse4(address);
  if (v4 !== null) return format4(v4);
  const v6 = parse6(address.replace(/%.*$/, ''));
  return v6 === null ? address : format6(v6);
}

function sysctlOn(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** The host as the kernel sees it from this process's network namespace. */
export function systemHost(): Host {
  return {
    interfaceIndex(name) {
      try {
        return link.getIndex(name);
      } catch (err) {
        if (isNativeSystemError(err) && (err.code === 'ENODEV' || err.code === 'EINVAL')) return null;
        throw err;
      }
    },
    canBind(address) {
      // With nonlocal bind on, an address not yet assigned (a VRRP address) may be bound.
      const v6 = address.includes(':');
      if (sysctlOn(v6 ? '/proc/sys/net/ipv6/ip_nonlocal_bind' : '/proc/sys/net/ipv4/ip_nonlocal_bind'))
        return true;
      for (const list of Object.values(networkInterfaces())) {
        for (const a of list ?? []) if (canonical(a.address) === address) return true;
      }
      return false;
    },
  };
}

export interface PreflightContext {
  host: Host;
  /** Interfaces this daemon made: name to ifindex. */
  owned: ReadonlyMap<string, number>;
  backends: ReadonlySet<BackendName>;
}

/**
 * Whether an existing interface of that name is this daemon's to use: one it
 * made (same ifindex), or for the kernel backend an eoip link it takes over.
 */
function nameFree(config: TunnelConfig, ctx: PreflightContext): void {
  const index = ctx.host.interfaceIndex(config.name);
  if (index === null || ctx.owned.get(config.name) === index) return;
  // The kernel backend takes over an eoip link of the same kind and refuses anything else itself.
  if (config.backend === 'kernel') return;
  throw new FieldError(
    `name: an interface named ${config.name} exists already and is not a greoip tunnel (ifindex ${index})`,
    'name',
  );
}

function checkConfig(config: TunnelConfig, ctx: PreflightContext): void {
  if (!ctx.backends.has(config.backend)) {
    throw new FieldError(`the ${config.backend} backend is not available in this daemon`, 'backend');
  }
  if (config.link !== null && ctx.host.interfaceIndex(config.link) === null) {
    throw new FieldError(`link: no interface named ${config.link} in this network namespace`, 'link');
  }
  // A kernel link may use a local address not (yet) assigned; a userland socket must bind it.
  if (config.local !== null && config.backend !== 'kernel' && !ctx.host.canBind(config.local)) {
    throw new FieldError(
      `local: ${config.local} is not assigned to any interface in this network namespace`,
      'local',
    );
  }
}

/** Throws a FieldError for the first step the host cannot carry out. */
export function preflight(plan: Plan, ctx: PreflightContext): void {
  for (const step of plan.steps) {
    if (step.op === 'remove') continue;
    checkConfig(step.config, ctx);
    if (step.op === 'add') nameFree(step.config, ctx);
  }
}
