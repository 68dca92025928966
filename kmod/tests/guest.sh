# Guest half of test/kernel/eoip-kmod.test.ts: eoip.ko and eoipv6.ko on Debian's 6.1 kernel
# (kernel lab, test/kernel/lab.ts; sourced after its prelude, which defines pass/fail/check).
#
# Files the host puts in the initramfs:
#   /lab/topology.sh (test/kernel/guest/topology.sh)   /lab/eoip.ko /lab/eoipv6.ko
#   /lab/eoipctl (kmod/tools)   /lab/pkt (kmod/tests)   /lab/mod/{slhc,ppp_generic,pppox,pptp}.ko
#
# Namespaces A and B joined by veth va/vb carry the stock gre gk4 / ip6gre gk6 tunnels of
# topology.sh, and next to them:
#   e4 (eoip, tid 100)    10.4.0.1/24                      <-> 10.4.0.2/24
#   e6 (eoipv6, tid 1234) 10.6.0.1/24 2001:db8:66::1/64    <-> 10.6.0.2/24 2001:db8:66::2/64
# Captured packets are printed as `cap4-N` / `cap6-N` markers (`in|out HEX`, from the IP header on)
# for the host to decode with src/wire.
. /lab/topology.sh
E=/lab/eoipctl
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }

# expect_fail NAME PATTERN CMD...: PASS when CMD fails and its output (the kernel's extack) says PATTERN.
expect_fail() {
  _n=$1; _p=$2; shift 2
  if _out=$("$@" 2>&1); then fail "$_n" "succeeded: $_out"
  elif printf '%s' "$_out" | grep -q -- "$_p"; then pass "$_n" "$_out"
  else fail "$_n" "no '$_p' in: $_out"; fi
}

# wait_carrier NS DEV VALUE SECONDS: until /sys says carrier VALUE; prints how long it took, in ms
# of the guest's clock (not loop turns: under TCG on a busy host one turn can take far more than
# its 0.1 s sleep).
uptime_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
wait_carrier() {
  _t0=$(uptime_ms)
  while [ $(($(uptime_ms) - _t0)) -lt $(($4 * 1000)) ]; do
    if [ "$(ip netns exec "$1" cat /sys/class/net/"$2"/carrier 2>/dev/null)" = "$3" ]; then
      echo $(($(uptime_ms) - _t0)); return 0
    fi
    sleep 0.1
  done
  echo $(($(uptime_ms) - _t0)); return 1
}

# capture NS IFACE PROTO MS FILE [COUNT]: `pkt cap` (up to COUNT packets, 200) in the background,
# returned once it listens.
capture() {
  rm -f "$5" "$5.err"
  ip netns exec "$1" /lab/pkt cap "$2" "$3" "${6:-200}" "$4" >"$5" 2>"$5.err" &
  _cap=$!
  _i=0
  while ! grep -q listening "$5.err" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
}

# tcp_transfer NAME URL: 4 MiB of random bytes B -> A over HTTP (busybox httpd/wget), compared by md5.
# (Not busybox nc: it stops sending early whatever the path.)
tcp_transfer() {
  rm -f /tmp/rx
  _t0=$(cut -d' ' -f1 /proc/uptime)
  if ! _out=$(ip netns exec A timeout 60 wget -q -O /tmp/rx "$2" 2>&1); then fail "$1" "wget: $_out"; return; fi
  _t1=$(cut -d' ' -f1 /proc/uptime)
  _got=$(md5sum </tmp/rx | cut -d' ' -f1)
  if [ "$_got" = "$want" ]; then pass "$1" "4 MiB in $_t0..$_t1 s"
  else fail "$1" "got $(wc -c </tmp/rx) bytes, md5 $_got"; fi
}

rx() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/rx_packets; }

# The harness copies binaries without the x bit.
chmod +x /lab/eoipctl /lab/pkt

check topology topology
inA ping -c 1 -W 5 $B4 >/dev/null
inA ping -6 -c 1 -W 5 $B6 >/dev/null

# ---- loading next to gre, ip_gre, ip6_gre and pptp ----
check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko
# pptp after eoip: gre.ko's GRE version-1 slot is still free (the old eoip module took it).
for m in slhc ppp_generic pppox pptp; do
  check insmod-$m insmod /lab/mod/$m.ko
done
check modules-coexist sh -c 'for m in gre ip_gre ip6_gre pptp eoip eoipv6; do
  grep -q "^$m " /proc/modules || { echo "$m not loaded"; exit 1; }; done'

# ---- validation: extack messages name the attribute ----
expect_fail reject-tid-range IFLA_GRE_IKEY inA $E add name bad tid 70000 remote $B4
expect_fail reject-tid6-range IFLA_GRE_IKEY inA $E add name bad tid 4096 remote $B6
expect_fail reject-no-remote IFLA_GRE_REMOTE inA $E add name bad tid 1
expect_fail reject-no-tid IFLA_GRE_IKEY inA $E add name bad remote $B4
expect_fail reject-multicast IFLA_GRE_REMOTE inA $E add name bad tid 1 remote 224.0.0.1
expect_fail reject-interval IFLA_EOIP_KA_INTERVAL inA $E add name bad tid 1 remote $B4 keepalive 3601
expect_fail reject-retries IFLA_EOIP_KA_RETRIES inA $E add name bad tid 1 remote $B4 keepalive 10,0
expect_fail reject-link IFLA_GRE_LINK inA $E add name bad tid 1 remote $B4 link 999

# ---- tunnels ----
for side in A B; do
  if [ $side = A ]; then me=1; peer=2; else me=2; peer=1; fi
  check add-e4-$side ip netns exec $side $E add name e4 tid 100 local 192.0.2.$me remote 192.0.2.$peer keepalive 1,3
  check add-e6-$side ip netns exec $side $E add name e6 tid 1234 local 2001:db8:e0::$me remote 2001:db8:e0::$peer keepalive 1,3
  ip -n $side addr add 10.4.0.$me/24 dev e4
  ip -n $side addr add 10.6.0.$me/24 dev e6
  ip -n $side -6 addr add 2001:db8:66::$me/64 dev e6 nodad
  ip -n $side link set e4 up
  ip -n $side link set e6 up
done
expect_fail reject-duplicate "already has this remote" inA $E add name dup tid 100 local $A4 remote $B4
list=$(inA $E list)
expect_eq list-e4 "e4 kind eoip tunnel-id 100 local 192.0.2.1 remote 192.0.2.2 ttl 255 tos 0 link 0 keepalive 1,3 mtu 1500 up carrier 1" \
  "$(printf '%s\n' "$list" | grep '^e4 ')"
expect_eq list-e6 "e6 kind eoipv6 tunnel-id 1234 local 2001:db8:e0::1 remote 2001:db8:e0::2 ttl 255 tos 0 link 0 keepalive 1,3 mtu 1500 up carrier 1" \
  "$(printf '%s\n' "$list" | grep '^e6 ')"
check iproute2-sees-kind sh -c '/usr/sbin/ip -n A -d link show e4 | grep -q "eoip"'

# ---- kernel <-> kernel over eoip and eoipv6, stock gre and ip6gre at the same time ----
capture A va 47 4000 /tmp/cap4
check ping-e4 inA ping -c 3 -W 5 10.4.0.2
wait $_cap
capture A va 97 4000 /tmp/cap6
check ping-e6-ipv4 inA ping -c 3 -W 5 10.6.0.2
check ping-e6-ipv6 inA ping -6 -c 3 -W 5 2001:db8:66::2
wait $_cap
i=0; while read -r line; do i=$((i + 1)); pass cap4-$i "$line"; done </tmp/cap4
i=0; while read -r line; do i=$((i + 1)); pass cap6-$i "$line"; done </tmp/cap6
check wire-e4-keepalive grep -Eq '^out 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}c0000201c00002022001640000006400$' /tmp/cap4
check wire-e4-data grep -Eq '^out 4500[0-9a-f]{8}0000ff2f[0-9a-f]{4}c0000201c000020220016400[0-9a-f]{4}6400' /tmp/cap4
# 2001:db8:e0::1 -> ::2, payload length 2, next header 97 (0x61), hop limit 255, tid 1234 -> 43 d2
check wire-e6-keepalive grep -Eq '^out 6[0-9a-f]{7}000261ff20010db800e00000000000000000000120010db800e00000000000000000000243d2$' /tmp/cap6
check ping-gk4-alongside inA ping -c 2 -W 5 198.51.100.2
check ping-gk6-alongside inA ping -c 2 -W 5 203.0.113.2
# 1472 data bytes: 1514-byte frames, outer packets of 1542 (eoip) / 1556 (eoipv6) bytes on a
# 1500-byte veth: fragmented by A's IP layer, reassembled by B's before the hook / handler.
check ping-e4-fragmented inA ping -c 2 -W 5 -s 1472 10.4.0.2
check ping-e6-fragmented inA ping -c 2 -W 5 -s 1472 10.6.0.2
check ping-e6-ipv6-fragmented inA ping -6 -c 2 -W 5 -s 1452 2001:db8:66::2
pass rx-counters "e4 $(rx B e4) e6 $(rx B e6)"

# ---- offloads: the devices take GSO superpackets and partial checksums and finish them ----
for dev in e4 e6; do
  expect_eq features-$dev "sg on tx-csum on tso on gso on" "$(inA /lab/pkt features $dev)"
done
# In hw_features, so they can be turned off (`ethtool -K e4 tx off`); TSO goes with the checksum.
expect_eq features-csum-off "sg on tx-csum off tso off gso on" "$(inA /lab/pkt features e4 tx-csum off)"
expect_eq features-csum-on "sg on tx-csum on tso on gso on" "$(inA /lab/pkt features e4 tx-csum on)"

# TCP: superpackets reach eoip_xmit, which segments them itself (skb_gso_segment under it, seen
# by the function graph tracer); GRO after receive. The data flows B -> A: B's outgoing EoIP
# packets (outer fragments included) are printed as gso4-N, gso6-N and gso66-N markers; the host
# reassembles them and checks every frame's length field and inner TCP checksum.
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=4096 2>/dev/null
want=$(md5sum </tmp/www/blob | cut -d' ' -f1)
ip netns exec B httpd -p 8080 -h /tmp/www
T=/sys/kernel/debug/tracing
echo eoip_xmit >$T/set_graph_function && echo 2 >$T/max_graph_depth && echo function_graph >$T/current_tracer
capture B vb 47 30000 /tmp/gso4 80
tcp_transfer tcp-e4 http://10.4.0.2:8080/blob
wait $_cap
echo 0 >$T/tracing_on
n=$(grep -c __skb_gso_segment $T/trace)
if [ "$n" -gt 0 ]; then pass gso-in-eoip-xmit "$n"; else fail gso-in-eoip-xmit "no skb_gso_segment under eoip_xmit"; fi
# (Changing the tracer empties the buffer: read it first.)
echo nop >$T/current_tracer && echo >$T/set_graph_function && echo 1 >$T/tracing_on
capture B vb 97 30000 /tmp/gso6 80
tcp_transfer tcp-e6-ipv4 http://10.6.0.2:8080/blob
wait $_cap
capture B vb 97 30000 /tmp/gso66 80
tcp_transfer tcp-e6-ipv6 'http://[2001:db8:66::2]:8080/blob'
wait $_cap
for c in gso4 gso6 gso66; do
  i=0; grep '^out ' /tmp/$c | while read -r line; do i=$((i + 1)); pass $c-$i "$line"; done
done

# UDP GSO (UDP_SEGMENT, which needs checksum offload on the route's device: EIO before the
# devices offered it): one 4000-byte superpacket in 1000-byte datagrams to a closed port on B.
# A's outgoing EoIP packets are printed as udp4-N / udp66-N markers for the host to check each
# datagram's checksum (B's UDP cannot be the judge: a checksum left partial would cross the veth
# still marked partial, and B would trust it); B's UDP counts 4 more NoPorts.
# udp_noports 4|6: B's NoPorts counter for UDP over IPv4 / IPv6
udp_noports() {
  if [ "$1" = 4 ]; then
    inB cat /proc/net/snmp | awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) f[$i] = i; h = 1 } else print $f["NoPorts"] }'
  else
    inB cat /proc/net/snmp6 | awk '$1 == "Udp6NoPorts" { print $2 }'
  fi
}
# udp_gso NAME DST 4|6 PROTO CAPTURE
udp_gso() {
  _before=$(udp_noports "$3")
  capture A va "$4" 2000 /tmp/"$5" 20
  if ! _out=$(inA /lab/pkt udp-gso "$2" 9 1000 4000 2>&1); then fail "$1" "$_out"; wait $_cap; return; fi
  wait $_cap
  _d=$(($(udp_noports "$3") - _before))
  if [ "$_d" -eq 4 ]; then pass "$1" "4 datagrams arrived"; else fail "$1" "NoPorts +$_d, wanted 4"; fi
  i=0; grep '^out ' /tmp/"$5" | while read -r line; do i=$((i + 1)); pass "$5-$i" "$line"; done
}
udp_gso udp-gso-e4 10.4.0.2 4 47 udp4
udp_gso udp-gso-e6-ipv6 2001:db8:66::2 6 97 udp66

# ---- receive checks on hand-made packets (A's raw sockets -> B's e4 tid 100 / e6 tid 1234) ----
# An ARP request (42 bytes) for nobody: B's e4/e6 count it received and ignore it.
ARP=ffffffffffff020000000001080600010800060400010200000000010a04004d0000000000000a040063
stat() { ip netns exec B cat /sys/class/net/"$1"/statistics/"$2"; }
# rx_check NAME DEV HEX_AFTER_IP PROTO DST DELIVERED LENGTH_ERRORS: sends one packet A -> B and compares
# how B's DEV counters moved: frames delivered (each counted as the 42 bytes of $ARP, so padding was
# trimmed) and length errors.
# The tunnels still carry the earlier pings' neighbour upkeep (ND/ARP probes a few seconds later):
# a counter window that catches one is measured again, up to three times.
rx_check() {
  for _try in 1 2 3; do
    _p0=$(stat "$2" rx_packets); _b0=$(stat "$2" rx_bytes); _l0=$(stat "$2" rx_length_errors)
    inA /lab/pkt send "$5" "$4" "$3"
    sleep 0.3
    _dp=$(($(stat "$2" rx_packets) - _p0)); _db=$(($(stat "$2" rx_bytes) - _b0))
    _dl=$(($(stat "$2" rx_length_errors) - _l0))
    if [ "$_dp" -eq "$6" ] && [ "$_db" -eq $((42 * $6)) ] && [ "$_dl" -eq "$7" ]; then
      pass "$1" "delivered $_dp ($_db bytes) length-errors $_dl (attempt $_try)"
      return
    fi
  done
  fail "$1" "delivered $_dp ($_db bytes) length-errors $_dl, wanted $6 (42 bytes each) $7"
}
# Quiet the tunnels first: no neighbour entries left to probe.
for ns in A B; do for dev in e4 e6; do ip -n $ns neigh flush dev $dev 2>/dev/null; done; done
rx_check rx4-padded-frame e4 20016400002a6400"$ARP"000000000000 47 $B4 1 0
rx_check rx4-short-frame e4 20016400000d6400"$(printf '%s' "$ARP" | cut -c1-26)" 47 $B4 0 1
rx_check rx4-frame-beyond-data e4 20016400002a6400"$(printf '%s' "$ARP" | cut -c1-60)" 47 $B4 0 1
rx_check rx4-padded-keepalive e4 2001640000006400000000000000000000000000000000000000 47 $B4 0 0
rx_check rx6-frame e6 43d2"$ARP" 97 $B6 1 0
rx_check rx6-short-frame e6 43d2"$(printf '%s' "$ARP" | cut -c1-26)" 97 $B6 0 1
rx_check rx6-not-version-3 e6 40d2"$ARP" 97 $B6 0 0

# ---- keepalive (RouterOS semantics, 1 s x 3 here) ----
expect_eq ka-up-A 1 "$(inA cat /sys/class/net/e4/carrier)"
check ka-peer-stops inB $E change name e4 keepalive none
if t=$(wait_carrier A e4 0 10); then pass ka-down-after-silence "${t}ms"; else fail ka-down-after-silence "carrier still on after ${t}ms"; fi
expect_eq ka-peer-none-carrier-on 1 "$(inB cat /sys/class/net/e4/carrier)"
# Sending continues while down: B sees A's keepalives arrive, two of them (one each second), looked for
# in windows of 2.5 s: a loaded host can stall this guest past one window (TCG), never past four.
n=0
for _w in 1 2 3 4; do
  capture B vb 47 2500 /tmp/capka
  wait $_cap
  n=$((n + $(grep -Ec '^in 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}c0000201c00002022001640000006400$' /tmp/capka)))
  [ "$n" -ge 2 ] && break
done
if [ "$n" -ge 2 ]; then pass ka-sends-while-down "$n in $_w window(s)"; else fail ka-sends-while-down "$n keepalives in 10 s"; fi
check ka-down-blocks-traffic sh -c '! ip netns exec A ping -c 1 -W 2 10.4.0.2'
check ka-peer-resumes inB $E change name e4 keepalive 1,3
if t=$(wait_carrier A e4 1 5); then pass ka-up-again "${t}ms"; else fail ka-up-again "carrier still off after ${t}ms"; fi
check ping-e4-after-ka inA ping -c 2 -W 5 10.4.0.2
# Never heard a keepalive: the carrier stays on (a peer configured !keepalive).
inA $E add name e4w tid 300 local $A4 remote $B4 keepalive 1,1
ip -n A link set e4w up
sleep 3
expect_eq ka-waiting-keeps-carrier 1 "$(inA cat /sys/class/net/e4w/carrier)"
inA $E del e4w
# keepalive none: nothing sent (B's still arrive), carrier on.
check ka-none-set inA $E change name e6 keepalive none
capture A va 97 2500 /tmp/capnone
wait $_cap
n=$(grep -Ec '^out 6[0-9a-f]{7}000261' /tmp/capnone)
expect_eq ka-none-sends-nothing 0 "$n"
expect_eq ka-none-carrier-on 1 "$(inA cat /sys/class/net/e6/carrier)"

# ---- changelink: new tunnel id on both ends (rehash), bad changes refused ----
check change-tid-A inA $E change name e4 tid 101
check change-tid-B inB $E change name e4 tid 101
check ping-e4-tid-101 inA ping -c 2 -W 5 10.4.0.2
expect_fail change-reject-tid IFLA_GRE_IKEY inA $E change name e6 tid 5000
expect_fail change-reject-link IFLA_GRE_LINK inA $E change name e4 link 999
# An address of the other family is the wrong length for the link's kind: the policy refuses it
# (exact length) and the link keeps its address.
expect_fail change-reject-long-local IFLA_GRE_LOCAL inA $E change name e4 local 2001:db8::9
expect_fail change-reject-short-remote IFLA_GRE_REMOTE inA $E change name e6 remote 192.0.2.9
check change-rejected-untouched sh -c "/usr/sbin/ip netns exec A $E list e4 | grep -q 'local $A4 ' && /usr/sbin/ip netns exec A $E list e6 | grep -q 'remote $B6 '"

# ---- the hook takes only what is ours ----
# B's raw IPPROTO_GRE socket sees what LOCAL_IN let through: the keepalives of a tunnel id B has no
# tunnel for (A's e4x, tid 555) reach it; those of e4 (tid 101, B's tunnel) were taken by the hook.
inA $E add name e4x tid 555 local $A4 remote $B4 keepalive 1,3
ip -n A link set e4x up
capture B raw4 47 2500 /tmp/capraw
wait $_cap
inA $E del e4x
n555=$(grep -Ec '^in 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}c0000201c0000202200164000000'2b02'$' /tmp/capraw)
n101=$(grep -Ec '^in 4500001c[0-9a-f]{4}0000ff2f[0-9a-f]{4}c0000201c0000202200164000000'6500'$' /tmp/capraw)
if [ "$n555" -ge 1 ]; then pass hook-passes-unknown-tid "$n555"; else fail hook-passes-unknown-tid "$(cat /tmp/capraw)"; fi
expect_eq hook-takes-own-tid 0 "$n101"

# ---- PPTP's GRE version 1 still reaches pptp with eoip loaded ----
# EoIP is GRE version 1 too (protocol 0x6400); the old eoip module took gre.ko's version-1 slot
# from pptp. Here A sends 5 PPTP enhanced-GRE packets (K and S set, version 1, protocol 0x880b,
# payload length 4, call id 1, sequence 1, an LCP header) to B, and ftrace counts how often
# pptp_rcv (the handler gre.ko dispatches version 1 to) runs in the meantime. No PPTP session
# exists, so pptp drops them after the lookup: what counts is that they got there.
T=/sys/kernel/debug/tracing
pptp_calls() {
  echo pptp_rcv > $T/set_ftrace_filter || return 1
  echo function > $T/current_tracer && echo > $T/trace && echo 1 > $T/tracing_on || return 1
  _i=0
  while [ $_i -lt 5 ]; do
    inA /lab/pkt send $B4 47 3001880b0004000100000001ff03c021 >/dev/null 2>&1 || return 1
    _i=$((_i + 1))
  done
  sleep 0.5
  echo 0 > $T/tracing_on
  grep -c 'pptp_rcv' $T/trace
  echo nop > $T/current_tracer
  echo > $T/set_ftrace_filter
}
rxerr_before=$(inB cat /sys/class/net/e4/statistics/rx_errors)
if n=$(pptp_calls 2>&1) && [ "$n" -ge 5 ]; then pass pptp-gre-v1-reaches-pptp "pptp_rcv ran $n times for 5 packets"
else fail pptp-gre-v1-reaches-pptp "pptp_rcv: $n"; fi
expect_eq pptp-gre-v1-not-eoip "$rxerr_before" "$(inB cat /sys/class/net/e4/statistics/rx_errors)"

# ---- a namespace dies with a tunnel in it (pernet exit) ----
ip netns add C
ip -n C link set lo up
check add-in-netns-C ip netns exec C $E add name ec tid 7 local 127.0.0.1 remote 127.0.0.2
ip -n C link set ec up
sleep 1
check netns-delete ip netns del C
sleep 1

# ---- unload with tunnels up and traffic flowing ----
inA ping -q -A 10.4.0.2 >/dev/null 2>&1 &
p1=$!
inA ping -q -A 10.6.0.2 >/dev/null 2>&1 &
p2=$!
inB ping -6 -q -A 2001:db8:66::1 >/dev/null 2>&1 &
p3=$!
before=$(rx B e4)
sleep 3
after=$(rx B e4)
if [ "$after" -gt "$before" ]; then pass traffic-flowing "$before -> $after"; else fail traffic-flowing "$before -> $after"; fi
check rmmod-eoip-busy rmmod eoip
check rmmod-eoipv6-busy rmmod eoipv6
kill $p1 $p2 $p3 2>/dev/null
wait $p1 $p2 $p3 2>/dev/null
check links-gone sh -c '! /usr/sbin/ip -n A link show e4 2>/dev/null && ! /usr/sbin/ip -n B link show e6 2>/dev/null'
check ping-gk4-after-unload inA ping -c 2 -W 5 198.51.100.2
check reload-eoip insmod /lab/eoip.ko
check reload-eoipv6 insmod /lab/eoipv6.ko
check rmmod-eoip-idle rmmod eoip
check rmmod-eoipv6-idle rmmod eoipv6

# ---- the kernel said nothing bad ----
pass dmesg-eoip "$(dmesg | grep -i eoip | tail -n 5)"
bad=$(dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|refcount_t|general protection|unregister_netdevice: waiting|KASAN|UBSAN')
if [ -z "$bad" ]; then pass dmesg-clean; else fail dmesg-clean "$bad"; fi
