#!/usr/bin/env bash
# Scenario: a partition. Both heartbeat networks are cut between the nodes while the shared storage (and so the
# disk heartbeat) stays; the arbitrator (the gateway, 192.0.2.1) decides who keeps the group: the node that
# cannot reach it steps down. One node's path to the arbitrator is cut first, to make the outcome certain:
#
#   1. node-b (the standby) loses the arbitrator, then the partition: node-a must keep the group.
#   2. healed; node-a (the active) loses the arbitrator, then the partition: node-a must step down and node-b
#      take the group.
#
# All along, every 50 ms, a sampler notes in each node's namespace whether a postmaster runs there and whether
# the node holds the VIP: PostgreSQL and the VIP must never be on both nodes at once.
#
# How the cuts are made, in the switch's namespace: the LAN ports of both nodes are made `isolated` on br0 (the
# nodes no longer reach each other, but each still reaches the client and the gateway), and likewise on br1 (the
# heartbeat network); a node's path to the arbitrator is cut with a blackhole route to its address on the
# gateway, so the gateway's replies to it go nowhere, while bridged traffic is untouched.
#
# With STORAGE=device, servha's shared storage (and so the disk heartbeat the partition leaves) is a raw LUN
# (SERVHA_LUN, a loop device laid out with `servha disk init`; PostgreSQL's data stays in the shared directory), and
# after node-b took the group in phase 2, node-b alone must read node-a's last decision from the LUN (servha
# timeline), see its own slot holding the lease at the new epoch (servha disk dump), and replay both nodes' logs from
# the LUN identically (servha replay verify DEVICE).
#
# Usage (as root): [STORAGE=device] scripts/e2e/partition.sh      PASS/FAIL per check; exit 0 only when every check
#                  passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
E2E_STORAGE_MODES="directory device"

SAMPLES=""
SAMPLER=""


sampler_start() {
    SAMPLES=$RUN/holders-$1.txt
    "$PYTHON" "$E2E_DIR/holders.py" "$SAMPLES" 0.05 "$VIP" "$NS_A" "$NS_B" &
    SAMPLER=$!
    wait_until 5 test -s "$SAMPLES"
}
sampler_stop() {
    kill -TERM "$SAMPLER"
    wait "$SAMPLER" || true
}

# judge_samples PHASE KEEPER: never both; the keeper holds postgres and the VIP at the end, the other neither.
judge_samples() {
    local phase=$1 keeper=$2 n both gap
    n=$(wc -l <"$SAMPLES")
    both=$(awk '($2 || $3) && ($4 || $5)' "$SAMPLES" | wc -l)
    gap=$(awk '{ if (prev && $1 - prev > gap) gap = $1 - prev; prev = $1 } END { printf "%d", gap / 1000 }' "$SAMPLES")
    if ((both == 0)); then
        pass "$phase: PostgreSQL/VIP never on both nodes ($n samples, at most $gap ms apart)"
    else
        fail "$phase: PostgreSQL/VIP on both nodes in $both of $n samples (see $SAMPLES)"
    fi
    local last expected
    last=$(tail -1 "$SAMPLES" | cut -d' ' -f2-)
    if [[ $keeper == node-a ]]; then expected="1 1 0 0"; else expected="0 0 1 1"; fi
    if [[ $last == "$expected" ]]; then
        pass "$phase: $keeper holds PostgreSQL and the VIP at the end, the other node neither"
    else
        fail "$phase: $keeper holds PostgreSQL and the VIP at the end (last sample: a:pg a:vip b:pg b:vip = $last)"
    fi
}

e2e_start partition
topology_up
servha_setup
pg_init
# A probe of the arbitrator every 200 ms, so that a lost path is noticed in about a second (the ping's own wait).
ARBITRATOR_INTERVAL=200ms
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")"
done

pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other"

# --- 1. the standby cannot reach the arbitrator: the active keeps the group -----------------------------------
say "phase 1: node-b loses the arbitrator, then the heartbeat networks are cut"
sampler_start 1
arbitrator_path node-b cut
check "node-b notices it cannot reach the arbitrator" wait_until 10 has_alarm node-b arbitrator-unreachable
partition on
check "node-a no longer hears node-b on any network channel" \
    wait_until 10 eval "status_json node-a | grep -q '\"name\":\"lan\",\"up\":false' && status_json node-a | grep -q '\"name\":\"hb\",\"up\":false'"
sleep 6 # the window the sampler watches: 30 lease durations of partition
sampler_stop
judge_samples "partition, node-b cut from the arbitrator" node-a
check "node-b is still standby" is_role node-b standby
check "the client still reaches PostgreSQL through the VIP" eval "pgclient first-query $VIP $(now_us) 5 >/dev/null"

say "healing: heartbeat networks and node-b's arbitrator path restored"
partition off
arbitrator_path node-b restore
check "healed: node-a active, node-b standby, each hearing the other" wait_until 30 pair_ready node-a node-b

# --- 2. the active cannot reach the arbitrator: it steps down, the standby takes the group -------------------
say "phase 2: node-a loses the arbitrator, then the heartbeat networks are cut"
EPOCH_BEFORE=$(epoch_of node-a)
sampler_start 2
arbitrator_path node-a cut
check "node-a notices it cannot reach the arbitrator" wait_until 10 has_alarm node-a arbitrator-unreachable
partition on
T0=$(now_us)
if wait_until 30 eval 'is_serving node-b && runs_postgres node-b && holds_vip node-b'; then
    pass "node-b runs the group ($(((($(now_us) - T0)) / 1000)) ms after the partition)"
else
    fail "node-b runs the group after the partition"
fi
sleep 3 # and keeps it, with the partition still there
sampler_stop
judge_samples "partition, node-a cut from the arbitrator" node-b
check "node-a is standby" is_role node-a standby
MAC_B=$(mac_of node-b)
check "client's neighbour entry for $VIP is node-b's MAC" eval '[[ $(client_mac_for_vip) == "$MAC_B" ]]'
check "the client reaches PostgreSQL through the VIP" eval "pgclient first-query $VIP $(now_us) 5 >/dev/null"
# node-a is cut off, not dead: it goes on writing its ring on the LUN (no death time to check its log's age against).
[[ $STORAGE != device ]] || lun_after_takeover node-a node-b "$EPOCH_BEFORE"

say "healing"
partition off
arbitrator_path node-a restore
check "healed: node-b active, node-a standby, each hearing the other" wait_until 30 pair_ready node-b node-a

daemon_stop node-a
daemon_stop node-b
for node in node-a node-b; do
    check "servha replay verify $node's local log and its shared copy" \
        replay_verify "$RUN/$node/log" "$(shared_log "$node")"
done
