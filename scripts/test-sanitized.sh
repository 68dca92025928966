#!/usr/bin/env bash
# The native addon built with AddressSanitizer and UndefinedBehaviorSanitizer
# (scripts/build-native-sanitized.sh) under every native and live test and the
# datapath fuzzer's hostile packets. Fails on a failed test and on any
# sanitizer report, from the test process or any child (daemons, CLIs): each
# process writes its reports to a file of its own, read back at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# (assigned first: a failed build stops here, where eval "$(...)" would go on with nothing set)
sanitized_env=$(bash scripts/build-native-sanitized.sh)
eval "$sanitized_env"
# (grep -c reads all of nm: grep -q would stop early and pipefail see nm killed by SIGPIPE.)
if [ "$(nm -D "$GREOIP_NATIVE_ADDON" | grep -c __asan_report_load)" -eq 0 ]; then
  echo "test-sanitized: $GREOIP_NATIVE_ADDON is not instrumented" >&2
  exit 1
fi
[ -f dist/cli/greoip.js ] || npm run --silent build

work=$(mktemp -d /tmp/greoip-sanitized.XXXXXX)
trap 'rm -rf "$work"' EXIT
# <prefix>.<pid> per process that reports: a child's report counts even when its test reads no stderr.
# (Writable by all: some tests run the CLI as an unprivileged user.)
chmod 755 "$work"
mkdir -m 1777 "$work/reports"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$work/reports/asan"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$work/reports/ubsan"
# The runtimes are preloaded into every process the tests start; they are for the addon, which only
# node loads. tshark hangs with them (its extcap helpers, run at start, never return): it runs without.
mkdir "$work/bin"
for tool in tshark; do
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$(command -v "$tool")" >"$work/bin/$tool"
  chmod 755 "$work/bin/$tool"
done
export PATH="$work/bin:$PATH"

log="$work/ava.log"
set +e
npx ava test/native/ test/live/ test/fuzz/datapath.test.ts 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
reports=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work"/reports/* 2>/dev/null || true)
if [ -n "$reports" ] || grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
  for f in $reports; do
    echo "--- $f" >&2
    cat "$f" >&2
  done
  echo "test-sanitized: a sanitizer reported an error" >&2
  exit 1
fi
exit "$status"
