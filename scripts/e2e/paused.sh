#!/usr/bin/env bash
# Scenario: the active node's daemon is paused (SIGSTOP, as a debugger, a stuck scheduler or a frozen cgroup of
# servha alone would do) while its host, PostgreSQL and the VIP keep running. No fencing is configured.
#
# The peer stops hearing the paused daemon and takes the group over once the lease plus the safety margin has
# passed. Before that, the paused node's guard (a process apart from the daemon, fed the lease's deadline on every
# renewal) must have removed the VIP and killed PostgreSQL: a sampler notes every 5 ms, in each node's namespace,
# whether a postmaster runs there and whether the node holds the VIP, and no sample may show either on both nodes.
# After 3 s the daemon is resumed: it must see that its lease is gone and join as standby. TRIALS times (default
# 10), each time pausing whichever node is active. Every acknowledged commit must be there at the end.
#
# Usage (as root): [TRIALS=N] scripts/e2e/paused.sh     PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

TRIALS=${TRIALS:-10}
PAUSE_S=3

e2e_start paused
topology_up
servha_setup
pg_init
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "failback: { mode: never, preferred_node: node-a }"
done
say "starting node-a, then node-b"
pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other"

# The guard kills the group through its cgroup: PostgreSQL (started by the agent's start) must be in it.
pm=$(postmasters_in "$NS_A" | head -1)
check "node-a's postmaster (pid $pm) runs in the group's cgroup ($(cat "/proc/$pm/cgroup" 2>/dev/null | tr '\n' ' '))" \
    grep -q "servha-e2e-node-a" "/proc/$pm/cgroup"

client_writes
holders_start 0.005

active=node-a
standby=node-b
OVERLAP_TOTAL=0
for trial in $(seq "$TRIALS"); do
    pid=$(daemon_pid "$active") || {
        fail "trial $trial: $active's daemon runs"
        break
    }
    from=$(now_us)
    guards_before=$(grep -c "lease ran out with no renewal" "$RUN/$active/daemon.out" || true)
    say "trial $trial: SIGSTOP $active's daemon (pid $pid) for ${PAUSE_S}s"
    kill -STOP "$pid"
    if wait_until 10 is_serving "$standby"; then
        pass "trial $trial: $standby took over while $active's daemon was paused ($(((($(now_us) - from)) / 1000)) ms after the pause)"
    else
        fail "trial $trial: $standby took over while $active's daemon was paused"
    fi
    sleep "$PAUSE_S"
    kill -CONT "$pid"
    if wait_until 20 pair_ready "$standby" "$active"; then
        pass "trial $trial: $active resumed, saw its lease gone and joined as standby"
    else
        fail "trial $trial: $active back as standby after the pause (roles: $(role_of "$active") / $(role_of "$standby"))"
    fi
    guards_after=$(grep -c "lease ran out with no renewal" "$RUN/$active/daemon.out" || true)
    if ((guards_after > guards_before)); then
        pass "trial $trial: $active's guard acted: $(grep "lease ran out" "$RUN/$active/daemon.out" | sed -n "$((guards_before + 1))p" | cut -c 1-220)"
    else
        fail "trial $trial: $active's guard acted (see $RUN/$active/daemon.out)"
    fi
    to=$(now_us)
    judge_overlap "trial $trial" "$from" "$to"
    tmp=$active
    active=$standby
    standby=$tmp
done
holders_stop
n=$(wc -l <"$SAMPLES")
gap=$(awk '{ if (prev && $1 - prev > gap) gap = $1 - prev; prev = $1 } END { printf "%d", gap / 1000 }' "$SAMPLES")
check "over all $TRIALS trials: $OVERLAP_TOTAL samples of $n with PostgreSQL or the VIP on both nodes (samples at most $gap ms apart)" test "$OVERLAP_TOTAL" -eq 0

verify_acks "after $TRIALS pauses"
for node in node-a node-b; do daemon_stop "$node"; done
check "both logs replay identically" replay_verify "$RUN/node-a/log" "$RUN/node-b/log"
