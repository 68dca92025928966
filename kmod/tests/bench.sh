# TCP throughput over eoip and eoipv6 against the plain veth beneath them and Linux's gretap,
# for comparing module versions (not part of the test suite). Namespaces A and B joined by a veth,
# tunnels e4 (eoip), e6 (eoipv6) and g4 (gretap) between them, iperf3 A -> B for 5 s each:
#   veth 192.0.2.2   e4 10.4.0.2   e6 10.6.0.2 (IPv4 over EoIPv6)   g4 10.44.0.2
# first at MTU 1500 (the RouterOS default: each full-sized frame leaves as two outer fragments),
# then e4/e6 at MTUs that need no outer fragments (1458, 1444). Markers `tcp-NAME KBITS`.
# With -icount guest time counts instructions, so the ratios do not depend on the host's load:
#   K=6.1.0-57-amd64; kmod/build.sh --kernel $K --tools
#   npx tsx test/kernel/run.ts --kernel $K --qemu='-icount shift=0,sleep=off' --timeout 400 \
#     --file /lab/eoip.ko=kmod/build/$K/eoip.ko --file /lab/eoipv6.ko=kmod/build/$K/eoipv6.ko \
#     --file /lab/eoipctl=kmod/tools/eoipctl kmod/tests/bench.sh
IP=/usr/sbin/ip
E=/lab/eoipctl
chmod +x $E
inA() { $IP netns exec A "$@"; }

check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko
$IP netns add A
$IP netns add B
$IP link add va netns A type veth peer name vb netns B
for side in A B; do
  if [ $side = A ]; then me=1; peer=2; dev=va; else me=2; peer=1; dev=vb; fi
  $IP -n $side link set lo up
  $IP -n $side addr add 192.0.2.$me/24 dev $dev
  $IP -n $side -6 addr add 2001:db8:e0::$me/64 dev $dev nodad
  $IP -n $side link set $dev up
  $IP netns exec $side $E add name e4 tid 100 local 192.0.2.$me remote 192.0.2.$peer keepalive none
  $IP netns exec $side $E add name e6 tid 1234 local 2001:db8:e0::$me remote 2001:db8:e0::$peer keepalive none
  $IP -n $side link add g4 type gretap local 192.0.2.$me remote 192.0.2.$peer
  $IP -n $side addr add 10.4.0.$me/24 dev e4
  $IP -n $side addr add 10.6.0.$me/24 dev e6
  $IP -n $side addr add 10.44.0.$me/24 dev g4
  for d in e4 e6 g4; do $IP -n $side link set $d up; done
done
$IP netns exec B /usr/bin/iperf3 -s -D -p 5201
sleep 1
for dst in 10.4.0.2 10.6.0.2 10.44.0.2; do inA ping -c 1 -W 5 $dst >/dev/null; done

# tcp NAME DST: iperf3's receiver bitrate in kbit/s
tcp() {
  _out=$(inA /usr/bin/iperf3 -c "$2" -p 5201 -t 5 -f k 2>&1)
  _k=$(printf '%s\n' "$_out" | grep receiver | tail -n 1 | sed -n 's/.* \([0-9.]*\) Kbits\/sec.*/\1/p')
  if [ -n "$_k" ]; then pass "tcp-$1" "$_k"; else fail "tcp-$1" "$_out"; fi
}
tcp veth 192.0.2.2
tcp eoip 10.4.0.2
tcp eoipv6 10.6.0.2
tcp gretap 10.44.0.2
for side in A B; do $IP -n $side link set e4 mtu 1458; $IP -n $side link set e6 mtu 1444; done
tcp eoip-nofrag 10.4.0.2
tcp eoipv6-nofrag 10.6.0.2
pass stats-e4 "$($IP -n A -s link show e4 | tr -s ' \n' ' ')"
