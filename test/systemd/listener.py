# A NOTIFY_SOCKET stand-in for the tests: binds a unix datagram socket at argv[1] ("@name" is abstract),
# prints "listening", then prints every datagram it receives as one JSON line {"t": monotonic seconds,
# "text": ..., "links": ...} until it gets one containing STOPPING=1 or is killed. With argv[2] (a network
# namespace name), "links" lists the interfaces of that namespace at the moment the datagram arrived.
import json, socket, subprocess, sys, time

path = sys.argv[1]
netns = sys.argv[2] if len(sys.argv) > 2 else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
print("listening", flush=True)
while True:
    data = s.recv(4096)
    links = None
    if netns:
        out = subprocess.run(["/usr/sbin/ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True).stdout
        links = [l["ifname"] for l in json.loads(out or "[]")]
    print(json.dumps({"t": time.monotonic(), "text": data.decode(), "links": links}), flush=True)
    if b"STOPPING=1" in data:
        break
