#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # the checks are strings that eval expands when they run
# Scenario: the host death watched through the read-only console (issue 14).
#
# Both nodes serve the console on their LAN address (http: { listen: LAN_IP:7480, token_file: ... }, each node its
# own bearer token); the group is the VIP and servha's own small service. From the client's namespace:
#
# 1. A real headless Chromium (Debian's chromium, driven over the DevTools protocol by cdp.py) keeps node-b's page
#    open, the token given in the address's #token=... It shows node-b standby, node-a active.
# 2. Debian's Prometheus scrapes both nodes' /metrics every second with their bearer tokens.
# 3. A load test on the active node's console, both nodes up: 200 connections for 30 s (half polling /api/status
#    back to back, half reading /api/events/stream), after a 30 s baseline without it. No false failover (roles and
#    epochs unchanged in every sample, during and after, and no decision in either log), and the heartbeat interval
#    p99 that node-b saw from node-a (per channel, from node-b's log through `servha audit export`) within 5 ms of
#    the baseline's. Figures as text and as one JSON line (console-load: {...}).
# 4. node-a's host dies (cables pulled, everything SIGKILLed). The page that was already open shows node-b active,
#    the take-over's explanation, the took-over alarm and a time line drawn again; a screenshot is kept
#    ($RUN/console-node-b.png, E2E_KEEP=1 to keep the run directory). Prometheus's API gives node-b's take-over
#    count (at least 1) and a heartbeat round-trip histogram with samples.
# 5. Chromium and Prometheus are stopped, and nothing of theirs is left running.
#
# Usage (as root): [E2E_KEEP=1] scripts/e2e/console.sh      PASS/FAIL per check; exit 0 only when every check passed.
# LOAD_SECONDS, BASELINE_SECONDS and LOAD_CLIENTS change the load (defaults 30, 30, 200). The baseline and the
# load both run with the host's CPUs busy at normal priority (stress-ng --cpu 2, as any batch job on the host
# would), so that a console thread that the kernel holds off the CPU cannot hold the real-time shell up unseen (it
# did: a self-fence, before the shell handed its events to the console through a mailbox). LOAD_STRESS=0: idle.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

CONSOLE_PORT=7480
CDP_PORT=9222
PROM_PORT=9090
LOAD_SECONDS=${LOAD_SECONDS:-30}
BASELINE_SECONDS=${BASELINE_SECONDS:-30}
LOAD_CLIENTS=${LOAD_CLIENTS:-200}
LOAD_STRESS=${LOAD_STRESS:-1}
P99_TOLERANCE_MS=5
CHANNELS=lan,hb # the heartbeat channels in the configuration's order (harness.sh), as the log numbers them
BROWSER=""
PROMETHEUS=""

ms_since() { echo $((($(now_us) - $1) / 1000)); }
mono_ns() { "$PYTHON" -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))'; }
console_url() { echo "http://${LAN_IP[$1]}:$CONSOLE_PORT"; }
token_of() { cat "$RUN/$1/http.token"; }
# api NODE PATH [CURL ARGS...]: a request to NODE's console from the client, with its token.
api() {
    local node=$1 path=$2
    shift 2
    ip netns exec "$NS_C" curl -sS --max-time 5 -H "Authorization: Bearer $(token_of "$node")" "$@" \
        "$(console_url "$node")$path"
}
# json_get FIELD: a field of the JSON object on stdin (dotted for nested ones), as Python prints it.
json_get() {
    "$PYTHON" -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(json.dumps(value) if isinstance(value, (dict, list)) else value)' "$1"
}

# --- the processes this scenario starts in the client's namespace -------------------------------------------------
# exited PID: the process is gone or a zombie (they are this shell's children, reaped by stop_child).
exited() { [[ ! -e /proc/$1 ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
# The pids of processes whose command line contains TEXT (a directory of this run: each process's own).
pids_with() {
    local proc
    for proc in /proc/[0-9]*; do
        [[ ${proc#/proc/} == "$$" || ${proc#/proc/} == "$BASHPID" ]] && continue
        { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "$1" && echo "${proc#/proc/}"
    done
    return 0
}
# stop_child PID TEXT: SIGTERM, up to 10 s for the exit, reaped; then SIGKILL to anything still running with TEXT
# in its command line (a browser's helpers).
stop_child() {
    local pid=$1 text=$2 left
    if [[ -n $pid ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_until 10 exited "$pid" || kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    left=$(pids_with "$text")
    if [[ -n $left ]]; then
        say "still running after the stop, killed: $left"
        # shellcheck disable=SC2086
        kill -9 $left 2>/dev/null || true
    fi
}

# Chromium, headless, in the client's namespace, with node-b's page open; the DevTools endpoint on that namespace's
# loopback. No background traffic of its own (and the namespace has no route out anyway).
BROWSER_DIR=""
browser_start() {
    BROWSER_DIR=$RUN/chromium
    mkdir -p "$BROWSER_DIR/profile"
    ip netns exec "$NS_C" chromium --headless --no-sandbox --disable-gpu --user-data-dir="$BROWSER_DIR/profile" \
        --remote-debugging-address=127.0.0.1 --remote-debugging-port="$CDP_PORT" --window-size=1400,1000 \
        --no-first-run --no-default-browser-check --disable-background-networking --disable-component-update \
        --disable-sync --disable-default-apps --no-pings \
        "$(console_url node-b)/#token=$(token_of node-b)" >"$BROWSER_DIR/chromium.out" 2>&1 &
    BROWSER=$!
    e2e_on_exit browser_stop
}
browser_stop() {
    [[ -n $BROWSER_DIR ]] || return 0
    stop_child "$BROWSER" "$BROWSER_DIR/profile"
    BROWSER=""
}
# page ARGS...: cdp.py on node-b's page (eval JS, wait SECONDS JS, screenshot FILE).
page() { ip netns exec "$NS_C" "$PYTHON" "$E2E_DIR/cdp.py" "$CDP_PORT" "$(console_url node-b)/" "$@"; }
# What the page shows, for the messages.
PAGE_STATE='JSON.stringify({role: document.getElementById("role").textContent,
  epoch: document.getElementById("epoch").textContent, peer: document.getElementById("peer-role").textContent,
  last_failover: document.getElementById("last-failover").textContent.slice(0, 60),
  explain: document.getElementById("explain").textContent.slice(0, 80),
  decision: document.getElementById("explain").dataset.decision || null,
  svg: !!document.querySelector("#timeline svg"), events: document.getElementById("events").rows.length,
  alarms: document.getElementById("alarms").textContent.slice(0, 60),
  connection: document.getElementById("connection").textContent})'
page_state() { page eval "$PAGE_STATE" 2>&1 || true; }

# Prometheus in the client's namespace, on its loopback, scraping both consoles every second, each with its token.
PROM_DIR=""
prometheus_start() {
    PROM_DIR=$RUN/prometheus
    mkdir -p "$PROM_DIR/data"
    cat >"$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: servha-node-a
    authorization: { type: Bearer, credentials_file: $RUN/node-a/http.token }
    static_configs: [ { targets: ['${LAN_IP[node-a]}:$CONSOLE_PORT'], labels: { node: node-a } } ]
  - job_name: servha-node-b
    authorization: { type: Bearer, credentials_file: $RUN/node-b/http.token }
    static_configs: [ { targets: ['${LAN_IP[node-b]}:$CONSOLE_PORT'], labels: { node: node-b } } ]
EOF
    promtool check config "$PROM_DIR/prometheus.yml" >"$PROM_DIR/promtool.out" 2>&1 || {
        fail "promtool accepts the Prometheus configuration (see $PROM_DIR/promtool.out)"
        exit 1
    }
    ip netns exec "$NS_C" prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$PROM_DIR/prometheus.out" 2>&1 &
    PROMETHEUS=$!
    e2e_on_exit prometheus_stop
}
prometheus_stop() {
    [[ -n $PROM_DIR ]] || return 0
    stop_child "$PROMETHEUS" "$PROM_DIR/data"
    PROMETHEUS=""
}
# promql QUERY: the API's answer (JSON); prom_value QUERY: the first result's value (nothing when there is none).
promql() {
    ip netns exec "$NS_C" curl -sS --max-time 5 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" \
        --data-urlencode "query=$1"
}
prom_value() {
    promql "$1" 2>/dev/null | "$PYTHON" -c 'import json, sys
result = json.load(sys.stdin)["data"]["result"]
print(result[0]["value"][1] if result else "")' 2>/dev/null
}
# prom_at_least QUERY N: the query's first value is at least N.
prom_at_least() {
    local value
    value=$(prom_value "$1")
    [[ -n $value ]] && "$PYTHON" -c 'import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]))' "$value" "$2"
}

# --- roles and epochs, sampled ---------------------------------------------------------------------------------------
ROLES=""
# sample_roles PHASE: one line in $ROLES: PHASE TIME_US node-a's role and epoch, node-b's role and epoch.
sample_roles() {
    local a b
    a=$(status_json node-a | grep -o '^{"node":"node-a","role":"[^"]*","epoch":[0-9]*' | sed 's/.*"role":"//; s/","epoch":/ /')
    b=$(status_json node-b | grep -o '^{"node":"node-b","role":"[^"]*","epoch":[0-9]*' | sed 's/.*"role":"//; s/","epoch":/ /')
    echo "$1 $(now_us) ${a:-none -} ${b:-none -}" >>"$ROLES"
}
# sample_while PHASE PID: samples every 0.5 s while PID runs. sample_for PHASE SECONDS: for SECONDS.
sample_while() { while ! exited "$2"; do sample_roles "$1"; sleep 0.5; done; }
sample_for() {
    local until=$(($(now_us) + $2 * 1000000))
    while (($(now_us) < until)); do sample_roles "$1"; sleep 0.5; done
}
# samples_other_than PHASE EXPECTED: how many of PHASE's samples differ from EXPECTED ("active 1 standby 0").
samples_other_than() { awk -v p="$1" -v e="$2" '$1 == p && $3 " " $4 " " $5 " " $6 != e' "$ROLES" | wc -l; }
samples_in() { awk -v p="$1" '$1 == p' "$ROLES" | wc -l; }

# =================================================================================================================
e2e_start console
topology_up
servha_setup
for node in node-a node-b; do
    # A bearer token per node: 48 hex digits, mode 0600 (the daemon refuses a token file others may read).
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/$node/http.token")
    servha_config "$node" "$(vip_resource)
$(service_resource "$node")" "failback: { mode: manual, preferred_node: node-a }
http: { listen: ${LAN_IP[$node]}:$CONSOLE_PORT, token_file: $RUN/$node/http.token }" 2>>"$RUN/check-config.out"
done
say "starting node-a, then node-b, each with its console on its LAN address, port $CONSOLE_PORT"
pair_up "node-a active (vip, web), node-b standby, each hearing the other"
wait_until 10 settled node-a || say "warning: node-a still announces the disk-only lease"

# --- the consoles, by hand ----------------------------------------------------------------------------------------
for node in node-a node-b; do
    code=$(ip netns exec "$NS_C" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(console_url "$node")/healthz" || true)
    check "$node's console answers GET /healthz without a token from the client ($code)" test "$code" = 200
done
code=$(ip netns exec "$NS_C" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(console_url node-a)/api/status" || true)
check "GET /api/status without the token is refused ($code)" test "$code" = 401
role=$(api node-a /api/status | json_get role || true)
check "GET /api/status with node-a's token: node-a is $role" test "$role" = active

# --- the page, in Chromium --------------------------------------------------------------------------------------
say "Chromium opens node-b's page: $(console_url node-b)/#token=..."
T=$(now_us)
browser_start
if page wait 30 'document.getElementById("role").textContent === "standby"
        && document.getElementById("peer-role").textContent === "active"
        && document.getElementById("events").rows.length > 0' >/dev/null 2>>"$RUN/cdp.err"; then
    pass "Chromium shows node-b's page: #role standby, #peer-role active ($(ms_since "$T") ms after the browser started)"
else
    fail "Chromium shows node-b's page with #role standby and #peer-role active (page: $(page_state); see $BROWSER_DIR/chromium.out, $RUN/cdp.err)"
fi
check "the page took the token from #token=... (no 401; status: '$(page eval 'document.getElementById("connection").textContent' 2>&1)')" \
    eval '[[ -z $(page eval "document.getElementById(\"connection\").textContent") ]]'

# --- Prometheus ------------------------------------------------------------------------------------------------------
say "Prometheus scrapes both consoles every second (127.0.0.1:$PROM_PORT in $NS_C)"
T=$(now_us)
prometheus_start
if wait_until 30 prom_at_least 'sum(up{job=~"servha-.*"})' 2; then
    pass "Prometheus scrapes both nodes' /metrics with their tokens (both targets up $(ms_since "$T") ms after its start)"
else
    fail "Prometheus scrapes both nodes' /metrics (targets: $(ip netns exec "$NS_C" curl -s "http://127.0.0.1:$PROM_PORT/api/v1/targets" | head -c 600); see $PROM_DIR/prometheus.out)"
fi

# --- the load test -------------------------------------------------------------------------------------------------
ROLES=$RUN/roles.txt
: >"$ROLES"
EXPECTED="active $(epoch_of node-a) standby $(epoch_of node-b)"
STRESS=""
if [[ $LOAD_STRESS == 1 ]]; then
    # Two CPU hogs at normal priority for the baseline and the load alike: the comparison is the console's load.
    stress-ng --cpu 2 --timeout $((BASELINE_SECONDS + LOAD_SECONDS + 10))s >"$RUN/stress-ng.out" 2>&1 &
    STRESS=$!
    stop_stress() { kill "$STRESS" 2>/dev/null || true; }
    e2e_on_exit stop_stress
fi
say "baseline: $BASELINE_SECONDS s, both nodes up (roles and epochs: $EXPECTED)${STRESS:+, CPUs busy (stress-ng --cpu 2)}"
BASE_START=$(mono_ns)
sample_for baseline "$BASELINE_SECONDS"
say "load: $LOAD_CLIENTS connections to $(console_url node-a) for $LOAD_SECONDS s (half /api/status, half /api/events/stream)"
ip netns exec "$NS_C" "$PYTHON" "$E2E_DIR/console-load.py" load "${LAN_IP[node-a]}" "$CONSOLE_PORT" \
    "$RUN/node-a/http.token" "$LOAD_SECONDS" "$LOAD_CLIENTS" >"$RUN/load.json" 2>"$RUN/load.err" &
LOADER=$!
sample_while load "$LOADER"
wait "$LOADER" || true
if [[ -n $STRESS ]]; then
    stop_stress
    wait "$STRESS" 2>/dev/null || true
fi
sample_for after 3
if ! LOAD_START=$(json_get start_mono_ns <"$RUN/load.json" 2>/dev/null) || ! LOAD_END=$(json_get end_mono_ns <"$RUN/load.json"); then
    fail "the load ran (see $RUN/load.err)"
    exit 1
fi
LOAD=$(cat "$RUN/load.json")
lj() { json_get "$1" <<<"$LOAD"; }

# The logs, to the end of the load and 3 s after it (routine events reach the file within a quarter second).
for node in node-a node-b; do
    "$SERVHA" audit export "$RUN/$node/log" --format jsonl --output "$RUN/$node-audit.jsonl"
done
AFTER_END=$(mono_ns)
HB=$("$PYTHON" "$E2E_DIR/console-load.py" heartbeats "$RUN/node-b-audit.jsonl" "$CHANNELS" "$BASE_START" "$LOAD_START" "$LOAD_END")
hb() { json_get "$1" <<<"$HB"; }
DECISIONS_A=$("$PYTHON" "$E2E_DIR/console-load.py" heartbeats "$RUN/node-a-audit.jsonl" "$CHANNELS" "$BASE_START" "$LOAD_START" "$AFTER_END" | json_get decisions)
DECISIONS_B=$("$PYTHON" "$E2E_DIR/console-load.py" heartbeats "$RUN/node-b-audit.jsonl" "$CHANNELS" "$BASE_START" "$LOAD_START" "$AFTER_END" | json_get decisions)
STREAM_PEAK=$(prom_value "max_over_time(servha_console_stream_clients{job=\"servha-node-a\"}[$((BASELINE_SECONDS + LOAD_SECONDS + 30))s])")

# The figures.
{
    echo "console load on node-a: $(lj clients) connections ($(lj pollers) polling /api/status, $(lj streamers) reading /api/events/stream) for $(lj seconds) s"
    echo "  /api/status: $(lj requests) answers, $(lj requests_per_s) per second, latency p50 $(lj poll_p50_ms) ms, p99 $(lj poll_p99_ms) ms; non-200 answers $(lj non_200), connection errors $(lj errors)"
    echo "  event stream: $(lj stream_events) events, $(lj stream_events_per_s) per second, $(lj stream_bytes) bytes over $(lj streams_opened) streams; node-a counted ${STREAM_PEAK:-?} stream clients at most"
    echo "  connections open: $(lj open_at_middle) at half time, $(lj open_at_end) at the end, $(lj connections_opened) opened in all"
    for channel in ${CHANNELS//,/ }; do
        echo "  heartbeats node-a -> node-b on $channel: baseline ($BASELINE_SECONDS s) p50 $(hb "$channel.baseline.p50_ms") ms, p99 $(hb "$channel.baseline.p99_ms") ms, max $(hb "$channel.baseline.max_ms") ms ($(hb "$channel.baseline.n") intervals); load p50 $(hb "$channel.load.p50_ms") ms, p99 $(hb "$channel.load.p99_ms") ms, max $(hb "$channel.load.max_ms") ms ($(hb "$channel.load.n") intervals)"
    done
    echo "  roles and epochs sampled every 0.5 s: $(samples_in baseline) in the baseline, $(samples_in load) under load, $(samples_in after) after; decisions logged from the baseline's start to 3 s after the load: node-a $DECISIONS_A, node-b $DECISIONS_B"
}
printf 'console-load: {"clients":%s,"seconds":%s,"requests":%s,"requests_per_s":%s,"poll_p50_ms":%s,"poll_p99_ms":%s,"non_200":%s,"errors":%s,"stream_events":%s,"stream_events_per_s":%s,"stream_clients_peak":%s,"heartbeats":%s,"role_samples":{"baseline":%d,"load":%d,"after":%d,"changed":%d},"decisions":{"node-a":%s,"node-b":%s},"cores":%d}\n' \
    "$(lj clients)" "$(lj seconds)" "$(lj requests)" "$(lj requests_per_s)" "$(lj poll_p50_ms)" "$(lj poll_p99_ms)" \
    "$(lj non_200)" "$(lj errors)" "$(lj stream_events)" "$(lj stream_events_per_s)" "${STREAM_PEAK:-null}" \
    "$("$PYTHON" -c 'import json, sys; h = json.loads(sys.argv[1]); h.pop("decisions"); print(json.dumps(h, separators=(",", ":")))' "$HB")" \
    "$(samples_in baseline)" "$(samples_in load)" "$(samples_in after)" \
    "$(($(samples_other_than baseline "$EXPECTED") + $(samples_other_than load "$EXPECTED") + $(samples_other_than after "$EXPECTED")))" \
    "$DECISIONS_A" "$DECISIONS_B" "$(nproc)"

# The checks.
check "the load held $LOAD_CLIENTS connections: $(lj open_at_middle) at half time, $(lj open_at_end) at the end" \
    eval '[[ $(lj open_at_middle) == "{\"polls\": $(lj pollers), \"streams\": $(lj streamers)}" && $(lj open_at_end) == "$(lj open_at_middle)" ]]'
check "node-a's console served the load: $(lj requests_per_s) status answers per second, no error, no non-200 answer ($(lj non_200) non-200, $(lj errors) errors: $(lj error_kinds))" \
    eval '(($(lj requests) > 0 && $(lj non_200) == 0 && $(lj errors) == 0))'
check "node-a counted the $(lj streamers) stream clients (servha_console_stream_clients at most ${STREAM_PEAK:-?})" \
    eval '[[ -n $STREAM_PEAK ]] && ((STREAM_PEAK >= $(lj streamers)))'
check "the polled status always said node-a active, epoch unchanged ($(lj status_seen))" \
    eval '[[ $(lj status_seen) == "{\"${EXPECTED%% standby*}\": $(lj requests)}" ]]'
for phase in baseline load after; do
    check "no false failover $([[ $phase == after ]] && echo "in the 3 s after the load" || echo "during the $phase"): roles and epochs '$EXPECTED' in all $(samples_in $phase) samples ($(samples_other_than $phase "$EXPECTED") otherwise, see $ROLES)" \
        eval '(($(samples_in $phase) > 0 && $(samples_other_than $phase "$EXPECTED") == 0))'
done
check "no decision in either log from the baseline's start to 3 s after the load (node-a $DECISIONS_A, node-b $DECISIONS_B)" \
    eval '((DECISIONS_A == 0 && DECISIONS_B == 0))'
for channel in ${CHANNELS//,/ }; do
    base=$(hb "$channel.baseline.p99_ms")
    under=$(hb "$channel.load.p99_ms")
    check "heartbeat interval p99 on $channel (node-a -> node-b): $under ms under load, $base ms in the baseline (within $P99_TOLERANCE_MS ms)" \
        "$PYTHON" -c 'import sys
base, under, tolerance = (float(x) if x != "None" else None for x in sys.argv[1:4])
sys.exit(not (base is not None and under is not None and abs(under - base) <= tolerance))' "$base" "$under" "$P99_TOLERANCE_MS"
done

# --- node-a dies -------------------------------------------------------------------------------------------------
check "node-b's page still shows standby before the death" \
    eval '[[ $(page eval "document.getElementById(\"role\").textContent") == standby ]]'
wait_until 10 settled node-a || say "warning: node-a still announces the disk-only lease"
say "node-a dies: cables pulled, every process SIGKILLed"
T0=$(now_us)
host_kill node-a
if wait_until 10 is_role node-b active; then
    pass "node-b took over ($(ms_since "$T0") ms after node-a died)"
else
    fail "node-b took over within 10 s"
fi
if page wait 15 'document.getElementById("role").textContent === "active"' >/dev/null 2>>"$RUN/cdp.err"; then
    pass "the open page shows #role active ($(ms_since "$T0") ms after the death)"
else
    fail "the open page shows #role active within 15 s of the death (page: $(page_state))"
fi
if page wait 10 'document.getElementById("explain").textContent.includes("take-over")
        && document.getElementById("explain").dataset.decision !== ""' >/dev/null 2>>"$RUN/cdp.err"; then
    pass "#explain explains the take-over (decision #$(page eval 'document.getElementById("explain").dataset.decision'): $(page eval 'document.getElementById("explain").textContent.split("\n")[0]'))"
else
    fail "#explain contains take-over (page: $(page_state))"
fi
EXPLAIN=$(api node-b /api/explain | json_get decision || true)
check "#explain's decision is the one GET /api/explain names (#$EXPLAIN)" \
    eval '[[ -n $EXPLAIN && $(page eval "document.getElementById(\"explain\").dataset.decision") == "$EXPLAIN" ]]'
check "#last-failover names the take-over ($(page eval 'document.getElementById("last-failover").textContent.slice(0, 80)'))" \
    eval '[[ $(page eval "document.getElementById(\"last-failover\").textContent") == take-over* ]]'
check "#epoch is node-b's epoch ($(epoch_of node-b))" \
    eval '[[ $(page eval "document.getElementById(\"epoch\").textContent") == "$(epoch_of node-b)" ]]'
check "#alarms lists the took-over alarm" \
    eval 'page wait 5 "document.getElementById(\"alarms\").textContent.includes(\"took-over\")" >/dev/null'
# The page draws the time line again a second after new events: node-b's role lane then has an active stretch.
if page wait 10 'document.querySelector("#timeline svg rect.role-active") !== null' >/dev/null 2>>"$RUN/cdp.err"; then
    pass "#timeline holds an svg, drawn again after the take-over: node-b's role lane shows it active ($(page eval 'document.querySelector("#timeline svg").outerHTML.length') characters)"
else
    fail "#timeline holds an svg showing node-b active (page: $(page_state))"
fi
sleep 1 # the events table and the time line settle
if shot=$(page screenshot "$RUN/console-node-b.png" 2>&1) && [[ -s $RUN/console-node-b.png ]]; then
    pass "screenshot of node-b's page after the take-over: $RUN/console-node-b.png (${shot##*: })"
else
    fail "screenshot of node-b's page after the take-over ($shot)"
fi

# --- Prometheus, after the take-over ------------------------------------------------------------------------------------
B="instance=\"${LAN_IP[node-b]}:$CONSOLE_PORT\""
if wait_until 15 prom_at_least "sum(servha_failovers_total{kind=\"take-over\",$B})" 1; then
    pass "Prometheus: sum(servha_failovers_total{kind=\"take-over\",$B}) = $(prom_value "sum(servha_failovers_total{kind=\"take-over\",$B})") ($(ms_since "$T0") ms after the death)"
else
    fail "Prometheus: node-b's take-over count at least 1 (it gives '$(prom_value "sum(servha_failovers_total{kind=\"take-over\",$B})")')"
fi
COUNT=$(prom_value "sum(servha_heartbeat_round_trip_seconds_count{$B})")
P99=$(prom_value "histogram_quantile(0.99, sum by (le) (servha_heartbeat_round_trip_seconds_bucket{$B}))")
check "Prometheus: node-b's heartbeat round-trip histogram has samples (servha_heartbeat_round_trip_seconds_count ${COUNT:-none}, p99 ${P99:-?} s)" \
    eval '[[ -n $COUNT ]] && prom_at_least "sum(servha_heartbeat_round_trip_seconds_count{$B})" 1'

# --- the end ---------------------------------------------------------------------------------------------------------
browser_stop
prometheus_stop
LEFT=$( (pids_with "$BROWSER_DIR/profile"; pids_with "$PROM_DIR/data"; ip netns pids "$NS_C") | sort -u | tr '\n' ' ')
check "Chromium and Prometheus stopped, nothing left running in the client's namespace${LEFT:+ (left: $LEFT)}" test -z "$LEFT"
