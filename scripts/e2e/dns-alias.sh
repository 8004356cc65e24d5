#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # the checks are strings that eval expands when they run
# Scenario: the virtual host name (issue 13). Clients reach the group by name: the `dns` resource points
# db.example.test. at the active through TSIG-signed RFC 2136 updates to a real BIND 9 (named, in a namespace of its
# own, primary for example.test., whose update-policy lets the cluster's key change that name's A/AAAA records only).
#
# 1. address: vip, on the flat site (harness.sh): the group is the VIP, the alias and PostgreSQL. The client looks the
#    name up before every connection attempt and writes rows through it; node-a dies; node-b takes over and updates
#    the record (named logs the update, from node-b); `dig @192.0.2.53 db.example.test` gives the VIP; the client
#    resumes by name and every acknowledged row is there.
# 2. A wrong key (the key file has the right name, servha, and another secret): node-a's start of the group fails at
#    the alias. The server's refusal (NOTAUTH, TSIG error BADSIG) is in the daemon's output and in its event log, the
#    start-failed alarm is raised, and nothing is left half-done: the VIP that was added first is removed again,
#    PostgreSQL never starts, and the record on the server is what it was (same answer, same SOA serial).
# 3. address: self, on a routed site (topology_routed_up in harness.sh): node-a in 192.0.2.0/27, node-b in
#    192.0.2.64/26, no layer-2 segment in common and no VIP at all; the heartbeat channel lan goes through one router,
#    hb through a second. The group is the alias, a script resource that notes its SERVHA_ALIAS, and PostgreSQL.
#    node-a dies; the name now gives node-b's address, and the client reconnects by name to node-b, losing nothing.
#
# Usage (as root): scripts/e2e/dns-alias.sh      PASS/FAIL per check; exit 0 only when every check passed.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

ACKS=""
WRITER=""
WRITER_ERR=""

ms_since() { echo $((($(now_us) - $1) / 1000)); }
# The TTL of db.example.test.'s A record on the primary.
dns_ttl() { ip netns exec "$NS_C" dig @"$DNS_SERVER" "$DNS_NAME" A +noall +answer +time=1 +tries=1 | awk '{ print $2; exit }'; }
# channels_up NODE: both heartbeat channels (lan and hb) are up in NODE's status.
channels_up() {
    local status
    status=$(status_json "$1") || return 1
    [[ $status == *'{"name":"lan","up":true'* && $status == *'{"name":"hb","up":true'* ]]
}

# kill_node_a MODE TOOK_OVER: once the pair is in service (node-a no longer announces the disk-only lease it
# renewed while it ran alone; a takeover would wait that out, see bench-failover.sh), node-a dies; T0 is the death.
# Checks that node-b took over within 10 s.
kill_node_a() {
    wait_until 10 settled node-a || say "warning: node-a still announces the disk-only lease"
    say "address: $1: node-a dies ($(wc -l <"$ACKS") commits acknowledged so far)"
    T0=$(now_us)
    host_kill node-a
    if wait_until 10 is_role node-b active; then
        pass "$2 ($(ms_since "$T0") ms after node-a died)"
    else
        fail "node-b took over within 10 s"
    fi
}

# --- the client, by name --------------------------------------------------------------------------------------
# name_writes LABEL: the client commits rows to PostgreSQL reached by name (looked up on the primary before each
# connection attempt) into $ACKS, in the background; returns once 50 are acknowledged (a FAIL ending the run
# otherwise). $WRITER_ERR gets a line per connection made: "TIME_US connected to NAME at ADDRESS".
name_writes() {
    ACKS=$RUN/acks-$1.txt
    WRITER_ERR=$RUN/writer-$1.err
    : >"$ACKS"
    pgclient write "$DNS_NAME" "$ACKS" --dns-server "$DNS_SERVER" 2>"$WRITER_ERR" &
    WRITER=$!
    if ! wait_until 30 acks_at_least 50; then
        fail "the client writes through the name $DNS_NAME (see $WRITER_ERR)"
        exit 1
    fi
}
writer_stop() {
    kill -TERM "$WRITER"
    wait "$WRITER" || true
}
acks_at_least() { (($(wc -l <"$ACKS") >= $1)); }
acks_after() { awk -v t="$1" '$2 > t' "$ACKS" | wc -l; }
# connected_after ADDRESS T: the client opened a connection to ADDRESS, found by name, after T (µs).
connected_after() { awk -v a="$1" -v t="$2" '$1 > t && $NF == a { found = 1 } END { exit !found }' "$WRITER_ERR"; }
# name_verify LABEL: every commit acknowledged so far is in the table, read through the name.
name_verify() {
    local out copy=$RUN/acks-$1-verified.txt
    cp "$ACKS" "$copy"
    if out=$(pgclient verify "$DNS_NAME" "$copy" --dns-server "$DNS_SERVER" 2>>"$RUN/verify.err"); then
        pass "every acknowledged row present $1, read through the name ($out)"
    else
        fail "every acknowledged row present $1, read through the name ($out; see $RUN/verify.err)"
    fi
}

# --- what the server and the daemons say ----------------------------------------------------------------------
# named_lines: how many lines named has logged; named_since N: the lines after the first N.
named_lines() { wc -l <"$DNS_DIR/named.out"; }
named_since() { tail -n +"$(($1 + 1))" "$DNS_DIR/named.out"; }
# named_updated_by ADDRESS N: named logged, after line N, an update of db.example.test. signed by the cluster's key
# and sent from ADDRESS.
named_updated_by() {
    named_since "$2" | grep -F "$1#" | grep -F "/key $DNS_KEY_NAME" |
        grep "updating zone '${DNS_ZONE%.}/IN': adding an RR at '${DNS_NAME%.}' A" >/dev/null
}
# log_texts NODE: the text inside each record of NODE's event log (servha log dump gives the payloads in hex), one
# record a line, printable characters only: the resource outcomes' output is there as the agent wrote it.
log_texts() {
    "$SERVHA" log dump --json "$RUN/$1/log" >"$RUN/$1-log-dump.json"
    "$PYTHON" -c 'import json, sys
for line in open(sys.argv[1]):
    text = bytes.fromhex(json.loads(line)["payload_hex"]).decode("utf-8", "replace")
    print("".join(c if c.isprintable() else " " for c in text))' "$RUN/$1-log-dump.json" >"$RUN/$1-log-texts.txt"
    cat "$RUN/$1-log-texts.txt"
}
# decisions NODE and explain NODE ARGS...: `servha replay decisions` and `servha explain ARGS` of NODE's log (the last
# output also kept in the run directory).
# (Readers of a pipe here read all of it, never grep -q: under pipefail, a writer cut off early fails the check.)
decisions() { "$SERVHA" replay decisions "$RUN/$1/log" >"$RUN/$1-decisions.txt" 2>&1; cat "$RUN/$1-decisions.txt"; }
explain() { # explain NODE ARGS...
    local node=$1
    shift
    "$SERVHA" explain "$RUN/$node/log" "$@" >"$RUN/$node-explain.txt" 2>&1
    cat "$RUN/$node-explain.txt"
}

# The holders of the VIP and PostgreSQL, per node, for the wrong-key part.
holds_nothing() { ! holds_vip "$1" && ! runs_postgres "$1"; }

e2e_start dns-alias

# =================================================================================================================
# 1. address: vip, same subnet
topology_up
dns_server_up br0 25
servha_setup
pg_init
check "dig @$DNS_SERVER $DNS_NAME: no record before the cluster starts" test -z "$(dns_lookup)"
for node in node-a node-b; do
    servha_config "$node" "$(vip_resource)
$(dns_resource vip)
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done
say "address: vip: starting node-a, then node-b"
pair_up "node-a active (vip, alias, postgresql), node-b standby"
if wait_until 5 dns_points_to "$VIP"; then
    pass "dig @$DNS_SERVER $DNS_NAME gives the VIP ($(dns_lookup | tr '\n' ' '))"
else
    fail "dig @$DNS_SERVER $DNS_NAME gives the VIP $VIP (it gives '$(dns_lookup | tr '\n' ' ')')"
fi
check "named logged node-a's signed update of $DNS_NAME" named_updated_by "${LAN_IP[node-a]}" 0
check "the record has the configured TTL, 5 s ($(dns_ttl) s)" test "$(dns_ttl)" = 5
# (The log of a running daemon: routine events reach the file within a quarter second.)
start_outcome_logged() {
    STARTED=$(log_texts node-a | grep -o "$DNS_NAME → $VIP on $DNS_SERVER:53 (TTL 5 s), read back" | head -1 || true)
    [[ -n $STARTED ]]
}
if wait_until 5 start_outcome_logged; then
    pass "node-a's event log has the alias's start outcome: $STARTED"
else
    fail "node-a's event log has the alias's start outcome ($DNS_NAME → $VIP ..., read back; see $RUN/node-a-log-texts.txt)"
fi

name_writes vip
check "the client found the VIP by name and connects to it ($(grep -c . "$WRITER_ERR") connection(s))" connected_after "$VIP" 0
NAMED_BEFORE=$(named_lines)

kill_node_a vip "node-b took over"
if wait_until 30 eval 'is_serving node-b && runs_postgres node-b'; then
    pass "node-b runs vip, alias and postgresql ($(ms_since "$T0") ms after the death)"
else
    fail "node-b runs vip, alias and postgresql (see $RUN/node-b/daemon.out)"
fi
if wait_until 10 named_updated_by "${LAN_IP[node-b]}" "$NAMED_BEFORE"; then
    pass "named logged node-b's signed update of $DNS_NAME after the death"
else
    fail "named logged node-b's signed update of $DNS_NAME after the death (see $DNS_DIR/named.out)"
fi
check "after the death, dig @$DNS_SERVER $DNS_NAME gives the VIP ($(dns_lookup | tr '\n' ' '))" dns_points_to "$VIP"
if wait_until 30 eval '(($(acks_after "$T0") >= 50))'; then
    pass "the client resumed committing through the name ($(acks_after "$T0") commits since the death)"
else
    fail "the client resumed committing through the name (see $WRITER_ERR)"
fi
check "the client reconnected by name after the death" connected_after "$VIP" "$T0"
writer_stop
name_verify "after the failover (address: vip)"
daemon_stop node-b
check "node-b's log replays identically (its alias start and monitors included)" replay_verify "$RUN/node-b/log"

# =================================================================================================================
# 2. A wrong key: the right name, another secret
say "wrong key: a fresh cluster whose key file has the name $DNS_KEY_NAME and another secret"
cluster_reset
# The record as it is before the start: something else than the VIP, set with the right key, so that any change shows.
PREVIOUS=192.0.2.99
printf 'server %s\nzone %s\nupdate delete %s A\nupdate add %s 60 A %s\nsend\n' \
    "$DNS_SERVER" "$DNS_ZONE" "$DNS_NAME" "$DNS_NAME" "$PREVIOUS" |
    ip netns exec "$NS_C" nsupdate -k "$DNS_KEY" >"$RUN/nsupdate.out" 2>&1 || {
    fail "nsupdate with the right key sets $DNS_NAME to $PREVIOUS (see $RUN/nsupdate.out)"
    exit 1
}
wait_until 5 dns_points_to "$PREVIOUS" || fail "dig shows $PREVIOUS after nsupdate"
SERIAL_BEFORE=$(dns_serial)
WRONG_KEY=$RUN/wrong.key
tsig-keygen -a hmac-sha256 "$DNS_KEY_NAME" >"$WRONG_KEY"
secret_of() { grep -o 'secret "[^"]*"' "$1"; }
check "the wrong key file names the same key ($DNS_KEY_NAME) with another secret" \
    eval '[[ $(grep -c "key \"$DNS_KEY_NAME\"" "$WRONG_KEY") == 1 && $(secret_of "$WRONG_KEY") != "$(secret_of "$DNS_KEY")" ]]'
servha_config node-a "$(vip_resource)
$(dns_resource vip "$WRONG_KEY")
$(pg_resource node-a)" "failback: { mode: manual, preferred_node: node-a }"
NAMED_BEFORE=$(named_lines)
T0=$(now_us)
daemon_start node-a
if wait_until 60 grep -qs "raised start-failed" "$RUN/node-a/alarms.txt"; then
    pass "the start-failed alarm was raised on node-a ($(ms_since "$T0") ms after its daemon started)"
else
    fail "the start-failed alarm was raised on node-a (alarms: $(tr '\n' ';' <"$RUN/node-a/alarms.txt" 2>/dev/null))"
fi
check "node-a's status lists the start-failed alarm" has_alarm node-a start-failed
if wait_until 15 holds_nothing node-a; then
    pass "node-a holds neither the VIP nor a postmaster after the failed start"
else
    fail "node-a holds neither the VIP nor a postmaster after the failed start (VIP: $(holds_vip node-a && echo yes || echo no), postmaster: $(postmasters_in "$NS_A"))"
fi
# It must stay so: no retry loop that adds the VIP again (watched for 3 s).
check "the VIP and PostgreSQL stay off node-a (watched for 3 s)" eval '! wait_until 3 eval "! holds_nothing node-a"'
refusal=$(grep -F "$DNS_RESOURCE start: failed" "$RUN/node-a/daemon.out" | head -1 || true)
if [[ $refusal == *NOTAUTH* && $refusal == *BADSIG* ]]; then
    pass "node-a's daemon output names the server's refusal: ${refusal:0:400}"
else
    fail "node-a's daemon output names the server's refusal with NOTAUTH and BADSIG (found: '${refusal:0:400}'; see $RUN/node-a/daemon.out)"
fi
daemon_stop node-a
in_log=$(log_texts node-a | grep -o "DNS UPDATE of $DNS_NAME refused by [^ ]*: NOTAUTH ([^)]*)" | head -1 || true)
if [[ $in_log == *NOTAUTH* && $in_log == *BADSIG* ]]; then
    pass "node-a's event log records the refusal: $in_log"
else
    fail "node-a's event log records the refusal with NOTAUTH and BADSIG (found '$in_log'; see $RUN/node-a-log-texts.txt)"
fi
# What the replay tools show of it: the take-over's actions (the VIP started, the alias's start failed, PostgreSQL
# never started), the release that followed (its reason naming the alias), and the VIP stopped again.
TAKEOVER=$(decisions node-a | grep -o "#[0-9]* decision take-over" | head -1 | tr -dc 0-9 || true)
explain node-a --event "${TAKEOVER:-0}" >/dev/null
check "servha explain (take-over #$TAKEOVER): the VIP started, then the alias's start failed" \
    eval 'grep "vip start: ok" "$RUN/node-a-explain.txt" >/dev/null && grep -F "$DNS_RESOURCE start: failed" "$RUN/node-a-explain.txt" >/dev/null'
check "servha explain: postgresql was never started on node-a" eval '! grep "start postgresql" "$RUN/node-a-explain.txt" >/dev/null'
RELEASE=$(decisions node-a | grep -o "#[0-9]* decision release epoch [0-9]*: $DNS_RESOURCE failed to start" | head -1 |
    grep -o "^#[0-9]*" | tr -dc 0-9 || true)
check "servha replay decisions: a release because the alias failed to start (#${RELEASE:-none})" test -n "$RELEASE"
check "servha explain (that release): the VIP was stopped again" \
    eval 'explain node-a --event "${RELEASE:-0}" | grep "vip stop: ok" >/dev/null'
check "named refused the update: bad signature (its log says BADSIG)" eval 'named_since "$NAMED_BEFORE" | grep "BADSIG" >/dev/null'
check "the record is unchanged: dig still gives $PREVIOUS ($(dns_lookup | tr '\n' ' '))" dns_points_to "$PREVIOUS"
check "the zone is unchanged: SOA serial still $SERIAL_BEFORE ($(dns_serial))" test "$(dns_serial)" = "$SERIAL_BEFORE"
check "node-a's log replays identically" replay_verify "$RUN/node-a/log"

# =================================================================================================================
# 3. address: self, two subnets joined by routers, no VIP
say "address: self: a new site, node-a and node-b in different subnets"
for ns in "$NS_C" "$NS_A" "$NS_B" "$NS_DNS" "$NS_SW"; do ns_destroy "$ns"; done
# New namespace names: deleting a namespace is asynchronous.
NS_SW=$E2E_PREFIX-$RUN_ID-sw2
NS_A=$E2E_PREFIX-$RUN_ID-a2
NS_B=$E2E_PREFIX-$RUN_ID-b2
NS_C=$E2E_PREFIX-$RUN_ID-c2
NS_DNS=$E2E_PREFIX-$RUN_ID-dns2
topology_routed_up
rm -rf "$RUN/node-a/log" "$RUN/node-b/log" "$RUN/node-a/alarms.txt" "$RUN/node-b/alarms.txt" "$RUN/shared/servha" \
    "$RUN/shared/pgdata"
mkdir -p "$RUN/shared/servha"
pg_init
dns_server_up br-svc 27 192.0.2.33
check "dig @$DNS_SERVER $DNS_NAME (a new zone): no record yet" test -z "$(dns_lookup)"
alias_env_resource() { # the script resource that notes the SERVHA_ALIAS it is given
    local file=$RUN/$1/alias-env.txt
    cat <<EOF
  - name: alias-env
    type: script
    start: 'echo "\$SERVHA_ALIAS" > $file'
    stop: 'rm -f $file'
    monitor: 'test -f $file || exit 3'
EOF
}
for node in node-a node-b; do
    servha_config "$node" "$(dns_resource self)
$(alias_env_resource "$node")
$(pg_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
done
check "the configuration has no VIP and gives each node its own subnet's address" \
    eval '! grep -q "type: vip" "$RUN/node-a.yaml" && grep -q "addresses: { node-a: ${LAN_IP[node-a]}, node-b: ${LAN_IP[node-b]} }" "$RUN/node-a.yaml"'
say "address: self: starting node-a, then node-b"
NAMED_BEFORE=$(named_lines)
pair_up "node-a active (alias, alias-env, postgresql), node-b standby, hearing each other across the routers"
check "both heartbeat channels up on both nodes: lan through router 1, hb through router 2" \
    eval 'channels_up node-a && channels_up node-b'
if wait_until 5 dns_points_to "${LAN_IP[node-a]}"; then
    pass "dig @$DNS_SERVER $DNS_NAME gives node-a's address (${LAN_IP[node-a]})"
else
    fail "dig @$DNS_SERVER $DNS_NAME gives node-a's address ${LAN_IP[node-a]} (it gives '$(dns_lookup | tr '\n' ' ')')"
fi
check "node-a's script resource got SERVHA_ALIAS=${DNS_NAME%.}" \
    eval '[[ $(cat "$RUN/node-a/alias-env.txt" 2>/dev/null) == "${DNS_NAME%.}" ]]'
name_writes self
check "the standby, node-b, has not touched the record" eval '! named_updated_by "${LAN_IP[node-b]}" "$NAMED_BEFORE"'
check "the client connects by name to node-a (${LAN_IP[node-a]})" connected_after "${LAN_IP[node-a]}" 0

kill_node_a self "node-b took over across the routers"
if wait_until 15 dns_points_to "${LAN_IP[node-b]}"; then
    pass "dig @$DNS_SERVER $DNS_NAME gives node-b's address (${LAN_IP[node-b]}, $(ms_since "$T0") ms after the death)"
else
    fail "dig @$DNS_SERVER $DNS_NAME gives node-b's address ${LAN_IP[node-b]} (it gives '$(dns_lookup | tr '\n' ' ')')"
fi
if wait_until 30 eval 'is_serving node-b && runs_postgres node-b'; then
    pass "node-b runs alias, alias-env and postgresql ($(ms_since "$T0") ms after the death)"
else
    fail "node-b runs alias, alias-env and postgresql (see $RUN/node-b/daemon.out)"
fi
if wait_until 30 connected_after "${LAN_IP[node-b]}" "$T0"; then
    pass "the client reconnected by name, to node-b (${LAN_IP[node-b]}, $(($(awk -v a="${LAN_IP[node-b]}" -v t="$T0" '$1 > t && $NF == a { print $1; exit }' "$WRITER_ERR") / 1000 - T0 / 1000)) ms after the death)"
else
    fail "the client reconnected by name, to node-b (${LAN_IP[node-b]}; see $WRITER_ERR)"
fi
if wait_until 30 eval '(($(acks_after "$T0") >= 50))'; then
    pass "the client resumed committing through the name ($(acks_after "$T0") commits since the death)"
else
    fail "the client resumed committing through the name (see $WRITER_ERR)"
fi
check "node-b's script resource got SERVHA_ALIAS=${DNS_NAME%.}" \
    eval '[[ $(cat "$RUN/node-b/alias-env.txt" 2>/dev/null) == "${DNS_NAME%.}" ]]'
writer_stop
name_verify "after the failover (address: self)"
check "named logged node-b's signed update, from node-b's subnet" named_updated_by "${LAN_IP[node-b]}" 0
daemon_stop node-b
check "node-b's log replays identically" replay_verify "$RUN/node-b/log"
