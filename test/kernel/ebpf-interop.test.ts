/**
 * The ebpf backend on each of Debian's real kernels (lab.ts: 6.1, 6.12; one qemu boot each): its programs
 * pass the kernel's verifier, and a greoip daemon in the guest with `backend ebpf` (clsact filters on 6.1,
 * TCX links on 6.12) interoperates with eoip.ko/eoipv6.ko over EoIP and EoIPv6: ping both ways, iperf3,
 * RouterOS-style keepalives bring both ends up, and `greoip cleanup` leaves no pin, filter or veth.
 * Guest half: guest/ebpf-interop.sh.
 */
import type { TunnelStatus } from '../../src/backend/types.ts';
import { REPO_DIR } from '../helpers.ts';
import { buildKmod, kmodGuestFiles } from './kmod.ts';
import { type GuestResult, type RunResult, runInGuest } from './lab.ts';
import { guestScript, kernelSuite } from './suite.ts';

const labTest = kernelSuite((kernel) =>
  runInGuest({
    kernel,
    script: guestScript('ebpf-interop.sh'),
    files: {
      ...kmodGuestFiles(buildKmod(kernel)),
      '/lab/topology.sh': guestScript('topology.sh'),
      '/lab/repo': REPO_DIR.replace(/\/$/, ''),
    },
    shareHost: true,
    timeoutMs: 300_000,
  }),
);

function result(r: RunResult, name: string): GuestResult {
  const x = r.results.find((y) => y.name === name);
  if (x === undefined) throw new Error(`${name}: not reported; console ends with:\n${r.output.slice(-3000)}`);
  return x;
}

function passed(t: import('ava').ExecutionContext, r: RunResult, names: string[]): void {
  for (const n of names) {
    const x = result(r, n);
    t.true(x.ok, `${n}: ${x.detail}`);
  }
}

labTest("the eBPF EoIP programs pass this kernel's verifier", (t, r) => {
  passed(t, r, ['bpffs', 'verifier']);
});

labTest(
  'ebpf backend <-> eoip.ko: EoIP and EoIPv6 ping both ways and iperf3; keepalives bring both ends up',
  (t, r, kernel) => {
    passed(t, r, [
      'insmod-eoip',
      'insmod-eoipv6',
      'add-A-k4',
      'add-A-k6',
      'add-B-k4',
      'add-B-k6',
      'ping-k4-A-to-B',
      'ping-k6-A-to-B',
      'ping-k4-B-to-A',
      'ping-k6-B-to-A',
      'iperf3-B-to-10.4.0.1',
      'iperf3-B-to-10.6.0.1',
    ]);
    const tunnels = JSON.parse(result(r, 'list-B-after').detail) as TunnelStatus[];
    const tcx = Number(kernel.version.split('.')[0]) * 100 + Number(kernel.version.split('.')[1]) >= 606;
    for (const s of tunnels) {
      t.is(s.backend, 'ebpf');
      t.is(s.mode, tcx ? 'tcx' : 'clsact', `${s.config.name}: attachment on ${kernel.version}`);
      t.is(s.state, 'up', `${s.config.name}: eoip.ko's keepalives received`);
      t.true(
        s.fastPath!.rxPackets > 0 && s.fastPath!.txPackets > 0,
        `${s.config.name}: ${JSON.stringify(s.fastPath)}`,
      );
    }
    t.log(result(r, 'iperf3-B-to-10.4.0.1').detail);
  },
);

labTest('greoip cleanup leaves no pin, filter or segmenter veth; no kernel warning', (t, r) => {
  passed(t, r, ['cleanup-B', 'no-segmenter', 'no-oops']);
  t.is(result(r, 'pins-left').detail, '', 'no pins');
  t.notRegex(result(r, 'filters-left').detail, /bpf/, 'no filter on the underlay');
});
