#!/usr/bin/python3
"""Independent packet vectors for the greoip decoders, built with scapy.

Run with Debian's interpreter (it has python3-scapy):

    /usr/bin/python3 test/oracles/scapy_vectors.py > vectors.json

Prints one JSON document: a list of vectors

    {"name": str, "link": "raw" | "ethernet", "hex": str, "layers": [...]}

"hex" is bytes(pkt) of a packet scapy built.  "layers" is NOT what we asked
scapy to build: every header is re-dissected from those bytes with the scapy
class for that header, and the fields are read from the parsed object, so
lengths and checksums are the values scapy computed.  Payload boundaries come
from the parsed length fields (IPv4 ihl/total length, IPv6 payload length and
extension header lengths, GRE flags, EoIP frame length).

scapy has no model of MikroTik EoIP / EoIPv6, so those headers are built as
raw bytes and read back with struct (EoIP) / bit arithmetic (EoIPv6); the
Ethernet frame they carry is dissected with scapy again.

Conventions for the layer list:
  * It stops after a header whose payload is not something the decoder is
    expected to look into (ICMP, ARP, opaque data).
  * It stops at an IPv4/IPv6 header that belongs to a real fragment (IPv4 MF
    set or offset > 0; IPv6 fragment header with M set or offset > 0): the
    upper layer of a fragment is not decoded.  An IPv6 "atomic" fragment
    (offset 0, M clear) is followed into its payload.
  * GRE protocol 0x0800 and 0x0004 (Huawei keepalive) carry IPv4, 0x86dd
    carries IPv6, anything else (0 = keepalive) ends the list, and so does a
    GRE header with nothing after it (the inner GRE of a keepalive).

Deterministic: every address, id, MAC and payload is fixed.
"""

import json
import logging
import os
import socket
import struct
import sys

logging.getLogger("scapy").setLevel(logging.ERROR)
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
logging.getLogger("scapy.loading").setLevel(logging.ERROR)

from scapy.all import (  # noqa: E402
    ARP,
    ICMP,
    IP,
    GRE,
    Dot1Q,
    Ether,
    ICMPv6EchoRequest,
    IPOption_EOL,
    IPOption_NOP,
    IPOption_RR,
    IPOption_Router_Alert,
    IPOption_Timestamp,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
    Raw,
    RouterAlert,
    conf,
    fragment,
    fragment6,
)

conf.verb = 0

try:
    from scapy.layers.l2 import Dot1AD
except ImportError:  # very old scapy: build the S-tag as a Dot1Q, see qinq()
    Dot1AD = None

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
VLAN_TPIDS = (ETH_P_8021Q, ETH_P_8021AD, 0x9100)

IPPROTO_GRE = 47
IPPROTO_ETHERIP = 97  # MikroTik EoIPv6 reuses the EtherIP protocol number

IPV6_EXT_CLASSES = {
    0: IPv6ExtHdrHopByHop,
    43: IPv6ExtHdrRouting,
    44: IPv6ExtHdrFragment,
    60: IPv6ExtHdrDestOpt,
}

EOIP_MAGIC = b"\x20\x01\x64\x00"

# Fixed addresses used throughout.
V4_A, V4_B = "192.0.2.1", "198.51.100.2"
V6_A, V6_B = "2001:db8::1", "2001:db8::2"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
MAC_C, MAC_D = "52:54:00:12:34:56", "aa:bb:cc:dd:ee:ff"


# ---------------------------------------------------------------------------
# Reading back: bytes -> layer objects, via scapy's dissectors
# ---------------------------------------------------------------------------


def v6text(addr):
    """RFC 5952 text, as socket.inet_ntop prints it."""
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, addr))


def describe_ethernet(data):
    """Ethernet II header plus any stacked 802.1Q/802.1ad tags."""
    eth = Ether(data[:14])
    etype = eth.type
    off = 14
    vlans = []
    while etype in VLAN_TPIDS:
        tag = Dot1Q(data[off : off + 4])
        vlans.append({"tpid": etype, "vid": tag.vlan, "pcp": tag.prio, "dei": tag.id})
        etype = tag.type
        off += 4
    layer = {
        "layer": "ethernet",
        "dst": eth.dst,
        "src": eth.src,
        "vlans": vlans,
        "etherType": etype,
    }
    return [layer] + describe_ethertype(etype, data[off:])


def describe_ethertype(etype, data):
    if etype == ETH_P_IP:
        return describe_ipv4(data)
    if etype == ETH_P_IPV6:
        return describe_ipv6(data)
    return []


def describe_ipv4(data):
    ip = IP(data)
    hlen = ip.ihl * 4
    header = bytes(data[:hlen])
    layer = {
        "layer": "ipv4",
        "ihl": ip.ihl,
        "tos": ip.tos,
        "totalLength": ip.len,
        "id": ip.id,
        "flags": int(ip.flags),
        "fragOffset": ip.frag,
        "ttl": ip.ttl,
        "protocol": ip.proto,
        "checksum": ip.chksum,
        "src": ip.src,
        "dst": ip.dst,
        "optionsHex": header[20:].hex(),
    }
    if ip.flags.MF or ip.frag:
        return [layer]
    return [layer] + describe_ip_payload(ip.proto, data[hlen : ip.len])


def describe_ipv6(data):
    ip6 = IPv6(data[:40])
    end = 40 + ip6.plen
    off = 40
    nh = ip6.nh
    extensions = []
    frag = None
    while nh in IPV6_EXT_CLASSES:
        ext = IPV6_EXT_CLASSES[nh](data[off:end])
        if nh == 44:
            length = 8
            frag = {"offset": ext.offset, "more": bool(ext.m), "id": ext.id}
        else:
            length = (ext.len + 1) * 8
        extensions.append({"type": nh, "length": length})
        nh = ext.nh
        off += length
    layer = {
        "layer": "ipv6",
        "trafficClass": ip6.tc,
        "flowLabel": ip6.fl,
        "payloadLength": ip6.plen,
        "nextHeader": ip6.nh,
        "hopLimit": ip6.hlim,
        "src": v6text(ip6.src),
        "dst": v6text(ip6.dst),
        "extensions": extensions,
        "upperProtocol": nh,
        "fragment": frag,
    }
    if frag is not None and (frag["more"] or frag["offset"]):
        return [layer]
    return [layer] + describe_ip_payload(nh, data[off:end])


def describe_ip_payload(proto, data):
    if proto == IPPROTO_GRE:
        if bytes(data[:4]) == EOIP_MAGIC:
            return describe_eoip(data)
        return describe_gre(data)
    if proto == IPPROTO_ETHERIP:
        return describe_eoipv6(data)
    return []


def describe_gre(data):
    gre = GRE(data)
    hlen = 4
    hlen += 4 if (gre.chksum_present or gre.routing_present) else 0
    hlen += 4 if gre.key_present else 0
    hlen += 4 if gre.seqnum_present else 0
    layer = {
        "layer": "gre",
        "checksumPresent": bool(gre.chksum_present),
        "keyPresent": bool(gre.key_present),
        "sequencePresent": bool(gre.seqnum_present),
        "version": gre.version,
        "protocol": gre.proto,
        "checksum": gre.chksum if gre.chksum_present else None,
        "key": gre.key if gre.key_present else None,
        "sequence": gre.sequence_number if gre.seqnum_present else None,
    }
    payload = data[hlen:]
    if not payload:  # e.g. MikroTik GRE6 keepalive reply: proto 0x86dd, no packet
        return [layer]
    if gre.proto in (ETH_P_IP, 0x0004):
        return [layer] + describe_ipv4(payload)
    if gre.proto == ETH_P_IPV6:
        return [layer] + describe_ipv6(payload)
    return [layer]


def describe_eoip(data):
    magic, frame_len, tid = struct.unpack("!4sH2s", bytes(data[:8]))
    assert magic == EOIP_MAGIC
    layer = {
        "layer": "eoip",
        "tunnelId": struct.unpack("<H", tid)[0],
        "frameLength": frame_len,
    }
    if frame_len == 0:
        return [layer]
    return [layer] + describe_ethernet(data[8 : 8 + frame_len])


def describe_eoipv6(data):
    b0, b1 = bytes(data[:2])
    assert b0 & 0x0F == 0x3, "EoIPv6 header low nibble must be 3"
    layer = {"layer": "eoipv6", "tunnelId": ((b0 >> 4) << 8) | b1}
    if len(data) == 2:
        return [layer]
    return [layer] + describe_ethernet(data[2:])


def vector(name, pkt, link="raw"):
    raw = bytes(pkt)
    layers = describe_ethernet(raw) if link == "ethernet" else describe_ip(raw)
    return {"name": name, "link": link, "hex": raw.hex(), "layers": layers}


def describe_ip(raw):
    version = raw[0] >> 4
    if version == 4:
        return describe_ipv4(raw)
    if version == 6:
        return describe_ipv6(raw)
    raise ValueError("not an IP packet")


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def inner_icmp4(payload=b"greoip-oracle"):
    return (
        IP(src="10.0.0.1", dst="10.0.0.2", id=0x4242)
        / ICMP(type=8, id=0x1234, seq=1)
        / Raw(payload)
    )


def inner_icmp6():
    return IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest(id=0x1234, seq=1, data=b"greoip")


def keepalive4(outer_gre, inner_gre, src=V4_A, dst=V4_B):
    """Cisco-style keepalive: the inner packet is addressed back to us."""
    return (
        IP(src=src, dst=dst, id=1)
        / outer_gre
        / IP(src=dst, dst=src, id=1, proto=IPPROTO_GRE)
        / inner_gre
    )


def eoip(tid, frame=None):
    """MikroTik EoIP header (+ frame) as raw bytes."""
    body = bytes(frame) if frame is not None else b""
    return Raw(EOIP_MAGIC + struct.pack("!H", len(body)) + struct.pack("<H", tid) + body)


def eoipv6(tid, frame=None):
    """MikroTik EoIPv6 header (+ frame) as raw bytes."""
    body = bytes(frame) if frame is not None else b""
    header = bytes([((tid >> 8) & 0x0F) << 4 | 0x3, tid & 0xFF])
    return Raw(header + body)


def frame_icmp4(src=MAC_C, dst=MAC_D):
    return Ether(src=src, dst=dst) / inner_icmp4()


def frame_arp():
    return Ether(src=MAC_C, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1,
        hwsrc=MAC_C,
        psrc="10.10.0.1",
        hwdst="00:00:00:00:00:00",
        pdst="10.10.0.2",
    )


def qinq(outer_vid, inner_vid):
    """802.1ad S-tag over an 802.1Q C-tag, as the layers following Ether."""
    if Dot1AD is not None:
        return Dot1AD(vlan=outer_vid) / Dot1Q(vlan=inner_vid)
    return Dot1Q(vlan=outer_vid, type=ETH_P_8021Q) / Dot1Q(vlan=inner_vid)


# ---------------------------------------------------------------------------
# Vector families
# ---------------------------------------------------------------------------


def gre4_flag_combinations():
    out = []
    for c in (0, 1):
        for k in (0, 1):
            for s in (0, 1):
                gre = GRE(chksum_present=c, key_present=k, seqnum_present=s, proto=ETH_P_IP)
                if k:
                    gre.key = 0x01020304
                if s:
                    gre.sequence_number = 0xA0B0C0D0
                pkt = IP(src=V4_A, dst=V4_B, id=0x1001) / gre / inner_icmp4()
                out.append(vector(f"gre4-c{c}k{k}s{s}-ipv4", pkt))
    return out


def gre4_keepalives():
    return [
        vector(
            "gre4-keepalive-cisco",
            keepalive4(GRE(proto=ETH_P_IP), GRE(proto=0)),
        ),
        vector(
            "gre4-keepalive-key",
            keepalive4(
                GRE(proto=ETH_P_IP, key_present=1, key=0xC0FFEE),
                GRE(proto=0, key_present=1, key=0xC0FFEE),
            ),
        ),
        vector(
            "gre4-keepalive-huawei-proto4",
            keepalive4(GRE(proto=0x0004), GRE(proto=0)),
        ),
        vector(
            "gre4-keepalive-checksum-seq",
            keepalive4(
                GRE(proto=ETH_P_IP, chksum_present=1, seqnum_present=1, sequence_number=7),
                GRE(proto=0, chksum_present=1, seqnum_present=1, sequence_number=7),
            ),
        ),
    ]


def ipv4_options():
    gre_payload = GRE(proto=ETH_P_IP) / inner_icmp4()
    base = dict(src=V4_A, dst=V4_B, id=0x2002)
    return [
        vector(
            "ipv4-opt-record-route",
            IP(options=[IPOption_RR(routers=["10.1.1.1", "10.2.2.2"])], **base) / gre_payload,
        ),
        vector(
            "ipv4-opt-timestamp",
            IP(options=[IPOption_Timestamp(flg=0, timestamp=0x01020304)], **base) / gre_payload,
        ),
        vector(
            "ipv4-opt-nop-eol-padding",
            IP(options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()], **base)
            / gre_payload,
        ),
        vector(
            "ipv4-opt-router-alert",
            IP(options=[IPOption_Router_Alert()], **base) / gre_payload,
        ),
        vector(
            "ipv4-opt-rr-nop-ra-eol",
            IP(
                options=[
                    IPOption_NOP(),
                    IPOption_RR(routers=["10.9.9.9"]),
                    IPOption_Router_Alert(),
                    IPOption_EOL(),
                ],
                **base,
            )
            / gre_payload,
        ),
        vector(
            "ipv4-tos-df-ttl",
            IP(tos=0xB8, flags="DF", ttl=3, **base) / gre_payload,
        ),
    ]


def ipv4_fragments():
    whole = (
        IP(src=V4_A, dst=V4_B, id=0x3003)
        / GRE(proto=ETH_P_IP, key_present=1, key=42)
        / inner_icmp4(payload=bytes(range(64)))
    )
    frags = fragment(whole, fragsize=48)
    assert len(frags) >= 3
    return [
        vector("ipv4-fragment-first", frags[0]),
        vector("ipv4-fragment-middle", frags[1]),
        vector("ipv4-fragment-last", frags[-1]),
    ]


def gre6():
    mikrotik_keepalive = (
        IPv6(src=V6_A, dst=V6_B)
        / GRE(proto=ETH_P_IPV6)
        / IPv6(src=V6_B, dst=V6_A, nh=IPPROTO_GRE)
        / GRE(proto=ETH_P_IPV6)
    )
    keepalive_proto0 = (
        IPv6(src=V6_A, dst=V6_B)
        / GRE(proto=ETH_P_IPV6)
        / IPv6(src=V6_B, dst=V6_A, nh=IPPROTO_GRE)
        / GRE(proto=0)
    )
    data6 = (
        IPv6(src=V6_A, dst=V6_B, tc=0xB8, fl=0x12345, hlim=17)
        / GRE(proto=ETH_P_IPV6, key_present=1, key=0xFFFFFFFF, chksum_present=1)
        / inner_icmp6()
    )
    data4 = (
        IPv6(src="2001:db8:0:0:1:0:0:1", dst="fe80::a:b:0:0:c")
        / GRE(proto=ETH_P_IP, seqnum_present=1, sequence_number=1)
        / inner_icmp4()
    )
    return [
        vector("gre6-keepalive-mikrotik", mikrotik_keepalive),
        vector("gre6-keepalive-inner-proto0", keepalive_proto0),
        vector("gre6-data-ipv6-tc-flow-key-csum", data6),
        vector("gre6-data-ipv4-seq-rfc5952", data4),
    ]


def ipv6_extensions():
    gre_payload = GRE(proto=ETH_P_IP) / inner_icmp4()
    base = dict(src=V6_A, dst=V6_B)
    hbh_padn = IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00" * 4)])
    hbh_ra = IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
    routing = IPv6ExtHdrRouting(addresses=["2001:db8::10", "2001:db8::20"], segleft=0)
    dest = IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 12)])

    whole = (
        IPv6(**base)
        / IPv6ExtHdrFragment(id=0xABCDEF01)
        / GRE(proto=ETH_P_IP, key_present=1, key=9)
        / inner_icmp4(payload=bytes(range(96)))
    )
    frags = fragment6(whole, 96)
    assert len(frags) >= 3

    return [
        vector("ipv6-hbh-padn-gre", IPv6(**base) / hbh_padn / gre_payload),
        vector("ipv6-hbh-router-alert-gre", IPv6(**base) / hbh_ra / gre_payload),
        vector("ipv6-routing-type0-gre", IPv6(**base) / routing / gre_payload),
        vector("ipv6-destopt-gre", IPv6(**base) / dest / gre_payload),
        vector(
            "ipv6-fragment-atomic-gre",
            IPv6(**base) / IPv6ExtHdrFragment(offset=0, m=0, id=0x11223344) / gre_payload,
        ),
        vector("ipv6-fragment-first", frags[0]),
        vector("ipv6-fragment-middle", frags[1]),
        vector("ipv6-fragment-last", frags[-1]),
        vector(
            "ipv6-chain-hbh-dest-routing-frag-gre",
            IPv6(**base)
            / hbh_ra
            / dest
            / routing
            / IPv6ExtHdrFragment(offset=0, m=0, id=0x55667788)
            / gre_payload,
        ),
        vector(
            "ipv6-chain-hbh-routing-dest-eoipv6",
            IPv6(**base)
            / hbh_padn
            / routing
            / IPv6ExtHdrDestOpt(nh=IPPROTO_ETHERIP)
            / eoipv6(77, frame_icmp4()),
        ),
    ]


def eoip4():
    def outer(**kw):
        return IP(src=V4_A, dst=V4_B, proto=IPPROTO_GRE, id=0x4004, **kw)

    return [
        vector("eoip-tid100-arp", outer() / eoip(100, frame_arp())),
        vector("eoip-tid100-ipv4-icmp", outer() / eoip(100, frame_icmp4())),
        vector("eoip-tid100-keepalive", outer() / eoip(100)),
        vector("eoip-tid65535-ipv4", outer() / eoip(65535, frame_icmp4())),
        vector("eoip-tid0x1234-endianness", outer() / eoip(0x1234, frame_icmp4())),
        vector("eoip-tid0x1234-keepalive", outer() / eoip(0x1234)),
        vector("eoip-ttl255-tid1", outer(ttl=255) / eoip(1, frame_arp())),
    ]


def eoip6():
    def outer():
        return IPv6(src=V6_A, dst=V6_B, nh=IPPROTO_ETHERIP)

    return [
        vector("eoipv6-tid0-ipv4", outer() / eoipv6(0, frame_icmp4())),
        vector("eoipv6-tid1234-ipv4", outer() / eoipv6(1234, frame_icmp4())),
        vector("eoipv6-tid4095-arp", outer() / eoipv6(4095, frame_arp())),
        vector("eoipv6-tid1234-keepalive", outer() / eoipv6(1234)),
        vector("eoipv6-tid4095-keepalive", outer() / eoipv6(4095)),
    ]


def ethernet_link():
    def eth():
        return Ether(src=MAC_A, dst=MAC_B)

    vlan_frame = Ether(src=MAC_C, dst=MAC_D) / Dot1Q(vlan=300, prio=3) / inner_icmp4()
    return [
        vector(
            "eth-ipv4-gre-ipv4",
            eth() / IP(src=V4_A, dst=V4_B) / GRE(proto=ETH_P_IP) / inner_icmp4(),
            link="ethernet",
        ),
        vector(
            "eth-dot1q100-gre4-keepalive",
            eth() / Dot1Q(vlan=100) / keepalive4(GRE(proto=ETH_P_IP), GRE(proto=0)),
            link="ethernet",
        ),
        vector(
            "eth-dot1q-pcp5-dei1-vid4094-gre4",
            eth()
            / Dot1Q(vlan=4094, prio=5, id=1)
            / IP(src=V4_A, dst=V4_B)
            / GRE(proto=ETH_P_IP, key_present=1, key=5)
            / inner_icmp4(),
            link="ethernet",
        ),
        vector(
            "eth-qinq10-20-ipv6-gre6-keepalive",
            eth()
            / qinq(10, 20)
            / IPv6(src=V6_A, dst=V6_B)
            / GRE(proto=ETH_P_IPV6)
            / IPv6(src=V6_B, dst=V6_A, nh=IPPROTO_GRE)
            / GRE(proto=ETH_P_IPV6),
            link="ethernet",
        ),
        vector(
            "eth-eoip-tid100-inner-dot1q300",
            eth() / IP(src=V4_A, dst=V4_B, proto=IPPROTO_GRE) / eoip(100, vlan_frame),
            link="ethernet",
        ),
        vector(
            "eth-dot1q200-eoipv6-tid2049-inner-dot1q300",
            eth()
            / Dot1Q(vlan=200)
            / IPv6(src=V6_A, dst=V6_B, nh=IPPROTO_ETHERIP)
            / eoipv6(2049, vlan_frame),
            link="ethernet",
        ),
    ]


def main():
    vectors = (
        gre4_flag_combinations()
        + gre4_keepalives()
        + ipv4_options()
        + ipv4_fragments()
        + gre6()
        + ipv6_extensions()
        + eoip4()
        + eoip6()
        + ethernet_link()
    )
    names = [v["name"] for v in vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    text = json.dumps(vectors, indent=1) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
