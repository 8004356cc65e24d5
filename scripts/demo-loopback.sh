#!/usr/bin/env bash
# `make demo` without root: two servha daemons on loopback (node-a on 127.0.0.1, node-b on 127.0.0.2) with a
# dry-run VIP: the virtual address is only logged, never added, and the service both nodes can run listens on
# 127.0.0.3, which only one of them holds at a time. Everything else is real: heartbeats over UDP, the lease on
# a shared directory, the service started and stopped by servha, node-a killed with SIGKILL.
set -uo pipefail
SERVHA=${SERVHA:-.build/release/servha}
OUT=$(mktemp -d /tmp/servha-demo-XXXX)
# shellcheck source=scripts/loopback-pair.sh
source "$(dirname "${BASH_SOURCE[0]}")/loopback-pair.sh"
SERVICE=127.0.0.3:$((BASE + 2))
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    for node in node-a node-b; do [[ -f $OUT/$node.web.pid ]] && kill -9 "$(cat "$OUT/$node.web.pid")" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT
serving() { [[ $(role "$1") == active ]] && "$SERVHA" status --socket "$OUT/$1.sock" | grep -q "web running"; }

echo "This is the loopback demo: the VIP is a DRY RUN (logged, never added); the service moves between nodes on 127.0.0.3."
loopback_key
for node in node-a node-b; do
    pid=$OUT/$node.web.pid
    loopback_config demo "$node" >"$OUT/$node.yaml"
    cat >>"$OUT/$node.yaml" <<EOF
failback: { mode: manual, preferred_node: node-a }
resources:
  - { name: vip, type: vip, address: 192.0.2.100/24, interface: lo }
  - name: web
    type: script
    start: '$SERVHA demo serve --listen $SERVICE --name $node >/dev/null 2>&1 & echo \$! > $pid'
    stop: 'kill \$(cat $pid 2>/dev/null) 2>/dev/null; rm -f $pid; exit 0'
    monitor: 'kill -0 \$(cat $pid 2>/dev/null) 2>/dev/null || exit 3'
    monitor_interval: 1s
alarms:
  - { type: exec, command: "sh -c 'echo \$SERVHA_ALARM_STATE \$SERVHA_ALARM_KIND >> $OUT/$node.alarms'" }
EOF
done

bold "1. Two daemons on loopback; node-a takes the group"
"$SERVHA" daemon --config "$OUT/node-a.yaml" --dry-run-vip >"$OUT/node-a.out" 2>&1 &
A=$!
PIDS+=($A)
disown # bash must not report the SIGKILL it is about to get
wait_for 20 serving node-a || { echo "node-a did not start the group (see $OUT/node-a.out)" >&2; exit 1; }
"$SERVHA" daemon --config "$OUT/node-b.yaml" --dry-run-vip >"$OUT/node-b.out" 2>&1 &
PIDS+=($!)
disown
wait_for 20 eval '[[ $(role node-b) == standby ]]' || { echo "node-b did not join" >&2; exit 1; }
# While node-a ran alone it renewed by disk for the 3 s disk-only lease; a takeover waits for that to run out, so the
# death comes once node-a no longer announces it.
wait_for 10 settled node-a || { echo "node-a still announces the disk-only lease after 10 s" >&2; exit 1; }
"$SERVHA" status --socket "$OUT/node-a.sock" | sed 's/^/  /'

bold "2. A client asks the service every 20 ms"
"$SERVHA" demo probe "$SERVICE" --interval-ms 20 --seconds 15 --until node-b >"$OUT/client.out" 2>&1 &
PROBE=$!
PIDS+=($PROBE)
wait_for 5 grep -q answers "$OUT/client.out"
sed 's/^/  /' "$OUT/client.out"

bold "3. node-a dies: SIGKILL to its daemon and its service"
kill -9 "$A" "$(cat "$OUT/node-a.web.pid")"
T0=$(now_ms)
echo "$(date +%H:%M:%S.%3N)  node-a is dead"
last=""
while kill -0 "$PROBE" 2>/dev/null && (($(now_ms) - T0 < 10000)); do
    r="node-b: $(role node-b)"
    [[ $r != "$last" ]] && echo "$(date +%H:%M:%S.%3N)  status  $r ($(($(now_ms) - T0)) ms after the death)" && last=$r
    sleep 0.01
done
wait "$PROBE" 2>/dev/null
tail -n 3 "$OUT/client.out"
"$SERVHA" status --socket "$OUT/node-b.sock" | sed 's/^/  /'

bold "4. The incident, read back from both logs"
cp -r "$OUT/node-a-log" "$OUT/copy-node-a"
cp -r "$OUT/node-b-log" "$OUT/copy-node-b"
for node in node-a node-b; do
    "$SERVHA" log verify "$OUT/copy-$node" >/dev/null 2>&1 || "$SERVHA" log recover "$OUT/copy-$node" | sed 's/^/  /'
done
"$SERVHA" replay verify "$OUT/copy-node-a" "$OUT/copy-node-b" | sed 's/^/  /'
"$SERVHA" timeline "$OUT/copy-node-a" "$OUT/copy-node-b" --html "$OUT/timeline.html" >"$OUT/timeline.txt"
grep -E "  node-b  .*(declared dead|decision take-over|decision lease-acquired)|^summary|ran the group|outage" "$OUT/timeline.txt" | sed 's/^/  /'

bold "Where things are"
echo "  logs:           $OUT/node-a-log, $OUT/node-b-log (read back from copies in $OUT/copy-*)"
echo "  timeline:       $OUT/timeline.txt"
echo "  HTML timeline:  $OUT/timeline.html"
echo "  (loopback demo with a dry-run VIP; as root, make demo runs the real thing in network namespaces)"
