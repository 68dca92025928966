#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) to build and test greoip:
# the Debian packages the tests use as oracles and tools, then the npm
# dependencies and the build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  tshark        # oracle: Wireshark's dissectors must read what we encode
  python3-scapy # oracle: packets built by scapy must decode as scapy reads them
  iproute2      # ip netns / veth for the live tests and greoip demo
  iputils-ping  # ping through the tunnels
  iperf3        # TCP through the tunnels
  g++ make python3 # build the native addon (node-gyp)
  # test/kernel: Debian's own 6.1 kernel booted under qemu (TCG) with a busybox initramfs, because the
  # host kernel may lack gre/ip6gre and loadable modules (docs/kernel-lab.md)
  qemu-system-x86      # qemu-system-x86_64 and qboot.rom
  linux-image-amd64    # /boot/vmlinuz-6.1* and its modules
  linux-headers-amd64  # out-of-tree modules (kmod/) build against it
  busybox-static       # the guest's userland
  kmod                 # modprobe --show-depends and depmod for the initramfs
  xz-utils             # unpacks the kernel image once
  bpftool              # in the guest: maps and program ids of the attached BPF programs
  # bpf/: the eBPF programs (npm run build:bpf); test/bpf/ loads and test-runs them with bpftool (above)
  clang llvm           # clang -target bpf
  libbpf-dev           # bpf/bpf_helpers.h, bpf_endian.h
  libc6-dev            # kmod/: libc.a for the static eoipctl and pkt that test/kernel copies into the guest
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build
