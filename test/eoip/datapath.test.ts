import test from 'ava';
import {
  createRxResult,
  type DatapathTunnel,
  DropReason,
  encapsulate4,
  encapsulate6,
  receive4,
  receive6,
} from '../../src/eoip/datapath.ts';
import { hash16, remoteKey, TunnelTable } from '../../src/eoip/table.ts';
import * as build from '../../src/wire/build.ts';
import { EtherType } from '../../src/wire/ethernet.ts';
import { parseAddress as v4 } from '../../src/wire/ipv4.ts';
import { parseAddress as v6 } from '../../src/wire/ipv6.ts';
import * as packet from '../../src/wire/packet.ts';

interface T extends DatapathTunnel {
  name: string;
}

const LOCAL = '192.0.2.1';
const REMOTE = '198.51.100.2';
const LOCAL6 = '2001:db8::1';
const REMOTE6 = '2001:db8::2';
const FRAME = build.ethernetFrame(0xffffffffffff, 0x020000000001, EtherType.ARP, new Uint8Array(28).fill(9));

function tunnel(
  name: string,
  family: 4 | 6,
  tunnelId: number,
  remote: string,
  local: string | null = null,
): T {
  return {
    name,
    family,
    tunnelId,
    ...remoteKey(family, remote),
    local4: family === 4 && local ? v4(local)! : -1,
    local6: family === 6 && local ? v6(local)! : null,
  };
}

function table(...tunnels: T[]): TunnelTable<T> {
  const tt = new TunnelTable<T>();
  for (const t of tunnels) tt.add(t);
  return tt;
}

function eoip4(tid: number, frame: Uint8Array, src = REMOTE, dst = LOCAL): Uint8Array {
  return build.eoipPacket({ src: v4(src)!, dst: v4(dst)! }, tid, frame);
}

test('IPv4: data frame delivered, keepalive recognised', (t) => {
  const a = tunnel('a', 4, 100, REMOTE);
  const tt = table(a, tunnel('b', 4, 200, REMOTE));
  const out = createRxResult<T>();
  const pkt = eoip4(100, FRAME);
  t.is(receive4(pkt, 0, pkt.length, tt, out), -1);
  t.is(out.tunnel, a);
  t.false(out.keepalive);
  t.deepEqual(
    Buffer.from(pkt.subarray(out.frameOffset, out.frameOffset + out.frameLength)),
    Buffer.from(FRAME),
  );
  const ka = eoip4(200, new Uint8Array(0));
  t.is(receive4(ka, 0, ka.length, tt, out), -1);
  t.is(out.tunnel!.name, 'b');
  t.true(out.keepalive);
});

test('IPv4: trailing padding is trimmed to the frame length', (t) => {
  const tt = table(tunnel('a', 4, 1, REMOTE));
  const padded = build.ipv4Packet(
    { src: v4(REMOTE)!, dst: v4(LOCAL)! },
    47,
    Buffer.concat([build.eoipPayload(1, FRAME), new Uint8Array(18)]),
  );
  const out = createRxResult<T>();
  t.is(receive4(padded, 0, padded.length, tt, out), -1);
  t.is(out.frameLength, FRAME.length);
});

test('IPv4: every drop reason', (t) => {
  const tt = table(tunnel('a', 4, 100, REMOTE, LOCAL));
  const out = createRxResult<T>();
  const cases: [string, Uint8Array, number, boolean][] = [
    ['bad header', new Uint8Array(10), DropReason.BAD_IP_HEADER, false],
    [
      'not GRE',
      build.ipv4Packet({ src: v4(REMOTE)!, dst: v4(LOCAL)! }, 17, new Uint8Array(8)),
      DropReason.NOT_EOIP,
      false,
    ],
    [
      'plain GRE',
      build.ipv4Packet(
        { src: v4(REMOTE)!, dst: v4(LOCAL)! },
        47,
        build.grePayload({ protocol: 0x0800 }, new Uint8Array(20)),
      ),
      DropReason.NOT_EOIP,
      false,
    ],
    [
      'truncated',
      build.ipv4Packet({ src: v4(REMOTE)!, dst: v4(LOCAL)! }, 47, Buffer.from('20016400', 'hex')),
      DropReason.TRUNCATED,
      false,
    ],
    [
      'fragment',
      build.eoipPacket({ src: v4(REMOTE)!, dst: v4(LOCAL)!, flags: 1 }, 100, FRAME),
      DropReason.FRAGMENT,
      false,
    ],
    ['unknown tid', eoip4(101, FRAME), DropReason.UNKNOWN_TUNNEL_ID, false],
    ['spoofed source', eoip4(100, FRAME, '203.0.113.9'), DropReason.WRONG_SOURCE, false],
    ['wrong local', eoip4(100, FRAME, REMOTE, '192.0.2.99'), DropReason.WRONG_DESTINATION, false],
    [
      'frame too short',
      build.ipv4Packet(
        { src: v4(REMOTE)!, dst: v4(LOCAL)! },
        47,
        Buffer.from(`20016400000d6400${'00'.repeat(13)}`, 'hex'),
      ),
      DropReason.FRAME_TOO_SHORT,
      true,
    ],
    [
      'frame exceeds data',
      build.ipv4Packet(
        { src: v4(REMOTE)!, dst: v4(LOCAL)! },
        47,
        Buffer.from(`2001640000406400${'00'.repeat(20)}`, 'hex'),
      ),
      DropReason.FRAME_EXCEEDS_DATA,
      true,
    ],
  ];
  for (const [name, pkt, reason, attributed] of cases) {
    t.is(receive4(pkt, 0, pkt.length, tt, out), reason, name);
    t.is(out.tunnel !== null, attributed, `${name}: counted against the tunnel`);
  }
  const short = eoip4(100, FRAME);
  t.is(
    receive4(short, 0, short.length - 1, tt, out),
    DropReason.BAD_IP_HEADER,
    'total length beyond the data',
  );
});

test('IPv6: data, keepalive, and drops; addresses come from the socket', (t) => {
  const a = tunnel('a6', 6, 1234, REMOTE6, LOCAL6);
  const tt = table(a);
  const out = createRxResult<T>();
  const src = v6(REMOTE6)!;
  const dst = v6(LOCAL6)!;
  const payload = build.eoipv6Payload(1234, FRAME);
  t.is(receive6(payload, 0, payload.length, src, 0, dst, 0, tt, out), -1);
  t.is(out.tunnel, a);
  t.is(out.frameLength, FRAME.length);
  const ka = build.eoipv6Payload(1234, new Uint8Array(0));
  t.is(receive6(ka, 0, ka.length, src, 0, dst, 0, tt, out), -1);
  t.true(out.keepalive);
  t.is(receive6(Buffer.from('44d2', 'hex'), 0, 2, src, 0, dst, 0, tt, out), DropReason.NOT_EOIP);
  t.is(receive6(Buffer.from('43', 'hex'), 0, 1, src, 0, dst, 0, tt, out), DropReason.TRUNCATED);
  t.is(
    receive6(build.eoipv6Payload(4095, FRAME), 0, payload.length, src, 0, dst, 0, tt, out),
    DropReason.UNKNOWN_TUNNEL_ID,
  );
  t.is(
    receive6(payload, 0, payload.length, v6('2001:db8::66')!, 0, dst, 0, tt, out),
    DropReason.WRONG_SOURCE,
  );
  t.is(
    receive6(payload, 0, payload.length, src, 0, v6('2001:db8::77')!, 0, tt, out),
    DropReason.WRONG_DESTINATION,
  );
  t.is(receive6(payload, 0, 10, src, 0, dst, 0, tt, out), DropReason.FRAME_TOO_SHORT);
});

test('encapsulation is what the wire codecs and the dissector read back', (t) => {
  const out = Buffer.alloc(200);
  const n4 = encapsulate4(0x1234, FRAME, 0, FRAME.length, out, 0);
  t.deepEqual(out.subarray(0, n4), Buffer.from(build.eoipPayload(0x1234, FRAME)));
  const n6 = encapsulate6(4095, FRAME, 0, FRAME.length, out, 0);
  t.deepEqual(out.subarray(0, n6), Buffer.from(build.eoipv6Payload(4095, FRAME)));
  const ka = encapsulate4(100, FRAME, 0, 0, out, 0);
  const whole = build.ipv4Packet({ src: 1, dst: 2, ttl: 255 }, 47, out.subarray(0, ka));
  const d = packet.createDissection();
  packet.dissect(whole, packet.LinkLayer.IP, d);
  t.is(d.kind, packet.FrameKind.EOIP_KEEPALIVE);
});

test('table: same (family, remote, tid) refused; lookups by tid and source; removal', (t) => {
  const tt = new TunnelTable<T>();
  const a = tunnel('a', 4, 7, REMOTE);
  tt.add(a);
  t.throws(() => tt.add(tunnel('dup', 4, 7, REMOTE)), { message: /already configured/ });
  tt.add(tunnel('b', 4, 7, '203.0.113.5'));
  tt.add(tunnel('c', 6, 7, REMOTE6));
  t.is(tt.size, 3);
  t.is(tt.lookup4(7, v4(REMOTE)!), a);
  t.true(tt.remove(a));
  t.false(tt.remove(a));
  t.is(tt.size, 2);
  t.is(typeof tt.lookup4(7, v4(REMOTE)!), 'number');
  t.deepEqual([...tt.entries()].map((e) => e.name).sort(), ['b', 'c']);
});

test('table scales: 10000 IPv6 tunnels, each found by its own address', (t) => {
  const tt = new TunnelTable<T>();
  const all: T[] = [];
  for (let i = 0; i < 10000; i++) {
    const e = tunnel(
      `t${i}`,
      6,
      i % 4096,
      `2001:db8::${(i >>> 12).toString(16)}:${(i & 0xfff).toString(16)}`,
    );
    tt.add(e);
    all.push(e);
  }
  t.true(all.every((e) => tt.lookup6(e.tunnelId, e.remote6, 0) === e));
  t.not(hash16(all[0]!.remote6, 0), hash16(all[1]!.remote6, 0));
});
