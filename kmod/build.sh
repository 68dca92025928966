#!/usr/bin/env bash
# Builds eoip.ko and eoipv6.ko against Debian 12's 6.1 kernel headers (the
# newest /lib/modules/6.1.*-amd64/build, or KDIR=...), with -Werror, and fails
# on any warning from the kernel build too (modpost's are not compiler errors).
#   kmod/build.sh            modules only
#   kmod/build.sh --tools    also tools/eoipctl and tests/pkt (static, for the kernel lab)
#   kmod/build.sh --test-modules
#                            only the stand-ins test/kernel/kmod-cli.test.ts loads: tests/foreign/eoip.ko
#                            (a foreign module of kind eoip) and tests/fake-gre/gre.ko (an out-of-tree gre)
set -euo pipefail
cd "$(dirname "$0")"

if [ -z "${KDIR:-}" ]; then
  KDIR=$(ls -d /lib/modules/6.1.*-amd64/build 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$KDIR" ] || [ ! -d "$KDIR" ]; then
  echo "build.sh: no Debian 6.1 kernel headers: apt-get install linux-headers-amd64 (or set KDIR)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
if [ "${1:-}" = "--test-modules" ]; then
  built="tests/foreign/eoip.ko tests/fake-gre/gre.ko"
  for dir in tests/foreign tests/fake-gre; do
    make -C "$KDIR" M="$PWD/$dir" modules 2>&1 | tee -a "$log" || status=$?
  done
else
  built="eoip.ko eoipv6.ko"
  make KDIR="$KDIR" 2>&1 | tee "$log" || status=$?
  if [ "$status" -eq 0 ] && [ "${1:-}" = "--tools" ]; then
    { make -C tools && gcc -Os -Wall -Wextra -Werror -static -o tests/pkt tests/pkt.c; } 2>&1 | tee -a "$log" || status=$?
  fi
fi
if [ "$status" -ne 0 ]; then
  echo "build.sh: build failed against $KDIR" >&2
  exit "$status"
fi
if grep -qi 'warning' "$log"; then
  echo "build.sh: the build printed warnings (above)" >&2
  exit 1
fi
echo "build.sh: built $built against $KDIR"
