# gre-keepalive attach/status/detach (the CLI, run with the host's node over 9p) on real gre/ip6gre devices.
. /lab/topology.sh
topology


out=$(ip netns exec B $NODE $CLI attach gk4 2>&1) && pass attach-gre "$out" || fail attach-gre "$out"
ip -n B -d link show gk4 | grep -q "prog/xdp" && pass xdp-present || fail xdp-present "$(ip -n B -d link show gk4)"
cfg=$(ip netns exec B bpftool map dump name ka_config -j 2>&1 | tr -d ' \n')
echo "$cfg" | grep -q '"0xc0","0x00","0x02","0x02","0xc0","0x00","0x02","0x01"' && pass config-local-remote || fail config-local-remote "$cfg"
st=$(ip netns exec B $NODE $CLI status 2>&1); echo "$st" | grep -q "gk4: keepalive_gre (xdp (generic)" && pass status "$st" || fail status "$st"
ip netns exec B $NODE $CLI detach gk4 >/dev/null 2>&1 && pass detach || fail detach
out=$(ip netns exec B $NODE $CLI attach gk4 --reply plain 2>&1) && pass attach-plain "$out" || fail attach-plain "$out"
ip netns exec B tc filter show dev gk4 ingress | grep -q keepalive_tc && pass tc-present || fail tc-present "$(ip netns exec B tc filter show dev gk4 ingress)"
out=$(ip netns exec B $NODE $CLI attach gk6 2>&1) && pass attach-gre6 "$out" || fail attach-gre6 "$out"
ip netns exec B $NODE $CLI detach gk4 >/dev/null 2>&1 && pass detach-plain || fail detach-plain
ip netns exec B $NODE $CLI detach gk6 >/dev/null 2>&1 && pass detach-gre6 || fail detach-gre6
out=$(ip netns exec B $NODE $CLI attach gk4 --xdp native 2>&1); echo "$out" | grep -q "no native XDP" && pass native-refused "$out" || fail native-refused "$out"
