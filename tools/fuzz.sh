#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and runs each for SECONDS (default 60)
# from its committed corpus; a crash fails the run and leaves its input in
# build-fuzz/crashes/ (add it to the target's corpus/ once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
tools/deps.sh
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DBUILD_FUZZERS=ON >/dev/null
mkdir -p build-fuzz/crashes
for dir in tests/fuzz/*/; do
  name=$(basename "$dir")
  target=fuzz_$name
  [ -f "$dir/$target.c" ] || continue
  cmake --build build-fuzz --target "$target" -j"$(nproc)" >/dev/null
  work=$(mktemp -d)
  cp -r "$dir/corpus/." "$work/"
  dict=()
  [ -f "$dir/$name.dict" ] && dict=(-dict="$dir/$name.dict")
  echo "fuzz: $target for ${secs}s"
  build-fuzz/$target -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix=build-fuzz/crashes/ "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done
