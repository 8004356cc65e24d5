#!/usr/bin/env bash
# Builds the fuzz binary (libFuzzer and AddressSanitizer) into .build-fuzz (or $FUZZ_SCRATCH, so that a second
# build can run while a long fuzzing run uses the first's binary) and prints the directory it is in.
# Used by Fuzz/run.sh and Fuzz/make-seeds.sh; the build's own output goes to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
# One -sanitize=fuzzer,address: SwiftPM's --sanitize=fuzzer --sanitize=address passes two -sanitize= flags to
# swiftc, and swiftc keeps only the last, so the Swift code got no coverage instrumentation (docs/fuzzing.md).
build=(swift build --package-path Fuzz --scratch-path "$PWD/${FUZZ_SCRATCH:-.build-fuzz}" -c release
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)
"${build[@]}" >&2
"${build[@]}" --show-bin-path
