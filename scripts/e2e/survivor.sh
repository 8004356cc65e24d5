#!/usr/bin/env bash
# `make stress-survivor` (not in CI): the survivor of a host death holds the group under load. node-a (active) dies;
# node-b takes over and then runs alone, its lease renewed by disk writes only, while stress-ng loads the machine
# (CPU, synchronous I/O, and --hdd writes on the disk that holds the shared storage) for STRESS_SECONDS (default
# 600). Every 20 ms a sampler notes whether node-b holds the VIP. Checks: 0 self-fences, 0 samples without the VIP,
# the epoch unchanged after the takeover. Reports node-b's slot-write latencies during the load (p50, p99, max:
# from each slot-written record, its completion time less the write's start) and one JSON line.
#
# Usage (as root): scripts/e2e/survivor.sh      [STRESS_SECONDS=600] in the environment
E2E_DEPS=stress
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

SECONDS_TOTAL=${STRESS_SECONDS:-600}

e2e_start survivor
topology_up
servha_setup
service_configs
pair_up "node-a active, node-b standby (default timings)"

say "node-a dies"
host_kill node-a
if wait_until 10 is_serving node-b; then
    pass "node-b took over"
else
    fail "node-b took over"
    exit 1
fi
sleep 1
EPOCH=$(epoch_of node-b)
SELF_FENCES_BEFORE=$(self_fences node-b)

say "stress-ng for ${SECONDS_TOTAL}s on the survivor's machine: $(nproc) CPU hogs, 1 I/O worker, 1 disk writer on the shared storage's disk"
FROM_US=$(now_us)
stress_load "$SECONDS_TOTAL"

samples=0
missing=0
deadline=$((FROM_US + SECONDS_TOTAL * 1000000))
while (($(now_us) < deadline)); do
    samples=$((samples + 1))
    holds_vip node-b || missing=$((missing + 1))
    sleep 0.02
done
wait "$STRESS" || true
TO_US=$(now_us)

fenced=$(($(self_fences node-b) - SELF_FENCES_BEFORE))
epoch_after=$(epoch_of node-b)
check "no self-fence of the survivor in ${SECONDS_TOTAL}s under load ($fenced)" test "$fenced" -eq 0
check "the VIP was on node-b in every sample ($missing of $samples without it)" test "$missing" -eq 0
check "the epoch is unchanged after the takeover ($EPOCH, now $epoch_after)" test "$EPOCH" = "$epoch_after"

# Slot-write latencies during the load, from node-b's log: record type 6 (slot-written): version, flags, the
# write's start (monotonic ns, varint), epoch; the record's own monotonic time is its completion.
latencies=$("$SERVHA" log dump "$RUN/node-b/log" --json 2>/dev/null | "$PYTHON" -c '
import json, sys
lo, hi = int(sys.argv[1]) * 1000, int(sys.argv[2]) * 1000
out = []
for line in sys.stdin:
    r = json.loads(line)
    if r.get("type") != 6 or not (lo <= r["wall_ns"] <= hi):
        continue
    b = bytes.fromhex(r["payload_hex"])
    v, shift, i = 0, 0, 2
    while True:
        v |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            break
    out.append((r["mono_ns"] - v) / 1e6)
out.sort()
if not out:
    print("0 0 0 0")
else:
    pick = lambda q: out[min(len(out) - 1, int(q * len(out)))]
    print(len(out), f"{pick(0.5):.2f}", f"{pick(0.99):.2f}", f"{out[-1]:.2f}")
' "$FROM_US" "$TO_US")
read -r writes p50 p99 max <<<"$latencies"
say "slot writes during the load: $writes, p50 $p50 ms, p99 $p99 ms, max $max ms"
echo "{\"bench\":\"survivor\",\"seconds\":$SECONDS_TOTAL,\"self_fences\":$fenced,\"vip_missing_samples\":$missing,\"samples\":$samples,\"epoch_before\":$EPOCH,\"epoch_after\":${epoch_after:-0},\"slot_writes\":$writes,\"slot_write_p50_ms\":$p50,\"slot_write_p99_ms\":$p99,\"slot_write_max_ms\":$max}"
