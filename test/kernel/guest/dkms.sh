# Guest half of test/kernel/dkms.test.ts: the modules `greoip kmod install --dkms` installed on the
# host for this kernel (/host/lib/modules/<release>/updates/dkms/) load with Debian's modprobe through
# the host's own modules.dep (modprobe -d /host), carry greoip's mark, and make a link.
# Files: /lab/kmod-env.sh, /lab/host-kmod.sh (guest/host-kmod.sh), /lab/eoipctl.
. /lab/kmod-env.sh
. /lab/host-kmod.sh
R=$(uname -r)
chmod +x /lab/eoipctl

check dkms-files sh -c "ls /host/lib/modules/$R/updates/dkms/eoip.ko* /host/lib/modules/$R/updates/dkms/eoipv6.ko*"
for m in eoip eoipv6; do
  # The last insmod line is the module itself: the file modprobe picks from the host's index.
  pass resolves-$m "$($K/modprobe -d /host --show-depends $m 2>&1 | tail -n 1)"
  check modprobe-$m $K/modprobe -d /host $m
  check greoip-note-$m test -e /sys/module/$m/notes/.note.greoip
done
check link-eoip /lab/eoipctl add name d4 tid 7 remote 192.0.2.9
check link-eoipv6 /lab/eoipctl add name d6 tid 7 remote 2001:db8::9
pass links "$(/lab/eoipctl list | tr '\n' ';')"
check rmmod $K/rmmod eoipv6 eoip
check dmesg-clean sh -c '! dmesg | grep -E "WARNING|BUG|Oops|Call Trace"'
