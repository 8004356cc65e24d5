#!/usr/bin/env bash
# Scenario: the active host dies, and later comes back.
#
# node-a runs the group (the VIP on eth0, then PostgreSQL through the OCF pgsql agent, its data directory on
# the shared storage); a client writes rows through the VIP and notes every acknowledged commit. node-a's
# cables are pulled and everything on it is SIGKILLed. node-b must take over: the client's neighbour table moves
# to node-b's MAC (gratuitous ARP), PostgreSQL starts on node-b, the client resumes, no acknowledged row is lost,
# the alarm sink hears of it, and every log replays to the same decisions. Then node-a returns as standby and
# the group fails back: on `servha failback` (mode manual, the default), or on its own once node-a has been
# healthy for the stability time (FAILBACK=auto, stability 3 s).
#
# With STORAGE=device, servha keeps its slots, lease and log copies on a raw LUN (SERVHA_LUN, a loop device laid out
# with `servha disk init`; PostgreSQL's data stays in the shared directory), and after the takeover node-b alone
# must read node-a's last events from the LUN (servha timeline), see its own slot holding the lease at the new epoch
# (servha disk dump), and replay both nodes' logs from the LUN identically (servha replay verify DEVICE); at the end
# each node's ring on the LUN is checked as the directory copies are.
#
# The death comes about a second after node-b joined, while node-a still announces the disk-only lease it renewed
# while it ran alone (up to 3 s; README: the disk-only lease): node-b's takeover waits for it to run out, so the
# takeover here takes 1.5-2 s, not the ~0.2 s of a pair in service (bench-failover.sh, console.sh and dns-alias.sh
# wait for `settled` first). The take-over decision's reason is printed after the takeover.
#
# Usage (as root): [FAILBACK=auto] [STORAGE=device] scripts/e2e/host-death.sh
#                  PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
E2E_STORAGE_MODES="directory device"

ACKS=""
FAILBACK=${FAILBACK:-manual}
STABILITY_S=3
case $FAILBACK in
    manual) FAILBACK_YAML="failback: { mode: manual, preferred_node: node-a }" ;;
    auto) FAILBACK_YAML="failback: { mode: auto, preferred_node: node-a, stability: ${STABILITY_S}s }" ;;
    *)
        echo "servha-e2e: FAILBACK must be manual or auto, not '$FAILBACK'" >&2
        exit 2
        ;;
esac

acks() { wc -l <"$ACKS"; }
acks_at_least() { (($(acks) >= $1)); }
# Acknowledgements received after a wall-clock time (µs).
acks_after() { awk -v t="$1" '$2 > t' "$ACKS" | wc -l; }
# The longest silence between two consecutive acknowledgements ending after a time T (µs): "GAP_MS END_MS",
# END_MS being when it ended, counted from T.
ack_gap_ms() {
    awk -v t="$1" '{ if (prev && $2 > t && $2 - prev > gap) { gap = $2 - prev; end = $2 - t }; prev = $2 }
        END { printf "%d %d", gap / 1000, end / 1000 }' "$ACKS"
}

e2e_start host-death
topology_up
servha_setup
pg_init
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "$FAILBACK_YAML"
done

say "starting node-a, then node-b"
pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other"
check "postgres runs on node-a only" eval "runs_postgres node-a && ! runs_postgres node-b"

ACKS=$RUN/acks.txt
: >"$ACKS"
pgclient write "$VIP" "$ACKS" 2>"$RUN/writer.err" &
WRITER=$!
wait_until 30 acks_at_least 100 || {
    fail "the client writes through the VIP (see $RUN/writer.err)"
    exit 1
}
MAC_A=$(mac_of node-a)
MAC_B=$(mac_of node-b)
check "client's neighbour entry for $VIP is node-a's MAC ($MAC_A)" eval '[[ $(client_mac_for_vip) == "$MAC_A" ]]'

# --- node-a dies -------------------------------------------------------------------------------------------
EPOCH_BEFORE=$(epoch_of node-a)
say "node-a dies: cables pulled, every process SIGKILLed ($(acks) commits acknowledged so far; epoch $EPOCH_BEFORE; node-a $(settled node-a && echo "no longer announces" || echo "still announces") the disk-only lease)"
T0=$(now_us)
host_kill node-a

if wait_until 10 is_role node-b active; then
    pass "node-b took over ($(((($(now_us) - T0)) / 1000)) ms after node-a died)"
else
    fail "node-b took over within 10 s"
fi
TAKE_OVER=$("$SERVHA" replay decisions "$RUN/node-b/log" 2>/dev/null | grep ' decision take-over ' | tail -1) || true
say "node-b's take-over: ${TAKE_OVER:-not in its log} (node-a died at $(date -u -d "@${T0:0:-6}.${T0: -6}" +%H:%M:%S.%6N))"
if wait_until 10 eval '[[ $(client_mac_for_vip) == "$MAC_B" ]]'; then
    pass "client's neighbour entry for $VIP moved to node-b's MAC ($MAC_B, $(((($(now_us) - T0)) / 1000)) ms after death)"
else
    fail "client's neighbour entry for $VIP moved to node-b's MAC (it is $(client_mac_for_vip))"
fi
if wait_until 30 eval 'runs_postgres node-b && is_serving node-b'; then
    pass "PostgreSQL started on node-b by the OCF agent ($(((($(now_us) - T0)) / 1000)) ms after death)"
else
    fail "PostgreSQL started on node-b (see $RUN/node-b/daemon.out, $RUN/node-b/postgres.log)"
fi
if wait_until 30 eval '(($(acks_after "$T0") >= 50))'; then
    read -r gap resumed <<<"$(ack_gap_ms "$T0")"
    pass "the client resumed committing $resumed ms after the death (no commit acknowledged for $gap ms)"
else
    fail "the client resumed writing through the VIP"
fi
verify_acks "after the failover"
if wait_until 10 grep -q "raised took-over" "$RUN/node-b/alarms.txt"; then
    pass "the alarm sink got took-over from node-b ($(tr '\n' ';' <"$RUN/node-b/alarms.txt"))"
else
    fail "the alarm sink got took-over from node-b"
fi
[[ $STORAGE != device ]] || lun_after_takeover node-a node-b "$EPOCH_BEFORE" "$T0"

# --- node-a comes back -------------------------------------------------------------------------------------
say "node-a repaired: cables back, servha started"
host_return node-a
if wait_until 30 pair_ready node-b node-a; then
    pass "node-a back as standby; node-b keeps the group for now (failback mode $FAILBACK)"
else
    fail "node-a back as standby, node-b active"
fi
T1=$(now_us)
if [[ $FAILBACK == manual ]]; then
    # Nothing moves on its own. Watch for two seconds that it stays put.
    moved=0
    for _ in $(seq 20); do
        if holds_vip node-a || runs_postgres node-a || ! is_role node-b active; then moved=1; fi
        sleep 0.1
    done
    check "nothing moves back on its own for 2 s (manual)" test "$moved" -eq 0
    T1=$(now_us)
    if "$SERVHA" failback --socket "$RUN/node-b/admin.sock" >"$RUN/failback.out" 2>&1; then
        pass "servha failback accepted on node-b"
    else
        fail "servha failback accepted on node-b ($(cat "$RUN/failback.out"))"
    fi
else
    # Auto: node-b hands the group back once node-a has been healthy for the stability time, not before.
    check "nothing moves back before the stability time (${STABILITY_S} s)" \
        eval "! wait_until $((STABILITY_S - 1)) eval 'holds_vip node-a || ! is_role node-b active'"
fi
if wait_until 60 eval 'is_serving node-a && runs_postgres node-a && holds_vip node-a'; then
    pass "node-a runs the group again ($(((($(now_us) - T1)) / 1000)) ms after $([[ $FAILBACK == manual ]] && echo "servha failback" || echo "node-a was back"))"
else
    fail "node-a runs the group again after failback"
fi
check "node-b holds neither VIP nor postgres" eval "! holds_vip node-b && ! runs_postgres node-b"
if wait_until 10 eval '[[ $(client_mac_for_vip) == "$MAC_A" ]]'; then
    pass "client's neighbour entry for $VIP back at node-a's MAC"
else
    fail "client's neighbour entry for $VIP back at node-a's MAC"
fi
check "the client writes after the failback" wait_until 30 eval '(($(acks_after "$T1") >= 50))'

kill -TERM "$WRITER"
wait "$WRITER" || true
verify_acks "after the failback"

# --- the logs ------------------------------------------------------------------------------------------------
# Stop the standby, then the active (SIGTERM: clean exits, so the shared copies are complete: the directory copies, or
# in device mode each node's ring on the LUN, which holds the whole of these short logs).
daemon_stop node-b
daemon_stop node-a
for node in node-a node-b; do
    if replay_verify "$RUN/$node/log"; then
        pass "servha replay verify $node's local log"
    else
        fail "servha replay verify $node's local log (see $RUN/replay-verify.out)"
    fi
    if replay_verify "$(shared_log "$node")"; then
        pass "servha replay verify $node's copy on shared storage ($(shared_log "$node"))"
    else
        fail "servha replay verify $node's copy on shared storage ($(shared_log "$node"); see $RUN/replay-verify.out)"
    fi
    local_events=$(log_events "$RUN/$node/log")
    shared_events=$(log_events "$(shared_log "$node")")
    check "$node's shared copy is complete after its clean stop ($shared_events of $local_events events)" \
        test "$local_events" = "$shared_events"
done
