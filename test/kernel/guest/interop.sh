# Guest half of test/kernel/interop.test.ts: the kernel end (eoip.ko / eoipv6.ko) in the VM, the
# userland end (greoip daemon) on the host, joined by the VM's virtio NIC eth0 and the host's tap.
# Sourced after the lab prelude (pass/fail/check, from_host/wait_host).
#
# Files the host puts in the initramfs: /lab/eoip.ko /lab/eoipv6.ko
# /lab/pkt (kmod/tests) /lab/repo (the repository's host path; the host is shared at /host). Addresses:
#   underlay  host tap 192.0.2.1 2001:db8:e1::1   <->  guest eth0 192.0.2.2 2001:db8:e1::2
#   EoIP   tid 300  host ge4 198.51.100.1/24        <->  guest e4 198.51.100.2/24
#   EoIPv6 tid 301  host ge6 203.0.113.1/24         <->  guest e6 203.0.113.2/24
# keepalive 1,3 on both ends. No IPv6 on the tunnel devices: the only frames in them are the test's
# (and ARP), so the counters of the two ends can be compared exactly.
#
# The host acts when asked: `ask NAME DETAIL` prints the marker `PASS ask-NAME DETAIL`, the host's
# onMarker does its part and writes `NAME: ANSWER` to the console; ask sets $answer to ANSWER (`ok`
# when all went well). No answer within the time is the failure `host-NAME`.
H4=192.0.2.1
G4=192.0.2.2
H6=2001:db8:e1::1
G6=2001:db8:e1::2
KA=1,3

# The kernel end's links, made by greoip itself: the host's node and dist/ over 9p run the eoip
# command, whose daemon (started by the first add) drives the modules through the kernel backend.
# kadd NAME TID LOCAL REMOTE KEEPALIVE / kdel NAME
REPO=/host$(cat /lab/repo)
EOIP="/host/usr/bin/node $REPO/dist/cli/eoip.js"
export GREOIP_RUNTIME_DIR=/run/greoip
kadd() { $EOIP add name "$1" tid "$2" local "$3" remote "$4" keepalive "$5" backend kernel; }
kdel() { $EOIP del name "$1"; }

# ask NAME DETAIL [SECONDS]
ask() {
  pass "ask-$1" "$2"
  answer=
  _end=$(($(cut -d. -f1 /proc/uptime) + ${3:-60}))
  while _left=$((_end - $(cut -d. -f1 /proc/uptime))) && [ "$_left" -gt 0 ]; do
    _l=$(from_host "$_left") || break
    case "$_l" in "$1: "*) answer=${_l#"$1: "}; return 0 ;; esac
  done
  fail "host-$1" "no answer from the host"
  return 1
}
# host_does NAME DETAIL: ask, and PASS host-NAME when the answer is ok (FAIL with it otherwise).
host_does() {
  ask "$@" || return 1
  if [ "$answer" = ok ]; then pass "host-$1"; else fail "host-$1" "$answer"; fi
}

# links SUFFIX: e4 and e6 with their addresses and fixed MACs (the host's neighbour entries stay
# right when the links are made again), up; then the marker links-upSUFFIX (the host times from it).
links() {
  check kadd-e4$1 kadd e4 300 $G4 $H4 $KA
  check kadd-e6$1 kadd e6 301 $G6 $H6 $KA
  ip link set e4 address 02:00:00:00:03:00
  ip link set e6 address 02:00:00:00:03:01
  ip addr add 198.51.100.2/24 dev e4
  ip addr add 203.0.113.2/24 dev e6
  ip link set e4 up
  ip link set e6 up
  pass "links-up$1"
}

carrier() { cat /sys/class/net/"$1"/carrier 2>/dev/null; }
stat() { cat /sys/class/net/"$1"/statistics/"$2"; }
counters() { echo "e4 $(stat e4 tx_packets) $(stat e4 rx_packets) e6 $(stat e6 tx_packets) $(stat e6 rx_packets)"; }

# carriers NAME VALUE SECONDS: waits until e4 and e6 both show carrier VALUE; PASS NAME-e4 / NAME-e6
# as each does (the host times the markers), with the guest's own count of ms since the call.
carriers() {
  _seen4= _seen6= _i=0
  while [ $_i -lt $(($3 * 10)) ]; do
    if [ -z "$_seen4" ] && [ "$(carrier e4)" = "$2" ]; then _seen4=1; pass "$1-e4" "$((_i * 100))ms"; fi
    if [ -z "$_seen6" ] && [ "$(carrier e6)" = "$2" ]; then _seen6=1; pass "$1-e6" "$((_i * 100))ms"; fi
    [ -n "$_seen4" ] && [ -n "$_seen6" ] && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  [ -n "$_seen4" ] || fail "$1-e4" "carrier of e4 not $2 after $3 s"
  [ -n "$_seen6" ] || fail "$1-e6" "carrier of e6 not $2 after $3 s"
}

# iperf NAME SERVER [-R]: 3 s of TCP; PASS NAME "BYTES BITS_PER_SECOND" as the receiving end counted.
iperf() {
  if ! _out=$(timeout 40 /usr/bin/iperf3 -c "$2" -t 3 -J $3 2>&1); then
    fail "$1" "$(printf '%s' "$_out" | tail -n 5)"
    return
  fi
  _r=$(printf '%s\n' "$_out" | awk '
    /"sum_received"/ { r = 1 }
    r && /"bytes"/ { b = $2; sub(/,$/, "", b) }
    r && /"bits_per_second"/ { s = $2; sub(/,$/, "", s); print b, s; exit }')
  if [ -n "$_r" ]; then pass "$1" "$_r"; else fail "$1" "no sum_received in: $(printf '%s' "$_out" | tail -n 5)"; fi
}

# capture IFACE PROTO MS FILE: kmod/tests/pkt in the background (`in|out HEX` per packet).
capture() {
  rm -f "$4" "$4.err"
  /lab/pkt cap "$1" "$2" 400 "$3" >"$4" 2>"$4.err" &
  _i=0
  while ! grep -q listening "$4.err" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
}

# The harness copies binaries without the x bit.
chmod +x /lab/pkt

# ---- underlay: the virtio NIC on the host's tap ----
check nic-eth0 test -e /sys/class/net/eth0
ip addr add $G4/24 dev eth0
ip -6 addr add $G6/64 dev eth0 nodad
ip link set eth0 up
check underlay-ping4 ping -c 3 -W 5 $H4
check underlay-ping6 ping -6 -c 3 -W 5 $H6
host_does underlay-ping

# ---- the kernel end ----
check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko
# Tunnel devices made from here on get no IPv6 (eth0 keeps its own).
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
links ''
# Captured once the links exist: each eoip call starts the host's node under TCG (seconds).
capture eth0 47 3000 /tmp/cap4
_c4=$!
capture eth0 97 3000 /tmp/cap6
_c6=$!
wait $_c4 $_c6
# Keepalives both ways on the wire, byte for byte: IPv4 DF clear, TTL 255, 20 01 64 00, length 0,
# tid 300 little-endian (2c 01); IPv6 payload length 2, next header 97, hop limit 255, tid 301 (13 2d).
V4H=c0000201
V4G=c0000202
V6H=20010db800e100000000000000000001
V6G=20010db800e100000000000000000002
# wire NAME FILE REGEX: at least two such packets in the 3 s capture.
wire() {
  _n=$(grep -Ec "$3" "$2")
  if [ "$_n" -ge 2 ]; then pass "$1" "$_n in 3 s"; else fail "$1" "$_n in 3 s: $(head -c 600 "$2")"; fi
}
wire wire-ka4-from-host /tmp/cap4 "^in 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}${V4H}${V4G}2001640000002c01\$"
wire wire-ka4-from-guest /tmp/cap4 "^out 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}${V4G}${V4H}2001640000002c01\$"
wire wire-ka6-from-host /tmp/cap6 "^in 6[0-9a-f]{7}000261ff${V6H}${V6G}132d\$"
wire wire-ka6-from-guest /tmp/cap6 "^out 6[0-9a-f]{7}000261ff${V6G}${V6H}132d\$"
host_does tunnels-up

# ---- traffic both ways ----
check ping-e4 ping -c 5 -W 5 198.51.100.1
check ping-e6 ping -c 5 -W 5 203.0.113.1
# 1514-byte frames: outer packets of 1542 (EoIP) / 1556 (EoIPv6) bytes, fragmented on the underlay.
check ping-e4-fragmented ping -c 3 -W 5 -s 1472 198.51.100.1
check ping-e6-fragmented ping -c 3 -W 5 -s 1472 203.0.113.1
host_does tunnel-ping
sleep 1
# Every frame one end sent, the other end received (a neighbour probe in between: measured again).
for try in 1 2 3; do
  ask counters "$(counters)" || break
  [ "$answer" = ok ] && break
  sleep 1
done
if [ "$answer" = ok ]; then pass host-counters "attempt $try"; else fail host-counters "$answer"; fi

iperf iperf-e4-to-host 198.51.100.1
iperf iperf-e4-from-host 198.51.100.1 -R
iperf iperf-e6-to-host 203.0.113.1
iperf iperf-e6-from-host 203.0.113.1 -R
sleep 1
host_does counters-after "$(counters)"

# ---- carrier: the host's end stops (daemon SIGTERM), comes back (restart restores the tunnels) ----
# The carrier is watched from before the host acts (in the background): the host times the markers.
carriers down-after-host-stop 0 15 &
w=$!
host_does host-stop
wait $w
carriers up-after-host-start 1 15 &
w=$!
host_does host-start
wait $w
check ping-e4-after-restart ping -c 2 -W 5 198.51.100.1
check ping-e6-after-restart ping -c 2 -W 5 203.0.113.1

# ---- carrier: the guest's end goes away, comes back ----
check kdel-e4 kdel e4
check kdel-e6 kdel e6
host_does guest-deleted
links -again
host_does guest-back
check ping-e4-again ping -c 2 -W 5 198.51.100.1
check ping-e6-again ping -c 2 -W 5 203.0.113.1
host_does final-ping

# ---- the kernel said nothing bad ----
bad=$(dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|refcount_t|general protection|KASAN|UBSAN')
if [ -z "$bad" ]; then pass dmesg-clean; else fail dmesg-clean "$bad"; fi
