/**
 * Run by alloc.test.ts under `node --trace-gc`: decodes real and built
 * packets a million times between two markers. V8 prints a "Scavenge" line
 * for every young-generation collection, so a hot path that allocates per
 * packet shows up as scavenges between the markers.
 */
import { readFileSync } from 'node:fs';
import { createRxResult, type DatapathTunnel, receive4, receive6 } from '../../src/eoip/datapath.ts';
import { TunnelTable } from '../../src/eoip/table.ts';
import { readCapture } from '../../src/pcap/index.ts';
import * as build from '../../src/wire/build.ts';
import * as eoip from '../../src/wire/eoip.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';
import * as packet from '../../src/wire/packet.ts';

const ITERATIONS = 1_000_000;
const capture = process.argv[2];
if (!capture) throw new Error('usage: alloc-probe CAPTURE.pcap');
const frames = readCapture(readFileSync(capture)).map((r) => r.data);
if (frames.length < 12) throw new Error(`${capture}: expected the 14-packet ping capture`);
const a6 = ipv6.parseAddress('2001:db8::1')!;
const eoipv6Frame = build.eoipv6Packet({ src: a6, dst: a6 }, 1234, frames[11]!.subarray(42));
const d = packet.createDissection();
const ip4 = ipv4.create();
const e = eoip.create();
const outFrame = new Uint8Array(2048);
// The userland datapath on the same packets: frames[11] is an EoIP packet from 10.0.0.1 (tid 1234 in
// the EoIPv6 copy); the table holds both tunnels so receive runs to delivery.
const eoipPacket = frames[11]!.subarray(14);
const table = new TunnelTable<DatapathTunnel>();
const e4 = eoip.create();
eoip.decode(eoipPacket, 20, e4);
ipv4.decode(eoipPacket, 0, ip4);
table.add({
  family: 4,
  tunnelId: e4.tunnelId,
  remote4: ip4.src,
  remote6: new Uint8Array(16),
  local4: -1,
  local6: null,
});
table.add({ family: 6, tunnelId: 1234, remote4: 0, remote6: a6, local4: -1, local6: null });
const rx = createRxResult<DatapathTunnel>();
const eoipv6Payload = eoipv6Frame.subarray(40);

function run(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const frame = frames[i % frames.length]!;
    packet.dissect(frame, packet.LinkLayer.ETHERNET, d);
    sum += d.layerCount;
    packet.dissect(eoipv6Frame, packet.LinkLayer.IP, d);
    sum += d.layerCount;
    // Encode side of the hot path: header rewrite into a preallocated buffer.
    ipv4.decode(frame, 14, ip4);
    eoip.decode(frame, 34, e);
    ipv4.encode(ip4, outFrame, 0);
    sum += eoip.encode(e, outFrame, 20);
    // The userland datapath's receive side, both families, through the tunnel lookup to delivery.
    if (receive4(eoipPacket, 0, eoipPacket.length, table, rx) === -1) sum += rx.frameLength;
    if (receive6(eoipv6Payload, 0, eoipv6Payload.length, a6, 0, a6, 0, table, rx) === -1)
      sum += rx.frameLength;
  }
  return sum;
}

// Warm up with many short calls, so V8 optimises `run` itself rather than
// only an on-stack-replacement copy of its loop, then yield so the concurrent
// compiler can install the code. A call that starts in the interpreter boxes
// every value beyond 31 bits (MACs, IPv4 addresses) on the heap until it is
// replaced: the tier's cost, not the codecs'.
for (let i = 0; i < 2000; i++) run(200);
await new Promise((resolve) => setTimeout(resolve, 200));
for (let i = 0; i < 200; i++) run(200);
global.gc?.();
console.log('ALLOC-PROBE-BEGIN');
const sum = run(ITERATIONS);
console.log('ALLOC-PROBE-END');
console.log(`checksum ${sum}`);
