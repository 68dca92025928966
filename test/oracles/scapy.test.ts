/**
 * scapy oracle: packets built by scapy (which shares no code with greoip)
 * must decode to the field values scapy itself reads back from them.
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { formatMac, vlanIds } from '../../src/wire/format.ts';
import * as ipv4 from '../../src/wire/ipv4.ts';
import * as ipv6 from '../../src/wire/ipv6.ts';
import * as packet from '../../src/wire/packet.ts';
import { WireStatus } from '../../src/wire/status.ts';
import { REPO_DIR } from '../helpers.ts';

type Fields = Record<string, unknown> & { layer: string };
interface Vector {
  name: string;
  link: 'raw' | 'ethernet';
  hex: string;
  layers: Fields[];
}

/** Debian's python3 sees python3-scapy; the pyenv python3 on PATH does not. */
const PYTHON = '/usr/bin/python3';
const vectors = JSON.parse(
  execFileSync(PYTHON, [`${REPO_DIR}test/oracles/scapy_vectors.py`], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  }),
) as Vector[];

/** Our decoded layer, in the vocabulary of the scapy script. */
function ours(l: packet.LayerSlot, d: packet.Dissection, index: number): Fields {
  switch (l.kind) {
    case packet.LayerKind.ETHERNET:
      return {
        layer: 'ethernet',
        dst: formatMac(l.eth.dst),
        src: formatMac(l.eth.src),
        vlans: Array.from({ length: l.eth.tagCount }, (_, i) => ({
          tpid: l.eth.tagTpid[i],
          vid: vlanIds(l.eth)[i],
          pcp: l.eth.tagTci[i]! >>> 13,
          dei: (l.eth.tagTci[i]! >>> 12) & 1,
        })),
        etherType: l.eth.etherType,
      };
    case packet.LayerKind.IPV4: {
      const h = l.ip4;
      return {
        layer: 'ipv4',
        ihl: h.headerLength / 4,
        tos: h.tos,
        totalLength: h.totalLength,
        id: h.identification,
        flags: h.flags,
        fragOffset: h.fragmentOffset,
        ttl: h.ttl,
        protocol: h.protocol,
        checksum: h.checksum,
        src: ipv4.formatAddress(h.src),
        dst: ipv4.formatAddress(h.dst),
        optionsHex: Buffer.from(h.options.subarray(0, h.optionsLength)).toString('hex'),
      };
    }
    case packet.LayerKind.IPV6: {
      const h = l.ip6;
      return {
        layer: 'ipv6',
        trafficClass: h.trafficClass,
        flowLabel: h.flowLabel,
        payloadLength: h.payloadLength,
        nextHeader: h.nextHeader,
        hopLimit: h.hopLimit,
        src: ipv6.formatAddress(h.src),
        dst: ipv6.formatAddress(h.dst),
        extensions: h.extensions
          .slice(0, h.extensionCount)
          .map((e) => ({ type: e.type, length: e.body.length + 2 })),
        upperProtocol: h.upperProtocol,
        fragment: h.hasFragmentHeader
          ? { offset: h.fragmentOffset, more: h.moreFragments, id: h.fragmentId }
          : null,
      };
    }
    case packet.LayerKind.GRE: {
      const h = l.gre;
      return {
        layer: 'gre',
        checksumPresent: h.checksumPresent,
        keyPresent: h.keyPresent,
        sequencePresent: h.sequencePresent,
        version: h.version,
        protocol: h.protocol,
        checksum: h.checksumPresent ? h.checksum : null,
        key: h.keyPresent ? h.key : null,
        sequence: h.sequencePresent ? h.sequence : null,
      };
    }
    case packet.LayerKind.EOIP:
      return { layer: 'eoip', tunnelId: l.eoip.tunnelId, frameLength: l.eoip.frameLength };
    case packet.LayerKind.EOIPV6:
      return { layer: 'eoipv6', tunnelId: l.eoipv6.tunnelId };
  }
  throw new Error(`layer ${index} of kind ${l.kind} in ${d.layerCount}`);
}

test('the scapy script produced a broad set of vectors', (t) => {
  t.true(vectors.length >= 40, `${vectors.length} vectors`);
  const layerNames = new Set(vectors.flatMap((v) => v.layers.map((l) => l.layer)));
  t.deepEqual([...layerNames].sort(), ['eoip', 'eoipv6', 'ethernet', 'gre', 'ipv4', 'ipv6']);
});

for (const v of vectors) {
  test(`scapy ${v.name}`, (t) => {
    const bytes = Buffer.from(v.hex, 'hex');
    const d = packet.createDissection();
    const status = packet.dissect(
      bytes,
      v.link === 'ethernet' ? packet.LinkLayer.ETHERNET : packet.LinkLayer.IP,
      d,
    );
    t.is(status, WireStatus.OK);
    // scapy stops at first fragments; we read on into what they carry, so ours may be longer.
    t.true(d.layerCount >= v.layers.length, `${d.layerCount} layers decoded, scapy has ${v.layers.length}`);
    v.layers.forEach((expected, i) => {
      t.deepEqual(ours(d.layers[i]!, d, i), expected, `layer ${i} (${expected.layer})`);
    });
    t.true(packet.reencodesExactly(d, bytes), 're-encodes exactly');
    if (v.name.includes('keepalive') && v.name.startsWith('eoipv6'))
      t.is(d.kind, packet.FrameKind.EOIPV6_KEEPALIVE);
    else if (v.name.includes('keepalive') && v.name.startsWith('eoip'))
      t.is(d.kind, packet.FrameKind.EOIP_KEEPALIVE);
    else if (v.name.includes('keepalive')) t.is(d.kind, packet.FrameKind.GRE_KEEPALIVE);
  });
}
