# Guest half of test/kernel/keepalive.test.ts ($NODE is set in front of this script by the test).
. /lab/topology.sh
check topology topology
for side in A B; do
  for c in all default va vb gk4 gk6; do
    ip netns exec $side test -e /proc/sys/net/ipv4/conf/$c || continue
    expect_eq accept_local-$side-$c 0 "$(accept_local $side $c)"
  done
done
# Warm the neighbour caches so the first request is not lost to ARP/ND under TCG's slowness.
ip netns exec A ping -c 1 -W 5 192.0.2.2 >/dev/null
ip netns exec A ping -6 -c 1 -W 5 2001:db8:e0::2 >/dev/null
ip netns exec A "$NODE" /lab/keepalive-driver.mjs /lab/plan.json
