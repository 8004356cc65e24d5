#!/usr/bin/env bash
# Scenario: the active host freezes whole (every process of it at once, as a paused VM: cgroup v2 cgroup.freeze
# on the host's cgroup), with fencing through a real fence agent. The site gets a BMC simulator per node (OpenIPMI's
# ipmi_sim, in a namespace of its own on the LAN; scripts/e2e/fencing.sh), whose power-off pulls the host's cables
# and kills every process of it, frozen or not. servha runs Debian's fence_ipmilan unchanged against it.
#
#   1. TRIALS times (default 10): the active host freezes. Its guard is frozen too, so only fencing helps: the
#      standby must fence it (fence_ipmilan off) and only then take the group over. A sampler notes every 5 ms,
#      in each node's namespace, whether a postmaster runs there and whether the node holds the VIP: no sample may
#      show either on both nodes. Then the fenced host is repaired (powered on, cables in, servha started) and
#      joins as standby. The time from the freeze to the VIP on the new node is reported (p50).
#   2. Fencing fails: the active's BMC is dead when it freezes. The standby must not take over (no VIP, no
#      postmaster on it), must raise fence-failed, and must retry (several fence-peer decisions in its log); when
#      the frozen host thaws, the pair recovers with the group on one node.
#   Every acknowledged commit must be there at the end, and both logs must replay.
#
# Usage (as root): [TRIALS=N] scripts/e2e/frozen.sh    PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fencing.sh"

TRIALS=${TRIALS:-10}
FREEZE_S=3

other() { if [[ $1 == node-a ]]; then echo node-b; else echo node-a; fi; }


# repair NODE ACTIVE: the fenced host is powered on again, its cables go back in, servha starts; waits until it is
# the standby of ACTIVE.
repair() {
    local node=$1 active=$2
    fence_agent_on "$node" >/dev/null || true
    if node_frozen "$node"; then
        say "warning: $node's cgroup is marked frozen after its power-off: $(node_cgroup_report "$node")"
    fi
    node_cgroup_renew "$node" || return 1
    host_reboot "$node"
    daemon_start_frozenable "$node"
    wait_until 60 pair_ready "$active" "$node"
}

e2e_start frozen
topology_up
servha_setup
pg_init
bmc_up
for node in node-a node-b; do
    node_cgroup_create "$node"
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "failback: { mode: never, preferred_node: node-a }
$(fencing_yaml)"
done
check "servha check-config accepts the fencing section (fence_ipmilan's validate-all)" \
    "$SERVHA" check-config "$RUN/node-a.yaml"
if probe=$(ip netns exec "$NS_A" "$SERVHA" check-config --probe "$RUN/node-a.yaml" 2>&1); then
    pass "check-config --probe reaches both BMCs: $(grep "fence probe" <<<"$probe" | cut -c 1-40 | tr '\n' ';')"
else
    fail "check-config --probe reaches both BMCs ($probe)"
fi

say "starting node-a, then node-b (each host in a cgroup of its own, to be frozen whole)"
pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other" daemon_start_frozenable
check "no fencing warning in status (fencing is configured)" \
    eval '! "$SERVHA" status --socket "$RUN/node-a/admin.sock" | grep -q "no fencing"'

client_writes
holders_start 0.005

active=node-a
OVERLAP_TOTAL=0
repaired=yes
times=()
# After a repair the survivor announces the disk-only lease for a while (see `settled`): let the pair settle first.
for trial in $(seq "$TRIALS"); do
    standby=$(other "$active")
    wait_until 10 settled "$active" || fail "trial $trial: $active no longer announces the disk-only lease"
    offs_before=$(hook_offs "$active")
    from=$(now_us)
    say "trial $trial: $active freezes whole"
    node_freeze "$active"
    moved=""
    while (($(now_us) < from + 20000000)); do
        if holds_vip "$standby"; then
            moved=$((($(now_us) - from) / 1000))
            break
        fi
        sleep 0.01
    done
    if [[ -n $moved ]]; then
        pass "trial $trial: the VIP is on $standby $moved ms after $active froze"
        times+=("$moved")
    else
        fail "trial $trial: the VIP moved to $standby within 20 s"
    fi
    check "trial $trial: $standby fenced $active (its BMC powered it off)" \
        eval '(($(hook_offs "$active") > offs_before))'
    wait_until 30 is_serving "$standby" || fail "trial $trial: $standby serves the group"
    sleep "$FREEZE_S"
    to=$(now_us)
    judge_overlap "trial $trial" "$from" "$to"
    if repair "$active" "$standby"; then
        pass "trial $trial: $active repaired, back as standby"
    else
        fail "trial $trial: $active repaired, back as standby (see $RUN/$active/daemon.out)"
        repaired=no
        break
    fi
    active=$standby
done
if ((${#times[@]})); then
    p50=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
    pass "freeze to VIP on the survivor, with fencing: p50 $p50 ms over ${#times[@]} trials (all: ${times[*]} ms)"
    list=${times[*]}
    echo "{\"scenario\":\"frozen\",\"trials\":${#times[@]},\"freeze_to_vip_ms\":[${list// /,}],\"p50_ms\":$p50,\"overlap_samples\":$OVERLAP_TOTAL}" |
        tee "$RUN/frozen.json"
fi
check "over all trials: $OVERLAP_TOTAL samples with PostgreSQL or the VIP on both nodes" test "$OVERLAP_TOTAL" -eq 0

# --- fencing fails -----------------------------------------------------------------------------------------------
# (Only with both nodes up: after a failed repair it would measure nothing but that failure.)
if [[ $repaired == yes ]]; then
    standby=$(other "$active")
    say "the BMC of $active dies; then $active freezes for 10 s"
    bmc_kill "$active"
    decisions_before=$("$SERVHA" replay decisions "$RUN/$standby/log" 2>/dev/null | grep -c "fence-peer" || true)
    from=$(now_us)
    node_freeze "$active"
    sleep 10
    kept=no
    if ! holds_vip "$standby" && ! runs_postgres "$standby"; then kept=yes; fi
    check "fencing failed: $standby did not take the group (no VIP, no postmaster on it after 10 s)" test "$kept" = yes
    check "fencing failed: $standby raised fence-failed" grep -q "raised fence-failed" "$RUN/$standby/alarms.txt"
    attempts=$(($("$SERVHA" replay decisions "$RUN/$standby/log" 2>/dev/null | grep -c "fence-peer" || true) - decisions_before))
    # Each attempt against a dead BMC takes about 4 s (the agent's power_timeout), then fencing.retry (2 s) passes.
    check "fencing failed: $standby tried again ($attempts fence requests in its log in 10 s)" test "$attempts" -ge 2
    check "$standby's status shows the fence-failed alarm" \
        eval '"$SERVHA" status --socket "$RUN/$standby/admin.sock" | grep -q "fence-failed"'
    node_thaw "$active"
    say "$active thawed"
    if wait_until 30 eval '(is_serving node-a && is_role node-b standby) || (is_serving node-b && is_role node-a standby)'; then
        pass "after the thaw the pair recovers: the group on one node ($(role_of node-a) / $(role_of node-b))"
    else
        fail "after the thaw the pair recovers ($(role_of node-a) / $(role_of node-b))"
    fi
else
    fail "fencing failed: not run, $active was not repaired"
fi
holders_stop
after=$(awk -v f="$from" '$1 >= f && ($2 || $3) && ($4 || $5)' "$SAMPLES" | wc -l)
check "fencing failed: never on both nodes ($after samples with both)" test "$after" -eq 0

verify_acks "after the freezes"
for node in node-a node-b; do daemon_stop "$node"; done
check "both logs replay identically" replay_verify "$RUN/node-a/log" "$RUN/node-b/log"
