# Guest half of test/kernel/probe.test.ts: `gre-keepalive probe` (the host's node and dist/ over 9p) on
# real gre and ip6gre devices, with and without keys. Sourced after the lab prelude.
#
# Files: /lab/topology.sh, /lab/repo (the repository's path on the host). Namespaces A and B
# (topology.sh) with gk4 (gre) and gk6 (ip6gre), plus keyed twins gk4k (gre key 77, 198.51.101.x/30)
# and gk6k (ip6gre key 77, 2001:db8:f7::x/64). A probes its four devices; B answers first with
# greoip's reflector (`gre-keepalive run`), then with Linux's own stack (accept_local=1, forwarding).
# Routes in A through gk4 and gk6 have backups through the underlay (metric 100).
. /lab/topology.sh
REPO=/host$(cat /lab/repo)
NODE=/host/usr/bin/node
GK="$NODE $REPO/dist/cli/gre-keepalive.js"
INTERVAL=2
RETRIES=2
TUNNELS="gk4 gk6 gk4k gk6k"
inA() { ip netns exec A "$@"; }
inB() { ip netns exec B "$@"; }

check topology topology
for side in A B; do
  if [ $side = A ]; then me=1; peer=2; else me=2; peer=1; fi
  ip -n $side link add gk4k type gre local 192.0.2.$me remote 192.0.2.$peer key 77
  ip -n $side addr add 198.51.101.$me/30 dev gk4k
  ip -n $side link add gk6k type ip6gre local 2001:db8:e0::$me remote 2001:db8:e0::$peer key 77
  ip -n $side -6 addr add 2001:db8:f7::$me/64 dev gk6k nodad
  ip -n $side link set gk4k up
  ip -n $side link set gk6k up
done
inA ip -6 addr add 2001:db8:f4::1/64 dev gk4 nodad
add_routes() {
  ip -n A route add 10.99.4.0/24 via 198.51.100.2 dev gk4 metric 10 &&
    ip -n A route add 10.99.4.0/24 via 192.0.2.2 metric 100 &&
    ip -n A -6 route add 2001:db8:99:6::/64 via 2001:db8:f6::2 dev gk6 metric 10 &&
    ip -n A -6 route add 2001:db8:99:6::/64 via 2001:db8:e0::2 metric 100 &&
    ip -n A route add 10.99.44.0/24 dev gk4k
}
check routes add_routes

# What the kernel says to IFLA_PROTO_DOWN on gre and ip6gre (the probe's first choice).
for dev in gk4 gk6; do
  if out=$(inA ip link set dev $dev protodown on 2>&1); then
    pass protodown-$dev supported
    inA ip link set dev $dev protodown off
  else
    pass protodown-$dev "unsupported: $out"
  fi
done

# The device each test route leaves by, e.g. "gk4 gk6" while the tunnels are up.
route_devs() {
  _d4=$(inA ip route get 10.99.4.1 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
  _d6=$(inA ip -6 route get 2001:db8:99:6::1 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
  echo "$_d4 $_d6"
}
# What a restore must bring back, one line per item (addresses and routes of A's tunnels).
snapshot() {
  for d in $TUNNELS; do
    inA ip -o addr show dev $d | awk -v d=$d '{print d, $3, $4}' | grep -v ' fe80:'
  done
  inA ip route show table main | grep -E 'dev gk' | grep -v 'proto kernel'
  inA ip -6 route show table main | grep -E 'dev gk' | grep -v 'proto kernel' | grep -v '^multicast'
}
# Uptime in centiseconds, without a fork: the polling below must leave the one emulated CPU to the prober.
centis() { read -r _u _rest </proc/uptime; echo "${_u%.*}${_u#*.}"; }
# wait_carrier up|down SECONDS SINCE: polls A's tunnels every 0.2 s; prints "dev=seconds" for each, from
# SINCE (centiseconds of uptime: when B stopped or started answering) to when its carrier (LOWER_UP) was
# seen in the state; status 1 when one was not within SECONDS.
wait_carrier() {
  _left=$TUNNELS; _out=""
  while [ -n "$_left" ]; do
    read -r _u _rest </proc/uptime
    _el=$(( ${_u%.*}${_u#*.} - $3 ))
    _secs="$((_el / 100)).$(printf %02d $((_el % 100)))"
    if [ $_el -gt $(($2 * 100)) ]; then echo "$_out timeout:$_left"; return 1; fi
    # One process per round: the names of A's links with carrier.
    _carrier=" $(ip -n A -o link show | awk '/LOWER_UP/ { sub(/[@:].*/, "", $2); printf "%s ", $2 }')"
    _next=""
    for d in $_left; do
      case "$_carrier" in *" $d "*) s=up ;; *) s=down ;; esac
      if [ $s = "$1" ]; then _out="$_out $d=$_secs"; else _next="$_next $d"; fi
    done
    _left=$_next
    sleep 0.2
  done
  echo $_out
}
# wait_log FILE TEXT SECONDS
wait_log() {
  _i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    _i=$((_i + 1)); [ $_i -gt $(($3 * 10)) ] && return 1; sleep 0.1
  done
}
# B as a router: forwarding on throughout (turning IPv6 forwarding on and off is itself a change that
# delays the first forwarded packets). The decapsulated request's source is B's own address, so IPv4
# drops it as a martian unless accept_local; IPv6 has no such check: what arrives on gk6/gk6k goes to
# table 100, a blackhole, unless B is answering.
router_b() {
  inB sysctl -qw net.ipv4.ip_forward=1 &&
    inB sysctl -qw net.ipv6.conf.all.forwarding=1 &&
    inB ip -6 route add blackhole default table 100 &&
    inB ip -6 rule add iif gk6 lookup 100 &&
    inB ip -6 rule add iif gk6k lookup 100
}
check router-b router_b
linux_answers() {
  for f in all gk4 gk4k; do inB sysctl -qw net.ipv4.conf.$f.accept_local=$1; done
  if [ "$1" = 1 ]; then
    inB ip -6 rule del iif gk6 lookup 100
    inB ip -6 rule del iif gk6k lookup 100
  else
    inB ip -6 rule add iif gk6 lookup 100
    inB ip -6 rule add iif gk6k lookup 100
  fi
}
# reflector NAME: starts `gre-keepalive run` in B (in this shell, not in check's $(...): a background
# process there would hold the substitution open) and reports NAME when it answers.
reflector() {
  # Started by path: a shell function sent to the background would be a subshell, and $! its pid.
  /usr/sbin/ip netns exec B $GK run --interval 0 --log-format text >/tmp/run.log 2>&1 &
  REFLECTOR=$!
  if wait_log /tmp/run.log 'answering keepalives' 120; then pass "$1"; else fail "$1" "$(cat /tmp/run.log)"; fi
  SINCE=$(centis)
}
# stop_reflector: SIGTERM, and SINCE = when it has exited (it answers until then).
stop_reflector() {
  kill $REFLECTOR; wait $REFLECTOR 2>/dev/null
  SINCE=$(centis)
}

BEFORE=$(snapshot)
expect_eq routes-through-tunnels "gk4 gk6" "$(route_devs)"

# ---- answered by greoip's reflector ----
reflector reflector-start
# prober LOG: starts `gre-keepalive probe` on A's four tunnels (by path, as reflector does).
prober() {
  # Text logs: short console markers (a long last line may not reach the host before poweroff).
  /usr/sbin/ip netns exec A $GK probe $TUNNELS --interval $INTERVAL --retries $RETRIES --log-format text \
    --on-down 'echo down $GRE_KEEPALIVE_DEVICE $GRE_KEEPALIVE_REMOTE >> /tmp/hooks' \
    --on-up 'echo up $GRE_KEEPALIVE_DEVICE >> /tmp/hooks' >"$1" 2>&1 &
  PROBER=$!
}
prober /tmp/probe.log
check probe-start wait_log /tmp/probe.log 'probing gk6k' 120
sleep $((INTERVAL * 2))
pass probe-start-log "$(grep probing /tmp/probe.log)"

stop_reflector
pass reflector-counters "$(grep '^replies sent' /tmp/run.log)"
if out=$(wait_carrier down 30 $SINCE); then pass down-reflector "$out"; else fail down-reflector "$out"; fi
expect_eq routes-avoid-down-tunnels "va va" "$(route_devs)"
check ping-fails-while-down sh -c '! ip netns exec A ping -c 1 -W 1 198.51.100.2'
pass kept-while-down "$(snapshot)"
reflector reflector-restart
if out=$(wait_carrier up 30 $SINCE); then pass up-reflector "$out"; else fail up-reflector "$out"; fi
expect_eq routes-back-through-tunnels "gk4 gk6" "$(route_devs)"
expect_eq restored-after-up "$BEFORE" "$(snapshot)"
check ping-through-gk4 inA ping -c 1 -W 2 198.51.100.2
check ping-through-gk6k inA ping -6 -c 1 -W 2 2001:db8:f7::2

# ---- answered by Linux itself (accept_local=1 on B) ----
stop_reflector
if out=$(wait_carrier down 30 $SINCE); then pass down-again "$out"; else fail down-again "$out"; fi
linux_answers 1
SINCE=$(centis)
if out=$(wait_carrier up 30 $SINCE); then pass up-linux "$out"; else fail up-linux "$out"; fi
expect_eq restored-after-linux-up "$BEFORE" "$(snapshot)"
linux_answers 0
SINCE=$(centis)
if out=$(wait_carrier down 30 $SINCE); then pass down-linux "$out"; else fail down-linux "$out"; fi
expect_eq routes-avoid-down-tunnels-linux "va va" "$(route_devs)"

# ---- the prober is killed while the tunnels are down: the next one adopts them ----
kill -KILL $PROBER; wait $PROBER 2>/dev/null
expect_eq killed-leaves-them-down "va va" "$(route_devs)"
prober /tmp/probe2.log
check probe-restart wait_log /tmp/probe2.log 'probing gk6k' 120
pass adopted "$(grep 'as an earlier prober left it' /tmp/probe2.log)"
linux_answers 1
SINCE=$(centis)
if out=$(wait_carrier up 30 $SINCE); then pass up-adopted "$out"; else fail up-adopted "$out"; fi
expect_eq restored-after-adopted-up "$BEFORE" "$(snapshot)"
linux_answers 0
SINCE=$(centis)
if out=$(wait_carrier down 30 $SINCE); then pass down-adopted "$out"; else fail down-adopted "$out"; fi

# ---- the prober stops while the tunnels are down: it gives the devices back ----
kill -TERM $PROBER
SINCE=$(centis)
wait $PROBER 2>/dev/null
if out=$(wait_carrier up 30 $SINCE); then pass exit-restores "$out"; else fail exit-restores "$out"; fi
expect_eq restored-at-exit "$BEFORE" "$(snapshot)"
pass hooks "$(cat /tmp/hooks)"
pass probe-log "$(grep -E 'carrier|: (up|down) ' /tmp/probe.log)"
pass probe2-log "$(grep -E 'carrier|: (up|down) ' /tmp/probe2.log)"
