# Guest half of test/kernel/lab.test.ts: two namespaces, real gre and ip6gre tunnels, accept_local 0,
# ping over both tunnels. Every check prints a PASS/FAIL marker.
. /lab/topology.sh
check topology topology
expect_eq kernel-booted "$LAB_KERNEL" "$(uname -r)"
pass kernel "$(uname -r)"
for side in A B; do
  check gk4-is-gre-$side sh -c "/usr/sbin/ip -n $side -d link show gk4 | grep -q 'gre remote'"
  check gk6-is-ip6gre-$side sh -c "/usr/sbin/ip -n $side -d link show gk6 | grep -q 'ip6gre remote'"
  for c in all default va vb gk4 gk6; do
    ip netns exec $side test -e /proc/sys/net/ipv4/conf/$c || continue
    expect_eq accept_local-$side-$c 0 "$(accept_local $side $c)"
  done
done
check ping-underlay ip netns exec A ping -c 1 -W 5 $B4
check ping-gk4 ip netns exec A ping -c 2 -W 5 198.51.100.2
check ping-gk6-ipv4 ip netns exec A ping -c 2 -W 5 203.0.113.2
check ping-gk6-ipv6 ip netns exec A ping -6 -c 2 -W 5 2001:db8:f6::2
# The packets really went through the tunnels: B's gk4/gk6 counted them.
rx4=$(ip netns exec B cat /sys/class/net/gk4/statistics/rx_packets)
rx6=$(ip netns exec B cat /sys/class/net/gk6/statistics/rx_packets)
if [ "$rx4" -ge 2 ]; then pass gk4-rx "$rx4"; else fail gk4-rx "B gk4 rx_packets $rx4"; fi
if [ "$rx6" -ge 4 ]; then pass gk6-rx "$rx6"; else fail gk6-rx "B gk6 rx_packets $rx6"; fi
# The harness reports failures and the script's status too.
fail selftest-fail "a deliberate failure"
exit 7
