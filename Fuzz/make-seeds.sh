#!/usr/bin/env bash
# (Re)makes the seed corpora in Fuzz/Corpus/HARNESS from real data: the recorded fixtures, the example
# configuration, heartbeats sealed by servha's own encoder, the admin requests. The fuzz binary makes each harness's
# seeds (FuzzSeeds.swift) when SERVHA_FUZZ_SEEDS names a directory. Run after a format change or new fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_BACKTRACE=enable=no
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(segment batch event heartbeat config admin dns http)
bin=$(Fuzz/build.sh)
for harness in "${harnesses[@]}"; do
    rm -rf "Fuzz/Corpus/$harness"
    SERVHA_ROOT=$PWD SERVHA_FUZZ_SEEDS=Fuzz/Corpus/$harness SERVHA_FUZZ_HARNESS=$harness "$bin/fuzz"
done
du -sh Fuzz/Corpus
