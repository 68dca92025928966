# Sends COUNT malformed EoIP packets from this namespace over raw IPv4 protocol-47 sockets (the kernel
# builds the IP header), all with the EoIP magic so the daemon's socket filter lets them through, in
# turn: an unknown tunnel id; for tunnel TID a frame length beyond the data, and one shorter than an
# Ethernet header; TID from ALT_SRC (not the tunnel's remote).
#     flood.py DST ALT_SRC COUNT TID        prints how many it sent
import socket, struct, sys

dst, alt_src, count, tid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
eoip = lambda t, length: b"\x20\x01\x64\x00" + struct.pack(">H", length) + struct.pack("<H", t)
frame = bytes(14)
plain = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
spoofed = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
spoofed.bind((alt_src, 0))
kinds = [
    (plain, eoip((tid + 1) & 0xFFFF, 14) + frame, dst),  # unknown tunnel id
    (plain, eoip(tid, 1400) + frame, dst),               # frame length beyond the data
    (plain, eoip(tid, 5) + frame, dst),                  # frame shorter than an Ethernet header
    (spoofed, eoip(tid, 14) + frame, dst),               # wrong source
]
sent = 0
for i in range(count):
    sock, payload, to = kinds[i % len(kinds)]
    sock.sendto(payload, (to, 0))
    sent += 1
print(sent)
