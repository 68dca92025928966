/**
 * What the host must have before a plan touches anything: the backend, the
 * underlay link, a local address assigned here, and a free name (or an
 * interface this daemon can prove it made). A plan that fails here changes
 * nothing, and the error names the field instead of the system call that
 * would have failed half-way through.
 */
import { createSocket } from 'node:dgram';
import type { BackendName, TunnelConfig } from '../eoip/config.ts';
import { isNativeSystemError, link } from '../native/index.ts';
import { FieldError, type Plan } from './plan.ts';

/** The facts of this network namespace a plan depends on. */
export interface Host {
  /** The ifindex of the interface of that name, or null when there is none. */
  interfaceIndex(name: string): number | null;
  /** Whether a tunnel may bind this (canonical) local address (a link-local one on `link`). */
  canBind(address: string, link: string | null): boolean | Promise<boolean>;
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
    canBind(address, link) {
      // The kernel's own answer: bind a UDP socket to it (as the raw socket will be), any port.
      // It honours ip_nonlocal_bind (a VRRP address) and refuses a tentative IPv6 address, and
      // it does not wait for an interface to report RUNNING, as an address list would.
      return new Promise((resolve) => {
        const v6 = address.includes(':');
        const socket = createSocket(v6 ? 'udp6' : 'udp4');
        const done = (ok: boolean) => {
          socket.close();
          resolve(ok);
        };
        socket.once('error', () => done(false));
        socket.once('listening', () => done(true));
        const scoped = v6 && link !== null && /^fe[89ab]/i.test(address) ? `${address}%${link}` : address;
        socket.bind({ address: scoped, port: 0, exclusive: true });
      });
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

async function checkConfig(config: TunnelConfig, ctx: PreflightContext): Promise<void> {
  if (!ctx.backends.has(config.backend)) {
    throw new FieldError(`the ${config.backend} backend is not available in this daemon`, 'backend');
  }
  if (config.link !== null && ctx.host.interfaceIndex(config.link) === null) {
    throw new FieldError(`link: no interface named ${config.link} in this network namespace`, 'link');
  }
  // A kernel link may use a local address not (yet) assigned; a userland socket must bind it.
  if (
    config.local !== null &&
    config.backend !== 'kernel' &&
    !(await ctx.host.canBind(config.local, config.link))
  ) {
    throw new FieldError(
      `local: ${config.local} is not assigned to any interface in this network namespace`,
      'local',
    );
  }
}

/** Throws a FieldError for the first step the host cannot carry out. */
export async function preflight(plan: Plan, ctx: PreflightContext): Promise<void> {
  for (const step of plan.steps) {
    if (step.op === 'remove') continue;
    await checkConfig(step.config, ctx);
    if (step.op === 'add') nameFree(step.config, ctx);
  }
}
