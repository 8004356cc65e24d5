#!/usr/bin/env bash
# The steady-state cost of a running pair: two servha daemons at default timings on loopback (node-a on
# 127.0.0.1, node-b on 127.0.0.2, a dry-run VIP and a one-line service), settled, then left alone for
# SECONDS (default 600). Reports per daemon: CPU (% of one core, user+system from /proc), resident memory (now,
# proportional share and peak), threads, log bytes per hour and per day (what the log stored meanwhile: frames,
# compressed records, digests), events per second, and the CPU and resident memory of its guard (a process of its own).
# Prints a table and one JSON line. Usage: scripts/bench-steady.sh [SECONDS]   (SERVHA=path to a release build)
set -euo pipefail
SERVHA=${SERVHA:-.build/release/servha}
SECONDS_TO_RUN=${1:-600}
OUT=$(mktemp -d /tmp/servha-steady-XXXX)
# shellcheck source=scripts/loopback-pair.sh
source "$(dirname "${BASH_SOURCE[0]}")/loopback-pair.sh"
PIDS=()
cleanup() {
    stop_pair
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$OUT"
}
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
# The node's guard: a process of its own (the daemon's child), so its memory and CPU are reported beside the daemon's.
guard_of() { pgrep -P "$1" -f ' guard ' | head -1; }
log_bytes() { "$SERVHA" log stats "$OUT/$1-log" --json | grep -o '"stored_bytes":[0-9]*' | cut -d: -f2; }
log_events() { "$SERVHA" log stats "$OUT/$1-log" --json | grep -o '"events":[0-9]*' | cut -d: -f2; }

loopback_key
idle_pair_configs steady
"$SERVHA" daemon --config "$OUT/node-a.yaml" --dry-run-vip >"$OUT/node-a.out" 2>&1 &
PIDS+=($!)
wait_for 20 eval '[[ $(role node-a) == active ]]' || { echo "node-a did not take the group ($OUT/node-a.out)" >&2; exit 1; }
"$SERVHA" daemon --config "$OUT/node-b.yaml" --dry-run-vip >"$OUT/node-b.out" 2>&1 &
PIDS+=($!)
wait_for 20 eval '[[ $(role node-b) == standby ]]' || { echo "node-b did not join ($OUT/node-b.out)" >&2; exit 1; }
sleep 5 # past the join's burst of events

declare -A pid=([node-a]=${PIDS[0]} [node-b]=${PIDS[1]})
declare -A t0 b0 e0 g0 gpid
for node in node-a node-b; do
    gpid[$node]=$(guard_of "${pid[$node]}")
    [[ -n ${gpid[$node]} ]] || { echo "$node has no guard process" >&2; exit 1; }
    g0[$node]=$(ticks "${gpid[$node]}")
    t0[$node]=$(ticks "${pid[$node]}")
    b0[$node]=$(log_bytes "$node")
    e0[$node]=$(log_events "$node")
done
start=$(now_ms)
echo "steady: a pair at default timings on loopback, idle for $SECONDS_TO_RUN s ($(nproc) CPUs, $(uname -r))" >&2
sleep "$SECONDS_TO_RUN"
elapsed_ms=$(($(now_ms) - start))
hz=$(getconf CLK_TCK)
json="{\"bench\":\"steady\",\"seconds\":$((elapsed_ms / 1000))"
printf '%-7s %8s %9s %9s %9s %8s %14s %13s %10s %12s %14s\n' node "cpu %" "rss MiB" "pss MiB" "peak MiB" threads "log bytes/h" "log MB/day" "events/s" "guard cpu %" "guard rss MiB"
for node in node-a node-b; do
    [[ $(role "$node") == "" ]] && { echo "$node stopped during the run ($OUT/$node.out)" >&2; exit 1; }
    cpu=$(awk -v t="$(($(ticks "${pid[$node]}") - t0[$node]))" -v hz="$hz" -v ms="$elapsed_ms" 'BEGIN {printf "%.2f", 100 * t / hz / (ms / 1000)}')
    grew=$(($(log_bytes "$node") - b0[$node]))
    per_hour=$((grew * 3600000 / elapsed_ms))
    per_day=$(awk -v h="$per_hour" 'BEGIN {printf "%.1f", h * 24 / 1e6}')
    events=$(awk -v e="$(($(log_events "$node") - e0[$node]))" -v ms="$elapsed_ms" 'BEGIN {printf "%.1f", e / (ms / 1000)}')
    rss=$(awk -v k="$(rss_kib "${pid[$node]}")" 'BEGIN {printf "%.1f", k / 1024}')
    peak=$(awk -v k="$(hwm_kib "${pid[$node]}")" 'BEGIN {printf "%.1f", k / 1024}')
    pss=$(awk -v k="$(pss_kib "${pid[$node]}")" 'BEGIN {printf "%.1f", k / 1024}')
    gcpu=$(awk -v t="$(($(ticks "${gpid[$node]}") - g0[$node]))" -v hz="$hz" -v ms="$elapsed_ms" 'BEGIN {printf "%.2f", 100 * t / hz / (ms / 1000)}')
    grss=$(awk -v k="$(rss_kib "${gpid[$node]}")" 'BEGIN {printf "%.1f", k / 1024}')
    printf '%-7s %8s %9s %9s %9s %8s %14s %13s %10s %12s %14s\n' "$node" "$cpu" "$rss" "$pss" "$peak" "$(threads "${pid[$node]}")" "$per_hour" "$per_day" "$events" "$gcpu" "$grss"
    json+=",\"${node/-/_}\":{\"cpu_percent\":$cpu,\"rss_mib\":$rss,\"pss_mib\":$pss,\"peak_rss_mib\":$peak,\"threads\":$(threads "${pid[$node]}"),\"log_bytes_per_hour\":$per_hour,\"log_mb_per_day\":$per_day,\"events_per_second\":$events,\"guard_cpu_percent\":$gcpu,\"guard_rss_mib\":$grss}"
done
echo "$json}"
