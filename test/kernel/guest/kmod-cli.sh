# Guest half of test/kernel/kmod-cli.test.ts: `greoip kmod status|install` on a Debian kernel
# (kernel lab, test/kernel/lab.ts; sourced after its prelude, which defines pass/fail/check/expect_eq).
#
# Files the host puts in the initramfs:
#   /lab/kmod-env.sh          NODE (the host's node under /host), GREOIP (dist/cli/greoip.js under /host),
#                             KMOD (the host's kmod binary under /host), KMOD_LIBS (its library directories)
#   /lab/host-kmod.sh         guest/host-kmod.sh: the host's kmod tools as $K/depmod, $K/modprobe, ...
#   /lab/prebuilt/eoip.ko, eoipv6.ko     built on the host by `greoip kmod build`
#   /lab/foreign/eoip.ko      kmod/tests/foreign: kind eoip, no greoip mark
#   /lab/fake-gre/gre.ko      kmod/tests/fake-gre: an out-of-tree gre
#
# Each greoip run is reported as two markers the host judges: `NAME <exit status> <stdout>` and
# `NAME-stderr <stderr>`, newlines written as \n.
. /lab/kmod-env.sh
R=$(uname -r)
M=/lib/modules/$R

. /lab/host-kmod.sh
check kmod-tools sh -c "$K/depmod --version | grep -q '^kmod version'"
# The kernel autoloads (ip link add ... type eoip) through /proc/sys/kernel/modprobe: the real one too.
echo $K/modprobe >/proc/sys/kernel/modprobe

enc() { awk '{ printf "%s\\n", $0 }'; }
g() {
  _n=$1; shift
  "$NODE" "$GREOIP" "$@" >/tmp/g.out 2>/tmp/g.err
  _s=$?
  echo "@@GREOIP PASS $_n $_s $(enc </tmp/g.out)"
  echo "@@GREOIP PASS $_n-stderr $(enc </tmp/g.err)"
}
loaded() { grep -q "^$1 " /proc/modules; }
ours() { [ -f "/sys/module/$1/notes/.note.greoip" ]; }

# 1. Nothing installed.
g before-json kmod status --json
g before kmod status

# 2. Install the host-built modules.
g install kmod install --prebuilt /lab/prebuilt
check installed-files test -f $M/updates/greoip/eoip.ko -a -f $M/updates/greoip/eoipv6.ko
expect_eq modules-dep "updates/greoip/eoip.ko: updates/greoip/eoipv6.ko:" \
  "$(grep -E '^updates/greoip/eoip(v6)?\.ko:' $M/modules.dep | sort | tr '\n' ' ' | sed 's/ $//')"
check modules-alias grep -q '^alias rtnl-link-eoipv6 eoipv6$' $M/modules.alias
check loaded-ours sh -c "grep -q '^eoip ' /proc/modules && grep -q '^eoipv6 ' /proc/modules && \
  [ -f /sys/module/eoip/notes/.note.greoip ] && [ -f /sys/module/eoipv6/notes/.note.greoip ]"
g installed-json kmod status --json
g installed kmod status

# The kernel loads eoipv6 by itself for `ip link add ... type eoipv6` (alias rtnl-link-eoipv6, written by
# depmod from our modinfo). The link is refused for want of a remote; the module stays.
$K/rmmod eoipv6
ip link add e6 type eoipv6 >/tmp/autoload.out 2>&1
if loaded eoipv6 && ours eoipv6; then pass autoload-eoipv6 "$(oneline "$(cat /tmp/autoload.out)")"
else fail autoload-eoipv6 "not loaded: $(oneline "$(cat /tmp/autoload.out)")"; fi

# 3. A foreign eoip (the old project's stand-in) in place of ours.
check rmmod-ours $K/rmmod eoip
check insmod-foreign $K/insmod /lab/foreign/eoip.ko
check foreign-owns-kind sh -c '/usr/sbin/ip link add f0 type eoip && /usr/sbin/ip link del f0'
g foreign-json kmod status --json
g foreign kmod status
before=$(stat -c '%i %Y' $M/updates/greoip/eoip.ko $M/updates/greoip/eoipv6.ko | tr '\n' ' ')
g refuse kmod install --prebuilt /lab/prebuilt
expect_eq refuse-untouched "$before" "$(stat -c '%i %Y' $M/updates/greoip/eoip.ko $M/updates/greoip/eoipv6.ko | tr '\n' ' ')"
if loaded eoip && ! ours eoip; then pass refuse-foreign-still-loaded; else fail refuse-foreign-still-loaded "$(cat /proc/modules)"; fi
g force kmod install --prebuilt /lab/prebuilt --force
if loaded eoip && ours eoip; then pass force-ours-loaded; else fail force-ours-loaded "$(ls /sys/module/eoip/notes 2>&1)"; fi
g forced-json kmod status --json

# 4. An out-of-tree gre in place of Debian's: loaded, then also on disk where modprobe finds it first.
check rmmod-gre-stack $K/rmmod ip6_gre ip_gre gre
check insmod-fake-gre $K/insmod /lab/fake-gre/gre.ko
check fake-gre-taint-O grep -q O /sys/module/gre/taint
g gre-json kmod status --json
g gre kmod status
mkdir -p $M/updates && cp /lab/fake-gre/gre.ko $M/updates/gre.ko
check depmod-fake-gre $K/depmod -a "$R"
g gre-file-json kmod status --json

if dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace' >/tmp/dmesg.bad; then fail dmesg-clean "$(oneline "$(cat /tmp/dmesg.bad)")"
else pass dmesg-clean; fi
