#!/usr/bin/env bash
# Scenario: the active node's log disk fills up. node-a's log lives on a small tmpfs of its own; while node-a runs
# the group, another process fills that file system.
#
#   1. Filled to about 95%: the low-space alarm (log-space-low) must reach node-a's alarm sink (it samples every
#      5 s), while everything goes on as before.
#   2. Filled to the last byte: nothing fails at once (the log writes into space it zero-filled ahead). At the first
#      failed write node-a can no longer decide: within 2 s the VIP must be gone from node-a, node-b must have
#      taken the group over, and node-a's daemon must have exited non-zero (so that systemd restarts it).
#   Every acknowledged commit must be there at the end.
#
# Usage (as root): scripts/e2e/log-full.sh     PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

LOG_MIB=8

e2e_start log-full
topology_up
servha_setup
pg_init
mkdir -p "$RUN/node-a/log"
mount -t tmpfs -o size=${LOG_MIB}m servha-e2e-log "$RUN/node-a/log"
cleanup_log_mount() { umount -l "$RUN/node-a/log" 2>/dev/null || true; }
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done
say "node-a's log on a ${LOG_MIB} MiB tmpfs; starting node-a, then node-b"
pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other"

client_writes

free_kib() { df --output=avail -k "$RUN/node-a/log" | tail -1 | tr -d ' '; }
total_kib() { df --output=size -k "$RUN/node-a/log" | tail -1 | tr -d ' '; }

# --- 1. nearly full: the alarm ---------------------------------------------------------------------------------
fill_kib=$(($(free_kib) - $(total_kib) * 5 / 100))
say "filling node-a's log file system to 95% ($fill_kib KiB)"
dd if=/dev/zero of="$RUN/node-a/log/filler-1" bs=1k count="$fill_kib" status=none 2>/dev/null || true
if wait_until 15 grep -q "raised log-space-low" "$RUN/node-a/alarms.txt"; then
    pass "the low-space alarm reached node-a's sink ($(grep "log-space-low" "$RUN/node-a/alarms.txt" | head -1))"
else
    fail "the low-space alarm reached node-a's sink (alarms: $(tr '\n' ';' <"$RUN/node-a/alarms.txt"))"
fi
check "node-a still runs the group with the alarm raised" is_serving node-a

# --- 2. full: the node gives the group up --------------------------------------------------------------------
say "filling node-a's log file system to the last byte"
dd if=/dev/zero of="$RUN/node-a/log/filler-2" bs=1k status=none 2>/dev/null || true
say "full ($(free_kib) KiB free); waiting for the log's first failed write (it writes into space zero-filled ahead)"
if ! wait_until 240 grep -q "the event log failed" "$RUN/node-a/daemon.out"; then
    fail "node-a's log failed within 4 minutes of the file system filling up"
    exit 1
fi
T0=$(now_us)
say "node-a: $(grep "the event log failed" "$RUN/node-a/daemon.out" | head -1 | cut -c 1-200)"
vip_gone=""
b_active=""
a_exited=""
deadline=$((T0 + 2000000))
while (($(now_us) < deadline)) && [[ -z $vip_gone || -z $b_active || -z $a_exited ]]; do
    [[ -z $vip_gone ]] && ! holds_vip node-a && vip_gone=$(($(now_us) - T0))
    [[ -z $b_active ]] && is_role node-b active && b_active=$(($(now_us) - T0))
    [[ -z $a_exited ]] && ! daemon_pid node-a >/dev/null && a_exited=$(($(now_us) - T0))
    sleep 0.02
done
check "the VIP was gone from node-a within 2 s of the failed write (${vip_gone:-never} µs)" test -n "$vip_gone"
check "node-b took the group over within 2 s of the failed write (${b_active:-never} µs)" test -n "$b_active"
check "node-a's daemon exited within 2 s of the failed write (${a_exited:-never} µs)" test -n "$a_exited"
if wait_until 5 grep -q "exited with status" "$RUN/node-a/daemon.out"; then
    status=$(grep "exited with status" "$RUN/node-a/daemon.out" | tail -1 | grep -o "status [0-9]*" | cut -d' ' -f2)
    check "node-a's daemon exited non-zero (status $status), for systemd to restart it" test "$status" -ne 0
else
    fail "node-a's daemon exit status is known (host-init reports it)"
fi
check "node-a's stderr says why it stopped" grep -q "stopped deciding" "$RUN/node-a/daemon.out"
check "node-a's sink got the self-fenced alarm straight from the failing node" grep -q "raised self-fenced" "$RUN/node-a/alarms.txt"
check "PostgreSQL on node-b, not on node-a" wait_until 30 eval 'runs_postgres node-b && ! runs_postgres node-a'
# The disk is repaired (the filler removed) and node-a starts again, as systemd would: its log records why the run
# before stopped, which could not be logged then.
rm -f "$RUN/node-a/log/filler-"*
daemon_start node-a
if wait_until 30 pair_ready node-b node-a; then
    pass "node-a restarted once its disk had room, and joined as standby"
else
    fail "node-a restarted once its disk had room, and joined as standby (see $RUN/node-a/daemon.out)"
fi
# The dump is read whole before it is searched: grep -q stops at the first match, the dump (still writing the
# records after it) gets SIGPIPE, and pipefail would count that as "not found".
records_late_note() {
    local dump
    dump=$("$SERVHA" log dump "$RUN/node-a/log" 2>&1) || { say "log dump failed: ${dump##*$'\n'}"; return 1; }
    grep -q "type=14" <<<"$dump"
}
check "node-a's log records, once it works again, that the run before stopped because the log failed" \
    wait_until 5 records_late_note
check "node-b serves the group" wait_until 30 is_serving node-b
verify_acks "after node-a's log filled up"
daemon_stop node-b
cleanup_log_mount
