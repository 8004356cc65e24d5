#!/usr/bin/env bash
# Builds the fuzz harnesses (libFuzzer and AddressSanitizer) and runs each for FUZZ_SECONDS (default 60), one at a
# time, one worker, at the lowest priority. New crashes land in Fuzz/Crashes/HARNESS/ (replayed by
# Tests/FuzzChecksTests); new corpus entries in .build-fuzz/corpus/HARNESS (kept out of the repo; the seeds in
# Fuzz/Corpus/HARNESS are read, never written). Exits non-zero when a harness crashed.
# Usage: Fuzz/run.sh [HARNESS...]   (default: all). FUZZ_RUNS=N stops each harness after N executions instead
# of FUZZ_SECONDS; FUZZ_ARGS adds libFuzzer options.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$root/${FUZZ_SCRATCH:-.build-fuzz}
export SWIFT_BACKTRACE=enable=no  # the backtracer hangs under ASan; libFuzzer prints the stack
seconds=${FUZZ_SECONDS:-60}
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(segment batch event heartbeat config admin dns http)

bin=$(Fuzz/build.sh)

limit=(-max_total_time="$seconds")
[[ -n ${FUZZ_RUNS:-} ]] && limit=(-runs="$FUZZ_RUNS")
failed=()
for harness in "${harnesses[@]}"; do
    corpus=$scratch/corpus/$harness
    crashes=Fuzz/Crashes/$harness
    log=$scratch/logs/$harness.log
    mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
    echo "fuzz-$harness: ${FUZZ_RUNS:+$FUZZ_RUNS runs}${FUZZ_RUNS:-$seconds s}, log $log" >&2
    status=0
    # shellcheck disable=SC2086
    SERVHA_FUZZ_HARNESS=$harness nice -n 19 "$bin/fuzz" "${limit[@]}" -use_value_profile=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 ${FUZZ_ARGS:-} "$corpus" "Fuzz/Corpus/$harness" \
        >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+.*(DONE|pulse|NEW)' "$log" | tail -1 >&2 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" >&2 || true
    if ((status != 0)); then
        echo "fuzz-$harness: FAILED (exit $status); the input is in $crashes/, the report in $log:" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*harness: )' "$log" | head -5 >&2 || true
        failed+=("$harness")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: crashes in ${failed[*]}: fix them, and keep the inputs (Tests/FuzzChecksTests replays them)" >&2
    exit 1
fi
echo "fuzz: ${harnesses[*]}: no crash" >&2
