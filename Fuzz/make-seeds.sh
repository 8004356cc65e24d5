#!/usr/bin/env bash
# (Re)makes the seed corpora in Fuzz/Corpus/HARNESS from real data: the recorded fixtures, the example
# configuration, heartbeats sealed by servha's own encoder, the admin requests. The fuzz binary makes each harness's
# seeds (FuzzSeeds.swift) when SERVHA_FUZZ_SEEDS names a directory. Run after a format change or new fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$PWD/.build-fuzz
export SWIFT_BACKTRACE=enable=no
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(segment batch event heartbeat config admin dns)
# One -sanitize=fuzzer,address: SwiftPM's --sanitize=fuzzer --sanitize=address passes two -sanitize= flags to
# swiftc, and swiftc keeps only the last, so the Swift code got no coverage instrumentation (docs/fuzzing.md).
build=(swift build --package-path Fuzz --scratch-path "$scratch" -c release
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)
"${build[@]}"
bin=$("${build[@]}" --show-bin-path)
for harness in "${harnesses[@]}"; do
    rm -rf "Fuzz/Corpus/$harness"
    SERVHA_ROOT=$PWD SERVHA_FUZZ_SEEDS=Fuzz/Corpus/$harness SERVHA_FUZZ_HARNESS=$harness "$bin/fuzz"
done
du -sh Fuzz/Corpus
