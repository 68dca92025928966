#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer and UndefinedBehaviorSanitizer
# into build/native-sanitized/ (the regular build in native/build/ stays as it
# is), and prints the environment that runs a command against it:
#
#   eval "$(npm run --silent build:native:sanitized)"; npx ava test/native
#
# (through npm run, which puts its node-gyp on PATH).
#
# GREOIP_NATIVE_ADDON selects the addon file (src/native/index.ts). node is not
# instrumented, so the sanitizer runtimes are preloaded (LD_PRELOAD) to come
# first; leak checking is off because node and V8 keep memory until exit by
# design. Any sanitizer report aborts the process (the test then fails).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/native-sanitized
rm -rf "$out"
mkdir -p "$out"
# Everything the addon builds from (binding.gyp, src/, its helper scripts), not its build output.
find native -mindepth 1 -maxdepth 1 ! -name build ! -name node_modules -exec cp -r {} "$out/" \;
flags='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1'
# The headers of the node that runs the tests when it ships them (as the regular install does,
# packaging/npm/build-addon.mjs): node-gyp would otherwise download them, and CI has no network
# and a fresh HOME without node-gyp's cache.
nodedir=$(dirname "$(dirname "$(command -v node)")")
gyp_args=()
[ -f "$nodedir/include/node/node_api.h" ] && gyp_args+=("--nodedir=$nodedir")
CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS='-fsanitize=address,undefined' \
  node-gyp rebuild --directory="$out" "${gyp_args[@]}" >&2

addon="$PWD/$out/build/Release/greoip.node"
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
echo "export GREOIP_NATIVE_ADDON='$addon'"
echo "export LD_PRELOAD='$preload'"
echo "export ASAN_OPTIONS='detect_leaks=0:abort_on_error=1:halt_on_error=1:symbolize=1'"
echo "export UBSAN_OPTIONS='halt_on_error=1:print_stacktrace=1'"
