/**
 * The fuzzer's raw sender, run inside the peer namespace: sends the packets
 * of packets.ts (IPv4 protocol 47 and IPv6 next header 97, outer headers of
 * its own making) in bursts of sendmmsg, as fast as the daemon under fuzz
 * takes them: after each burst it waits until that daemon's raw sockets have
 * no packet queued (/proc/PID/net/raw{,6} of the daemon's namespace), so the
 * kernel never drops one for want of room and every packet sent must be
 * counted. Prints one JSON line: packets sent, the expected tally, and the
 * socket drops it saw.
 *
 * argv[2]: JSON { spec: FuzzSpec, seed, seconds, daemonPid }
 */
import { readFileSync } from 'node:fs';
import { BatchIo, raw } from '../../src/native/index.ts';
import { type FuzzSpec, PacketFactory, type Tally, tally } from './packets.ts';

interface Args {
  spec: FuzzSpec;
  seed: number;
  seconds: number;
  daemonPid: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const BURST = 256;
const SLOT = 2048;

/** Queued bytes and drops of the daemon's raw sockets for EoIP (47) and EoIPv6 (97). */
function daemonSockets(): { queued: number; drops: number } {
  let queued = 0;
  let drops = 0;
  for (const [file, proto] of [
    ['raw', '002F'],
    ['raw6', '0061'],
  ] as const) {
    const lines = readFileSync(`/proc/${args.daemonPid}/net/${file}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (!f[1]?.endsWith(`:${proto}`)) continue;
      queued += Number.parseInt(f[4]!.split(':')[1]!, 16);
      drops += Number(f[f.length - 1]);
    }
  }
  return { queued, drops };
}

function port(family: 4 | 6): BatchIo {
  const fd = raw.open(family, family === 4 ? 47 : 97, { hdrincl: true, sendBufferSize: 4 << 20 });
  return new BatchIo(fd, family === 4 ? 'ip4' : 'ip6', 1, 64, () => undefined);
}

const ports = { 4: port(4), 6: port(6) };
const bufs = {
  4: {
    buf: Buffer.alloc(BURST * SLOT),
    lengths: new Uint32Array(BURST),
    dsts: new Uint8Array(BURST * 16),
    n: 0,
  },
  6: {
    buf: Buffer.alloc(BURST * SLOT),
    lengths: new Uint32Array(BURST),
    dsts: new Uint8Array(BURST * 16),
    n: 0,
  },
};
const offsets = Uint32Array.from({ length: BURST }, (_, i) => i * SLOT);
const factory = new PacketFactory(args.spec, args.seed);
const expected: Tally = {};
let sent = 0;

function flush(family: 4 | 6): void {
  const b = bufs[family];
  let done = 0;
  while (done < b.n) {
    // Resend what the kernel did not take (a full send buffer); a refusal of the first throws.
    const took = ports[family].send(
      b.buf.subarray(done * SLOT),
      offsets,
      b.lengths.subarray(done),
      b.dsts.subarray(done * 16),
      b.n - done,
    );
    done += took;
  }
  sent += b.n;
  b.n = 0;
}

const deadline = Date.now() + args.seconds * 1000;
while (Date.now() < deadline) {
  for (let i = 0; i < BURST; i++) {
    const p = factory.next();
    const b = bufs[p.family];
    b.buf.set(p.bytes, b.n * SLOT);
    b.lengths[b.n] = p.bytes.length;
    b.dsts.fill(0, b.n * 16, b.n * 16 + 16);
    b.dsts.set(p.dst, b.n * 16);
    b.n++;
    tally(expected, p);
  }
  flush(4);
  flush(6);
  // As fast as the daemon drains its sockets, never faster.
  while (daemonSockets().queued > 0) await new Promise((r) => setTimeout(r, 1));
}
ports[4].close();
ports[6].close();
process.stdout.write(`${JSON.stringify({ sent, expected, drops: daemonSockets().drops })}\n`);
