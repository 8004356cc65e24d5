#!/usr/bin/env bash
# Records which functions a running daemon executes, for the release link's code layout (scripts/release.order,
# read by `make release` through lld's --symbol-ordering-file).
#
# Why: the kernel maps up to 64 KiB of an executable around each page of code a process first touches. The few
# thousand functions a daemon runs (start-up, the pair's protocol, the guard) are spread over 26 MB of code in the
# static binary, so each daemon was resident in 13 MB of it. Laid out together at the front, they take about
# 1.5 MB. A function missing from the list (new code) is only placed after them, as before: the list going stale
# costs memory, never correctness.
#
# How: a pair on loopback (as scripts/bench-steady.sh runs it), each node in turn under callgrind (with the guard
# it starts): node-b joining a running node-a (the standby's side), then node-a starting alone, taking the group and
# being joined (the active's side). Every function callgrind saw is kept, in name order.
# Usage: scripts/record-code-layout.sh   (after `make release`; installs valgrind if missing; about 5 minutes)
set -euo pipefail
export LC_ALL=C # sort and comm agree on the order
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v valgrind >/dev/null || ! command -v objcopy >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind binutils >/dev/null
fi
[[ -x .build/release/servha ]] || { echo "record-code-layout: no release build (make release first)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/servha-layout-XXXX)
OUT=$WORK/pair
# shellcheck source=scripts/loopback-pair.sh
source scripts/loopback-pair.sh
PIDS=()
cleanup() {
    stop_pair
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
# valgrind cannot read the debug information lld writes; the symbol table is enough.
objcopy --strip-debug .build/release/servha "$WORK/servha"
SERVHA=$WORK/servha
UNDER_CALLGRIND=(valgrind --tool=callgrind --demangle=no --trace-children=yes
    "--trace-children-skip=/bin/*,/usr/bin/*,*/sh,*/true" "--callgrind-out-file=$WORK/callgrind.%p")

# One pair: node $1 under callgrind, started $2 (first or second); it runs for 60 s after both are up.
record() {
    local traced=$1 order=$2 other
    other=$([[ $traced == node-a ]] && echo node-b || echo node-a)
    rm -rf "$OUT"
    mkdir -p "$OUT"
    loopback_key
    idle_pair_configs layout
    local first=$traced second=$other
    [[ $order == second ]] && first=$other second=$traced
    start "$first" "$traced"
    wait_for 120 eval "[[ \$(role $first) == active ]]" || { echo "$first did not take the group" >&2; exit 1; }
    start "$second" "$traced"
    wait_for 120 eval "[[ \$(role $second) == standby ]]" || { echo "$second did not join" >&2; exit 1; }
    sleep 60
    stop_pair
}
start() {
    if [[ $1 == "$2" ]]; then
        "${UNDER_CALLGRIND[@]}" "$SERVHA" daemon --config "$OUT/$1.yaml" --dry-run-vip >"$OUT/$1.out" 2>&1 &
    else
        "$SERVHA" daemon --config "$OUT/$1.yaml" --dry-run-vip >"$OUT/$1.out" 2>&1 &
    fi
    PIDS+=($!)
}

record node-b second
record node-a first
sleep 2 # the guards write their profiles as they exit
nm --defined-only "$SERVHA" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$WORK/symbols"
cat "$WORK"/callgrind.* | grep -oE "^c?fn=\([0-9]+\) .*" | sed -E "s/^c?fn=\([0-9]+\) //; s/'[0-9]+\$//" | sort -u |
    comm -12 - "$WORK/symbols" >scripts/release.order
echo "scripts/release.order: $(wc -l <scripts/release.order) functions a daemon runs"
# SwiftPM relinks when an object or a flag changes, not when the file a flag names does.
echo "to link with it: rm .build/release/servha && make release"
