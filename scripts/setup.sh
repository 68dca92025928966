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
  # test/kernel: Debian's own kernels (6.1 here, 6.12 below) booted under qemu (TCG) with a busybox
  # initramfs, because the host kernel may lack gre/ip6gre and loadable modules (docs/kernel-lab.md)
  qemu-system-x86      # qemu-system-x86_64 and qboot.rom
  linux-image-amd64    # /boot/vmlinuz-6.1* and its modules
  linux-headers-amd64  # out-of-tree modules (kmod/) build against it
  zstd                 # unpacks 6.12's kernel image (6.1's is xz)
  dkms                 # greoip kmod install --dkms, tested for both kernels
  busybox-static       # the guest's userland
  kmod                 # modprobe --show-depends and depmod for the initramfs
  xz-utils             # unpacks the kernel image once
  bpftool              # in the guest: maps and program ids of the attached BPF programs
  ethtool              # in the guest: tunnel devices' offloads (bench/kernel.mjs turns gretap's GSO off)
  # bpf/: the eBPF programs (npm run build:bpf); test/bpf/ loads and test-runs them with bpftool (above)
  clang llvm           # clang -target bpf
  libbpf-dev           # bpf/bpf_helpers.h, bpf_endian.h
  libc6-dev            # kmod/: libc.a for the static eoipctl and pkt that test/kernel copies into the guest
  # production (packaging/, test/systemd, test/metrics, test/packaging): the units, metrics and packages
  systemd              # systemd-analyze verify on the units (works where systemd is not PID 1)
  prometheus           # a real Prometheus scrapes the daemon and the reflector; promtool check metrics
  curl                 # reads the metrics endpoints and Prometheus's HTTP API inside test namespaces
  dpkg-dev debhelper dh-dkms # packaging/deb/build-dkms-deb.sh builds the greoip-dkms .deb with Debian's tools
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

# Debian 12's second kernel, 6.12 (linux-image-6.12.*+deb12-amd64 in the same archive): kmod/ and
# every kernel-lab suite run on it as on 6.1. The newest in the archive at setup time, unless a 6.12
# image and its headers are installed already (a second one would add a third lab kernel).
newest_612() {
  apt-cache pkgnames linux-image-6.12. | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | sort -V | tail -n 1
}
have_612=$(dpkg-query -W -f='${Package} ${Status}\n' 'linux-image-6.12.*+deb12-amd64' 2>/dev/null |
  awk '/ install ok installed$/ { print $1 }' | sort -V | tail -n 1 || true)
if [ -z "$have_612" ] ||
  ! dpkg-query -W -f='${Status}' "linux-headers-${have_612#linux-image-}" 2>/dev/null | grep -q 'install ok installed'; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install Debian's 6.12 kernel image and headers" >&2
    exit 1
  fi
  image=${have_612:-$(newest_612)}
  if [ -z "$image" ]; then
    apt-get update -qq
    image=$(newest_612)
  fi
  if [ -z "$image" ]; then
    echo "setup: no linux-image-6.12.*+deb12-amd64 in the apt sources (Debian 12 bookworm carries it)" >&2
    exit 1
  fi
  echo "setup: installing $image and linux-headers-${image#linux-image-}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$image" "linux-headers-${image#linux-image-}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build
