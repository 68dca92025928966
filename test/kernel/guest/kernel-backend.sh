# Guest half of test/kernel/kernel-backend.test.ts: the greoip CLI (the host's node and dist/, over
# 9p) drives eoip.ko/eoipv6.ko through the daemon's kernel backend. Sourced after the lab prelude.
#
# Files: /lab/topology.sh, /lab/eoip.ko, /lab/eoipv6.ko, /lab/eoipctl, /lab/repo (the repository's
# path on the host). Namespaces A and B (topology.sh), and in each:
#   k4 (eoip, tid 100)    10.4.0.x/24                   k6 (eoipv6, tid 1234) 10.6.0.x/24 2001:db8:66::x/64
. /lab/topology.sh
REPO=/host$(cat /lab/repo)
NODE=/host/usr/bin/node
EOIP="$NODE $REPO/dist/cli/eoip.js"
GREOIP="$NODE $REPO/dist/cli/greoip.js"
export GREOIP_RUNTIME_DIR=/run/greoip
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }
chmod +x /lab/eoipctl

# expect_fail NAME PATTERN CMD...: PASS when CMD fails and its output says PATTERN.
expect_fail() {
  _n=$1; _p=$2; shift 2
  if _out=$("$@" 2>&1); then fail "$_n" "succeeded: $_out"
  elif printf '%s' "$_out" | grep -q -- "$_p"; then pass "$_n" "$_out"
  else fail "$_n" "no '$_p' in: $_out"; fi
}
# wait_state NS NAME STATE SECONDS: until `eoip list --json` shows NAME in STATE; prints the seconds.
wait_state() {
  _s=0
  while [ $_s -lt "$4" ]; do
    if ip netns exec "$1" $EOIP list --json | tr -d ' \n' | sed 's/},{"config"/\n/g' |
      grep "\"name\":\"$2\"" | grep -q "\"state\":\"$3\""; then
      echo $_s; return 0
    fi
    sleep 1; _s=$((_s + 1))
  done
  echo $_s; return 1
}
daemon_pid() { ip netns exec "$1" sh -c 'cat /run/greoip/net-$(readlink /proc/self/ns/net | tr -dc 0-9)/daemon.pid'; }
# daemon_log NS: the JSON log of the daemon the CLI started in NS.
daemon_log() { ip netns exec "$1" sh -c 'cat /run/greoip/net-$(readlink /proc/self/ns/net | tr -dc 0-9)/daemon.log'; }
# log_count NS MSG TUNNEL: how many lines of NS's daemon log say MSG about TUNNEL (kernel backend).
log_count() { daemon_log "$1" | grep "\"msg\":\"$2\"" | grep "\"tunnel\":\"$3\"" | grep -c '"backend":"kernel"'; }

check topology topology

# ---- the module absent: refused with the way to load or install it; nothing created ----
expect_fail nomod-refused "modprobe eoip eoipv6" inA $EOIP add name k4 tid 100 remote $B4 backend kernel
check nomod-no-link sh -c '! /usr/sbin/ip -n A link show k4'
expect_eq nomod-nothing-listed "no tunnels" "$(inA $EOIP list)"

check insmod-eoip insmod /lab/eoip.ko
check insmod-eoipv6 insmod /lab/eoipv6.ko

# ---- tunnels made with the greoip CLI in both namespaces ----
for side in A B; do
  if [ $side = A ]; then me=1; peer=2; else me=2; peer=1; fi
  check add-k4-$side ip netns exec $side $EOIP add name k4 tid 100 local 192.0.2.$me remote 192.0.2.$peer keepalive 1,3 backend kernel
  check add-k6-$side ip netns exec $side $EOIP add name k6 tid 1234 local 2001:db8:e0::$me remote 2001:db8:e0::$peer keepalive 1,3 --backend kernel
  ip -n $side addr add 10.4.0.$me/24 dev k4
  ip -n $side addr add 10.6.0.$me/24 dev k6
  ip -n $side -6 addr add 2001:db8:66::$me/64 dev k6 nodad
done
check kinds sh -c '/usr/sbin/ip -n A -d link show k4 | grep -q "eoip " && /usr/sbin/ip -n A -d link show k6 | grep -q eoipv6'
pass eoipctl-view "$(inA /lab/eoipctl list)"

# ---- kernel <-> kernel traffic, stock gre alongside ----
check ping-k4 inA ping -c 3 -W 5 10.4.0.2
check ping-k6 inA ping -c 3 -W 5 10.6.0.2
check ping-k6-ipv6 inA ping -6 -c 3 -W 5 2001:db8:66::2
check ping-gk4-alongside inA ping -c 2 -W 5 198.51.100.2
inB iperf3 -s -D -p 5201
sleep 1
for target in 10.4.0.2 2001:db8:66::2; do
  out=$(inA iperf3 -c $target -p 5201 -t 3 2>&1)
  line=$(printf '%s\n' "$out" | grep receiver | tail -1)
  if [ -n "$line" ]; then pass "iperf3-$target" "$line"; else fail "iperf3-$target" "$out"; fi
done
# A userland tunnel beside them; the kernel's (remote, tid) cannot go to userland too.
check add-u7-userland inA $EOIP add name u7 tid 700 local $A4 remote $B4 keepalive none
expect_fail clash-refused "tunnel-id: 100 with remote 192.0.2.2 is already used by k4 (kernel)" \
  inA $EOIP add name u8 tid 100 local $A4 remote $B4
sleep 1
pass list-A "$(inA $EOIP list --json)"
pass table-A "$(inA $EOIP list)"
check del-u7 inA $EOIP del name u7

# ---- changes through the CLI reach the kernel ----
check set-mtu inA $EOIP set name k4 mtu 1400
expect_eq mtu-applied 1400 "$(inA cat /sys/class/net/k4/mtu)"
check peer-keepalive-none inB $EOIP set name k4 keepalive none
if s=$(wait_state A k4 down 10); then pass state-down "${s}s"; else fail state-down "not down after ${s}s"; fi
expect_eq carrier-off 0 "$(inA cat /sys/class/net/k4/carrier)"
sleep 2 # the daemon reads the links once a second
expect_eq carrier-down-logged-once 1 "$(log_count A 'carrier down' k4)"
check peer-keepalive-back inB $EOIP set name k4 keepalive 1,3
if s=$(wait_state A k4 up 10); then pass state-up-again "${s}s"; else fail state-up-again "not up after ${s}s"; fi
sleep 2
expect_eq carrier-up-logged-once 1 "$(log_count A 'carrier up' k4)"

# ---- a link made outside greoip with the same keys: the kernel's refusal, in the user's terms ----
check eoipctl-x4 inA /lab/eoipctl add name x4 tid 200 local $A4 remote $B4
expect_fail duplicate-refused "tunnel-id: the kernel refused k9: .*already has this remote, local and tunnel id" \
  inA $EOIP add name k9 tid 200 local $A4 remote $B4 backend kernel
check duplicate-no-link sh -c '! /usr/sbin/ip -n A link show k9'
inA /lab/eoipctl del x4

# ---- the daemon stops: kernel links keep forwarding; a new daemon takes them back ----
pid=$(daemon_pid A)
kill "$pid"
i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check daemon-stopped sh -c "! kill -0 $pid 2>/dev/null"
check ping-without-daemon inA ping -c 2 -W 5 10.4.0.2
inA $GREOIP daemon >/tmp/daemonA.log 2>&1 &
# greoip status fails until a daemon answers (eoip list does not: with no daemon it lists nothing).
i=0; while ! inA $GREOIP status >/dev/null 2>&1 && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
pass list-after-restart "$(inA $EOIP list --json)"
check ping-after-restart inA ping -c 2 -W 5 10.4.0.2

# ---- removal ----
check del-k6 inA $EOIP del name k6
check del-k6-gone sh -c '! /usr/sbin/ip -n A link show k6'
check cleanup-B inB $GREOIP cleanup
check cleanup-B-gone sh -c '! /usr/sbin/ip -n B link show k4 && ! /usr/sbin/ip -n B link show k6'
check del-k4 inA $EOIP del name k4
check rmmod rmmod eoipv6 eoip
check no-oops sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops"'
