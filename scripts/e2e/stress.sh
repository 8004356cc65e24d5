#!/usr/bin/env bash
# `make stress` (not in CI): both nodes run the group's standby and active at a timing profile (PROFILE, default
# "default"; "fast" for 10/40/60/20 ms) while the machine is under CPU, memory and disk I/O load from stress-ng,
# for STRESS_SECONDS (default 600). No fault is injected, so every move of the group is a false failover and every
# self-fence a lease lost to the load. Prints both counts (target 0), the role changes, the channel-down events,
# and one JSON line; exit 1 when a false failover or a self-fence happened.
#
# Usage (as root): scripts/e2e/stress.sh      [STRESS_SECONDS=600] [PROFILE=default|fast]
#                  [REALTIME="{ priority: off, lock_memory: false }" to see what real-time scheduling buys]
#                  [STRESS_LOAD=issue: stress-ng --cpu N --io 1 --hdd 1 on the shared storage, as issue 11 measured]
E2E_DEPS=stress
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

SECONDS_TOTAL=${STRESS_SECONDS:-600}


e2e_start stress
topology_up
servha_setup
service_configs
PROFILE=${PROFILE:-default}
pair_up "node-a active, node-b standby (profile $PROFILE, realtime ${REALTIME:-default})"

CORES=$(nproc)
if [[ ${STRESS_LOAD:-full} == issue ]]; then
    # The load of issue 11's measurements (and of the survivor and partition runs): CPU, one sync I/O worker, one
    # disk writer on the shared storage's disk.
    say "stress-ng for ${SECONDS_TOTAL}s: $CORES CPU hogs, 1 I/O (sync) worker, 1 disk writer on the shared storage"
    stress_load "$SECONDS_TOTAL"
else
    say "stress-ng for ${SECONDS_TOTAL}s: $CORES CPU hogs, $CORES I/O (sync) workers, 1 disk writer, 1 memory hog"
    stress-ng --cpu "$CORES" --io "$CORES" --hdd 1 --hdd-bytes 256M --vm 1 --vm-bytes 512M \
        --temp-path "$RUN" --timeout "${SECONDS_TOTAL}s" --metrics-brief >"$RUN/stress-ng.out" 2>&1 &
    STRESS=$!
fi
STRESS_FROM=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
# Time the hypervisor took the machine's CPUs away (steal, in USER_HZ ticks of 10 ms, summed over the CPUs): no
# priority inside the machine helps against it.
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }
STEAL_FROM=$(steal_ticks)
"$PYTHON" "$E2E_DIR/steal-sampler.py" "$RUN/steal.txt" &
STEAL_SAMPLER=$!

# Every second: who holds the VIP and who is active. Any change is a false failover.
changes=0
samples=0
both=0
holder=node-a
deadline=$(($(now_us) + SECONDS_TOTAL * 1000000))
while (($(now_us) < deadline)); do
    samples=$((samples + 1))
    now=""
    holds_vip node-a && now=node-a
    if holds_vip node-b; then
        [[ -n $now ]] && both=$((both + 1))
        now=node-b
    fi
    if [[ $now != "$holder" ]]; then
        say "the VIP moved: ${holder:-nobody} -> ${now:-nobody}"
        changes=$((changes + 1))
        holder=$now
    fi
    sleep 1
done
wait "$STRESS" || true
STRESS_TO=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
STEAL_MS=$((($(steal_ticks) - STEAL_FROM) * 10))
kill -TERM "$STEAL_SAMPLER" 2>/dev/null || true
wait "$STEAL_SAMPLER" 2>/dev/null || true
say "stress-ng done"
cp "$RUN/stress-ng.out" "$E2E_ROOT/.build/stress-ng.out" 2>/dev/null || true

# The logs tell every decision: takeovers after the first, releases and self-fences are false moves.
for node in node-a node-b; do
    daemon_stop "$node"
done
takeovers=0
fences=0
for node in node-a node-b; do
    fences=$((fences + $(self_fences "$node")))
    # For each self-fence: the CPU time the hypervisor stole in the 200 ms before it (a stall of the whole machine
    # that no priority inside it can help).
    { "$SERVHA" replay decisions "$RUN/$node/log" 2>/dev/null | grep "decision self-fence" || true; } | while read -r when _; do
        at_us=$(date -d "$when" +%s%6N)
        stolen=$(awk -v t="$at_us" '$1 > t - 200000 && $1 <= t + 20000 { s += $2 } END { print s * 10 + 0 }' "$RUN/steal.txt")
        say "$node self-fenced at $when; CPU time stolen by the hypervisor in the 200 ms before: $stolen ms"
    done
    decisions=$("$SERVHA" replay decisions "$RUN/$node/log")
    echo "$decisions" >"$RUN/$node/decisions.txt"
    takeovers=$((takeovers + $(grep -c "decision take-over" <<<"$decisions" || true)))
    grep -E "decision (take-over|self-fence|release|restart-resource)" <<<"$decisions" | sed "s/^/  $node: /" >&2 || true
done
# Suspicions: every network channel silent at once for a deadline, short of a failover (an early warning).
# Counted while the load ran, not the daemons' stops after it (RFC 3339 times in UTC sort as text).
"$SERVHA" replay merge "$RUN/node-a/log" "$RUN/node-b/log" |
    awk -v from="$STRESS_FROM" -v to="$STRESS_TO" '$1 >= from && $1 <= to' >"$RUN/under-load.txt"
suspicions=$(grep -c "peer suspected" "$RUN/under-load.txt" || true)
downs=$(grep -c "channel [0-9] down" "$RUN/under-load.txt" || true)
# One takeover is the start-up (node-a); the SIGTERM at the end is one release and one takeover more.
false_failovers=$((takeovers - 2))
((false_failovers < 0)) && false_failovers=0
check "no false failover under load ($false_failovers; the VIP moved $changes times in $samples samples)" \
    test "$false_failovers" -eq 0 -a "$changes" -eq 0
check "the VIP never on both nodes ($both of $samples samples)" test "$both" -eq 0
check "no self-fence under load ($fences)" test "$fences" -eq 0
STEAL_BURST_MS=$(awk '$2 > m { m = $2 } END { print m * 10 + 0 }' "$RUN/steal.txt")
echo "channel-down events: $downs; peer suspected (every network channel silent): $suspicions; CPU time stolen by the hypervisor during the load: $STEAL_MS ms, at most $STEAL_BURST_MS ms in one 5 ms sample"
printf '{"bench":"stress","load":"%s","profile":"%s","realtime":"%s","seconds":%d,"false_failovers":%d,"self_fences":%d,"vip_moves":%d,"vip_on_both":%d,"samples":%d,"channel_down_events":%d,"suspicions":%d,"steal_ms":%d,"steal_burst_ms":%d,"cores":%d}\n' \
    "${STRESS_LOAD:-full}" "$PROFILE" "${REALTIME:-default}" "$SECONDS_TOTAL" "$false_failovers" "$fences" "$changes" "$both" "$samples" "$downs" "$suspicions" "$STEAL_MS" "$STEAL_BURST_MS" "$CORES"
