#!/usr/bin/env bash
# Scenario: a switchover while the old node's gratuitous ARP repeats are still going must never move the client's
# neighbour entry for the VIP back to the old node once the new one holds it. VIP resource only.
#
# servha's VIP resource sends 5 gratuitous ARPs 200 ms apart after a start (the first at once, the repeats in the
# background) and re-announces (5 more) when the peer comes back while it is active. Each repeat goes out only
# while the group is still held here under the same epoch and the address is still on the interface, and a stop
# cancels them: a repeat after the hand-over would point the clients back at the node that just let the address go.
#
#   a. node-a starts alone and runs the VIP. Then node-b starts; the moment node-b is a ready standby (pair_ready,
#      polled back to back), `servha switchover` runs on node-a: node-a's re-announcement for node-b's arrival is
#      still in flight (the script says how many of node-a's gratuitous ARPs the client saw just before and after).
#   b. Several seconds later, at leisure, a switchover back (run on node-b).
#
# For each, a sampler in the client's namespace reads the client's neighbour entry for the VIP every 5 ms
# (rtnetlink, no process per sample) from before the switchover until 3 s after the VIP reached the new node, and
# tcpdump -e on the client's eth0 notes every ARP with its sender MAC. Once a sample shows the new node's MAC, no
# later sample may show the old node's MAC (a flip-back is printed with its time and the ARPs around it). The
# client pings the VIP every 50 ms throughout (a client in use, which keeps the entry alive); after each switchover
# it must reach the VIP again, and both logs must replay at the end.
#
# Usage (as root): scripts/e2e/switchover.sh     PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

SETTLE_S=3  # sampled for this long after the VIP reached the new node
LEISURE_S=6 # between the first switchover's end and the second

e2e_start switchover
topology_up
servha_setup
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)"
done
MAC_A=$(mac_of node-a)
MAC_B=$(mac_of node-b)
declare -A MAC=([node-a]=$MAC_A [node-b]=$MAC_B)
say "node-a eth0 $MAC_A, node-b eth0 $MAC_B"

# The client's neighbour entry for the VIP, every INTERVAL seconds until SIGTERM, one line per sample:
#   time_us  lladdr|-  state
# through an rtnetlink dump of the namespace's IPv4 neighbours (it runs inside the client's namespace).
cat >"$RUN/neigh.py" <<'EOF'
import signal, socket, struct, sys, time

out, interval, vip, ifname = sys.argv[1], float(sys.argv[2]), socket.inet_aton(sys.argv[3]), sys.argv[4]
ifindex = socket.if_nametoindex(ifname)
RTM_GETNEIGH, RTM_NEWNEIGH, NLMSG_ERROR, NLMSG_DONE = 30, 28, 2, 3
NDA_DST, NDA_LLADDR = 1, 2
STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE", 0x20: "FAILED",
          0x40: "NOARP", 0x80: "PERMANENT", 0x00: "NONE"}
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
sock.bind((0, 0))
stopping = False

def stop(*_):
    global stopping
    stopping = True

signal.signal(signal.SIGTERM, stop)

def sample(seq):
    ndmsg = struct.pack("BxxxiHBB", socket.AF_INET, 0, 0, 0, 0)
    sock.send(struct.pack("IHHII", 16 + len(ndmsg), RTM_GETNEIGH, 0x1 | 0x300, seq, 0) + ndmsg)
    found = ("-", "NONE")
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, rseq, _ = struct.unpack_from("IHHII", data, offset)
            if length < 16:
                return found
            if kind == NLMSG_DONE or kind == NLMSG_ERROR:
                return found
            if kind == RTM_NEWNEIGH and rseq == seq:
                _, index, state, _, _ = struct.unpack_from("BxxxiHBB", data, offset + 16)
                attr = offset + 28
                dst = lladdr = None
                while attr + 4 <= offset + length:
                    alen, atype = struct.unpack_from("HH", data, attr)
                    if alen < 4:
                        break
                    value = data[attr + 4 : attr + alen]
                    if atype == NDA_DST:
                        dst = value
                    elif atype == NDA_LLADDR:
                        lladdr = ":".join(f"{b:02x}" for b in value)
                    attr += (alen + 3) & ~3
                if dst == vip and index == ifindex:
                    found = (lladdr or "-", STATES.get(state, hex(state)))
            offset += (length + 3) & ~3

with open(out, "w", buffering=1) as f:
    seq = 0
    next_at = time.monotonic()
    while not stopping:
        seq += 1
        mac, state = sample(seq)
        f.write(f"{time.time_ns() // 1000} {mac} {state}\n")
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
EOF

# Every ARP the client sees, with its Ethernet source: "time_s.us src > dst, ... who-has X tell Y" (or Reply).
ARP_LOG=$RUN/arp.txt
ip netns exec "$NS_C" tcpdump -i eth0 -e -n -l -tt -U arp >"$ARP_LOG" 2>"$RUN/tcpdump.err" &
TCPDUMP=$!
wait_until 5 grep -q "listening on" "$RUN/tcpdump.err" || fail "tcpdump listens on the client's eth0 (see $RUN/tcpdump.err)"

SAMPLES=$RUN/neigh.txt
ip netns exec "$NS_C" "$PYTHON" "$RUN/neigh.py" "$SAMPLES" 0.005 "$VIP" eth0 &
SAMPLER=$!
wait_until 5 test -s "$SAMPLES" || fail "the neighbour sampler runs (see $SAMPLES)"

# Gratuitous ARPs for the VIP (sender and target both the VIP) from MAC, between two times (µs): one time each.
garps_from() {
    awk -v mac="$1" -v f="$2" -v t="$3" -v vip="$VIP" '
        { ts = $1 * 1000000 }
        ts >= f && ts <= t && $2 == mac && ($0 ~ "who-has " vip " tell " vip || $0 ~ "Announcement " vip) { print int(ts) }
    ' "$ARP_LOG"
}

# switchover_checked LABEL FROM TO T_BEFORE: runs `servha switchover` on FROM (the active), waits until TO serves
# and then SETTLE_S more, and checks the samples from T_BEFORE (µs) on.
switchover_checked() {
    local label=$1 from=$2 to=$3 t_before=$4 t_sw t_done t_vip out rc=0
    t_sw=$(now_us)
    out=$("$SERVHA" switchover --socket "$RUN/$from/admin.sock" 2>&1) || rc=$?
    t_done=$(now_us)
    if ((rc == 0)); then
        pass "$label: servha switchover on $from accepted in $(((t_done - t_sw) / 1000)) ms ($(head -1 <<<"$out" | cut -c 1-120))"
    else
        fail "$label: servha switchover on $from (exit $rc: $out)"
    fi
    t_vip=""
    while (($(now_us) < t_sw + 20000000)); do
        if holds_vip "$to"; then
            t_vip=$(now_us)
            break
        fi
        sleep 0.005
    done
    if [[ -n $t_vip ]]; then
        pass "$label: the VIP is on $to $(((t_vip - t_sw) / 1000)) ms after the switchover began"
    else
        fail "$label: the VIP moved to $to within 20 s"
        t_vip=$(now_us)
    fi
    sleep "$SETTLE_S"
    if wait_until 20 pair_ready "$to" "$from"; then
        pass "$label: $to active, $from standby, each hearing the other"
    else
        fail "$label: $to active and $from standby after the switchover ($(role_of "$to") / $(role_of "$from"))"
    fi
    local t_end
    t_end=$(now_us)

    # The old node's gratuitous ARPs the client saw around the switchover: did the test hit its repeats?
    local before after
    before=$(garps_from "${MAC[$from]}" $((t_sw - 1000000)) "$t_sw" | wc -l)
    after=$(garps_from "${MAC[$from]}" "$t_sw" "$t_end" | wc -l)
    say "$label: $from's gratuitous ARPs seen by the client: $before in the 1 s before the switchover, $after after it"
    LAST_BEFORE=$before
    LAST_AFTER=$after

    # The samples: once the entry shows the new MAC, never the old one again.
    local verdict
    verdict=$(awk -v f="$t_before" -v t="$t_end" -v sw="$t_sw" -v old="${MAC[$from]}" -v new="${MAC[$to]}" '
        $1 < f || $1 > t { next }
        { n++ }
        $2 == old && !seen_new { n_old++ }
        $2 == new && !seen_new { seen_new = $1 }
        $2 == old && seen_new { flips++; if (!first_flip) first_flip = $1; last_flip = $1 }
        $2 == new && seen_new { n_new++ }
        END {
            printf "%d %d %d %d %d %d %d\n", n, n_old, n_new, seen_new ? (seen_new - sw) / 1000 : -1,
                flips, first_flip ? (first_flip - sw) / 1000 : -1, last_flip ? (last_flip - sw) / 1000 : -1
        }' "$SAMPLES")
    local n n_old n_new new_ms flips flip_ms last_ms
    read -r n n_old n_new new_ms flips flip_ms last_ms <<<"$verdict"
    if ((new_ms < 0)); then
        fail "$label: the client's entry for $VIP showed $to's MAC ${MAC[$to]} ($n samples, none with it; see $SAMPLES)"
    elif ((flips == 0)); then
        pass "$label: the client's entry for $VIP moved to $to (${MAC[$to]}) $new_ms ms after the switchover and never back to $from (${MAC[$from]}): $n samples ($n_old old, then $n_new new)"
    else
        fail "$label: the client's entry for $VIP went back to $from (${MAC[$from]}) in $flips of $n samples, first at +$flip_ms ms, last at +$last_ms ms (the new MAC from +$new_ms ms; times from the switchover's start)"
        # What the client saw: the samples where the MAC changed, and the ARPs from 100 ms before the new MAC to
        # 100 ms after the last flip-back.
        awk -v f="$t_before" -v t="$t_end" -v sw="$t_sw" '$1 >= f && $1 <= t && $2 != prev {
                printf "    sample +%.1f ms: %s %s\n", ($1 - sw) / 1000, $2, $3; prev = $2 }' "$SAMPLES"
        awk -v f=$((t_sw + new_ms * 1000 - 100000)) -v t=$((t_sw + last_ms * 1000 + 100000)) -v sw="$t_sw" '
            { ts = $1 * 1000000 } ts >= f && ts <= t { printf "    arp +%.1f ms: %s\n", (ts - sw) / 1000, substr($0, index($0, " ") + 1) }' \
            "$ARP_LOG"
    fi
    if ip netns exec "$NS_C" ping -n -q -c 3 -i 0.2 -W 1 "$VIP" >/dev/null; then
        pass "$label: the client reaches $VIP (its entry: $(client_mac_for_vip))"
    else
        fail "$label: the client reaches $VIP after the switchover (entry $(client_mac_for_vip))"
    fi
    check "$label: the client's entry for $VIP is $to's MAC at the end" test "$(client_mac_for_vip)" = "${MAC[$to]}"
}

# --- a: switchover while node-a re-announces for node-b's arrival -----------------------------------------------
say "starting node-a alone"
daemon_start node-a
if ! wait_until 60 is_serving node-a; then
    fail "node-a serves the VIP after start (see $RUN/node-a/daemon.out)"
    exit 1
fi
pass "node-a alone runs the VIP"
# A client in use: it talks to the VIP all along (which also gives it the neighbour entry to watch).
ip netns exec "$NS_C" ping -n -i 0.05 "$VIP" >"$RUN/client-ping.txt" 2>&1 &
CLIENT_PING=$!
wait_until 5 eval '[[ $(client_mac_for_vip) == "$MAC_A" ]]' || fail "the client's entry for $VIP is node-a's MAC before the test"
sleep 1.5 # node-a's start repeats are over

t_before=$(now_us)
say "starting node-b; switchover on node-a as soon as node-b is a ready standby"
daemon_start node-b
t_start_b=$(now_us)
polls=0
ready=""
while (($(now_us) < t_start_b + 30000000)); do
    polls=$((polls + 1))
    if pair_ready node-a node-b; then
        ready=$(now_us)
        break
    fi
done
if [[ -z $ready ]]; then
    fail "a: node-b a ready standby within 30 s (see $RUN/node-b/daemon.out)"
    exit 1
fi
first_reannounce=$(garps_from "$MAC_A" "$t_start_b" "$ready" | head -1)
pass "a: node-b a ready standby $(((ready - t_start_b) / 1000)) ms after its start ($polls polls of pair_ready); node-a's re-announcement began $(if [[ -n $first_reannounce ]]; then echo "$(((ready - first_reannounce) / 1000)) ms before"; else echo "not yet"; fi)"
switchover_checked a node-a node-b "$t_before"
if ((LAST_BEFORE + LAST_AFTER > 0)); then
    pass "a: node-a's re-announcement was under way at the switchover ($LAST_BEFORE of its gratuitous ARPs in the 1 s before it, $LAST_AFTER after it)"
else
    fail "a: node-a's re-announcement was under way at the switchover (none of its gratuitous ARPs within 1 s before it)"
fi

# --- b: a switchover back, at leisure -----------------------------------------------------------------------------
sleep "$LEISURE_S"
say "switchover back, on node-b"
t_before=$(now_us)
sleep 0.2
switchover_checked b node-b node-a "$t_before"

kill -TERM "$SAMPLER"
wait "$SAMPLER" || true
# The client's ping and tcpdump end here (so that the teardown has none of ours to SIGKILL).
kill -INT "$CLIENT_PING" "$TCPDUMP" 2>/dev/null || true
wait "$CLIENT_PING" "$TCPDUMP" 2>/dev/null || true
n=$(wc -l <"$SAMPLES")
gap=$(awk '{ if (prev && $1 - prev > gap) gap = $1 - prev; prev = $1 } END { printf "%d", gap / 1000 }' "$SAMPLES")
say "neighbour sampler: $n samples in all, at most $gap ms apart; ARPs in $ARP_LOG"
check "the neighbour samples are at most 50 ms apart (largest gap $gap ms)" test "$gap" -le 50
for node in node-a node-b; do daemon_stop "$node"; done
check "both logs replay identically" replay_verify "$RUN/node-a/log" "$RUN/node-b/log"
