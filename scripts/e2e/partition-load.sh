#!/usr/bin/env bash
# `make stress-partition` (not in CI): a partition under load. With stress-ng loading the machine (CPU, I/O, and
# --hdd writes on the shared storage's disk), the active (node-a) loses the arbitrator and then both heartbeat
# networks are cut for PARTITION_SECONDS (default 60), the shared storage staying. The arbitrator decides: node-a
# steps down and node-b takes the group. Every 20 ms a sampler notes which node holds the VIP. Checks: one owner
# throughout (never both), no sample with the VIP on neither node once node-b has taken it, no self-fence, and the
# epoch raised by one at most.
#
# Usage (as root): scripts/e2e/partition-load.sh    [PARTITION_SECONDS=60] in the environment
E2E_DEPS=stress
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

SECONDS_TOTAL=${PARTITION_SECONDS:-60}
ARBITRATOR_INTERVAL=200ms

e2e_start partition-load
topology_up
servha_setup
service_configs
pair_up "node-a active, node-b standby (default timings)"
wait_until 10 settled node-a || fail "node-a no longer announces the disk-only lease"
EPOCH=$(epoch_of node-a)

say "stress-ng on the machine: $(nproc) CPU hogs, 1 I/O worker, 1 disk writer on the shared storage's disk"
stress_load "$((SECONDS_TOTAL + 30))"
sleep 5

say "node-a loses the arbitrator; then both heartbeat networks are cut for ${SECONDS_TOTAL}s"
arbitrator_path node-a cut
wait_until 10 has_alarm node-a arbitrator-unreachable || fail "node-a notices it cannot reach the arbitrator"
partition on
FROM_US=$(now_us)
samples=0
both=0
neither_after=0
taken_at=""
deadline=$((FROM_US + SECONDS_TOTAL * 1000000))
while (($(now_us) < deadline)); do
    samples=$((samples + 1))
    a=0
    b=0
    holds_vip node-a && a=1
    holds_vip node-b && b=1
    ((a && b)) && both=$((both + 1))
    if ((b)) && [[ -z $taken_at ]]; then taken_at=$((($(now_us) - FROM_US) / 1000)); fi
    if [[ -n $taken_at ]] && ((!a && !b)); then neither_after=$((neither_after + 1)); fi
    sleep 0.02
done
partition off
arbitrator_path node-a restore
kill "$STRESS" 2>/dev/null || true
wait "$STRESS" 2>/dev/null || true

check "node-b took the group during the partition (${taken_at:-never} ms after the cut)" test -n "$taken_at"
check "never both nodes with the VIP ($both of $samples samples)" test "$both" -eq 0
check "no sample with the VIP on neither node after node-b took it ($neither_after of $samples)" test "$neither_after" -eq 0
fences=$(($(self_fences node-a) + $(self_fences node-b)))
check "no self-fence on either node ($fences)" test "$fences" -eq 0
after=$(epoch_of node-b)
check "the epoch grew by one at most ($EPOCH, now $after)" test "$((after - EPOCH))" -le 2
# (Epochs are odd for node-a and even for node-b: one change of owner raises it by 1 or 2.)
check "healed: node-b active, node-a standby" wait_until 30 pair_ready node-b node-a
echo "{\"bench\":\"partition-load\",\"seconds\":$SECONDS_TOTAL,\"taken_after_ms\":${taken_at:-null},\"samples\":$samples,\"both\":$both,\"neither_after_takeover\":$neither_after,\"self_fences\":$fences,\"epoch_before\":$EPOCH,\"epoch_after\":${after:-0}}"
