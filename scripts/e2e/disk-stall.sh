#!/usr/bin/env bash
# Scenario: the active's path to the shared storage stalls for longer than the disk-only lease while the peer is
# silent on the network. A slow disk must not cost a survivor its group (the disk-only lease, 3 s by default),
# but a disk that stops answering must still end in the active giving the group up, and its peer taking it:
#
#   1. node-a active (VIP, PostgreSQL), node-b standby; both heartbeat networks are cut (the arbitrator stays
#      reachable for both): node-a now renews its lease by disk writes alone and announces the disk-only lease.
#   2. node-a's slot writes stall (its slot's file system is frozen) for STALL_SECONDS (default 8).
#   3. node-a must take its group down (self-fence) by the end of its last disk-only lease, node-b must take the
#      group once that lease and the margin have passed, and PostgreSQL or the VIP must never be on both nodes.
#   4. The file system thaws (node-a's stuck write completes, long after its lease), the networks heal: node-a must
#      not take anything back; node-b keeps the group at epoch +1; both logs replay.
#
# How the stall is made: node-a's slot file on the shared storage is a symlink to a small ext4 file system of its
# own (a loop device on a file in the run's directory); `fsfreeze --freeze` blocks every write to it (node-b's
# reads of node-a's slot go on), `fsfreeze --unfreeze` lets them through. Only node-a's path stalls, as when one
# host loses its path to a SAN.
#
# Usage (as root): scripts/e2e/disk-stall.sh      [STALL_SECONDS=8]; PASS/FAIL per check.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

STALL_SECONDS=${STALL_SECONDS:-8}
DISK_ONLY_MS=3000 # lease.disk_only_duration, the default

decided() { "$SERVHA" replay decisions "$RUN/$1/log" 2>/dev/null | grep -c "decision $2" || true; }

e2e_start disk-stall
topology_up
servha_setup
pg_init

# node-a's slot on a file system of its own.
truncate -s 16M "$RUN/slot-disk.img"
SLOT_DEV=$(losetup --find --show "$RUN/slot-disk.img")
SLOT_MNT=$RUN/slot-disk
e2e_on_exit "losetup -d $SLOT_DEV 2>/dev/null"
mkfs.ext4 -q -F "$SLOT_DEV"
mkdir -p "$SLOT_MNT"
mount "$SLOT_DEV" "$SLOT_MNT"
e2e_on_exit "umount -l $SLOT_MNT 2>/dev/null"
# Thawed first at teardown: a process blocked on a frozen file system cannot be killed.
e2e_on_exit "fsfreeze --unfreeze $SLOT_MNT 2>/dev/null"
mkdir -p "$RUN/shared/servha/slots"
ln -s "$SLOT_MNT/node-a.slot" "$RUN/shared/servha/slots/node-a.slot"

for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done
pair_up "node-a active (vip, postgresql), node-b standby, each hearing the other"
check "node-a's slot is written on its own file system" test -s "$SLOT_MNT/node-a.slot"
client_writes
holders_start 0.02

say "the heartbeat networks are cut: node-a renews by disk alone"
partition on
e2e_on_exit "partition off 2>/dev/null"
check "node-a announces the disk-only lease" wait_until 5 eval '! settled node-a'
sleep 1
EPOCH=$(epoch_of node-a)

say "node-a's slot writes stall for ${STALL_SECONDS}s (fsfreeze)"
fsfreeze --freeze "$SLOT_MNT"
T0=$(now_us)
a_gone="" b_serving=""
deadline=$((T0 + (DISK_ONLY_MS + 5000) * 1000))
while (($(now_us) < deadline)) && [[ -z $a_gone || -z $b_serving ]]; do
    [[ -z $a_gone ]] && ! holds_vip node-a && ! runs_postgres node-a && a_gone=$((($(now_us) - T0) / 1000))
    [[ -z $b_serving ]] && holds_vip node-b && runs_postgres node-b && b_serving=$((($(now_us) - T0) / 1000))
    sleep 0.02
done
# The lease ends a margin before DISK_ONLY_MS after the last write that got through (before T0); stopping
# PostgreSQL and the sampling take some tens of ms more.
check "node-a took its group down at the end of its disk-only lease (${a_gone:-never} ms after the stall; lease ${DISK_ONLY_MS} ms)" \
    eval '[[ -n $a_gone ]] && ((a_gone <= DISK_ONLY_MS + 500))'
check "node-a's group was down before node-b started it (${a_gone:-never} < ${b_serving:-never} ms)" \
    eval '[[ -n $a_gone && -n $b_serving ]] && ((a_gone < b_serving))'
check "node-b took the group after node-a's announced lease had run out (${b_serving:-never} ms after the stall)" \
    eval '[[ -n $b_serving ]] && ((b_serving >= DISK_ONLY_MS - 1000))'
check "node-a decided to self-fence (its log)" eval '(($(decided node-a self-fence) >= 1))'
check "node-b is active" is_role node-b active
check "node-a is not active while the stall lasts" eval '! is_role node-a active'

remaining=$((T0 / 1000 + STALL_SECONDS * 1000 - $(now_us) / 1000))
((remaining > 0)) && sleep "$(awk -v ms="$remaining" 'BEGIN { print ms / 1000 }')"
say "node-a's file system thaws: its stuck write completes, long after its lease"
fsfreeze --unfreeze "$SLOT_MNT"
sleep 2
check "node-a did not take the group back after the thaw" eval '! holds_vip node-a && ! runs_postgres node-a'
check "node-b still serves the group" is_serving node-b

say "the networks heal"
partition off
check "healed: node-b active, node-a standby, each hearing the other" wait_until 30 pair_ready node-b node-a
holders_stop
judge_overlap "stall of node-a's disk" "$T0" "$(now_us)"
EPOCH_B=$(epoch_of node-b)
check "one change of owner: epoch $EPOCH -> $EPOCH_B" test "$EPOCH_B" -eq $((EPOCH + 1))
verify_acks "after node-a's disk stalled"

daemon_stop node-b
daemon_stop node-a
for node in node-a node-b; do
    check "servha replay verify $node's local log and its shared copy" \
        replay_verify "$RUN/$node/log" "$RUN/shared/servha/logs/$node"
done
