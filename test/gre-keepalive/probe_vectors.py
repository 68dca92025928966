#!/usr/bin/python3
"""GRE keepalive probes and their answers built with scapy, which shares no code with greoip.

Run with Debian's interpreter (it has python3-scapy):

    /usr/bin/python3 test/gre-keepalive/probe_vectors.py

Prints JSON: {"requests": [{"name", "spec", "hex"}], "answers": [{"name", "probe", "form", "hex"}]}.
"spec" is what greoip's compileProbe() is given; "hex" the bytes a router would send for it, from
the outer IP header on. "answers" are packets received by the prober (from the IP header on; IPv6
with GRE right after the fixed header) and the probe they answer ("probe": null when they answer
none), "form": plain, tunnelled or none.
"""
import json
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import GRE, IP, IPv6, Raw  # noqa: E402

A4, B4, C4 = "192.0.2.1", "198.51.100.2", "198.51.100.3"
A6, B6, C6 = "2001:db8:a::1", "2001:db8:b::2", "2001:db8:b::3"


def gre(proto, key=None, csum=False):
    g = GRE(proto=proto)
    if key is not None:
        g.key_present = 1
        g.key = key
    if csum:
        g.chksum_present = 1
    return g


def inner4(src, dst, key=None):
    return IP(src=src, dst=dst, ttl=255, id=0, flags=0, proto=47) / gre(0, key)


def inner6(src, dst, proto, key=None):
    return IPv6(src=src, dst=dst, hlim=255, nh=47) / gre(proto, key)


def request4(local, remote, key=None, ttl=255, tos=0, csum=False):
    return IP(src=local, dst=remote, ttl=ttl, tos=tos, id=0, flags=0, proto=47) / gre(0x0800, key, csum) / inner4(remote, local, key)


def request6(local, remote, inner_proto, key=None, hlim=255, tclass=0):
    return IPv6(src=local, dst=remote, hlim=hlim, tc=tclass, nh=47) / gre(0x86DD, key) / inner6(remote, local, inner_proto, key)


def hexof(pkt):
    return bytes(pkt).hex()


requests = [
    ("gre", {"local": A4, "remote": B4}, request4(A4, B4)),
    ("gre key 77, ttl 64, tos 0x20", {"local": A4, "remote": B4, "okey": 77, "ikey": 77, "ttl": 64, "tos": 0x20}, request4(A4, B4, key=77, ttl=64, tos=0x20)),
    ("gre key 4294967295 with checksum", {"local": A4, "remote": B4, "okey": 0xFFFFFFFF, "ikey": 0xFFFFFFFF, "checksum": True}, request4(A4, B4, key=0xFFFFFFFF, csum=True)),
    ("gre6 mikrotik layout", {"local": A6, "remote": B6, "layout": "gre6-mikrotik"}, request6(A6, B6, 0x86DD)),
    ("gre6 plain layout", {"local": A6, "remote": B6, "layout": "gre6"}, request6(A6, B6, 0)),
    ("gre6 key 9, hop limit 64", {"local": A6, "remote": B6, "layout": "gre6", "okey": 9, "ikey": 9, "ttl": 64}, request6(A6, B6, 0, key=9, hlim=64)),
]

# What comes back. Probes: 0 = gre, 1 = gre key 77, 3 = gre6 mikrotik, 4 = gre6 plain, 5 = gre6 key 9.
answers = [
    ("cisco plain answer", 0, "plain", inner4(B4, A4)),
    ("plain answer after 10 hops, kernel id and tos", 0, "plain", IP(src=B4, dst=A4, ttl=245, id=4242, tos=0x10, proto=47) / gre(0)),
    ("plain answer with DF", 0, "plain", IP(src=B4, dst=A4, ttl=255, id=0, flags="DF", proto=47) / gre(0)),
    ("re-tunnelled answer (XDP_TX on the peer's gre)", 0, "tunnelled", IP(src=B4, dst=A4, ttl=64, proto=47) / gre(0x0800) / inner4(B4, A4)),
    ("re-tunnelled answer with GRE checksum", 0, "tunnelled", IP(src=B4, dst=A4, proto=47) / gre(0x0800, csum=True) / inner4(B4, A4)),
    ("keyed plain answer", 1, "plain", inner4(B4, A4, key=77)),
    ("keyed re-tunnelled answer", 1, "tunnelled", IP(src=B4, dst=A4, proto=47) / gre(0x0800, key=77) / inner4(B4, A4, key=77)),
    ("gre6 mikrotik answer", 3, "plain", inner6(B6, A6, 0x86DD)),
    ("gre6 mikrotik re-tunnelled", 3, "tunnelled", IPv6(src=B6, dst=A6, nh=47) / gre(0x86DD) / inner6(B6, A6, 0x86DD)),
    ("gre6 plain answer", 4, "plain", inner6(B6, A6, 0)),
    ("gre6 keyed answer", 5, "plain", inner6(B6, A6, 0, key=9)),
    ("gre6 keyed re-tunnelled", 5, "tunnelled", IPv6(src=B6, dst=A6, nh=47) / gre(0x86DD, key=9) / inner6(B6, A6, 0, key=9)),
    # Strict matching: none of these is an answer.
    ("answer from another address", None, "none", inner4(C4, A4)),
    ("answer to another address", None, "none", inner4(B4, "192.0.2.9")),
    ("answer with a key on an unkeyed tunnel", None, "none", inner4(B4, A4, key=5)),
    ("keyed answer with the wrong key", None, "none", IP(src=B4, dst=A4, ttl=255, id=0, proto=47) / gre(0, 78)),
    ("keyed re-tunnelled answer, outer key wrong", None, "none", IP(src=B4, dst=A4, proto=47) / gre(0x0800, key=78) / inner4(B4, A4, key=77)),
    ("answer with a payload", None, "none", inner4(B4, A4) / Raw(b"\x00" * 4)),
    ("answer with a different GRE protocol", None, "none", IP(src=B4, dst=A4, ttl=255, id=0, proto=47) / gre(0x0800)),
    ("the peer's own keepalive request to us", None, "none", request4(B4, A4)),
    ("re-tunnelled with the wrong outer source", None, "none", IP(src=C4, dst=A4, proto=47) / gre(0x0800) / inner4(B4, A4)),
    ("re-tunnelled with trailing bytes", None, "none", IP(src=B4, dst=A4, proto=47) / gre(0x0800) / inner4(B4, A4) / Raw(b"\x00")),
    ("re-tunnelled with a bad GRE checksum", None, "none", IP(src=B4, dst=A4, proto=47) / GRE(proto=0x0800, chksum_present=1, chksum=0x1234) / inner4(B4, A4)),
    ("a fragment of an answer", None, "none", IP(src=B4, dst=A4, ttl=255, id=0, flags="MF", proto=47) / gre(0)),
    ("gre6 answer with the other layout's protocol", None, "none", inner6(B6, A6, 0x86DD, key=9)),
    ("gre6 answer from another address", None, "none", inner6(C6, A6, 0)),
]

print(json.dumps({
    "requests": [{"name": n, "spec": s, "hex": hexof(p)} for n, s, p in requests],
    "answers": [{"name": n, "probe": i, "form": f, "hex": hexof(p)} for n, i, f, p in answers],
}))
