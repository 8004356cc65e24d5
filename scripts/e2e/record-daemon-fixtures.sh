#!/usr/bin/env bash
# Records Fixtures/daemons: incidents as real daemons logged them in the end-to-end site (network namespaces, real
# heartbeats over UDP, shared storage, the VIP and PostgreSQL through its OCF agent), kept short so that the logs
# stay small. Tests (Tests/ReplayTests/DaemonFixtureTests.swift) replay every log and check its key decisions.
#
#   host-death-postgresql  node-a (active: VIP, PostgreSQL) dies: cables pulled, every process SIGKILLed; node-b
#                          takes the group over; node-b is then stopped (SIGTERM).
#   partition              node-a loses the arbitrator, then both heartbeat networks are cut: node-a steps down,
#                          node-b takes the group; healed; both stopped.
#   paused-active          node-a's daemon is paused (SIGSTOP) for 3 s: its guard takes the group down, node-b
#                          takes it over; node-a resumes, finds its lease gone and joins as standby; both stopped.
#
# Re-record (as root) when the event format, the state digest or a rule of the core changes, as for the
# simulator's fixtures (Fixtures/README.md): scripts/e2e/record-daemon-fixtures.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

TARGET=$E2E_ROOT/Fixtures/daemons

# A fresh pair for each incident: no process, no VIP, empty logs and slots; PostgreSQL's data kept.
fresh_pair() {
    cluster_reset
    pair_up "$1: node-a active (vip, postgresql), node-b standby"
    # As a pair in service: node-a no longer announces the disk-only lease it held while node-b was starting.
    wait_until 10 settled node-a || say "warning: node-a still announces the disk-only lease"
}

# keep INCIDENT: both nodes' logs (segment files only) into Fixtures/daemons/INCIDENT, replaced whole.
keep() {
    local incident=$1 node
    for node in node-a node-b; do
        rm -rf "${TARGET:?}/$incident/$node"
        mkdir -p "$TARGET/$incident/$node"
        cp "$RUN/$node/log/"*.seg* "$TARGET/$incident/$node/"
        # A host killed mid-run leaves the zero-filled space ahead of its log: cut it, as its next start would.
        "$SERVHA" log recover "$TARGET/$incident/$node" >/dev/null
        rm -f "$TARGET/$incident/$node/LOCK"
    done
    check "$incident: both logs replay identically" "$SERVHA" replay verify "$TARGET/$incident"
    say "$incident: $(du -sh "$TARGET/$incident" | cut -f1) in $TARGET/$incident"
}

e2e_start record-daemon-fixtures
topology_up
servha_setup
pg_init
ARBITRATOR_INTERVAL=200ms
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done

# --- host death, PostgreSQL ---
fresh_pair host-death-postgresql
host_kill node-a
check "host death: node-b serves the group with PostgreSQL" \
    wait_until 30 eval 'is_serving node-b && runs_postgres node-b && holds_vip node-b'
sleep 1
daemon_stop node-b
keep host-death-postgresql

# --- partition, the active cut from the arbitrator ---
fresh_pair partition
arbitrator_path node-a cut
check "partition: node-a notices it cannot reach the arbitrator" wait_until 10 has_alarm node-a arbitrator-unreachable
partition on
check "partition: node-b serves the group" wait_until 30 eval 'is_serving node-b && runs_postgres node-b && holds_vip node-b'
check "partition: node-a is standby" wait_until 10 is_role node-a standby
partition off
arbitrator_path node-a restore
check "partition healed: node-b active, node-a standby" wait_until 30 pair_ready node-b node-a
daemon_stop node-a
daemon_stop node-b
keep partition

# --- the active's daemon paused ---
fresh_pair paused-active
pid=$(daemon_pid node-a)
kill -STOP "$pid"
check "paused: node-b serves the group while node-a's daemon is stopped" \
    wait_until 10 eval 'is_serving node-b && runs_postgres node-b && holds_vip node-b'
check "paused: node-a's guard took its group down" eval '! holds_vip node-a && ! runs_postgres node-a'
sleep 1
kill -CONT "$pid"
check "paused: node-a resumed and joined as standby" wait_until 30 pair_ready node-b node-a
daemon_stop node-a
daemon_stop node-b
keep paused-active
