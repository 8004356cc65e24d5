#!/usr/bin/env bash
# `make bench-failover`: how long clients see nothing when the active host dies, servha against keepalived, in
# the same run on the same namespaces (see harness.sh for the site).
#
# Outage: the client pings the VIP every 5 ms; the outage of a trial is the largest gap between consecutive
# replies (not the time to the first reply after the death: replies already in flight would make that a few
# ms). A trial pulls the active host's cables and SIGKILLs everything on it; the host then "reboots" (no VIP,
# cables back), its daemon starts again, and once it is a ready standby the next trial kills the other host.
#
#   servha at its default configuration (VIP resource only: the outage is the VIP's move), and at profile: fast
#   keepalived (Debian's, VRRPv3) at advert_int 1 and at advert_int 0.1, nopreempt so that roles alternate
#   servha with the VIP and PostgreSQL (OCF pgsql, data on the shared storage): time from the host's death to
#     the first successful query through the VIP
#   the same with servha's own shared storage on a raw LUN (row pg_device: STORAGE=device for that row only, so
#     `shared_storage: { device: SERVHA_LUN }`, a loop device on a 16 MiB sparse file laid out with `servha disk
#     init`; PostgreSQL's data stays in the shared directory): the same measure, beside the directory's
#   servha with the virtual host name and PostgreSQL, no VIP (rows dns5 and dns1): a `dns` resource (address: self)
#     points db.example.test. at the active's own address on a BIND primary (named, in a namespace of its own on the
#     LAN), with a TTL of 5 s or 1 s; the client looks the name up before every attempt through a caching resolver
#     (a second named, on the client's loopback, forwarding example.test. to the primary), so that it keeps trying
#     the dead node's address until its cached answer expires: time from the death to the first successful query
#     by name. Each death comes right after the resolver fetched the record again (the worst case: the dead
#     node's address cached for the whole TTL, less under 1 s, as BIND counts in seconds)
#   the same two servha measures WITH FENCING: a BMC simulator per node (ipmi_sim, scripts/e2e/fencing.sh), each
#     host in a cgroup of its own, and Debian's fence_ipmilan (power_wait "0") in servha's fencing section. The
#     death is the same (cables pulled, SIGKILL): the standby then fences a host that is already dead (the BMC's
#     power-off is idempotent) and takes over only once the agent has succeeded. Between trials the fenced host is
#     powered on again (fence_ipmilan on), reboots and starts servha in its cgroup.
#
# After a host returns, the survivor (which renewed its lease by disk alone while it ran alone) announces a
# disk-only lease for up to 3 s, which a takeover must wait out: a death within that window fails over slower by
# design. So each servha trial waits until the active's status shows "disk_only_lease":false, as a pair in
# service would be.
#
# Figures go to stdout as a table and as ONE JSON line; progress to stderr. Exit 1 when a target is missed
# (servha p50 <= 250 ms, profile fast p50 <= 100 ms, first PostgreSQL query <= 2 s with servha's storage in a
# directory and on a LUN, servha with fencing p50 <= 1000 ms).
#
# Usage (as root): scripts/e2e/bench-failover.sh   [TRIALS=10] [PG_TRIALS=5]
#                  [ROWS=servha,fast,keepalived,pg,pg_device,dns5,dns1,fenced]
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fencing.sh"

TRIALS=${TRIALS:-10}
PG_TRIALS=${PG_TRIALS:-5}
KEEPALIVED_VIP=192.0.2.101
PROBE_INTERVAL=0.005

PING_PID=""
PING_OUT=""

# The client pings ADDRESS every 5 ms, one line per reply with its arrival time (-D), line-buffered.
ping_start() {
    PING_OUT=$1
    : >"$PING_OUT"
    ip netns exec "$NS_C" stdbuf -oL ping -n -D -i "$PROBE_INTERVAL" "$2" >"$PING_OUT" 2>/dev/null &
    PING_PID=$!
}
ping_stop() {
    kill -INT "$PING_PID" 2>/dev/null || true
    wait "$PING_PID" 2>/dev/null || true
}
replies() { grep -c 'bytes from' "$PING_OUT" || true; }
# Replies that arrived after a wall-clock time (µs).
replies_after() { awk -v t="$1" '/bytes from/ { gsub(/[][]/, "", $1); if ($1 * 1000000 > t) n++ } END { print n + 0 }' "$PING_OUT"; }
# The largest gap between consecutive replies, in ms.
largest_gap_ms() {
    awk '/bytes from/ { gsub(/[][]/, "", $1); if (prev && $1 - prev > gap) gap = $1 - prev; prev = $1 }
        END { printf "%.1f", gap * 1000 }' "$1"
}

# stats VALUES...: "p50 max" (nearest rank).
stats() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { r = int((NR + 1) / 2); printf "%s %s", v[r], v[NR] }'
}
json_list() { local IFS=,; echo "[$*]"; }

# kill_and_measure ACTIVE STANDBY ADDRESS READY_COMMAND...: one trial; prints the largest gap.
# READY_COMMAND says the standby has taken over (polled after the death).
kill_and_measure() {
    local active=$1 standby=$2 address=$3 t0
    shift 3
    ping_start "$RUN/ping-$active-$(now_us).txt" "$address"
    wait_until 5 eval '(($(replies) >= 60))' || say "warning: the client gets no replies from $address"
    t0=$(now_us)
    host_kill "$active"
    wait_until 30 "$@" || say "warning: $standby did not take over"
    # Replies for a while after the standby took over, so that the gap is closed by steady replies.
    wait_until 10 eval '(($(replies_after '"$t0"') >= 60))' ||
        say "warning: replies did not resume after the death of $active"
    ping_stop
    largest_gap_ms "$PING_OUT"
}

# --- servha: VIP only, at a timing profile --------------------------------------------------------------------
bench_servha() { # bench_servha PROFILE: fills SERVHA_GAPS
    local PROFILE=$1
    cluster_reset
    for node in node-a node-b; do servha_config "$node" "$(vip_resource)"; done
    pair_up "servha ($PROFILE profile): node-a active, node-b standby"
    local active=node-a standby=node-b i gap
    SERVHA_GAPS=()
    for i in $(seq "$TRIALS"); do
        wait_until 10 settled "$active" || say "warning: $active still announces the disk-only lease"
        gap=$(kill_and_measure "$active" "$standby" "$VIP" eval "is_role $standby active && holds_vip $standby")
        SERVHA_GAPS+=("$gap")
        say "servha ($PROFILE) trial $i: $active died, outage $gap ms"
        host_return "$active"
        wait_until 30 pair_ready "$standby" "$active" || say "warning: $active did not come back as standby"
        local t=$active
        active=$standby
        standby=$t
    done
}

# --- keepalived ---------------------------------------------------------------------------------------------
keepalived_config() { # keepalived_config NODE ADVERT_INT
    local priority=100
    [[ $1 == node-a ]] && priority=150
    cat >"$RUN/$1/keepalived.conf" <<EOF
global_defs {
    router_id $1
    vrrp_version 3
    script_user root
    enable_script_security
}
vrrp_instance e2e {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority $priority
    advert_int $2
    virtual_ipaddress {
        $KEEPALIVED_VIP/$VIP_PREFIX dev eth0
    }
}
EOF
}

keepalived_start() {
    local node=$1 dir=$RUN/$1
    : >"$dir/keepalived.out"
    # A rebooted host has a clean /run: pid files of a SIGKILLed keepalived would make it refuse to start when
    # their pids have been reused.
    rm -f "$dir"/keepalived*.pid
    ip netns exec "${NODE_NS[$node]}" keepalived -n -l -f "$dir/keepalived.conf" -p "$dir/keepalived.pid" \
        -r "$dir/keepalived-vrrp.pid" -c "$dir/keepalived-check.pid" >>"$dir/keepalived.out" 2>&1 &
    disown
}
keepalived_in() { grep -q "$2" "$RUN/$1/keepalived.out"; }

bench_keepalived() { # bench_keepalived ADVERT_INT: fills KEEPALIVED_GAPS
    local advert=$1 node
    cluster_reset
    for node in node-a node-b; do keepalived_config "$node" "$advert"; done
    keepalived_start node-a
    wait_until 30 holds_vip node-a "$KEEPALIVED_VIP" || {
        fail "keepalived ($advert): node-a holds the VIP"
        exit 1
    }
    keepalived_start node-b
    wait_until 30 keepalived_in node-b "Entering BACKUP STATE" || {
        fail "keepalived ($advert): node-b backup"
        exit 1
    }
    local active=node-a standby=node-b i gap
    KEEPALIVED_GAPS=()
    for i in $(seq "$TRIALS"); do
        gap=$(kill_and_measure "$active" "$standby" "$KEEPALIVED_VIP" holds_vip "$standby" "$KEEPALIVED_VIP")
        KEEPALIVED_GAPS+=("$gap")
        say "keepalived advert_int $advert trial $i: $active died, outage $gap ms"
        host_reboot "$active"
        keepalived_start "$active"
        wait_until 30 keepalived_in "$active" "Entering BACKUP STATE" || say "warning: $active not backup"
        # A backup is ready once it has heard its master's adverts for a master-down interval.
        sleep "$(awk -v a="$advert" 'BEGIN { print 3 * a + 0.2 }')"
        local t=$active
        active=$standby
        standby=$t
    done
}

# --- servha with PostgreSQL: death to first query -------------------------------------------------------------
# first_query SINCE_US TIMEOUT_S: pgclient first-query to FIRST_QUERY_TARGET (the VIP, or the name and the resolver
# to look it up with); its messages go to $RUN/first-query.err.
FIRST_QUERY_TARGET=()
first_query() {
    pgclient first-query "${FIRST_QUERY_TARGET[0]}" "$1" "$2" "${FIRST_QUERY_TARGET[@]:1}" 2>>"$RUN/first-query.err"
}

# bench_first_query [TTL]: fills FIRST_QUERY. Without TTL: the group is the VIP and PostgreSQL, and the client queries
# through the VIP. With TTL (the dns rows): the group is the virtual host name (a `dns` resource, address: self, so
# the name moves from one node's address to the other's, with that TTL) and PostgreSQL, no VIP; the client looks the
# name up through its caching resolver before every attempt, so that it keeps the dead node's address until the
# cached answer expires, as a real client would.
bench_first_query() {
    local ttl=${1:-} what=servha+postgresql resources node
    FIRST_QUERY_TARGET=("$VIP")
    cluster_reset
    [[ -n $PGDATA_SHARED ]] || pg_init
    if [[ -n $ttl ]]; then
        FIRST_QUERY_TARGET=("$DNS_NAME" --dns-server "$DNS_RESOLVER")
        what="servha+postgresql by name (TTL $ttl s)"
    fi
    [[ $STORAGE != device ]] || what+=", servha's storage on $SERVHA_LUN"
    for node in node-a node-b; do
        if [[ -n $ttl ]]; then
            resources="$(dns_resource self "$DNS_KEY" "${ttl}s")"
        else
            resources="$(vip_resource)"
        fi
        servha_config "$node" "$resources
$(pg_resource "$node")"
    done
    pair_up "$what: node-a active, node-b standby"
    local active=node-a standby=node-b i t0 ms
    FIRST_QUERY=()
    for i in $(seq "$PG_TRIALS"); do
        wait_until 30 eval 'first_query "$(now_us)" 1 >/dev/null' || say "warning: no PostgreSQL before trial $i"
        wait_until 10 settled "$active" || say "warning: $active still announces the disk-only lease"
        # By name, the death comes right after the client's resolver fetched the record again (it gives the whole
        # TTL): the worst case, in which the client keeps the dead node's address for the TTL (less under 1 s).
        if [[ -n $ttl ]] && ! wait_until $((ttl + 5)) eval '[[ $(dns_cached_ttl) == "$ttl" ]]'; then
            say "warning: the resolver did not fetch the record again within $((ttl + 5)) s"
        fi
        t0=$(now_us)
        host_kill "$active"
        ms=$(first_query "$t0" 20) || ms=20000
        ms=$(printf '%.1f' "$ms")
        FIRST_QUERY+=("$ms")
        say "first query trial $i ($what): $active died, PostgreSQL answered through ${FIRST_QUERY_TARGET[0]} after $ms ms"
        host_return "$active"
        wait_until 60 eval "pair_ready $standby $active && is_serving $standby" ||
            say "warning: $active did not come back as standby"
        local t=$active
        active=$standby
        standby=$t
    done
}

# bench_first_query_device: bench_first_query with servha's shared storage on SERVHA_LUN (made and laid out by
# cluster_reset), then back to the directory for the rows after it; fills FIRST_QUERY.
bench_first_query_device() {
    STORAGE=device
    bench_first_query
    STORAGE=directory
    cluster_reset
}

# --- servha with fencing -------------------------------------------------------------------------------------
# A fresh fenced cluster: cluster_reset, every BMC's power on, and both daemons started in their hosts' cgroups
# with RESOURCES (a function of the node) and the fencing section; waits until node-a serves and node-b is its
# ready standby. Sets FENCES_OK=0.
fenced_cluster_up() { # fenced_cluster_up WHAT RESOURCES_FUNCTION
    local what=$1 resources=$2 node
    cluster_reset
    for node in node-a node-b; do
        echo 1 >"$RUN/bmc/$node/power.state" # the hook's state: powered on
        node_cgroup_create "$node"
        servha_config "$node" "$("$resources" "$node")" "$(fencing_yaml)"
    done
    pair_up "$what: node-a active, node-b standby" daemon_start_frozenable
    FENCES_OK=0
}

# fenced_trial_end WHAT TRIAL DEAD SURVIVOR OFFS_BEFORE: the survivor must have fenced the dead host (its BMC
# carried out a power-off); then the dead host is powered on, reboots, starts servha in its cgroup, and must come
# back as the survivor's ready standby.
fenced_trial_end() {
    local what=$1 i=$2 dead=$3 survivor=$4 offs_before=$5
    if (($(hook_offs "$dead") > offs_before)); then
        FENCES_OK=$((FENCES_OK + 1))
    else
        fail "$what trial $i: $survivor fenced $dead before taking over (no power-off in $RUN/bmc/$dead.hook.log)"
    fi
    fence_agent_on "$dead" >/dev/null || say "warning: powering $dead on failed (exit $FENCE_RC)"
    host_reboot "$dead"
    daemon_start_frozenable "$dead"
}

vip_only() { vip_resource; }
vip_and_pg() { vip_resource && pg_resource "$1"; }

# servha with fencing, VIP only: fills SERVHA_FENCED_GAPS.
bench_servha_fenced() {
    fenced_cluster_up "servha with fencing" vip_only
    local active=node-a standby=node-b i gap offs
    SERVHA_FENCED_GAPS=()
    for i in $(seq "$TRIALS"); do
        wait_until 10 settled "$active" || say "warning: $active still announces the disk-only lease"
        offs=$(hook_offs "$active")
        gap=$(kill_and_measure "$active" "$standby" "$VIP" eval "is_role $standby active && holds_vip $standby")
        SERVHA_FENCED_GAPS+=("$gap")
        say "servha with fencing trial $i: $active died, outage $gap ms"
        fenced_trial_end "servha with fencing" "$i" "$active" "$standby" "$offs"
        wait_until 60 pair_ready "$standby" "$active" || say "warning: $active did not come back as standby"
        local t=$active
        active=$standby
        standby=$t
    done
    SERVHA_FENCES=$FENCES_OK
}

# servha with fencing, VIP and PostgreSQL: death to the first query; fills FENCED_FIRST_QUERY.
bench_first_query_fenced() {
    # The PostgreSQL cluster of bench_first_query, on the same shared storage (a SIGKILLed postmaster's data
    # directory, which the next start recovers, as after every trial there).
    [[ -n $PGDATA_SHARED ]] || pg_init
    fenced_cluster_up "servha+postgresql with fencing" vip_and_pg
    local active=node-a standby=node-b i t0 ms offs
    FENCED_FIRST_QUERY=()
    for i in $(seq "$PG_TRIALS"); do
        wait_until 30 eval "pgclient first-query $VIP $(now_us) 1 >/dev/null" || say "warning: no PostgreSQL before trial $i"
        wait_until 10 settled "$active" || say "warning: $active still announces the disk-only lease"
        offs=$(hook_offs "$active")
        t0=$(now_us)
        host_kill "$active"
        ms=$(pgclient first-query "$VIP" "$t0" 20) || ms=20000
        ms=$(printf '%.1f' "$ms")
        FENCED_FIRST_QUERY+=("$ms")
        say "first query with fencing trial $i: $active died, PostgreSQL answered through the VIP after $ms ms"
        fenced_trial_end "servha+postgresql with fencing" "$i" "$active" "$standby" "$offs"
        wait_until 60 eval "pair_ready $standby $active && is_serving $standby" ||
            say "warning: $active did not come back as standby"
        local t=$active
        active=$standby
        standby=$t
    done
    PG_FENCES=$FENCES_OK
}

e2e_start bench-failover
topology_up
servha_setup
START=$(now_us)
# ROWS (default all): which rows to run, for a quick look at one of them.
ROWS=${ROWS:-servha,fast,keepalived,pg,pg_device,dns5,dns1,fenced}
wants() { [[ ,$ROWS, == *,$1,* ]]; }
SERVHA_GAPS=() DEFAULT_GAPS=() FAST_GAPS=() K1=() K01=() FIRST_QUERY=() PG_FIRST_QUERY=() PG_DEVICE_FIRST_QUERY=()
SERVHA_FENCED_GAPS=() FENCED_FIRST_QUERY=()
SERVHA_FENCES=0 PG_FENCES=0
if wants servha; then
    bench_servha default
    DEFAULT_GAPS=("${SERVHA_GAPS[@]}")
fi
if wants fast; then
    bench_servha fast
    FAST_GAPS=("${SERVHA_GAPS[@]}")
fi
SERVHA_GAPS=("${DEFAULT_GAPS[@]}")
if wants keepalived; then
    bench_keepalived 1
    K1=("${KEEPALIVED_GAPS[@]}")
    bench_keepalived 0.1
    K01=("${KEEPALIVED_GAPS[@]}")
fi
if wants pg; then
    bench_first_query
    PG_FIRST_QUERY=("${FIRST_QUERY[@]}")
fi
if wants pg_device; then
    bench_first_query_device
    PG_DEVICE_FIRST_QUERY=("${FIRST_QUERY[@]}")
fi
# The dns rows: BIND on the LAN (the primary for example.test.) and a caching resolver on the client, plugged in only
# for them (the rows above run on the site as it was).
DNS5_FIRST_QUERY=() DNS1_FIRST_QUERY=()
if wants dns5 || wants dns1; then
    dns_server_up br0 "$VIP_PREFIX"
    dns_resolver_up
fi
if wants dns5; then
    bench_first_query 5
    DNS5_FIRST_QUERY=("${FIRST_QUERY[@]}")
fi
if wants dns1; then
    bench_first_query 1
    DNS1_FIRST_QUERY=("${FIRST_QUERY[@]}")
fi
# The fenced rows come last, with the BMCs on the LAN only from here on: the rows above run on the site as it was.
if wants fenced; then
    bmc_up
    bench_servha_fenced
    bench_first_query_fenced
fi
ELAPSED=$((($(now_us) - START) / 1000000))

# row LABEL NAME VALUES...: a table line, and NAME_p50_ms, NAME_max_ms and NAME_ms for the JSON line (null when
# the row did not run).
JSON=""
row() {
    local label=$1 name=$2 p50=null max=null
    shift 2
    (($# > 0)) && read -r p50 max <<<"$(stats "$@")"
    printf '%-44s %8s %8s   %s\n' "$label" "${p50/null/-}" "${max/null/-}" "${*:-not run}"
    JSON+="\"${name}_p50_ms\":$p50,\"${name}_max_ms\":$max,\"${name}_ms\":$(json_list "$@"),"
    eval "${name^^}_P50=$p50 ${name^^}_MAX=$max"
}
# at_most VALUE LIMIT: true, false, or null for a row not run.
at_most() { [[ $1 == null ]] && echo null || awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l) ? "true" : "false" }'; }

printf '\nFailover after host death (client probes every 5 ms; outage = largest gap between replies)\n'
printf '%-44s %8s %8s   %s\n' "" "p50 ms" "max ms" "trials"
row "servha, default profile (VIP)" servha "${SERVHA_GAPS[@]}"
row "servha, profile fast (VIP)" servha_fast "${FAST_GAPS[@]}"
row "keepalived 2.2, VRRPv3, advert_int 1" keepalived_advert_1s "${K1[@]}"
row "keepalived 2.2, VRRPv3, advert_int 0.1" keepalived_advert_100ms "${K01[@]}"
row "servha + PostgreSQL: death to first query" pg_first_query "${PG_FIRST_QUERY[@]}"
row "servha (raw LUN) + PostgreSQL: first query" pg_device_first_query "${PG_DEVICE_FIRST_QUERY[@]}"
row "servha + PostgreSQL by name, TTL 5 s (resolver)" dns5_first_query "${DNS5_FIRST_QUERY[@]}"
row "servha + PostgreSQL by name, TTL 1 s (resolver)" dns1_first_query "${DNS1_FIRST_QUERY[@]}"
row "servha + fencing (fence_ipmilan), VIP" servha_fenced "${SERVHA_FENCED_GAPS[@]}"
row "servha + fencing + PostgreSQL: first query" pg_fenced_first_query "${FENCED_FIRST_QUERY[@]}"
wants fenced && printf 'with fencing: the survivor fenced the dead host in %d of %d VIP trials and %d of %d PostgreSQL trials\n' \
    "$SERVHA_FENCES" "$TRIALS" "$PG_FENCES" "$PG_TRIALS"
SERVHA_OK=$(at_most "$SERVHA_P50" 250)
FAST_OK=$(at_most "$SERVHA_FAST_P50" 100)
QUERY_OK=$(at_most "$PG_FIRST_QUERY_MAX" 2000)
DEVICE_QUERY_OK=$(at_most "$PG_DEVICE_FIRST_QUERY_MAX" 2000)
FENCED_OK=$(at_most "$SERVHA_FENCED_P50" 1000)
printf 'targets: servha p50 <= 250 ms: %s; profile fast p50 <= 100 ms: %s; first query <= 2000 ms (max): %s, on a LUN: %s; servha with fencing p50 <= 1000 ms: %s; run took %d s\n' \
    "$SERVHA_OK" "$FAST_OK" "$QUERY_OK" "$DEVICE_QUERY_OK" "$FENCED_OK" "$ELAPSED"
printf '{"bench":"failover","cores":%d,"probe_interval_ms":5,"trials":%d,"pg_trials":%d,%s"servha_fenced_fences":%d,"pg_fenced_fences":%d,"targets_met":{"servha_p50":%s,"servha_fast_p50":%s,"pg_first_query":%s,"pg_device_first_query":%s,"servha_fenced_p50":%s},"seconds":%d}\n' \
    "$(nproc)" "$TRIALS" "$PG_TRIALS" "$JSON" "$SERVHA_FENCES" "$PG_FENCES" \
    "$SERVHA_OK" "$FAST_OK" "$QUERY_OK" "$DEVICE_QUERY_OK" "$FENCED_OK" "$ELAPSED"
for met in "$SERVHA_OK" "$FAST_OK" "$QUERY_OK" "$DEVICE_QUERY_OK" "$FENCED_OK"; do
    if [[ $met == false ]]; then E2E_FAILURES=$((E2E_FAILURES + 1)); fi
done
