#!/usr/bin/env bash
# Scenario: the database's filesystem is a resource, on a LUN of a disk array both hosts are cabled to, and the
# active host dies.
#
# The array: two sparse files under the run directory on loop devices (lun_setup in harness.sh): SERVHA_LUN
# (16 MiB, raw: servha's own disk, laid out with `servha disk init` before the daemons start; both nodes use the same
# loop device, servha reading and writing it with O_DIRECT|O_DSYNC) and DATA_LUN (256 MiB, ext4; PostgreSQL's data
# directory initialised on it from the root namespace, then unmounted). Each host reaches the data LUN through a
# path of its own (DATA_PATH[node], a loop device of its own on the same file), as through its own HBA. So this is
# the SAN set-up of issue 15: servha's slots, lease and both nodes' log copies on the small raw LUN
# (`shared_storage: { device: SERVHA_LUN }`), the data filesystem on the other LUN, mounted on the active only.
# (STORAGE=directory keeps servha's storage in a shared directory instead, as before; SERVHA_LUN then stays raw.)
#
# The group: the VIP, then the filesystem (OCF heartbeat/Filesystem, Debian's agent unchanged: device, directory,
# fstype ext4), then PostgreSQL (OCF pgsql) with its data directory on that filesystem. The filesystem must be
# mounted on the active host only; mounted on both it is corrupted.
#
# Mount namespaces (see the comment above lun_setup in harness.sh for the details): the daemons already run each in
# a private mount namespace of its own (ip netns exec, then unshare --mount-proc in daemon_start), so a node's mount
# is invisible to the host and to the other node, and the harness's daemon_start is used unchanged. The test
# checks it (the namespaces differ, each node's mountinfo shows only its own mount).
#
# The host death, and what it must mean to stay honest: a dead host has no mounts, and it writes nothing more to
# the array. A SIGKILL of every process of a node ends its mount namespace, and with it its mount: but the kernel
# then unmounts the filesystem cleanly (journal checkpointed, needs_recovery cleared), as no dead host does. So the
# node dies with its storage (host_kill_lun): every process stopped as its cables are pulled, then its path to the
# LUN cut (every I/O through it fails from then on), then every process SIGKILLed; its mount namespace ends with
# its last process, before node-b takes over, and the kernel's unmount of it reaches nothing. The LUN is left as
# the dead host left it (mounted, needs_recovery), and node-b's mount must replay the journal. (Without the cut,
# the test fails: the path-cut checks, the on-disk state, no "recovery complete"; checked by hand.)
#
# Checks: node-b mounts the filesystem (journal replayed: "recovery complete" in the kernel log for node-b's path;
# the on-disk state, read once the kernel has let go of node-a's mount and before node-b's, says needs_recovery;
# node-a's path was cut and its mount gone before node-b mounted), the filesystem is
# started before PostgreSQL, PostgreSQL starts on node-b, every acknowledged commit is there; the ext4 filesystem is
# never mounted on both nodes at once, nor on the host, sampled every 20 ms throughout the run (mounts.py: the
# mountinfo of every mount namespace of each node's processes, and the ext4 superblocks the kernel holds on each
# node's path). Then node-a returns, the group fails back (node-b unmounts cleanly, node-a mounts without
# recovery), and at the end e2fsck finds the filesystem consistent.
#
# servha's LUN (device mode, the default): before the nodes start, SERVHA_LUN is laid out for the cluster and
# `servha disk init` refuses the data LUN (it holds a filesystem); after the host death, node-b alone reads node-a's
# last events from the LUN (servha timeline, node-a's log there reaching to within 1 s of its death), sees its own
# slot holding the lease at the new epoch (servha disk dump), and replays both nodes' logs from the LUN identically
# (servha replay verify DEVICE); at the end each node's local log and its ring on the LUN replay identically.
#
# Usage (as root): [STORAGE=directory] scripts/e2e/shared-lun.sh      (make e2e-shared-lun)
#                  PASS/FAIL per check; exit 0 only when every check passed (a timeout is a failure).
STORAGE=${STORAGE:-device}
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
E2E_STORAGE_MODES="directory device"

SAMPLE_INTERVAL=0.02

acks() { wc -l <"$ACKS"; }
# Acknowledgements received after a wall-clock time (µs).
acks_after() { awk -v t="$1" '$2 > t' "$ACKS" | wc -l; }
# The longest silence between two consecutive acknowledgements ending after a time T (µs): "GAP_MS END_MS", END_MS
# being when it ended, counted from T (as host-death.sh measures it: a commit acknowledged just after the death was
# answered by node-a before it).
ack_gap_ms() {
    awk -v t="$1" '{ if (prev && $2 > t && $2 - prev > gap) { gap = $2 - prev; end = $2 - t }; prev = $2 }
        END { printf "%d %d", gap / 1000, end / 1000 }' "$ACKS"
}
# procs_in_mount_ns LINK: how many processes are in the mount namespace LINK ("mnt:[INODE]").
procs_in_mount_ns() {
    find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' -printf '%l\n' 2>/dev/null | grep -cxF "$1" || true
}
ms_since() { echo $((($(now_us) - $1) / 1000)); }
ms_between() { echo $((($2 - $1) / 1000)); }

# The mount samples (mounts.py): time a b host a_sb b_sb host_sb a_ns b_ns.
# first_sample_after T COLUMN: the time of the first sample after T with COLUMN set.
first_sample_after() { awk -v t="$1" -v c="$2" '$1 > t && $c == 1 { print $1; exit }' "$MOUNT_SAMPLES"; }
# last_sample_between FROM TO COLUMN: the time of the last sample between FROM and TO with COLUMN set.
last_sample_between() { awk -v f="$1" -v t="$2" -v c="$3" '$1 > f && $1 < t && $c == 1 { last = $1 } END { print last }' "$MOUNT_SAMPLES"; }

e2e_start shared-lun
e2e_deadline 600
topology_up
lun_setup 16 256 # before servha_setup, which lays SERVHA_LUN out in device mode
servha_setup
pg_init_lun
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(fs_resource "$node")
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done

# --- the array before any node starts ------------------------------------------------------------------------
if [[ $STORAGE == device ]]; then
    "$SERVHA" disk dump "$SERVHA_LUN" >"$RUN/disk-dump-initial.txt" 2>&1 || true
    check "SERVHA_LUN $SERVHA_LUN: 16 MiB, no filesystem, laid out for cluster $E2E_CLUSTER with both log areas empty (servha disk dump)" \
        eval '[[ $(blockdev --getsize64 "$SERVHA_LUN") == 16777216 && -z $(blkid -p -o value -s TYPE "$SERVHA_LUN" || true) ]] &&
            grep -q "^cluster *$E2E_CLUSTER\$" "$RUN/disk-dump-initial.txt" && (($(grep -c "log area: no batches" "$RUN/disk-dump-initial.txt") == 2))'
else
    check "SERVHA_LUN $SERVHA_LUN: 16 MiB, raw (no filesystem)" \
        eval '[[ $(blockdev --getsize64 "$SERVHA_LUN") == 16777216 && -z $(blkid -p -o value -s TYPE "$SERVHA_LUN" || true) ]]'
fi
dumpe2fs -h "$DATA_LUN_FILE" >"$RUN/dumpe2fs-initial.txt" 2>&1
check "DATA_LUN $DATA_LUN: ext4, cleanly unmounted after initdb ($(grep '^Filesystem state' "$RUN/dumpe2fs-initial.txt" | tr -s ' '))" \
    eval '[[ $(blkid -p -o value -s TYPE "$DATA_LUN" || true) == ext4 ]] && grep -q "^Filesystem state: *clean$" "$RUN/dumpe2fs-initial.txt" && ! grep -q needs_recovery "$RUN/dumpe2fs-initial.txt"'
if [[ $STORAGE == device ]]; then
    # servha pointed at the wrong LUN must not lay it out: the data LUN holds a filesystem.
    DISK_INIT_RC=0
    "$SERVHA" disk init "$DATA_LUN" --cluster "$E2E_CLUSTER" >"$RUN/disk-init-data-lun.txt" 2>&1 || DISK_INIT_RC=$?
    check "servha disk init refuses the data LUN $DATA_LUN, which holds ext4 (exit $DISK_INIT_RC: $(head -1 "$RUN/disk-init-data-lun.txt")), and leaves it as it was" \
        eval '((DISK_INIT_RC != 0)) && [[ $(blkid -p -o value -s TYPE "$DATA_LUN" || true) == ext4 ]]'
fi
check "each node's path to the data LUN is a loop device of its own on the same file (node-a ${DATA_PATH[node-a]}, node-b ${DATA_PATH[node-b]})" \
    eval '[[ ${DATA_PATH[node-a]} != "${DATA_PATH[node-b]}" && $(losetup -n -O BACK-FILE "${DATA_PATH[node-a]}") == "$DATA_LUN_FILE" && $(losetup -n -O BACK-FILE "${DATA_PATH[node-b]}") == "$DATA_LUN_FILE" ]]'

mounts_start "$SAMPLE_INTERVAL"
RUN_START_US=$(now_us)

say "starting node-a, then node-b"
pair_up "node-a active (vip, datafs, postgresql), node-b standby, each hearing the other"

# --- mount namespaces -------------------------------------------------------------------------------------------
PID_A=$(daemon_pid node-a)
PID_B=$(daemon_pid node-b)
MNT_HOST=$(readlink /proc/self/ns/mnt)
MNT_A=$(readlink "/proc/$PID_A/ns/mnt")
MNT_B=$(readlink "/proc/$PID_B/ns/mnt")
check "each node's daemon runs in a mount namespace of its own (host $MNT_HOST, node-a $MNT_A, node-b $MNT_B)" \
    eval '[[ $MNT_A != "$MNT_HOST" && $MNT_B != "$MNT_HOST" && $MNT_A != "$MNT_B" ]]'
check "the data filesystem is mounted on node-a (its daemon's mountinfo: ext4 from ${DATA_PATH[node-a]} on $DATA_MNT)" \
    eval 'mounts_data node-a && grep -q " $DATA_MNT .* - ext4 ${DATA_PATH[node-a]} " "/proc/$PID_A/mountinfo"'
check "node-b's daemon and the host do not see node-a's mount" \
    eval '! mounts_data node-b && ! grep -q " $DATA_MNT " /proc/self/mountinfo'
check "postgres runs on node-a only" eval "runs_postgres node-a && ! runs_postgres node-b"
PM_A=$(postmasters_in "$NS_A" | head -1)
check "node-a's postmaster works in $DATA_MNT/pgdata on the LUN (its cwd $(readlink "/proc/$PM_A/cwd" || true), device $(stat -L -c '%Hd:%Ld' "/proc/$PM_A/cwd" 2>/dev/null || true) = ${DATA_PATH[node-a]}'s $(stat -c '%Hr:%Lr' "${DATA_PATH[node-a]}"))" \
    eval '[[ $(readlink "/proc/$PM_A/cwd" || true) == */pgdata && $(stat -L -c "%Hd:%Ld" "/proc/$PM_A/cwd" || true) == $(stat -c "%Hr:%Lr" "${DATA_PATH[node-a]}") ]]'
check "both nodes see SERVHA_LUN (16 MiB) in their own mount namespaces" \
    eval '[[ $(nsenter -t "$PID_A" -m -- blockdev --getsize64 "$SERVHA_LUN") == 16777216 && $(nsenter -t "$PID_B" -m -- blockdev --getsize64 "$SERVHA_LUN") == 16777216 ]]'

client_writes
wait_until 30 eval '(($(acks) >= 100))' || true

# --- node-a dies, with its storage ------------------------------------------------------------------------------
kmsg_mark "node-a dies"
say "node-a dies: processes stopped, cables pulled, its path to the LUN cut, every process SIGKILLed ($(acks) commits acknowledged so far)"
EPOCH_BEFORE=$(epoch_of node-a)
host_kill_lun node-a
T0=$HOST_DEATH_US
KILLED_US=$(now_us)
# The kernel's unmount of node-a's filesystem (its mount namespace ended with its last process) must be over before
# the LUN is read as node-a left it: its clean-unmount writes, had they got through, would be on the disk by then.
if wait_until 5 lun_path_free node-a; then RELEASED_US=$(now_us); else RELEASED_US=""; fi
# The LUN as the dead host left it, read from the array's side (the backing file) before node-b mounts it.
dumpe2fs -h "$DATA_LUN_FILE" >"$RUN/dumpe2fs-after-death.txt" 2>&1 || true
SNAPSHOT_US=$(now_us)
pgclient first-query "$VIP" "$T0" 30 >"$RUN/first-query.out" 2>"$RUN/first-query.err" &
FIRST_QUERY=$!

if wait_until 10 is_role node-b active; then
    pass "node-b took over ($(ms_since "$T0") ms after node-a died)"
else
    fail "node-b took over within 10 s"
fi
if wait_until 30 eval 'mounts_data node-b'; then
    pass "node-b mounted the data filesystem (seen $(ms_since "$T0") ms after the death)"
else
    fail "node-b mounted the data filesystem (see $RUN/node-b/daemon.out)"
fi
if wait_until 30 eval 'runs_postgres node-b && is_serving node-b'; then
    pass "PostgreSQL started on node-b by the OCF agent, the group serving ($(ms_since "$T0") ms after the death)"
else
    fail "PostgreSQL started on node-b (see $RUN/node-b/daemon.out, $RUN/node-b/postgres.log)"
fi
if wait "$FIRST_QUERY" && FIRST_QUERY_MS=$(cat "$RUN/first-query.out") && [[ -n $FIRST_QUERY_MS ]]; then
    pass "PostgreSQL answered SELECT 1 through the VIP $FIRST_QUERY_MS ms after the death"
else
    FIRST_QUERY_MS=""
    fail "PostgreSQL answered through the VIP within 30 s of the death (see $RUN/first-query.err)"
fi
if wait_until 30 eval '(($(acks_after "$T0") >= 50))'; then
    read -r ACK_GAP_MS RESUMED_MS <<<"$(ack_gap_ms "$T0")"
    pass "the client resumed committing $RESUMED_MS ms after the death (no commit acknowledged for $ACK_GAP_MS ms)"
else
    fail "the client resumed writing through the VIP"
fi
verify_acks "after the failover"

if [[ -n $LUN_CUT_US ]] && (($(lun_path_sectors node-a) == 0)); then
    pass "node-a's path to the LUN cut $(ms_between "$T0" "$LUN_CUT_US") ms after the death (capacity 0: every I/O through it fails)"
else
    fail "node-a's path to the LUN cut (capacity $(lun_path_sectors node-a) sectors)"
fi
# The kernel's superblock on node-a's path lives until node-a's mount namespace ends (with its last process).
if [[ -n $RELEASED_US ]] && ! ext4_live "${DATA_PATH[node-a]}"; then
    pass "node-a's filesystem let go by the kernel with its processes (killed $(ms_between "$T0" "$KILLED_US") ms after the death; its path free at $(ms_between "$T0" "$RELEASED_US") ms): a dead host has no mounts"
else
    fail "node-a's filesystem let go by the kernel within 5 s of its processes' death (${DATA_PATH[node-a]} still held)"
fi
LEFT=$(procs_in_mount_ns "$MNT_A")
check "node-a's mount namespace ($MNT_A) ended with its processes ($LEFT left in it)" test "$LEFT" -eq 0

# When node-b mounted, from the samples: between the last sample without its mount and the first with it.
B_MOUNT_US=$(first_sample_after "$T0" 3)
B_BEFORE_US=$(awk -v t="$T0" -v m="${B_MOUNT_US:-0}" '$1 > t && $1 < m && $3 == 0 { last = $1 } END { print last }' "$MOUNT_SAMPLES")
A_LAST_MOUNT_US=$(last_sample_between "$RUN_START_US" "${B_MOUNT_US:-$(now_us)}" 2)
A_LAST_SB_US=$(last_sample_between "$RUN_START_US" "${B_MOUNT_US:-$(now_us)}" 5)
if [[ -n $B_MOUNT_US && -n $B_BEFORE_US && -n $LUN_CUT_US && -n $RELEASED_US && -n $A_LAST_MOUNT_US && -n $A_LAST_SB_US ]] &&
    ((LUN_CUT_US < B_BEFORE_US && RELEASED_US < B_BEFORE_US && A_LAST_MOUNT_US < B_BEFORE_US && A_LAST_SB_US < B_BEFORE_US)); then
    pass "node-a's path was cut ($(ms_between "$T0" "$LUN_CUT_US") ms) and its mount gone (last sampled $(ms_between "$T0" "$A_LAST_MOUNT_US") ms, superblock last seen $(ms_between "$T0" "$A_LAST_SB_US") ms, path free $(ms_between "$T0" "$RELEASED_US") ms) before node-b mounted (between $(ms_between "$T0" "$B_BEFORE_US") and $(ms_between "$T0" "$B_MOUNT_US") ms after the death)"
else
    fail "node-a's path cut and its mount gone before node-b mounted (death $T0, cut ${LUN_CUT_US:-never}, a last mounted ${A_LAST_MOUNT_US:-?}, a superblock last ${A_LAST_SB_US:-?}, path free ${RELEASED_US:-never}, b mounted between ${B_BEFORE_US:-?} and ${B_MOUNT_US:-never}; see $MOUNT_SAMPLES)"
fi
if [[ -n $B_BEFORE_US && -n $RELEASED_US ]] && ((SNAPSHOT_US < B_BEFORE_US)) &&
    grep -q "^Filesystem features:.*needs_recovery" "$RUN/dumpe2fs-after-death.txt"; then
    pass "the LUN as node-a left it, read $(ms_between "$T0" "$SNAPSHOT_US") ms after the death (after the kernel let go of node-a's mount, before node-b's): not cleanly unmounted (needs_recovery set)"
else
    fail "the LUN as node-a left it, read after the kernel let go of node-a's mount and before node-b's (at $(ms_between "$T0" "$SNAPSHOT_US") ms, node-b mounted after ${B_BEFORE_US:+$(ms_between "$T0" "$B_BEFORE_US") ms}), says needs_recovery (see $RUN/dumpe2fs-after-death.txt)"
fi
B_DEV=${DATA_PATH[node-b]##*/}
A_DEV=${DATA_PATH[node-a]##*/}
kernel_log_since "node-a dies" >"$RUN/kernel-after-death.txt"
if grep -q "EXT4-fs ($B_DEV): recovery complete" "$RUN/kernel-after-death.txt" &&
    grep -q "EXT4-fs ($B_DEV): mounted filesystem" "$RUN/kernel-after-death.txt"; then
    pass "node-b's mount replayed the journal (kernel: $(grep -E "EXT4-fs \($B_DEV\): (recovery complete|.*orphan)" "$RUN/kernel-after-death.txt" | sed 's/^\[[^]]*\] //' | tr '\n' ';'))"
else
    fail "node-b's mount replayed the journal (no 'EXT4-fs ($B_DEV): recovery complete' in the kernel log; see $RUN/kernel-after-death.txt)"
fi
say "the dead node's mount in the kernel log after the death: $(grep -c "[( ]${A_DEV}[),: ]" "$RUN/kernel-after-death.txt" || true) lines on $A_DEV, $(grep -c "I/O error.* ${A_DEV}[,: ]" "$RUN/kernel-after-death.txt" || true) of them I/O errors (its kernel's last writes, refused by the cut path)"
check "no ext4 or I/O error on node-b's path in the kernel log" \
    eval "! grep -E 'EXT4-fs (error|warning) \(device $B_DEV\)|I/O error on dev(ice)? ${B_DEV}[^0-9]' '$RUN/kernel-after-death.txt'"
"$SERVHA" explain "$RUN/node-b/log" --last-failover >"$RUN/explain-node-b.txt" 2>&1 || true
FS_OK_LINE=$(grep -n "datafs start: ok" "$RUN/explain-node-b.txt" | head -1 | cut -d: -f1)
PG_START_LINE=$(grep -n "start postgresql" "$RUN/explain-node-b.txt" | head -1 | cut -d: -f1)
if [[ -n $FS_OK_LINE && -n $PG_START_LINE ]] && ((FS_OK_LINE < PG_START_LINE)); then
    pass "node-b started the filesystem before PostgreSQL ($(grep -E "(vip|datafs|postgresql) start: " "$RUN/explain-node-b.txt" | sed 's/^ *//' | tr '\n' ';'))"
else
    fail "node-b started the filesystem before PostgreSQL (see $RUN/explain-node-b.txt)"
fi

[[ $STORAGE != device ]] || lun_after_takeover node-a node-b "$EPOCH_BEFORE" "$T0"

# --- node-a comes back, and the group fails back ------------------------------------------------------------------
say "node-a repaired: its path to the LUN and its cables back, servha started"
check "node-a's path to the LUN restored (once the kernel had let go of its old mount)" lun_path_restore node-a
host_return node-a
if wait_until 30 pair_ready node-b node-a; then
    pass "node-a back as standby; node-b keeps the group for now"
else
    fail "node-a back as standby, node-b active"
fi
check "node-a, standby, does not mount the data filesystem" eval '! mounts_data node-a && mounts_data node-b'
kmsg_mark "failback"
T1=$(now_us)
if "$SERVHA" failback --socket "$RUN/node-b/admin.sock" >"$RUN/failback.out" 2>&1; then
    pass "servha failback accepted on node-b"
else
    fail "servha failback accepted on node-b ($(cat "$RUN/failback.out"))"
fi
if wait_until 60 eval 'is_serving node-a && runs_postgres node-a && mounts_data node-a'; then
    pass "node-a runs the group again, the filesystem mounted there ($(ms_since "$T1") ms after servha failback)"
else
    fail "node-a runs the group again after failback"
fi
check "node-b holds neither the filesystem, nor postgres, nor the VIP" \
    eval '! mounts_data node-b && ! ext4_live "${DATA_PATH[node-b]}" && ! runs_postgres node-b && ! holds_vip node-b'
kernel_log_since "failback" >"$RUN/kernel-failback.txt"
check "a clean handover: node-b unmounted, node-a's mount needed no recovery" \
    eval "grep -q 'EXT4-fs ($B_DEV): unmounting filesystem' '$RUN/kernel-failback.txt' && grep -q 'EXT4-fs ($A_DEV): mounted filesystem' '$RUN/kernel-failback.txt' && ! grep -q 'EXT4-fs ($A_DEV): recovery complete' '$RUN/kernel-failback.txt'"
check "the client writes after the failback" wait_until 30 eval '(($(acks_after "$T1") >= 50))'
kill -TERM "$WRITER"
wait "$WRITER" || true
verify_acks "after the failback"

# --- the end: both daemons stopped, the filesystem consistent -----------------------------------------------------
daemon_stop node-b
daemon_stop node-a
mounts_stop
check "no node holds the filesystem after both daemons stopped" \
    wait_until 10 eval 'lun_path_free node-a && lun_path_free node-b'
if e2fsck -f -n "$DATA_LUN_FILE" >"$RUN/e2fsck.out" 2>&1; then
    pass "e2fsck -fn: the filesystem is consistent at the end ($(tail -1 "$RUN/e2fsck.out"))"
else
    fail "e2fsck -fn: the filesystem is consistent at the end (see $RUN/e2fsck.out)"
fi
for node in node-a node-b; do
    check "servha replay verify $node's local log and its copy on servha's shared storage ($(shared_log "$node"))" \
        replay_verify "$RUN/$node/log" "$(shared_log "$node")"
done

# --- the samples ----------------------------------------------------------------------------------------------------
read -r N DURATION_MS MAX_GAP_MS BOTH_MOUNTED BOTH_SB HOST_SEEN A_SAMPLES B_SAMPLES < <(awk '
    NR == 1 { first = $1 }
    { if (prev && $1 - prev > gap) gap = $1 - prev; prev = $1
      if ($2 && $3) both++; if ($5 && $6) sb++; if ($4 || $7) host++; if ($2) a++; if ($3) b++ }
    END { printf "%d %d %d %d %d %d %d %d\n", NR, (prev - first) / 1000, gap / 1000, both, sb, host, a, b }' "$MOUNT_SAMPLES")
say "mount samples: $N over $DURATION_MS ms (largest gap $MAX_GAP_MS ms); mounted on node-a in $A_SAMPLES, on node-b in $B_SAMPLES"
if ((BOTH_MOUNTED == 0)); then
    pass "the ext4 filesystem never mounted on both nodes at once ($N samples over $DURATION_MS ms, node-a in $A_SAMPLES, node-b in $B_SAMPLES)"
else
    fail "the ext4 filesystem mounted on both nodes at once in $BOTH_MOUNTED of $N samples (see $MOUNT_SAMPLES)"
fi
check "the kernel never held an ext4 superblock on both nodes' paths at once ($N samples)" test "$BOTH_SB" -eq 0
check "the host never saw the filesystem mounted, nor held DATA_LUN's superblock, while the nodes ran ($N samples)" test "$HOST_SEEN" -eq 0
check "the sampler kept up: largest gap between samples $MAX_GAP_MS ms (interval $SAMPLE_INTERVAL s)" test "$MAX_GAP_MS" -le 500
check "the failover and the failback are both in the samples (node-a mounted, then node-b, then node-a)" \
    eval '[[ $(awk '"'"'{ s = $2 ? "a" : ($3 ? "b" : "") } s != "" && s != last { printf "%s", s; last = s }'"'"' "$MOUNT_SAMPLES") == aba ]]'

PATH_CUT_MS=${LUN_CUT_US:+$(ms_between "$T0" "$LUN_CUT_US")}
B_MOUNTED_MS=${B_MOUNT_US:+$(ms_between "$T0" "$B_MOUNT_US")}
echo "shared-lun: {\"storage\":\"$STORAGE\",\"samples\":$N,\"sampled_ms\":$DURATION_MS,\"max_gap_ms\":$MAX_GAP_MS,\"both_mounted\":$BOTH_MOUNTED,\"acks\":$(acks),\"path_cut_ms\":${PATH_CUT_MS:-null},\"b_mounted_ms\":${B_MOUNTED_MS:-null},\"first_query_ms\":${FIRST_QUERY_MS:-null},\"client_resumed_ms\":${RESUMED_MS:-null}}"
