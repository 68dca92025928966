# Guest half of test/kernel/ebpf-interop.test.ts: the ebpf backend (greoip daemon in B, the host's node
# and dist/ over 9p, the programs of build/ loaded by the addon's libbpf) against eoip.ko/eoipv6.ko
# (links in A made with eoipctl), on this guest's kernel. Sourced after the lab prelude.
#
# Files: /lab/topology.sh, /lab/eoip.ko, /lab/eoipv6.ko, /lab/eoipctl, /lab/repo.
#   A: k4 eoip.ko tid 400 10.4.0.1/24      k6 eoipv6.ko tid 401 10.6.0.1/24
#   B: k4 ebpf    tid 400 10.4.0.2/24      k6 ebpf      tid 401 10.6.0.2/24
. /lab/topology.sh
REPO=/host$(cat /lab/repo)
NODE=/host/usr/bin/node
EOIP="$NODE $REPO/dist/cli/eoip.js"
GREOIP="$NODE $REPO/dist/cli/greoip.js"
export GREOIP_RUNTIME_DIR=/run/greoip
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }
chmod +x /lab/eoipctl

# `ip netns exec` mounts the namespace's own /sys: the daemon pins where every namespace sees it.
mkdir -p /run/greoip/bpffs
check bpffs mount -t bpf bpf /run/greoip/bpffs
check topology topology
check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko

# The objects pass this kernel's verifier (loaded as the daemon loads them, maps pinned by name).
check verifier $NODE --input-type=module -e "
  const { bpf } = await import('$REPO/dist/index.js'); const { EoipBpf } = bpf;
  const dp = EoipBpf.open('/run/greoip/bpffs');
  console.log('encap', dp.encapFd, 'decap', dp.decapFd, 'resend', dp.resendFd);
  dp.close();"
rm -f /run/greoip/bpffs/eoip_*

# The daemon first, answering before the first request (as an operator's systemd unit would).
inB $GREOIP daemon >/tmp/daemonB.log 2>&1 &
i=0; while ! inB $GREOIP status >/dev/null 2>&1 && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
check daemon-B inB $GREOIP status
check add-A-k4 inA /lab/eoipctl add name k4 tid 400 local $A4 remote $B4 keepalive 1,3
check add-A-k6 inA /lab/eoipctl add name k6 tid 401 local $A6 remote $B6 keepalive 1,3
check add-B-k4 inB $EOIP add name k4 tid 400 local $B4 remote $A4 mtu 1458 keepalive 1,3 backend ebpf
check add-B-k6 inB $EOIP add name k6 tid 401 local $B6 remote $A6 mtu 1444 keepalive 1,3 backend ebpf
for side in A B; do
  if [ $side = A ]; then me=1; else me=2; fi
  ip -n $side link set k4 mtu 1458 up
  ip -n $side link set k6 mtu 1444 up
  ip -n $side addr add 10.4.0.$me/24 dev k4
  ip -n $side addr add 10.6.0.$me/24 dev k6
done
pass list-B "$(inB $EOIP list --json)"

check ping-k4-A-to-B inA ping -c 3 -W 5 10.4.0.2
check ping-k6-A-to-B inA ping -c 3 -W 5 10.6.0.2
check ping-k4-B-to-A inB ping -c 3 -W 5 10.4.0.1
check ping-k6-B-to-A inB ping -c 3 -W 5 10.6.0.1
inA iperf3 -s -D -p 5201
sleep 1
for target in 10.4.0.1 10.6.0.1; do
  out=$(inB iperf3 -c $target -p 5201 -t 2 2>&1)
  line=$(printf '%s\n' "$out" | grep receiver | tail -1)
  if [ -n "$line" ]; then pass "iperf3-B-to-$target" "$line"; else fail "iperf3-B-to-$target" "$out"; fi
done
sleep 2
pass list-B-after "$(inB $EOIP list --json)"

# Removal leaves nothing: no pins, no filter on the underlay, no segmenter veth.
check cleanup-B inB $GREOIP cleanup
pass pins-left "$(find /run/greoip/bpffs -mindepth 1 | tr '\n' ' ')"
pass filters-left "$(ip netns exec B /usr/sbin/tc filter show dev vb ingress 2>&1 | tr '\n' ' ')"
check no-segmenter sh -c '! /usr/sbin/ip -n B link show | grep -q eseg'
check no-oops sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops"'
