#!/usr/bin/env bash
# `make demo` as root: a two-node servha cluster in network namespaces of its own, running a small built-in
# service (`servha demo serve`) behind a virtual IP. node-a dies; node-b takes the VIP (with gratuitous ARP)
# and the service over, while a client on a third host shows what it sees. Then the incident is read back from
# the logs: replay verify, the timeline, and an HTML page of it.
#
# Usage (as root): scripts/e2e/demo.sh      (the files stay in /tmp/servha-demo-*; the namespaces do not)
E2E_DEPS=demo
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

OUT=$(mktemp -d /tmp/servha-demo-XXXX)
chmod 755 "$OUT"
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }


# role NODE: one word, or "down" when its daemon does not answer.
role() { local r; r=$(role_of "$1"); echo "${r:-down}"; }

e2e_start demo
bold "1. A site of its own: node-a, node-b and a client on a bridge (192.0.2.0/24, no route out)"
topology_up
servha_setup
service_configs
echo "VIP $VIP on eth0; service on port $SERVICE_PORT; shared storage $RUN/shared; default timings"

bold "2. servha starts on both nodes; node-a takes the group (the VIP, then the service)"
daemon_start node-a
wait_until 30 is_serving node-a || { echo "node-a did not start the group (see $RUN/node-a/daemon.out)" >&2; exit 1; }
daemon_start node-b
wait_until 30 pair_ready node-a node-b || { echo "node-b did not join as standby" >&2; exit 1; }
# While node-a ran alone it renewed by disk for the 3 s disk-only lease; a takeover waits for that to run out, so the
# death comes once node-a no longer announces it (README: the disk-only lease).
wait_until 10 settled node-a || { echo "node-a still announces the disk-only lease after 10 s" >&2; exit 1; }
"$SERVHA" status --socket "$RUN/node-a/admin.sock" | sed 's/^/  /'

bold "3. A client asks the service through the VIP every 20 ms"
ip netns exec "$NS_C" "$SERVHA" demo probe "$VIP:$SERVICE_PORT" --interval-ms 20 --seconds 15 --until node-b \
    >"$RUN/client.out" 2>&1 &
PROBE=$!
wait_until 5 grep -q "answers" "$RUN/client.out"
sed 's/^/  /' "$RUN/client.out"
echo "  client's neighbour entry for $VIP: $(client_mac_for_vip) (node-a's eth0 is $(mac_of node-a))"

bold "4. node-a dies: its cables are pulled and every process on it is SIGKILLed"
host_kill node-a
T0=$(now_us)
echo "$(date +%H:%M:%S.%3N)  node-a is dead"
# Status and the client's view as they change, until the client hears node-b (or 10 s pass).
last=""
shown=$(wc -l <"$RUN/client.out")
while (($(now_us) - T0 < 10000000)); do
    now="node-b: $(role node-b)"
    if [[ $now != "$last" ]]; then
        echo "$(date +%H:%M:%S.%3N)  status  $now ($((($(now_us) - T0) / 1000)) ms after the death)"
        last=$now
    fi
    lines=$(wc -l <"$RUN/client.out")
    if ((lines > shown)); then
        tail -n +"$((shown + 1))" "$RUN/client.out" | head -n "$((lines - shown))"
        shown=$lines
    fi
    kill -0 "$PROBE" 2>/dev/null || break
    sleep 0.01
done
wait "$PROBE" 2>/dev/null || true
tail -n +"$((shown + 1))" "$RUN/client.out"
echo "  client's neighbour entry for $VIP: $(client_mac_for_vip) (node-b's eth0 is $(mac_of node-b)): moved by gratuitous ARP"
wait_until 5 test -s "$RUN/node-b/alarms.txt" && echo "  alarm sink on node-b: $(tr '\n' ';' <"$RUN/node-b/alarms.txt")"
"$SERVHA" status --socket "$RUN/node-b/admin.sock" | sed 's/^/  /'

bold "5. The incident, read back from both nodes' logs (copies: node-b keeps running)"
sleep 0.5 # let node-b's log take in a little of the time after the takeover
mkdir -p "$OUT/logs"
cp -r "$RUN/node-a/log" "$OUT/logs/node-a"
cp -r "$RUN/node-b/log" "$OUT/logs/node-b"
cp -r "$RUN/shared/servha/logs" "$OUT/logs/shared" 2>/dev/null || true
# node-a died mid-write, and node-b's copy was taken while it wrote: a last batch may be torn. Cut it away on the
# copy, as a daemon does when it starts.
for node in node-a node-b; do
    "$SERVHA" log verify "$OUT/logs/$node" >/dev/null 2>&1 || "$SERVHA" log recover "$OUT/logs/$node" | sed 's/^/  /'
done
"$SERVHA" replay verify "$OUT/logs/node-a" "$OUT/logs/node-b" | sed 's/^/  /'
echo
"$SERVHA" timeline "$OUT/logs/node-a" "$OUT/logs/node-b" --html "$OUT/timeline.html" >"$OUT/timeline.txt"
grep -E "clock offset|  node-b  .*(declared dead|decision take-over|decision lease-acquired|action start |input [a-z]+ start)|^summary|ran the group|outage" \
    "$OUT/timeline.txt" | sed 's/^/  /'

bold "Where things are"
echo "  logs:           $OUT/logs/node-a, $OUT/logs/node-b (and the shared-storage copies in $OUT/logs/shared)"
echo "  timeline:       $OUT/timeline.txt"
echo "  HTML timeline:  $OUT/timeline.html"
echo "  try:            $SERVHA explain $OUT/logs/node-b --last-failover"
echo "                  $SERVHA replay what-if $OUT/logs/node-b --set lease.duration=400ms --set lease.safety_margin=100ms"
