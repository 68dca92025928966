/**
 * The BPF engine of `gre-keepalive explain`: each packet through the program that would see it where it
 * runs, under BPF_PROG_TEST_RUN, with the verdict read from the program's own counters.
 */
import type { Explained } from '../gre-keepalive/explain.ts';
import { type Layout, type Policy, VERDICT_NAMES, Verdict } from '../gre-keepalive/index.ts';
import { ETH_HEADER_LENGTH } from '../wire/ethernet.ts';
import { type BpfProgramName, bpfObjectPath, skipEthernet } from './programs.ts';
import { BpfTestRunner } from './testrun.ts';

export interface ExplainInput {
  bytes: Uint8Array;
  layout: Layout;
}

/** The program that sees this layout where it runs: the NIC program for Ethernet input, the tunnel programs otherwise. */
export function programFor(input: ExplainInput): BpfProgramName {
  if (input.layout === 'outer-l2') return 'keepalive_underlay';
  return (input.bytes[0] ?? 0) >>> 4 === 6 ? 'keepalive_gre6' : 'keepalive_gre';
}

/** Needs root and the built objects (npm run build:bpf); throws what bpftool or the kernel said. */
export async function explainWithBpf(inputs: readonly ExplainInput[], policy: Policy): Promise<Explained[]> {
  const runners = new Map<BpfProgramName, BpfTestRunner>();
  try {
    const out: Explained[] = [];
    for (const input of inputs) {
      const prog = programFor(input);
      let runner = runners.get(prog);
      if (!runner) {
        runner = await BpfTestRunner.open(bpfObjectPath(prog), 'xdp');
        await runner.setPolicy(policy);
        runners.set(prog, runner);
      }
      // BPF_PROG_TEST_RUN refuses XDP input under 14 bytes.
      if (input.bytes.length < ETH_HEADER_LENGTH) {
        out.push({
          verdict: Verdict.MALFORMED,
          reply: null,
          to: null,
          rewritten: false,
          program: prog,
          retval: -1,
        });
        continue;
      }
      const r = await runner.runCounted(prog, input.bytes);
      const verdict = r.counterDelta.slice(0, VERDICT_NAMES.length).findIndex((d) => d > 0n);
      const replied = verdict === Verdict.REPLY;
      const reply = replied
        ? prog === 'keepalive_underlay'
          ? r.dataOut.subarray(skipEthernet(r.dataOut))
          : r.dataOut
        : null;
      out.push({
        verdict: verdict < 0 ? Verdict.NOT_GRE : verdict,
        reply,
        to: null,
        rewritten: false,
        program: prog,
        retval: r.retval,
      });
    }
    return out;
  } finally {
    for (const r of runners.values()) await r.close();
  }
}
