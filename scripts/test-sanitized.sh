#!/usr/bin/env bash
# The native addon built with AddressSanitizer and UndefinedBehaviorSanitizer
# (scripts/build-native-sanitized.sh) under the tests that drive it hardest:
# every native test, the daemon's live tests, and the datapath fuzzer's
# hostile packets. (The rest of test/live adds tshark, iperf3 and timing
# bounds that a preloaded sanitizer runtime slows past their limits, and no
# addon path those files above do not already take.) Fails on a failed test
# and on any sanitizer report, even one from a child process.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash scripts/build-native-sanitized.sh)"
# (grep -c reads all of nm: grep -q would stop early and pipefail see nm killed by SIGPIPE.)
if [ "$(nm -D "$GREOIP_NATIVE_ADDON" | grep -c __asan_report_load)" -eq 0 ]; then
  echo "test-sanitized: $GREOIP_NATIVE_ADDON is not instrumented" >&2
  exit 1
fi
[ -f dist/cli/greoip.js ] || npm run --silent build

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
npx ava test/native/ test/live/daemon.test.ts test/fuzz/datapath.test.ts 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if grep -Eq 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$log"; then
  echo "test-sanitized: a sanitizer reported an error" >&2
  exit 1
fi
exit "$status"
