#!/usr/bin/env bash
# Scenario: PostgreSQL cannot start on the standby. node-a runs the group (VIP, then PostgreSQL); on node-b the
# pg_ctl the OCF agent is given fails to start the server (a broken installation). node-a dies. node-b takes
# over, adds the VIP, and PostgreSQL's start fails: servha must raise the start-failed alarm, log the failed
# action, and stop the group again in reverse, so that no VIP is left pointing at a dead service (the group
# moves together, always), and not retry in a loop.
#
# Usage (as root): scripts/e2e/start-failure.sh      PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

e2e_start start-failure
topology_up
servha_setup
pg_init
# node-b's pg_ctl: the real one for everything but start, which fails as a broken installation would.
cat >"$RUN/node-b/pg_ctl" <<EOF
#!/bin/sh
for argument in "\$@"; do
    if [ "\$argument" = start ]; then echo "pg_ctl: could not start server (broken on purpose)" >&2; exit 1; fi
done
exec $PGBIN/pg_ctl "\$@"
EOF
chmod 755 "$RUN/node-b/pg_ctl"
for node in node-a node-b; do
    resources="$(vip_resource)
$(pg_resource "$node")"
    [[ $node == node-b ]] && resources=${resources//"pgctl: $PGBIN/pg_ctl"/"pgctl: $RUN/node-b/pg_ctl"}
    servha_config "$node" "$resources" "failback: { mode: manual, preferred_node: node-a }"
done
grep -q "pgctl: $RUN/node-b/pg_ctl" "$RUN/node-b.yaml" || { fail "node-b's configuration uses the broken pg_ctl"; exit 1; }

pair_up "node-a active (vip, postgresql), node-b standby"

SAMPLES=$RUN/holders.txt
"$PYTHON" "$E2E_DIR/holders.py" "$SAMPLES" 0.05 "$VIP" "$NS_A" "$NS_B" &
SAMPLER=$!
wait_until 5 test -s "$SAMPLES"

say "node-a dies: cables pulled, every process SIGKILLed"
host_kill node-a
T0=$(now_us)
if wait_until 10 grep -qs "raised start-failed" "$RUN/node-b/alarms.txt"; then
    pass "the start-failed alarm was raised on node-b ($((($(now_us) - T0) / 1000)) ms after the death)"
else
    fail "the start-failed alarm was raised on node-b (alarms: $(tr '\n' ';' <"$RUN/node-b/alarms.txt" 2>/dev/null))"
fi
# Watch for 8 s: the group must be stopped again, and stay stopped (no start loop).
sleep 8
kill -TERM "$SAMPLER"
wait "$SAMPLER" || true

check "no VIP left on node-b pointing at a dead service" eval "! holds_vip node-b"
check "no postgres on node-b" eval "! runs_postgres node-b"
vip_without_pg=$(awk '$5 && !$4' "$SAMPLES" | wc -l)
n=$(wc -l <"$SAMPLES")
last_vip=$(awk '$5 {t = $1} END {print t + 0}' "$SAMPLES")
if ((last_vip == 0 || last_vip - T0 < 5000000)); then
    pass "the VIP was on node-b without PostgreSQL only while the start was tried ($vip_without_pg of $n samples, last $(((last_vip - T0) / 1000)) ms after the death)"
else
    fail "the VIP stayed on node-b without PostgreSQL (last seen $(((last_vip - T0) / 1000)) ms after the death)"
fi
tries=$(grep -c "decision take-over" <<<"$("$SERVHA" replay decisions "$RUN/node-b/log")" || true)
check "node-b tried once, not in a loop ($tries takeover(s))" test "$tries" -eq 1
status=$("$SERVHA" status --socket "$RUN/node-b/admin.sock" 2>&1)
echo "$status" | sed 's/^/  node-b status: /'
check "no took-over alarm left open on node-b for a group that is not running" eval '! grep -q "alarm took-over" <<<"$status"'
check "node-b's status shows the failed start, and that it will not take the group again for now" eval 'grep -q "start-failed" <<<"$status" && grep -q "NOT ELIGIBLE" <<<"$status"'

# The failed action is in the log, with the agent's words, and the log replays.
daemon_stop node-b
merged=$("$SERVHA" replay merge "$RUN/node-a/log" "$RUN/node-b/log")
if grep -q "node-b .*input postgresql start: failed" <<<"$merged"; then
    pass "node-b's log has the failed start: $(grep "node-b .*input postgresql start: failed" <<<"$merged" | head -1 | cut -c 33-)"
else
    fail "node-b's log has the failed start"
fi
check "node-b's log has the release for the failed start" grep -q "release .*start" <<<"$("$SERVHA" replay decisions "$RUN/node-b/log")"
check "node-b's log replays identically" replay_verify "$RUN/node-b/log"
