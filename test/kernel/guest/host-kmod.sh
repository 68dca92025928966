# Debian's kmod tools (depmod, modprobe, modinfo, insmod, rmmod, lsmod) from the host, for guest
# scripts (sourced): busybox's applets know no compressed modules, no -d, no --show-depends.
# Needs KMOD (the host's kmod binary under /host) and KMOD_LIBS (its library directories under /host),
# from test/kernel/kmod.ts hostKmodEnv(). kmod's libraries are not in the initramfs: they come from
# /host. Busybox sh prefers its own applets to PATH, so scripts call the tools as $K/<tool>.
K=/usr/local/kmod
mkdir -p $K/real
for t in depmod modprobe modinfo insmod rmmod lsmod; do
  ln -sf "$KMOD" $K/real/$t
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s/real/%s "$@"\n' "$KMOD_LIBS" $K $t >$K/$t
  chmod 755 $K/$t
done
export PATH=$K:$PATH
