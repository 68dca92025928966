/**
 * A flood of spoofed IPv4 GRE fragments, run inside the peer namespace: first
 * fragments (more-fragments set) of 1500 bytes from random sources in
 * 198.18.0.0/15, each the start of a datagram that never completes, at a
 * fixed rate. Each one holds reassembly memory in the target until
 * ipfrag_time expires. Prints the number sent.
 *
 * argv[2]: JSON { dst, pps, seconds }
 */
import { BatchIo, raw } from '../../src/native/index.ts';
import * as build from '../../src/wire/build.ts';
import { parseAddress } from '../../src/wire/ipv4.ts';

const { dst, pps, seconds } = JSON.parse(process.argv[2]!) as { dst: string; pps: number; seconds: number };
const TICK_MS = 5;
const SLOT = 1500;
const perTick = Math.max(1, Math.round((pps * TICK_MS) / 1000));
const fd = raw.open(4, 47, { hdrincl: true, sendBufferSize: 8 << 20 });
const io = new BatchIo(fd, 'ip4', 1, 64, () => undefined);
const buf = Buffer.alloc(perTick * SLOT);
const offsets = Uint32Array.from({ length: perTick }, (_, i) => i * SLOT);
const lengths = new Uint32Array(perTick);
const dsts = new Uint8Array(perTick * 16);
const target = parseAddress(dst)!;
const payload = new Uint8Array(SLOT - 20).fill(0x5a);
let sent = 0;
let id = 1;
const start = Date.now();
for (let tick = 0; Date.now() - start < seconds * 1000; tick++) {
  for (let i = 0; i < perTick; i++) {
    const src = (0xc6120000 + ((Math.random() * 0x20000) | 0)) >>> 0;
    // Flags 0x1: more fragments follow, offset 0.
    const p = build.ipv4Packet(
      { src, dst: target, ttl: 64, identification: id++ & 0xffff, flags: 1 },
      47,
      payload,
    );
    buf.set(p, i * SLOT);
    lengths[i] = p.length;
    dsts.set([target >>> 24, (target >>> 16) & 0xff, (target >>> 8) & 0xff, target & 0xff], i * 16);
  }
  sent += io.send(buf, offsets, lengths, dsts, perTick);
  const next = start + (tick + 1) * TICK_MS;
  await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
}
io.close();
process.stdout.write(`${JSON.stringify({ sent })}\n`);
