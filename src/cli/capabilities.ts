/**
 * src/cli/: the command-line entry points (greoip, eoip, gre-keepalive) and their commands.
 * May import: any folder of src/.
 */
/**
 * The capabilities a command runs with (CapEff of /proc/self/status), checked at start so that a unit
 * or a setpriv line missing one fails at once, naming it, instead of on the first tunnel.
 */
import { readFileSync } from 'node:fs';

/** Bit numbers from linux/capability.h. */
export const CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_BPF: 39 } as const;
export type CapabilityName = keyof typeof CAPABILITIES;

/** The effective set, or null where /proc says nothing (not Linux). */
export function effectiveCapabilities(status = readProcStatus()): bigint | null {
  const m = status === null ? null : /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/** Which of `needed` are missing from `effective` (none when it cannot be told). */
export function missingCapabilities(
  needed: readonly CapabilityName[],
  effective: bigint | null,
): CapabilityName[] {
  if (effective === null) return [];
  return needed.filter((name) => (effective & (1n << BigInt(CAPABILITIES[name]))) === 0n);
}

function readProcStatus(): string | null {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
}
