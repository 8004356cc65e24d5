#!/usr/bin/env bash
# PID 1 of a node's own PID namespace: host-init.sh HOSTNAME COMMAND...
#
# Each node runs in its own PID, IPC and UTS namespaces (see daemon_start in harness.sh), as separate hosts
# would. Without that, node-b's pgsql agent, which checks the postmaster.pid on the shared data directory with
# `kill -0`, would see node-a's postgres as its own and stop it; and a SIGKILLed postmaster's System V segment
# would outlive its "host".
#
# As PID 1 it names the host, passes SIGTERM/SIGINT on to COMMAND, and reaps orphans (postgres's postmaster is
# re-parented here when pg_ctl exits). When COMMAND ends, so does the namespace and everything left in it.
hostname "$1"
shift
# `ip netns exec` gives the node a fresh /sys without the host's cgroup mounts; a real host has its cgroup v2
# hierarchy mounted, which servha's guard needs (the group's cgroup and its cgroup.kill). This mount namespace is
# the node's own.
if ! grep -q " - cgroup2 " /proc/self/mountinfo; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo "host-init: cannot mount cgroup2 on /sys/fs/cgroup" >&2
fi
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; bash reaps any other child that exits meanwhile.
status=0
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    status=$?
done
wait "$child" 2>/dev/null
last=$?
((last != 127)) && status=$last
echo "host-init: $1 exited with status $status" >&2
exit "$status"
