#!/usr/bin/env bash
# The floor under an idle daemon's CPU on this machine: two io-floor processes (scripts/io-floor.c), each making
# the system calls and thread hand-offs of one node of a pair at default timings and nothing else, on loopback
# like scripts/bench-steady.sh. What servha costs above this is its own work; what this costs is the machine's
# price for the protocol's input and output at these timings. Prints per process the CPU (% of one core, from
# the threads' schedstat) and one JSON line. Usage: scripts/bench-io-floor.sh [SECONDS] (default 60; needs cc or clang)
set -euo pipefail
SECONDS_TO_RUN=${1:-60}
WORK=$(mktemp -d /tmp/servha-io-floor-XXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# cc where there is one; else the clang the Swift toolchain ships.
CC=${CC:-$(command -v cc || command -v clang)} || { echo "bench-io-floor: no C compiler (cc or clang)" >&2; exit 1; }
"$CC" -O2 -pthread -o "$WORK/io-floor" "$(dirname "${BASH_SOURCE[0]}")/io-floor.c"
PORT=$((20000 + RANDOM % 20000))
# SECOND_AFTER_US=N: both tick on a shared grid, the second N µs after the first (unset: wherever they start).
# IO_FLOOR_NO_DSYNC=1 reaches both: slot writes without O_DSYNC.
first=() second=()
if [[ -n ${SECOND_AFTER_US:-} ]]; then first=(IO_FLOOR_TICK_OFFSET_US=0) second=(IO_FLOOR_TICK_OFFSET_US="$SECOND_AFTER_US"); fi
env "${first[@]}" "$WORK/io-floor" 127.0.0.1 127.0.0.2 "$PORT" "$WORK/a.slot" "$WORK/b.slot" &
PIDS+=($!)
env "${second[@]}" "$WORK/io-floor" 127.0.0.2 127.0.0.1 "$PORT" "$WORK/b.slot" "$WORK/a.slot" &
PIDS+=($!)
sleep 2
cpu_ns() { awk '{t += $1} END {printf "%d", t}' /proc/"$1"/task/*/schedstat; }
a0=$(cpu_ns "${PIDS[0]}")
b0=$(cpu_ns "${PIDS[1]}")
sleep "$SECONDS_TO_RUN"
a=$(awk -v d=$(($(cpu_ns "${PIDS[0]}") - a0)) -v s="$SECONDS_TO_RUN" 'BEGIN {printf "%.2f", d / s / 1e7}')
b=$(awk -v d=$(($(cpu_ns "${PIDS[1]}") - b0)) -v s="$SECONDS_TO_RUN" 'BEGIN {printf "%.2f", d / s / 1e7}')
echo "io floor over $SECONDS_TO_RUN s ($(nproc) CPUs, $(uname -r)): first $a %, second $b % of one core" >&2
echo "{\"bench\":\"io_floor\",\"seconds\":$SECONDS_TO_RUN,\"first_cpu_percent\":$a,\"second_cpu_percent\":$b}"
