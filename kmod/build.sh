#!/usr/bin/env bash
# Builds eoip.ko and eoipv6.ko with -Werror against kernel headers, one kernel at a time, each in its
# own copy of the sources: kmod/build/<kernel>/{eoip,eoipv6}.ko. Fails on any warning from the kernel
# build too (modpost's are not compiler errors).
#   kmod/build.sh                    for every installed headers tree (/lib/modules/*/build)
#   kmod/build.sh --kernel VERSION   for that kernel only (exact `uname -r`; repeatable)
#   KDIR=DIR kmod/build.sh           against that build tree only
#   kmod/build.sh --tools            also tools/eoipctl and tests/pkt (static, kernel-independent,
#                                    built in place, for the kernel lab)
#   kmod/build.sh --test-modules     also the stand-ins test/kernel/kmod-cli.test.ts loads, per kernel:
#                                    build/<kernel>/tests/foreign/eoip.ko (a foreign module of kind eoip)
#                                    and build/<kernel>/tests/fake-gre/gre.ko (an out-of-tree gre)
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kernels=() tools=0 test_modules=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) [ $# -ge 2 ] || usage; kernels+=("$2"); shift 2 ;;
    --tools) tools=1; shift ;;
    --test-modules) test_modules=1; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument $1" >&2; usage ;;
  esac
done

# kernel release -> build tree
declare -A trees=()
if [ -n "${KDIR:-}" ]; then
  release=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || true)
  if [ -z "$release" ]; then
    echo "build.sh: $KDIR is not a configured kernel build tree (no include/config/kernel.release)" >&2
    exit 1
  fi
  trees[$release]=$KDIR
elif [ ${#kernels[@]} -gt 0 ]; then
  for k in "${kernels[@]}"; do
    if [ ! -f "/lib/modules/$k/build/Makefile" ]; then
      echo "build.sh: no headers for kernel $k (/lib/modules/$k/build): apt-get install linux-headers-$k" >&2
      exit 1
    fi
    trees[$k]=/lib/modules/$k/build
  done
else
  for d in /lib/modules/*/build; do
    [ -f "$d/Makefile" ] && trees[$(basename "$(dirname "$d")")]=$d
  done
  if [ ${#trees[@]} -eq 0 ]; then
    echo "build.sh: no kernel headers installed: apt-get install linux-headers-amd64 (or set KDIR)" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Everything a module build reads (as src/module-manager/source.ts copies it).
sources=(*.c *.h Kbuild Makefile dkms.conf uapi)
for release in $(printf '%s\n' "${!trees[@]}" | sort -V); do
  kdir=${trees[$release]}
  out=build/$release
  # A copy per kernel: objects of another kernel never mix in. cp -a keeps the sources' times, so
  # make rebuilds only what changed since the last build for this kernel.
  mkdir -p "$out"
  cp -a "${sources[@]}" "$out/"
  status=0
  make -C "$kdir" M="$PWD/$out" modules 2>&1 | tee -a "$log" || status=$?
  if [ "$status" -eq 0 ] && [ "$test_modules" = 1 ]; then
    for dir in tests/foreign tests/fake-gre; do
      mkdir -p "$out/$dir"
      cp -a "$dir"/Kbuild "$dir"/*.c "$out/$dir/"
      make -C "$kdir" M="$PWD/$out/$dir" modules 2>&1 | tee -a "$log" || status=$?
    done
  fi
  if [ "$status" -ne 0 ]; then
    echo "build.sh: build failed for $release against $kdir" >&2
    exit "$status"
  fi
  echo "build.sh: built $out/eoip.ko and $out/eoipv6.ko against $kdir"
done
if [ "$tools" = 1 ]; then
  { make -C tools && gcc -Os -Wall -Wextra -Werror -static -o tests/pkt tests/pkt.c; } 2>&1 | tee -a "$log" ||
    { echo "build.sh: the tools failed to build" >&2; exit 1; }
fi
if grep -qi 'warning' "$log"; then
  echo "build.sh: the build printed warnings (above)" >&2
  exit 1
fi
