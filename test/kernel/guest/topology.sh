# Two network namespaces joined by a veth, with a gre (gk4) and an ip6gre (gk6) tunnel between them.
# Sourced by guest scripts (test/kernel/lab.ts prelude first). A is the router, B the greoip side.
#   underlay  va 192.0.2.1 2001:db8:e0::1  <->  vb 192.0.2.2 2001:db8:e0::2
#   gk4 (gre)     198.51.100.1/30            <->  198.51.100.2/30
#   gk6 (ip6gre)  203.0.113.1/30 2001:db8:f6::1/64 <-> 203.0.113.2/30 2001:db8:f6::2/64
# Names gk4/gk6, never gre0: the gre module creates a fallback gre0 in every namespace.
A4=192.0.2.1
B4=192.0.2.2
A6=2001:db8:e0::1
B6=2001:db8:e0::2

topology() {
  ip netns add A
  ip netns add B
  for side in A B; do
    ip -n $side link set lo up
    # Quiet tunnels: no router solicitations from the devices made below.
    ip netns exec $side sh -c 'echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitations'
  done
  ip link add va netns A type veth peer name vb netns B
  for side in A B; do
    if [ $side = A ]; then me=1; peer=2; dev=va; else me=2; peer=1; dev=vb; fi
    ip -n $side addr add 192.0.2.$me/24 dev $dev
    ip -n $side -6 addr add 2001:db8:e0::$me/64 dev $dev nodad
    ip -n $side link set $dev up
    ip -n $side link add gk4 type gre local 192.0.2.$me remote 192.0.2.$peer
    ip -n $side addr add 198.51.100.$me/30 dev gk4
    ip -n $side link set gk4 up
    ip -n $side link add gk6 type ip6gre local 2001:db8:e0::$me remote 2001:db8:e0::$peer
    ip -n $side addr add 203.0.113.$me/30 dev gk6
    ip -n $side -6 addr add 2001:db8:f6::$me/64 dev gk6 nodad
    ip -n $side link set gk6 up
    # The point of the project: keepalives answered without accept_local anywhere.
    ip netns exec $side sh -c 'for f in /proc/sys/net/ipv4/conf/*/accept_local; do echo 0 > $f; done'
  done
}

# accept_local NS DEV: the value read back from /proc
accept_local() {
  ip netns exec "$1" cat "/proc/sys/net/ipv4/conf/$2/accept_local"
}
