#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest:
# C unit tests, fuzz-corpus replays and the end-to-end tests (node:test), which
# start tessera and the demo origin themselves on ephemeral loopback ports.
#   tools/test.sh               the normal build (build/)
#   tools/test.sh --sanitize    the ASan + UBSan build (build-sanitize/)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/mkcert.sh >/dev/null
tools/build.sh "$@"
dir=build
[ "${1:-}" = "--sanitize" ] && dir=build-sanitize
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$dir" --output-on-failure -j2 --timeout 300
