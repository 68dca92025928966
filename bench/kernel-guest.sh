# Guest half of bench/kernel.mjs (kernel lab, test/kernel/lab.ts; sourced after its prelude).
#
# Namespaces A and B joined by the veth va/vb, and over it, between the same two namespaces:
#   path    device                        addresses            MTU (no outer fragments)
#   veth    va/vb                          192.0.2.1/2          1500
#   eoip    e4 (eoip.ko, tid 100)           10.4.0.1/2          1458 = 1500 - 20 IP - 8 EoIP - 14 Ethernet
#   eoipv6  e6 (eoipv6.ko, tid 200)         10.6.0.1/2          1444 = 1500 - 40 IPv6 - 2 EoIPv6 - 14
#   gretap  g4 (Linux's own ip_gre)         10.7.0.1/2          1462 = 1500 - 20 IP - 4 GRE - 14
#   gretap-nogso  g5 (ip_gre, key 5,        10.8.0.1/2          1458 = 1500 - 20 IP - 8 GRE+key - 14
#           gso and tso off: one outer packet per wire frame, as EoIP sends; the key makes
#           its header as long as EoIP's)
# Each round measures every path once, in turn (so slow drift hits all paths alike): iperf3 TCP
# A -> B for $SECS s (Mbit/s at the receiver), then UDP with $UDP_LEN-byte payloads sent as fast as
# iperf3 can (datagrams per second delivered to the receiver). Results are markers
#   m-<round>-<path>-tcp <Mbit/s>   m-<round>-<path>-udp <datagrams/s> <sent> <lost>
# and, per measurement, via-<round>-<path>-<test> when the traffic did cross that path's receiving
# device (its rx_bytes grew by at least the TCP bytes delivered, its rx_packets by the datagrams).
. /lab/bench.env   # ROUNDS SECS UDP_LEN PATHS
chmod +x /lab/eoipctl
E=/lab/eoipctl
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }

check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko

setup() {
  ip netns add A
  ip netns add B
  ip link add va netns A type veth peer name vb netns B
  for side in A B; do
    if [ $side = A ]; then me=1; peer=2; dev=va; else me=2; peer=1; dev=vb; fi
    ip -n $side link set lo up
    ip netns exec $side sh -c 'echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitations'
    ip -n $side addr add 192.0.2.$me/24 dev $dev
    ip -n $side -6 addr add 2001:db8:e0::$me/64 dev $dev nodad
    ip -n $side link set $dev up
    ip netns exec $side $E add name e4 tid 100 local 192.0.2.$me remote 192.0.2.$peer || return 1
    ip netns exec $side $E add name e6 tid 200 local 2001:db8:e0::$me remote 2001:db8:e0::$peer || return 1
    ip -n $side link add g4 type gretap local 192.0.2.$me remote 192.0.2.$peer || return 1
    ip -n $side link add g5 type gretap local 192.0.2.$me remote 192.0.2.$peer key 5 || return 1
    ip netns exec $side /usr/sbin/ethtool -K g5 gso off tso off || return 1
    for t in e4:1458:10.4.0 e6:1444:10.6.0 g4:1462:10.7.0 g5:1458:10.8.0; do
      d=${t%%:*}; rest=${t#*:}; mtu=${rest%%:*}; net=${rest#*:}
      ip -n $side link set $d mtu $mtu up || return 1
      ip -n $side addr add $net.$me/24 dev $d || return 1
    done
  done
}
check setup setup
# g5 really has no segmentation offload left (TSO's parts included), g4 keeps GSO.
check g5-no-gso sh -c "/usr/sbin/ip netns exec A /usr/sbin/ethtool -k g5 | grep -E '^(tcp-segmentation-offload|generic-segmentation-offload): off' | wc -l | grep -qx 2"
check g4-gso sh -c "/usr/sbin/ip netns exec A /usr/sbin/ethtool -k g4 | grep -q '^generic-segmentation-offload: on'"

# path -> "receiving device in B" and "B's address"
dev_of() { case $1 in veth) echo vb;; eoip) echo e4;; eoipv6) echo e6;; gretap) echo g4;; gretap-nogso) echo g5;; esac; }
addr_of() { case $1 in veth) echo 192.0.2.2;; eoip) echo 10.4.0.2;; eoipv6) echo 10.6.0.2;; gretap) echo 10.7.0.2;; gretap-nogso) echo 10.8.0.2;; esac; }
rx() { inB cat /sys/class/net/"$1"/statistics/rx_packets; }
rx_bytes() { inB cat /sys/class/net/"$1"/statistics/rx_bytes; }

for p in $PATHS; do
  check reach-$p inA ping -c 2 -W 5 "$(addr_of $p)"
done
inB /usr/bin/iperf3 -s -D -p 5201 >/dev/null 2>&1
sleep 1

tcp() { # round path
  _d=$(dev_of $2); _r0=$(rx_bytes $_d)
  _line=$(inA /usr/bin/iperf3 -c "$(addr_of $2)" -p 5201 -t "$SECS" -f m 2>&1)
  _r1=$(rx_bytes $_d)
  _rate=$(printf '%s\n' "$_line" | grep receiver | tail -1 | awk '{for(i=1;i<=NF;i++) if($i=="Mbits/sec") print $(i-1)}')
  if [ -z "$_rate" ]; then fail m-$1-$2-tcp "$_line"; return; fi
  pass m-$1-$2-tcp "$_rate"
  # Bytes, not packets: veth and gretap carry GSO superpackets. 0.95: iperf3 rounds its figure.
  _want=$(awk "BEGIN{printf \"%.0f\", $_rate * 1000000 / 8 * $SECS * 0.95}")
  if [ $((_r1 - _r0)) -ge "$_want" ]; then pass via-$1-$2-tcp "$((_r1 - _r0)) bytes >= $_want"
  else fail via-$1-$2-tcp "$_d rx grew $((_r1 - _r0)) bytes, expected >= $_want"; fi
}

udp() { # round path
  _d=$(dev_of $2); _r0=$(rx $_d)
  _line=$(inA /usr/bin/iperf3 -c "$(addr_of $2)" -p 5201 -t "$SECS" -u -b 0 -l "$UDP_LEN" 2>&1)
  _r1=$(rx $_d)
  # "... 0.012 ms  123/45678 (0.27%)  receiver": lost/sent
  _ls=$(printf '%s\n' "$_line" | grep receiver | tail -1 | awk '{for(i=1;i<=NF;i++) if($i ~ /^[0-9]+\/[0-9]+$/) print $i}')
  _secs=$(printf '%s\n' "$_line" | grep receiver | tail -1 | awk '{for(i=1;i<=NF;i++) if($i=="sec") {split($(i-1),a,"-"); print a[2]-a[1]}}')
  if [ -z "$_ls" ] || [ -z "$_secs" ]; then fail m-$1-$2-udp "$_line"; return; fi
  _lost=${_ls%/*}; _sent=${_ls#*/}
  _pps=$(awk "BEGIN{printf \"%.0f\", ($_sent - $_lost) / $_secs}")
  pass m-$1-$2-udp "$_pps $_sent $_lost"
  if [ $((_r1 - _r0)) -ge $((_sent - _lost)) ]; then pass via-$1-$2-udp "$((_r1 - _r0)) packets >= $((_sent - _lost))"
  else fail via-$1-$2-udp "$_d rx grew $((_r1 - _r0)), expected >= $((_sent - _lost))"; fi
}

r=1
while [ $r -le "$ROUNDS" ]; do
  for p in $PATHS; do
    tcp $r $p
    udp $r $p
  done
  echo "@@GREOIP ROUND $r $(cut -d' ' -f1 /proc/uptime)"
  r=$((r + 1))
done

# The modules leave cleanly with the tunnels up.
inB killall iperf3 2>/dev/null
check rmmod sh -c 'rmmod eoipv6 && rmmod eoip'
if dmesg | grep -Eq 'WARNING|BUG|Oops'; then fail kernel-log "$(dmesg | grep -E 'WARNING|BUG|Oops' | head -3)"
else pass kernel-log; fi
