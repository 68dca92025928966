/** What the reflector does with one packet, for `gre-keepalive explain`: the decision and its reply. */
import { formatAddress as format4 } from '../wire/ipv4.ts';
import { formatAddress as format6 } from '../wire/ipv6.ts';
import { createDecision, decide, type Layout, Verdict } from './decide.ts';
import type { Policy } from './policy.ts';

export interface Explained {
  verdict: number;
  reply: Uint8Array | null;
  /** Where the reply goes (the TS engine knows; a BPF program only returns bytes). */
  to: string | null;
  rewritten: boolean;
  /** bpf engine: the program that ran and its return code. */
  program?: string;
  retval?: number;
}

export function explainPacket(bytes: Uint8Array, layout: Layout, policy: Policy): Explained {
  const d = createDecision();
  const verdict = decide(bytes, 0, bytes.length, layout, policy, d);
  if (verdict !== Verdict.REPLY) return { verdict, reply: null, to: null, rewritten: false };
  const to =
    d.family === 4
      ? format4(d.dst[0]! * 0x1000000 + ((d.dst[1]! << 16) | (d.dst[2]! << 8) | d.dst[3]!))
      : format6(d.dst);
  return { verdict, reply: d.reply.slice(0, d.replyLength), to, rewritten: d.rewritten };
}
