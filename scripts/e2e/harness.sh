# servha end to end: the harness, sourced by the scenario scripts (host-death.sh, partition.sh, bench-failover.sh).
#
# As root, it builds a small site of its own in network namespaces:
#
#   switch  (namespace $NS_SW)  br0: the LAN 192.0.2.0/25, with 192.0.2.1 as the gateway and arbitrator
#                               br1: the heartbeat network 192.0.2.128/25
#   node-a  (namespace $NS_A)   eth0 192.0.2.11/25 (LAN), eth1 192.0.2.139/25 (heartbeat network)
#   node-b  (namespace $NS_B)   eth0 192.0.2.12/25,       eth1 192.0.2.140/25
#   client  (namespace $NS_C)   eth0 192.0.2.50/25
#
# No namespace has a route out (only the connected /25s), and the switch has no link to the host: nothing can
# leave. The shared storage is a directory of the run ($RUN/shared), which both nodes see (mount namespaces are
# shared). With STORAGE=device (for the scenarios that say they support it, E2E_STORAGE_MODES), servha's own shared
# storage (slots, lease, both nodes' log copies) is instead a raw LUN, SERVHA_LUN: a loop device on a 16 MiB sparse
# file of the run, laid out with `servha disk init` before any daemon starts (`shared_storage: { device: ... }`),
# detached at teardown; $RUN/shared stays, for what the scenario keeps there (PostgreSQL's data). Namespaces are
# named servha-e2e-<pid of the run>-<host>, so that a run never trips over the asynchronous deletion of an earlier
# one, and so that leftovers are recognised.
#
# Everything is torn down on exit (normal, failure, error or ^C): every process in our namespaces is killed
# (daemons, postgres, clients), the namespaces are deleted (which destroys the bridges and veths in them), and
# the run directory is removed unless the run failed or E2E_KEEP=1.

set -Eeuo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR=$E2E_ROOT/scripts/e2e
SERVHA=${SERVHA:-$E2E_ROOT/.build/release/servha}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
# Debian's python3: psycopg2 comes from python3-psycopg2, which another python3 on the PATH would not see.
PYTHON=${PYTHON:-/usr/bin/python3}
# Where servha keeps its shared storage: directory ($RUN/shared/servha) or device (SERVHA_LUN, a raw loop device).
STORAGE=${STORAGE:-directory}
# The storage modes the scenario supports: a scenario made to work on the LUN sets "directory device" after sourcing
# this file (e2e_start refuses STORAGE=device otherwise).
E2E_STORAGE_MODES=directory
# The cluster's name, in the configuration and in the LUN's header.
E2E_CLUSTER=e2e

E2E_PREFIX=servha-e2e
RUN_ID=$$
NS_SW=$E2E_PREFIX-$RUN_ID-sw
NS_A=$E2E_PREFIX-$RUN_ID-a
NS_B=$E2E_PREFIX-$RUN_ID-b
NS_C=$E2E_PREFIX-$RUN_ID-c

GATEWAY=192.0.2.1
VIP=192.0.2.100
VIP_PREFIX=25
CLIENT_IP=192.0.2.50
declare -A LAN_IP=([node-a]=192.0.2.11 [node-b]=192.0.2.12)
declare -A HB_IP=([node-a]=192.0.2.139 [node-b]=192.0.2.140)
declare -A NODE_NS=([node-a]=$NS_A [node-b]=$NS_B)

E2E_FAILURES=0
E2E_CHECKS=0
RUN=""

say() { printf '%s  %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

# A check's verdict, one line on stdout.
pass() {
    E2E_CHECKS=$((E2E_CHECKS + 1))
    printf 'PASS  %s\n' "$*"
}
fail() {
    E2E_CHECKS=$((E2E_CHECKS + 1))
    E2E_FAILURES=$((E2E_FAILURES + 1))
    printf 'FAIL  %s\n' "$*"
}
# check DESCRIPTION COMMAND...: PASS when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# Microseconds since the epoch, without a fork.
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# wait_until SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds (status 0) or SECONDS (whole
# seconds) pass (status 1).
wait_until() {
    local deadline=$(($(now_us) + $1 * 1000000))
    shift
    while true; do
        "$@" && return 0
        (($(now_us) > deadline)) && return 1
        sleep 0.05
    done
}

# ---------------------------------------------------------------------------------------------------------
# Start, leftovers, teardown

# e2e_start NAME: checks the machine, cleans up what dead runs left, makes the run directory, arms teardown.
e2e_start() {
    local name=$1
    if [[ $(id -u) -ne 0 ]]; then
        echo "servha-e2e: must run as root (it creates network namespaces)" >&2
        exit 2
    fi
    "$E2E_ROOT/scripts/install-deps.sh" "${E2E_DEPS:-e2e}"
    # Fail loudly, never skip: a machine that cannot make network namespaces cannot run these tests.
    if ! ip netns add "$E2E_PREFIX-$RUN_ID-check" 2>"/tmp/$E2E_PREFIX-$RUN_ID-check.err"; then
        echo "servha-e2e: FAILED: cannot create a network namespace here ($(cat "/tmp/$E2E_PREFIX-$RUN_ID-check.err")); the end-to-end tests need them and do not skip" >&2
        rm -f "/tmp/$E2E_PREFIX-$RUN_ID-check.err"
        exit 2
    fi
    ip netns del "$E2E_PREFIX-$RUN_ID-check"
    rm -f "/tmp/$E2E_PREFIX-$RUN_ID-check.err"
    case " $E2E_STORAGE_MODES " in
        *" $STORAGE "*) ;;
        *)
            echo "servha-e2e: STORAGE=$STORAGE is not supported by $name (it supports: $E2E_STORAGE_MODES)" >&2
            exit 2
            ;;
    esac
    if [[ ! -x $SERVHA ]]; then
        echo "servha-e2e: no servha binary at $SERVHA; run 'swift build -c release' (or make e2e)" >&2
        exit 2
    fi
    e2e_clean_leftovers
    RUN=$(mktemp -d "/tmp/$E2E_PREFIX-$RUN_ID-$name-XXXX")
    # postgres (its own user) must reach the data directory and its socket directory inside the run.
    chmod 755 "$RUN"
    trap 'e2e_teardown' EXIT
    trap 'say "interrupted"; exit 130' INT TERM
    trap 'say "error at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
    say "run $RUN_ID: $name, files in $RUN (servha's shared storage: $STORAGE)"
}

# Namespaces of an earlier run whose harness is gone are deleted. Those of a run still going make this one
# refuse: deleting them would break that run, and two runs side by side on this 2-core machine would distort
# each other's timings (every check here has a deadline).
e2e_clean_leftovers() {
    local ns owner stale=()
    for ns in $(ip netns list | awk '{print $1}' | grep "^$E2E_PREFIX-" || true); do
        owner=${ns#"$E2E_PREFIX"-}
        owner=${owner%%-*}
        if [[ $owner != "$RUN_ID" ]] && [[ -r /proc/$owner/cmdline ]] &&
            tr '\0' ' ' <"/proc/$owner/cmdline" | grep -q "scripts/e2e/"; then
            echo "servha-e2e: another run (pid $owner) is using namespaces $E2E_PREFIX-$owner-*; wait for it or kill $owner" >&2
            exit 2
        fi
        stale+=("$ns")
    done
    if ((${#stale[@]})); then
        say "removing namespaces left by an earlier run: ${stale[*]}"
        for ns in "${stale[@]}"; do ns_destroy "$ns"; done
    fi
}

# Kills every process in a namespace, waiting (with a deadline) until none is left.
ns_kill_all() {
    local ns=$1 pids deadline
    deadline=$(($(now_us) + 5000000))
    while pids=$(ip netns pids "$ns" 2>/dev/null) && [[ -n $pids ]]; do
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null || true
        if (($(now_us) > deadline)); then
            say "warning: processes still in $ns after SIGKILL: $pids"
            return 1
        fi
        sleep 0.02
    done
}

# Kills every process in the namespace, then deletes it; its interfaces go with it.
ns_destroy() {
    ns_kill_all "$1" || true
    ip netns del "$1" 2>/dev/null || true
}

# e2e_on_exit COMMAND...: run at teardown, before anything else (last added first): a scenario that freezes a file
# system or mounts one undoes it here, whatever way the run ends (a process blocked on a frozen file system
# cannot even be killed until it thaws).
E2E_EXIT_HOOKS=()
e2e_on_exit() { E2E_EXIT_HOOKS=("$*" "${E2E_EXIT_HOOKS[@]}"); }

e2e_teardown() {
    local status=$?
    trap - EXIT ERR INT TERM
    set +e
    local hook
    for hook in "${E2E_EXIT_HOOKS[@]}"; do eval "$hook"; done
    for ns in "$NS_C" "$NS_A" "$NS_B" "$NS_SW"; do
        ip netns list | grep -q "^$ns\b" && ns_destroy "$ns"
    done
    # Helpers started on the host itself (the sampler), which no namespace sweep reaches.
    local pids
    pids=$(jobs -p)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null
    wait 2>/dev/null
    if ((status == 0 && E2E_FAILURES > 0)); then status=1; fi
    if [[ -n $RUN && -d $RUN ]]; then
        if ((status == 0)) && [[ ${E2E_KEEP:-0} != 1 ]]; then
            rm -rf "$RUN"
        else
            say "files kept in $RUN"
        fi
    fi
    if ((E2E_CHECKS > 0)); then
        if ((status == 0)); then
            printf 'PASSED: %d checks\n' "$E2E_CHECKS"
        elif ((E2E_FAILURES > 0)); then
            printf 'FAILED: %d of %d checks failed (exit %d)\n' "$E2E_FAILURES" "$E2E_CHECKS" "$status"
        fi
    fi
    if ((status != 0 && E2E_FAILURES == 0)); then
        printf 'ABORTED after %d checks (exit %d)\n' "$E2E_CHECKS" "$status"
    fi
    exit "$status"
}

# ---------------------------------------------------------------------------------------------------------
# The site

# veth NS_A IF_A NS_B IF_B: a cable between two namespaces (made in place: no name ever exists in the host's
# namespace, so names cannot collide with another run).
veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

topology_up() {
    local ns
    for ns in "$NS_SW" "$NS_A" "$NS_B" "$NS_C"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_SW" link add br0 type bridge
    ip -n "$NS_SW" link add br1 type bridge
    # No STP delay, and no multicast snooping (keepalived's VRRP adverts are multicast).
    ip -n "$NS_SW" link set br0 type bridge forward_delay 0 mcast_snooping 0
    ip -n "$NS_SW" link set br1 type bridge forward_delay 0 mcast_snooping 0
    ip -n "$NS_SW" addr add "$GATEWAY/25" dev br0
    ip -n "$NS_SW" link set br0 up
    ip -n "$NS_SW" link set br1 up

    local node short
    for node in node-a node-b; do
        short=${node#node-}
        veth "$NS_SW" "$short-lan" "${NODE_NS[$node]}" eth0
        veth "$NS_SW" "$short-hb" "${NODE_NS[$node]}" eth1
        ip -n "$NS_SW" link set "$short-lan" master br0
        ip -n "$NS_SW" link set "$short-hb" master br1
        ip -n "${NODE_NS[$node]}" addr add "${LAN_IP[$node]}/25" dev eth0
        ip -n "${NODE_NS[$node]}" addr add "${HB_IP[$node]}/25" dev eth1
    done
    veth "$NS_SW" c-lan "$NS_C" eth0
    ip -n "$NS_SW" link set c-lan master br0
    ip -n "$NS_C" addr add "$CLIENT_IP/25" dev eth0

    # The site must be closed: no default route anywhere.
    for ns in "$NS_SW" "$NS_A" "$NS_B" "$NS_C"; do
        if ip -n "$ns" route show default | grep -q .; then
            echo "servha-e2e: $ns has a default route" >&2
            exit 2
        fi
    done
    wait_until 5 ip netns exec "$NS_C" ping -n -q -c 1 -W 1 "${LAN_IP[node-b]}" >/dev/null ||
        {
            echo "servha-e2e: the client cannot reach node-b on the new bridge" >&2
            exit 2
        }
    say "site up: $NS_SW (br0 $GATEWAY, br1), $NS_A, $NS_B, $NS_C"
}

# The switch ports of a node (the far ends of its cables).
node_ports() { echo "${1#node-}-lan ${1#node-}-hb"; }

links() { # links NODE up|down: plugs or pulls both of a node's cables at the switch.
    local port
    # One ip process for both, so that the two cables go within a millisecond of each other.
    for port in $(node_ports "$1"); do echo "link set $port $2"; done | ip -n "$NS_SW" -batch -
}

mac_of() { ip -n "${NODE_NS[$1]}" -br link show eth0 | awk '{print $3}'; }

# holds_vip NODE [ADDRESS]: whether NODE has the VIP (or ADDRESS) on its eth0.
holds_vip() { ip -n "${NODE_NS[$1]}" -4 -o addr show dev eth0 | grep -q " ${2:-$VIP}/"; }

# The MAC the client would send the VIP's packets to (empty if it has no entry).
client_mac_for_vip() { ip -n "$NS_C" neigh show "$VIP" dev eth0 | awk '/lladdr/ {print $3}'; }

# ---------------------------------------------------------------------------------------------------------
# servha

# servha_setup: the cluster key, the shared storage, and each node's directories. $RUN/shared is made in both
# storage modes (PostgreSQL's data goes there); servha's own storage is $RUN/shared/servha, or in device mode
# SERVHA_LUN, laid out (servha_storage_fresh).
servha_setup() {
    head -c 48 /dev/urandom >"$RUN/key"
    chmod 600 "$RUN/key"
    mkdir -p "$RUN/shared" "$RUN/node-a" "$RUN/node-b"
    chmod 755 "$RUN/shared" "$RUN/node-a" "$RUN/node-b"
    servha_storage_fresh
}

# servha_storage_fresh [--force]: servha's shared storage, empty. Directory mode: $RUN/shared/servha, made anew.
# Device mode: SERVHA_LUN (made by servha_lun_up if the run has none yet) laid out with `servha disk init` for
# $E2E_CLUSTER; --force to lay it out again over an earlier layout (cluster_reset; both daemons must be down).
servha_storage_fresh() {
    if [[ $STORAGE == device ]]; then
        servha_lun_up
        if ! "$SERVHA" disk init "$SERVHA_LUN" --cluster "$E2E_CLUSTER" "$@" >>"$RUN/disk-init.out" 2>&1; then
            echo "servha-e2e: servha disk init $SERVHA_LUN --cluster $E2E_CLUSTER${*:+ $*} failed: $(tail -1 "$RUN/disk-init.out")" >&2
            exit 2
        fi
        say "SERVHA_LUN $SERVHA_LUN laid out: $(tail -1 "$RUN/disk-init.out")"
    else
        rm -rf "${RUN:?}/shared/servha"
        mkdir -p "$RUN/shared/servha"
    fi
}

# The shared_storage value of the configuration.
storage_yaml() {
    if [[ $STORAGE == device ]]; then echo "{ device: $SERVHA_LUN }"; else echo "$RUN/shared/servha"; fi
}

# shared_log NODE: NODE's log copy on servha's shared storage, as the log, replay and timeline commands take it: its
# directory, or in device mode SERVHA_LUN:NODE (its ring on the LUN).
shared_log() {
    if [[ $STORAGE == device ]]; then echo "$SERVHA_LUN:$1"; else echo "$RUN/shared/servha/logs/$1"; fi
}

# servha_config NODE RESOURCES_YAML [EXTRA_YAML]: writes $RUN/NODE.yaml. Timing keys are left at their
# defaults (the defaults are what is being tested), but for the arbitrator's probe interval when
# ARBITRATOR_INTERVAL is set, the timing profile when PROFILE is set (default, fast), and the realtime section
# when REALTIME is set (e.g. "{ priority: off, lock_memory: false }", to compare).
servha_config() {
    local node=$1 resources=$2 extra=${3:-}
    cat >"$RUN/$node.yaml" <<EOF
cluster: $E2E_CLUSTER
this_node: $node
${PROFILE:+profile: $PROFILE}
${REALTIME:+realtime: $REALTIME}
nodes:
  - { name: node-a, id: 1 }
  - { name: node-b, id: 2 }
heartbeat:
  key_file: $RUN/key
  channels:
    - { name: lan, port: 7400, addresses: { node-a: ${LAN_IP[node-a]}, node-b: ${LAN_IP[node-b]} } }
    - { name: hb, port: 7401, addresses: { node-a: ${HB_IP[node-a]}, node-b: ${HB_IP[node-b]} } }
shared_storage: $(storage_yaml)
arbitrator:
  address: $GATEWAY
${ARBITRATOR_INTERVAL:+  interval: $ARBITRATOR_INTERVAL}
$extra
resources:
$resources
alarms:
  - { type: exec, command: "sh -c 'echo \$SERVHA_ALARM_STATE \$SERVHA_ALARM_KIND \$SERVHA_ALARM_EPOCH >> $RUN/$node/alarms.txt'" }
log_dir: $RUN/$node/log
admin_socket: $RUN/$node/admin.sock
EOF
    "$SERVHA" check-config "$RUN/$node.yaml" >/dev/null
}

vip_resource() {
    echo "  - { name: vip, type: vip, address: $VIP/$VIP_PREFIX, interface: eth0 }"
}

# service_resource NODE: servha's own small service (`servha demo serve`, for the demo and the stress run) on
# port $SERVICE_PORT, as a script resource: started in the background, stopped, and an LSB status for the monitor.
SERVICE_PORT=8080
service_resource() {
    local node=$1 pid=$RUN/$1/web.pid
    cat <<EOF
  - name: web
    type: script
    start: '$SERVHA demo serve --listen 0.0.0.0:$SERVICE_PORT --name $node >/dev/null 2>&1 & echo \$! > $pid'
    stop: 'kill \$(cat $pid 2>/dev/null) 2>/dev/null; rm -f $pid; exit 0'
    monitor: 'kill -0 \$(cat $pid 2>/dev/null) 2>/dev/null || exit 3'
    monitor_interval: 1s
EOF
}

# The daemon runs inside the node's network namespace (so its VIP driver, heartbeat sockets and resource agents
# see that node's interfaces), and in PID, IPC and UTS namespaces of its own (see host-init.sh: the nodes must
# not see each other's processes, as postgres's pid file on the shared storage would otherwise be checked
# against the other node's processes).
daemon_start() {
    local node=$1
    ip netns exec "${NODE_NS[$node]}" unshare --pid --ipc --uts --fork --kill-child --mount-proc \
        "$E2E_DIR/host-init.sh" "$node" "$SERVHA" daemon --config "$RUN/$node.yaml" >>"$RUN/$node/daemon.out" 2>&1 &
    disown # its end is checked through the namespace, and bash must not report the SIGKILL of a host
}

# The servha daemon's pid (as the host sees it) on a node, if it runs.
daemon_pid() {
    local pid
    for pid in $(ip netns pids "${NODE_NS[$1]}"); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == servha ]] || continue
        # Not its guard (the same executable, `servha guard ...`).
        [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *" guard "* ]] && continue
        echo "$pid" && return 0
    done
    return 1
}

# SIGTERM (the daemon hands its group over and exits), waiting for the exit.
daemon_stop() {
    local node=$1 pid
    pid=$(daemon_pid "$node") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 30 eval "! kill -0 $pid 2>/dev/null" || say "warning: $node daemon did not exit after SIGTERM"
}

status_json() { "$SERVHA" status --json --socket "$RUN/$1/admin.sock" 2>/dev/null; }

# The node's own role ("active", "standby", ...), or nothing when its daemon does not answer.
role_of() { status_json "$1" | grep -o '^{"node":"[^"]*","role":"[^"]*"' | sed 's/.*"role":"//; s/"$//'; }

is_role() { [[ $(role_of "$1") == "$2" ]]; }

# Active with every resource running.
is_serving() {
    local status
    status=$(status_json "$1") || return 1
    [[ $status == *'"role":"active"'* ]] || return 1
    [[ $status != *'"status":"'[!r]* ]] # every resource "running"
}

# A standby that hears its peer, and a peer that hears it back.
pair_ready() { # pair_ready ACTIVE STANDBY
    local a s
    a=$(status_json "$1") && s=$(status_json "$2") || return 1
    [[ $a == *'"role":"active"'* && $s == *'{"node":"'"$2"'","role":"standby"'* ]] || return 1
    [[ $a == *'"heard":true,"healthy":true'* && $s == *'"heard":true,"healthy":true'* ]]
}

# pair_up WHAT: starts node-a and waits until it runs the group, then node-b until the two are active and a
# standby hearing each other; PASS WHAT, or FAIL and end the run.
pair_up() { # pair_up WHAT [START]: START starts a node's daemon (default daemon_start)
    local start=${2:-daemon_start}
    "$start" node-a
    if ! wait_until 60 is_serving node-a; then
        fail "node-a serves the group after start (see $RUN/node-a/daemon.out)"
        exit 1
    fi
    "$start" node-b
    if ! wait_until 30 pair_ready node-a node-b; then
        fail "$1 (see $RUN/node-b/daemon.out)"
        exit 1
    fi
    pass "$1"
}

# partition on|off: the nodes no longer reach each other on either network (their LAN and heartbeat ports are
# made `isolated` on the switch's bridges); each still reaches the client and the gateway.
partition() {
    local port
    for port in a-lan b-lan a-hb b-hb; do bridge -n "$NS_SW" link set dev "$port" isolated "$1"; done
}

# arbitrator_path NODE cut|restore: a blackhole route to NODE's address on the gateway, so that the gateway's
# replies to it go nowhere, while bridged traffic is untouched.
arbitrator_path() {
    if [[ $2 == cut ]]; then
        ip -n "$NS_SW" route add blackhole "${LAN_IP[$1]}/32"
    else
        ip -n "$NS_SW" route del blackhole "${LAN_IP[$1]}/32"
    fi
}

# has_alarm NODE KIND: whether NODE's status lists a raised alarm of that kind.
has_alarm() { status_json "$1" | grep -q "\"kind\":\"$2\""; }

# A fresh cluster: nothing running on either node, no VIPs, empty logs and shared storage.
cluster_reset() {
    local node
    for node in node-a node-b; do
        ns_kill_all "${NODE_NS[$node]}"
        host_reboot "$node"
        rm -rf "${RUN:?}/$node/log" "$RUN/$node/alarms.txt"
    done
    servha_storage_fresh --force
}

# host_kill NODE: the host dies. Its cables are pulled at the switch, then every process on it (servha,
# postgres and its backends, agents) gets SIGKILL at once.
host_kill() {
    local pids
    # The processes are listed before the cables go, and killed right after them: a dead host stops writing its
    # disk slot at the moment it goes silent on the network. (Listing them only after the cables were pulled let the
    # daemon write its slot for another 20-30 ms, which the survivor must wait out, and the outage counted it.)
    pids=$(ip netns pids "${NODE_NS[$1]}" 2>/dev/null) || pids=""
    links "$1" down
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
    ns_kill_all "${NODE_NS[$1]}" || true
}

# host_reboot NODE: the repaired host boots again: no VIP on its interface (addresses added at run time do not
# survive a reboot, and a SIGKILLed daemon could not remove them), cables back in. Nothing started yet.
host_reboot() {
    local node=$1
    local address
    for address in "$VIP" ${KEEPALIVED_VIP:-}; do
        ip -n "${NODE_NS[$node]}" addr del "$address/$VIP_PREFIX" dev eth0 2>/dev/null || true
    done
    links "$node" up
}

# host_return NODE: the repaired host boots and starts servha.
host_return() {
    host_reboot "$1"
    daemon_start "$1"
}

# The number of events in a log directory.
log_events() { "$SERVHA" log stats "$1" --json | grep -o '"events":[0-9]*' | cut -d: -f2; }

# replay_verify DIR...: every log re-runs to the same decisions and digests.
replay_verify() { "$SERVHA" replay verify "$@" >>"$RUN/replay-verify.out" 2>&1; }

# ---------------------------------------------------------------------------------------------------------
# Device mode: what the survivor reads from the LUN after a takeover

# last_decision NODE: NODE's newest decision in its local log, as "SEQUENCE KIND EPOCH" (e.g. "#60 lease-acquired 1").
last_decision() {
    "$SERVHA" replay decisions "$RUN/$1/log" 2>/dev/null |
        awk '$3 == "decision" { seq = $2; kind = $4; epoch = $6 } END { sub(/:$/, "", epoch); if (seq != "") print seq, kind, epoch }'
}

# timeline_shows FILE NODE SEQUENCE KIND: servha timeline's output FILE has NODE's decision SEQUENCE of KIND.
timeline_shows() { awk -v n="$2" -v s="$3" -v k="$4" '$2 == n && $3 == s && $4 == "decision" && $5 == k { f = 1 } END { exit !f }' "$1"; }

# lun_timeline_has_last_decision DEAD SURVIVOR OUT: servha timeline, run in SURVIVOR's namespace on its own log and
# DEAD's log as the LUN holds it (into OUT), exits 0 and shows DEAD's newest decision (read from DEAD's local log,
# which only the harness sees: the reference). Sets LUN_TIMELINE_RC and LUN_DECISION.
lun_timeline_has_last_decision() {
    local dead=$1 survivor=$2 out=$3 seq kind epoch
    LUN_TIMELINE_RC=0
    ip netns exec "${NODE_NS[$survivor]}" "$SERVHA" timeline "$RUN/$survivor/log" "$SERVHA_LUN:$dead" >"$out" 2>&1 ||
        LUN_TIMELINE_RC=$?
    LUN_DECISION=$(last_decision "$dead")
    read -r seq kind epoch <<<"$LUN_DECISION"
    ((LUN_TIMELINE_RC == 0)) && [[ -n $seq ]] && timeline_shows "$out" "$dead" "$seq" "$kind"
}

# lun_newest_slot DUMP NODE: the state in NODE's newest slot copy (the higher write counter) in `servha disk dump`'s
# output DUMP ("active, epoch 2, holds the lease, disk-only lease 3000 ms, resources up 11").
lun_newest_slot() {
    awk -v n="$2" '
        /^node rank [0-9]+: / { inside = ($4 == n); next }
        inside && /^  slot copy [0-9]+ @[0-9]+: counter [0-9]+,/ {
            c = $6; sub(/,$/, "", c)
            if (best == "" || c + 0 > best + 0) { best = c; state = $0; sub(/^.*Z: /, "", state) }
        }
        END { print state }' "$1"
}

# rfc3339_us TIME: microseconds since the epoch.
rfc3339_us() { date -u -d "$1" +%s%6N; }

# lun_after_takeover DEAD SURVIVOR EPOCH_BEFORE [DEATH_US]: (device mode) after SURVIVOR took the group from DEAD,
# what SURVIVOR alone reads from the LUN, every command run in its namespace (the LUN is a host path that both
# nodes see), the outputs in $RUN/lun-after-takeover-*.txt:
#   servha timeline SURVIVOR's log_dir SERVHA_LUN:DEAD exits 0 and shows DEAD's newest decision (polled for up to 5 s:
#     a node writes its ring at most every half second, and a DEAD that is only cut off goes on writing it);
#   with DEATH_US (DEAD is dead): DEAD's log on the LUN reaches to within 1 s of its death (servha log stats);
#   servha disk dump SERVHA_LUN: SURVIVOR's newest slot copy says active, holding the lease, at SURVIVOR's epoch now,
#     which is above EPOCH_BEFORE;
#   servha replay verify SERVHA_LUN exits 0: both nodes' logs, as the LUN holds them, replay identically.
lun_after_takeover() {
    local dead=$1 survivor=$2 epoch_before=$3 death_us=${4:-} ns=${NODE_NS[$2]} out=$RUN/lun-after-takeover
    local epoch slot last_time last_us rc
    if wait_until 5 lun_timeline_has_last_decision "$dead" "$survivor" "$out-timeline.txt"; then
        pass "$survivor alone: servha timeline $survivor's log $SERVHA_LUN:$dead exits 0 and shows $dead's last decision ($LUN_DECISION) and $(grep -c " $dead  #" "$out-timeline.txt") of its events"
    else
        fail "$survivor alone: servha timeline $survivor's log $SERVHA_LUN:$dead (exit $LUN_TIMELINE_RC) shows $dead's last decision (${LUN_DECISION:-none}; see $out-timeline.txt)"
    fi
    if [[ -n $death_us ]]; then
        last_time=$(ip netns exec "$ns" "$SERVHA" log stats "$SERVHA_LUN:$dead" --json 2>/dev/null |
            grep -o '"last_time":"[^"]*"' | cut -d'"' -f4) || true
        last_us=""
        [[ -z $last_time ]] || last_us=$(rfc3339_us "$last_time") || last_us=""
        if [[ -n $last_us ]] && ((death_us - last_us <= 1000000)); then
            pass "$dead's log on the LUN reaches to $(((death_us - last_us) / 1000)) ms before its death (its last event there at $last_time)"
        else
            fail "$dead's log on the LUN reaches to within 1 s of its death (its last event there: ${last_time:-none})"
        fi
    fi
    epoch=$(epoch_of "$survivor")
    rc=0
    ip netns exec "$ns" "$SERVHA" disk dump "$SERVHA_LUN" >"$out-dump.txt" 2>&1 || rc=$?
    slot=$(lun_newest_slot "$out-dump.txt" "$survivor")
    if ((rc == 0)) && [[ -n $epoch ]] && ((epoch > epoch_before)) && [[ $slot == "active, epoch $epoch, holds the lease"* ]]; then
        pass "$survivor alone: servha disk dump $SERVHA_LUN: $survivor's slot holds the lease with the new epoch $epoch (was $epoch_before): $slot"
    else
        fail "$survivor alone: servha disk dump $SERVHA_LUN (exit $rc): $survivor's slot holds the lease with the new epoch (status epoch ${epoch:-?}, was $epoch_before; its newest slot: ${slot:-none}; see $out-dump.txt)"
    fi
    rc=0
    ip netns exec "$ns" "$SERVHA" replay verify "$SERVHA_LUN" >"$out-verify.txt" 2>&1 || rc=$?
    if ((rc == 0)) && (($(grep -c ': ok: ' "$out-verify.txt") == 2)); then
        pass "$survivor alone: servha replay verify $SERVHA_LUN: both nodes' logs from the LUN replay identically ($(awk -F': ok: ' 'NF > 1 { n = $1; sub(/.*\//, "", n); e = $2; sub(/ \(.*/, "", e); printf "%s%s %s", sep, n, e; sep = ", " }' "$out-verify.txt"))"
    else
        fail "$survivor alone: servha replay verify $SERVHA_LUN exits 0 for both nodes' logs (exit $rc; see $out-verify.txt)"
    fi
}

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL on the shared storage

PGDATA_SHARED=""

# pg_init: a cluster in $RUN/shared/pgdata (owned by postgres), listening on every address (so on the VIP)
# and trusting the site's clients. The unix socket directory is set per node at start (see pg_resource):
# mount namespaces are shared, so a common directory would let one node's agent see the other's server.
# pg_init DIR puts the cluster in DIR instead (pg_init_lun: on the shared LUN's ext4 filesystem).
pg_init() {
    PGDATA_SHARED=${1:-$RUN/shared/pgdata}
    install -d -o postgres -g postgres -m 700 "$PGDATA_SHARED"
    runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA_SHARED" -U postgres -A trust --no-sync -E UTF8 \
        >"$RUN/initdb.out" 2>&1
    cat >>"$PGDATA_SHARED/postgresql.conf" <<EOF
listen_addresses = '*'
max_connections = 20
shared_buffers = 16MB
EOF
    echo "host all all 192.0.2.0/24 trust" >>"$PGDATA_SHARED/pg_hba.conf"
    install -d -o postgres -g postgres -m 755 "$RUN/node-a/pgsock" "$RUN/node-b/pgsock"
}

# The OCF pgsql resource for NODE, with that node's socket directory (OCF socketdir and the server's
# unix_socket_directories must agree, or the agent's readiness check never connects).
pg_resource() {
    local node=$1
    cat <<EOF
  - name: postgresql
    type: ocf
    agent: heartbeat/pgsql
    params:
      pgctl: $PGBIN/pg_ctl
      psql: $PGBIN/psql
      pgdata: $PGDATA_SHARED
      config: $PGDATA_SHARED/postgresql.conf
      socketdir: $RUN/$node/pgsock
      start_opt: "-c unix_socket_directories=$RUN/$node/pgsock"
      logfile: $RUN/$node/postgres.log
    timeouts: { start: 30s, stop: 30s, monitor: 10s }
    monitor_interval: 2s
EOF
}

# The pids of postmasters (postgres processes whose parent is not postgres) running in a namespace.
postmasters_in() {
    local ns=$1 pid
    for pid in $(ip netns pids "$ns"); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || continue
        [[ $(cat "/proc/$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)/comm" 2>/dev/null) == postgres ]] && continue
        echo "$pid"
    done
}

runs_postgres() { [[ -n $(postmasters_in "${NODE_NS[$1]}") ]]; }

# pgclient ARGS...: the Python client, run on the client host.
pgclient() { ip netns exec "$NS_C" "$PYTHON" "$E2E_DIR/pgclient.py" "$@"; }

# ---------------------------------------------------------------------------------------------------------
# The client's commits and the holders' samples, as the safety scenarios check them

# client_writes: the client commits rows through the VIP into $ACKS (one line per acknowledged commit), in the
# background; returns once 50 are acknowledged (a FAIL otherwise).
client_writes() {
    ACKS=$RUN/acks.txt
    : >"$ACKS"
    pgclient write "$VIP" "$ACKS" 2>"$RUN/writer.err" &
    WRITER=$!
    wait_until 30 eval '(($(wc -l <"$ACKS") >= 50))' || fail "the client writes through the VIP (see $RUN/writer.err)"
}

# verify_acks LABEL: every commit acknowledged so far is in the table (read through the VIP).
verify_acks() {
    cp "$ACKS" "$RUN/acks-$1.txt"
    local out
    if out=$(pgclient verify "$VIP" "$RUN/acks-$1.txt" 2>&1); then
        pass "every acknowledged row present $1 ($out)"
    else
        fail "every acknowledged row present $1 ($out)"
    fi
}

# holders_start INTERVAL: samples every INTERVAL seconds, in each node's namespace, whether a postmaster runs there
# and whether the node holds the VIP (holders.py), into $SAMPLES.
holders_start() {
    SAMPLES=$RUN/holders.txt
    "$PYTHON" "$E2E_DIR/holders.py" "$SAMPLES" "$1" "$VIP" "$NS_A" "$NS_B" &
    SAMPLER=$!
    wait_until 5 test -s "$SAMPLES"
}
holders_stop() {
    kill -TERM "$SAMPLER"
    wait "$SAMPLER" || true
}
# samples_between FROM_US TO_US and overlap_between FROM_US TO_US: how many samples, and how many with PostgreSQL
# or the VIP on both nodes.
samples_between() { awk -v f="$1" -v t="$2" '$1 >= f && $1 <= t' "$SAMPLES" | wc -l; }
overlap_between() { awk -v f="$1" -v t="$2" '$1 >= f && $1 <= t && ($2 || $3) && ($4 || $5)' "$SAMPLES" | wc -l; }
# judge_overlap WHAT FROM_US TO_US: PASS when no sample between shows PostgreSQL or the VIP on both nodes; adds the
# count to OVERLAP_TOTAL.
judge_overlap() {
    local overlap n
    overlap=$(overlap_between "$2" "$3")
    n=$(samples_between "$2" "$3")
    OVERLAP_TOTAL=$((${OVERLAP_TOTAL:-0} + overlap))
    if ((overlap == 0)); then
        pass "$1: PostgreSQL and the VIP never on both nodes ($n samples)"
    else
        fail "$1: PostgreSQL or the VIP on both nodes in $overlap of $n samples (see $SAMPLES)"
    fi
}

# settled NODE: NODE no longer announces the disk-only lease (after it ran alone, it does so until its long
# renewals have run out, and a takeover meanwhile waits for it): a pair in service.
settled() { status_json "$1" | grep -q '"disk_only_lease":false'; }

# service_configs: both nodes' configurations for the group of the demo and the load runs: the VIP, then the small
# built-in service; failback manual, node-a preferred.
service_configs() {
    local node
    for node in node-a node-b; do
        servha_config "$node" "$(vip_resource)
$(service_resource "$node")" "failback: { mode: manual, preferred_node: node-a }"
    done
}

# The node's own epoch, from its status.
epoch_of() { status_json "$1" | grep -o '"epoch":[0-9]*' | head -1 | cut -d: -f2; }

# How many self-fences a node's log holds.
self_fences() { "$SERVHA" replay decisions "$RUN/$1/log" 2>/dev/null | grep -c "self-fence" || true; }

# stress_load SECONDS: the load of the survivor and partition runs, in the background (STRESS is its pid): a CPU
# hog per core, a synchronous I/O worker, and a disk writer on the shared storage's disk.
stress_load() {
    stress-ng --cpu "$(nproc)" --io 1 --hdd 1 --hdd-bytes 256M --temp-path "$RUN/shared" --timeout "$1s" \
        --metrics-brief >"$RUN/stress-ng.out" 2>&1 &
    STRESS=$!
}

# ---------------------------------------------------------------------------------------------------------
# DNS: BIND 9 for the virtual host name (the `dns` resource; dns-alias.sh and bench-failover's dns rows)

NS_DNS=$E2E_PREFIX-$RUN_ID-dns
DNS_SERVER=192.0.2.53
DNS_ZONE=example.test.
DNS_NAME=db.example.test.
DNS_KEY_NAME=servha
DNS_DIR=""
DNS_KEY=""
# The caching resolver of the client (dns_resolver_up), on the client's loopback.
DNS_RESOLVER=127.0.0.1

# dns_server_up BRIDGE PREFIX [ROUTER]: named (BIND 9) in a namespace of its own ($NS_DNS), plugged into the switch's
# BRIDGE as $DNS_SERVER/PREFIX (with a route to the rest of 192.0.2.0/24 via ROUTER, on a routed site), primary
# for example.test. (db.example.test. has no record yet). The cluster's TSIG key ($DNS_KEY, made with tsig-keygen,
# hmac-sha256, named servha) may replace db.example.test.'s A and AAAA records (update-policy), and nothing else.
# In the foreground (-g, its log in $DNS_DIR/named.out), as the bind user, no control channel; waits until it
# answers the client. Its namespace, and so named, goes at teardown.
dns_server_up() {
    local bridge=$1 prefix=$2 router=${3:-}
    DNS_DIR=$RUN/dns
    DNS_KEY=$DNS_DIR/$DNS_KEY_NAME.key
    mkdir -p "$DNS_DIR"
    tsig-keygen -a hmac-sha256 "$DNS_KEY_NAME" >"$DNS_KEY"
    cat >"$DNS_DIR/named.conf" <<EOC
controls { };
options {
    directory "$DNS_DIR";
    pid-file "$DNS_DIR/named.pid";
    listen-on port 53 { $DNS_SERVER; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { any; };
    dnssec-validation no;
    notify no;
};
include "$DNS_KEY";
zone "$DNS_ZONE" {
    type primary;
    file "$DNS_DIR/example.test.zone";
    update-policy { grant $DNS_KEY_NAME name $DNS_NAME A AAAA; };
};
EOC
    dns_zone_file
    chown -R bind:bind "$DNS_DIR"
    ip netns add "$NS_DNS"
    e2e_on_exit ns_destroy "$NS_DNS"
    ip -n "$NS_DNS" link set lo up
    veth "$NS_SW" dns-lan "$NS_DNS" eth0
    ip -n "$NS_SW" link set dns-lan master "$bridge"
    ip -n "$NS_DNS" addr add "$DNS_SERVER/$prefix" dev eth0
    [[ -z $router ]] || ip -n "$NS_DNS" route add 192.0.2.0/24 via "$router"
    dns_server_start
}

# The zone as it is before any update (no journal: a zone file written over an old journal does not load).
dns_zone_file() {
    rm -f "$DNS_DIR/example.test.zone.jnl"
    cat >"$DNS_DIR/example.test.zone" <<EOZ
\$TTL 60
@   IN SOA ns1.$DNS_ZONE hostmaster.$DNS_ZONE ( 1 60 30 600 1 )
    IN NS  ns1.$DNS_ZONE
ns1 IN A   $DNS_SERVER
EOZ
    chown bind:bind "$DNS_DIR/example.test.zone" 2>/dev/null || true
}

dns_server_start() {
    ip netns exec "$NS_DNS" named -g -u bind -c "$DNS_DIR/named.conf" >>"$DNS_DIR/named.out" 2>&1 &
    disown
    if ! wait_until 10 eval "ip netns exec $NS_C dig @$DNS_SERVER $DNS_ZONE SOA +short +time=1 +tries=1 2>/dev/null | grep -q ."; then
        echo "servha-e2e: named does not answer on $DNS_SERVER (see $DNS_DIR/named.out)" >&2
        exit 2
    fi
    say "named up: $DNS_SERVER in $NS_DNS, primary for $DNS_ZONE"
}

# dns_resolver_up: a second named in the client's namespace, on its loopback ($DNS_RESOLVER), as the client's
# caching resolver: it forwards example.test. to $DNS_SERVER and caches the answers for their TTL (no prefetch, no
# stale answers). Goes with the client's namespace at teardown.
dns_resolver_up() {
    local dir=$RUN/resolver
    mkdir -p "$dir"
    cat >"$dir/named.conf" <<EOC
controls { };
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    listen-on port 53 { $DNS_RESOLVER; };
    listen-on-v6 { none; };
    recursion yes;
    allow-query { $DNS_RESOLVER; };
    allow-recursion { $DNS_RESOLVER; };
    dnssec-validation no;
    prefetch 0;
    stale-answer-enable no;
};
zone "$DNS_ZONE" { type forward; forward only; forwarders { $DNS_SERVER; }; };
EOC
    chown -R bind:bind "$dir"
    ip netns exec "$NS_C" named -g -u bind -c "$dir/named.conf" >>"$dir/named.out" 2>&1 &
    disown
    if ! wait_until 10 eval "ip netns exec $NS_C dig @$DNS_RESOLVER $DNS_ZONE SOA +short +time=1 +tries=1 2>/dev/null | grep -q ."; then
        echo "servha-e2e: the caching resolver does not answer on $DNS_RESOLVER in $NS_C (see $dir/named.out)" >&2
        exit 2
    fi
    say "caching resolver up: $DNS_RESOLVER in $NS_C, forwarding $DNS_ZONE to $DNS_SERVER"
}

# The TTL the client's caching resolver gives db.example.test.'s answer now: the whole TTL right after it fetched the
# record from the primary, less as the cached answer ages (BIND counts in whole seconds).
dns_cached_ttl() {
    ip netns exec "$NS_C" dig @"$DNS_RESOLVER" "$DNS_NAME" A +noall +answer +time=1 +tries=1 2>/dev/null |
        awk '{ print $2; exit }'
}

# dns_lookup: the A records of db.example.test. as the client gets them from the primary, with dig, sorted, one a
# line (nothing when there are none).
dns_lookup() {
    ip netns exec "$NS_C" dig @"$DNS_SERVER" "$DNS_NAME" A +short +time=1 +tries=1 2>/dev/null | sort
}
# dns_points_to ADDRESS: the primary answers exactly ADDRESS.
dns_points_to() { [[ $(dns_lookup) == "$1" ]]; }
# The zone's SOA serial on the primary (it goes up with every update that changes the zone).
dns_serial() { ip netns exec "$NS_C" dig @"$DNS_SERVER" "$DNS_ZONE" SOA +short +time=1 +tries=1 2>/dev/null | awk '{print $3}'; }

# The `dns` resource's own name (the record's name is its `hostname:`).
DNS_RESOURCE="alias"

# dns_resource MODE [KEY_FILE] [TTL]: the `dns` resource ($DNS_RESOURCE): MODE vip (the group's VIP's address) or
# self (each node's LAN address, from LAN_IP); the key file defaults to the cluster's, the TTL to 5s.
dns_resource() {
    local mode=$1 key=${2:-$DNS_KEY} ttl=${3:-5s}
    cat <<EOF
  - name: $DNS_RESOURCE
    type: dns
    server: $DNS_SERVER
    zone: $DNS_ZONE
    hostname: $DNS_NAME
    address: $mode
EOF
    [[ $mode != self ]] || echo "    addresses: { node-a: ${LAN_IP[node-a]}, node-b: ${LAN_IP[node-b]} }"
    cat <<EOF
    ttl: $ttl
    key_file: $key
    monitor_interval: 2s
EOF
}

# ---------------------------------------------------------------------------------------------------------
# A routed site: the two hosts in different subnets (two racks, two sites), with no layer-2 segment in common

NS_R1=$E2E_PREFIX-$RUN_ID-r1
NS_R2=$E2E_PREFIX-$RUN_ID-r2

# topology_routed_up: instead of topology_up (the same namespace names for switch, nodes and client; the harness's
# functions work on it as they do on the flat site, but for partition and arbitrator_path):
#
#   switch    ($NS_SW)  bridges only, no address: br-a (site A's LAN), br-b (site B's LAN), br-svc (the client's
#                       and the DNS server's LAN), br-hba and br-hbb (site A's and site B's heartbeat networks)
#   router 1  ($NS_R1)  the LAN router: 192.0.2.1/27 (br-a; also the arbitrator), 192.0.2.65/26 (br-b),
#                       192.0.2.33/27 (br-svc); forwards between them
#   router 2  ($NS_R2)  the heartbeat network's router, a second path: 192.0.2.129/26 (br-hba), 192.0.2.193/26
#                       (br-hbb); forwards between them
#   node-a    ($NS_A)   eth0 192.0.2.11/27 (site A), eth1 192.0.2.139/26; routes 192.0.2.0/24 via router 1,
#                       192.0.2.192/26 (site B's heartbeat network) via router 2
#   node-b    ($NS_B)   eth0 192.0.2.75/26 (site B), eth1 192.0.2.203/26; routes 192.0.2.0/24 via router 1,
#                       192.0.2.128/26 via router 2
#   client    ($NS_C)   eth0 192.0.2.50/27 (br-svc), 192.0.2.0/24 via router 1
#
# So the heartbeat channel lan goes through router 1 and hb through router 2. No namespace has a route out of
# 192.0.2.0/24, and nothing is linked to the host. The routers' namespaces go at teardown (e2e_on_exit).
# Sets LAN_IP, HB_IP, GATEWAY and CLIENT_IP; the switch ports of the nodes are a-lan, a-hb, b-lan, b-hb as on the
# flat site, so links, host_kill and host_reboot work alike.
topology_routed_up() {
    local ns
    GATEWAY=192.0.2.1
    CLIENT_IP=192.0.2.50
    LAN_IP=([node-a]=192.0.2.11 [node-b]=192.0.2.75)
    HB_IP=([node-a]=192.0.2.139 [node-b]=192.0.2.203)
    NODE_NS=([node-a]=$NS_A [node-b]=$NS_B)
    for ns in "$NS_SW" "$NS_R1" "$NS_R2" "$NS_A" "$NS_B" "$NS_C"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    e2e_on_exit ns_destroy "$NS_R1"
    e2e_on_exit ns_destroy "$NS_R2"
    local bridge
    for bridge in br-a br-b br-svc br-hba br-hbb; do
        ip -n "$NS_SW" link add "$bridge" type bridge
        ip -n "$NS_SW" link set "$bridge" type bridge forward_delay 0 mcast_snooping 0
        ip -n "$NS_SW" link set "$bridge" up
    done
    # plug NS IF BRIDGE PORT ADDRESS/PREFIX: a cable from the switch's BRIDGE (its end named PORT) to NS's IF.
    plug() {
        veth "$NS_SW" "$4" "$1" "$2"
        ip -n "$NS_SW" link set "$4" master "$3"
        ip -n "$1" addr add "$5" dev "$2"
    }
    plug "$NS_R1" eth0 br-a r1-a 192.0.2.1/27
    plug "$NS_R1" eth1 br-b r1-b 192.0.2.65/26
    plug "$NS_R1" eth2 br-svc r1-svc 192.0.2.33/27
    plug "$NS_R2" eth0 br-hba r2-a 192.0.2.129/26
    plug "$NS_R2" eth1 br-hbb r2-b 192.0.2.193/26
    for ns in "$NS_R1" "$NS_R2"; do ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1; done
    plug "$NS_A" eth0 br-a a-lan 192.0.2.11/27
    plug "$NS_A" eth1 br-hba a-hb 192.0.2.139/26
    plug "$NS_B" eth0 br-b b-lan 192.0.2.75/26
    plug "$NS_B" eth1 br-hbb b-hb 192.0.2.203/26
    plug "$NS_C" eth0 br-svc c-lan "$CLIENT_IP/27"
    unset -f plug
    ip -n "$NS_A" route add 192.0.2.0/24 via 192.0.2.1
    ip -n "$NS_A" route add 192.0.2.192/26 via 192.0.2.129
    ip -n "$NS_B" route add 192.0.2.0/24 via 192.0.2.65
    ip -n "$NS_B" route add 192.0.2.128/26 via 192.0.2.193
    ip -n "$NS_C" route add 192.0.2.0/24 via 192.0.2.33

    for ns in "$NS_SW" "$NS_R1" "$NS_R2" "$NS_A" "$NS_B" "$NS_C"; do
        if ip -n "$ns" route show default | grep -q .; then
            echo "servha-e2e: $ns has a default route" >&2
            exit 2
        fi
    done
    # Every path the test needs, through the routers: the client to both nodes, each channel between the nodes.
    local from to from_to
    for from_to in "$NS_C ${LAN_IP[node-a]}" "$NS_C ${LAN_IP[node-b]}" "$NS_A ${LAN_IP[node-b]}" \
        "$NS_B ${HB_IP[node-a]}" "$NS_A $GATEWAY" "$NS_B $GATEWAY"; do
        read -r from to <<<"$from_to"
        wait_until 5 ip netns exec "$from" ping -n -q -c 1 -W 1 "$to" >/dev/null || {
            echo "servha-e2e: no route from $from to $to on the routed site" >&2
            exit 2
        }
    done
    # And the heartbeat network's packets take router 2, not router 1.
    if ! ip -n "$NS_A" route get "${HB_IP[node-b]}" from "${HB_IP[node-a]}" | grep -q "via 192.0.2.129 dev eth1"; then
        echo "servha-e2e: node-a's heartbeat packets to node-b would not go through router 2" >&2
        exit 2
    fi
    say "routed site up: site A 192.0.2.0/27 (node-a), site B 192.0.2.64/26 (node-b), client 192.0.2.32/27, routers $NS_R1 (LAN) and $NS_R2 (heartbeat)"
}

# ---------------------------------------------------------------------------------------------------------
# A shared disk array: LUNs both hosts are cabled to (shared-lun.sh)
#
# Mount namespaces, as found on this machine (Debian 12, kernel 6.18): each node's daemon already runs in a mount
# namespace of its own, and a filesystem mounted there (by the Filesystem agent the daemon runs) is seen by that
# node's processes only: not by the host, not by the other node. Two layers give it: `ip netns exec` unshares a
# mount namespace for every command it runs (to mount the namespace's own /sys), and daemon_start's `unshare
# --mount-proc` makes a further one whose propagation is private (unshare's default). The host's / here carries no
# shared: tag at all; on a host where / is shared (systemd's default), `ip netns exec` makes it a slave, and the
# private namespace of unshare cuts even that. So daemon_start needs no wrapper: the nodes see the same files of
# the host's filesystem (copies of its mounts taken at start), and each its own mounts on top.
#
# What that means when a host dies: a mount namespace lives only as long as some process in it. SIGKILLing every
# process of a node (host_kill) ends the namespace, and the kernel then unmounts the filesystem CLEANLY (journal
# checkpointed, needs_recovery cleared, "EXT4-fs (loopN): unmounting filesystem" in the kernel log): the dead host
# would have shut its filesystem down in good order, which no dead host does, and the survivor's mount would find
# a clean filesystem and replay nothing. And if both nodes mounted the same loop device, the kernel would hand the
# second mount the first one's superblock (one block device, one superblock): the survivor would go on with the
# dead host's in-memory state, not with what is on the disk.
#
# Hence each host has a path of its own to the data LUN, as it has its own HBA in a real pair: a loop device of its
# own on the LUN's backing file (DATA_PATH[node]); the backing file is the array. Buffered loop devices on one file
# share its page cache, so what one host wrote is what the next one reads. host_kill_lun kills a host the way a
# power cut does: every process stopped (SIGSTOP) as its cables are pulled, then its path to the LUN cut
# (lunpath.py: the loop device's capacity drops to 0, every I/O through it fails), then every process SIGKILLed.
# The kernel's unmount of the dead node's filesystem (when its mount namespace ends) then writes nothing to the
# array: the filesystem stays as the dead host left it (needs_recovery set), and the survivor's mount replays the
# journal.

LUN_DIR=""
SERVHA_LUN=""    # 16 MiB, raw: servha's own disk in device mode (STORAGE=device; servha_lun_up)
DATA_LUN=""      # the data LUN as the root namespace sees it: set-up and inspection only, never mounted by a node
DATA_LUN_FILE="" # its backing file (the array's disk)
DATA_MNT=""      # where a node mounts it: the same path on both nodes, each in its own mount namespace
declare -A DATA_PATH=() # each host's own path to the data LUN: a loop device of its own on DATA_LUN_FILE
LUN_LOOPS=()            # every loop device this run attached (detached at teardown)
LUN_LAST=""
LUN_TEARDOWN_ARMED=0
# shellcheck disable=SC2034 # set by host_kill_lun, read by the scenarios
HOST_DEATH_US=""
LUN_CUT_US=""
MOUNT_SAMPLES=""
MOUNT_SAMPLER=""

# lun_attach FILE: a loop device on FILE (its name in LUN_LAST), detached at teardown (armed before the attach, so
# that a run ending anywhere after it detaches it).
lun_attach() {
    if ((LUN_TEARDOWN_ARMED == 0)); then
        e2e_on_exit lun_teardown
        LUN_TEARDOWN_ARMED=1
    fi
    LUN_LAST=$(losetup --find --show "$1")
    LUN_LOOPS+=("$LUN_LAST")
}

# servha_lun_up [FILE] [MIB]: SERVHA_LUN, servha's raw LUN: a loop device on a sparse file of MIB (default 16) MiB,
# FILE (default $RUN/servha.lun), left raw (servha_storage_fresh lays it out). Nothing when the run has one already.
servha_lun_up() {
    [[ -z $SERVHA_LUN ]] || return 0
    local file=${1:-$RUN/servha.lun} mib=${2:-16}
    lun_clean_leftovers
    truncate -s "${mib}M" "$file"
    lun_attach "$file"
    SERVHA_LUN=$LUN_LAST
    export SERVHA_LUN
    say "SERVHA_LUN $SERVHA_LUN on $file (${mib} MiB, sparse)"
}

# lun_setup [SERVHA_MIB] [DATA_MIB]: the array's two LUNs, sparse files in $RUN/array on loop devices: SERVHA_LUN
# (default 16 MiB, left raw here; servha_setup, which must come after, lays it out in device mode) and DATA_LUN
# (default 256 MiB, ext4), and each node's path to the data LUN (DATA_PATH). Every loop device goes at teardown,
# whatever way the run ends.
lun_setup() {
    local servha_mib=${1:-16} data_mib=${2:-256} node
    lun_clean_leftovers
    LUN_DIR=$RUN/array
    DATA_MNT=$RUN/data
    mkdir -p "$LUN_DIR" "$DATA_MNT"
    if [[ -n $SERVHA_LUN ]]; then
        echo "servha-e2e: lun_setup must come before servha_setup (SERVHA_LUN $SERVHA_LUN exists already)" >&2
        exit 2
    fi
    servha_lun_up "$LUN_DIR/servha.lun" "$servha_mib"
    DATA_LUN_FILE=$LUN_DIR/data.lun
    truncate -s "${data_mib}M" "$DATA_LUN_FILE"
    lun_attach "$DATA_LUN_FILE"
    DATA_LUN=$LUN_LAST
    # errors=continue: an I/O error on a dead host's cut path must not take the (shared) kernel down. No lazy
    # initialisation: no background writes on the first mount that the test did not make.
    mkfs.ext4 -q -F -L pgdata -e continue -E lazy_itable_init=0,lazy_journal_init=0 "$DATA_LUN"
    for node in node-a node-b; do
        lun_attach "$DATA_LUN_FILE"
        DATA_PATH[$node]=$LUN_LAST
    done
    export SERVHA_LUN DATA_LUN
    say "array: SERVHA_LUN $SERVHA_LUN (${servha_mib} MiB, raw), DATA_LUN $DATA_LUN (${data_mib} MiB, ext4); paths to it: node-a ${DATA_PATH[node-a]}, node-b ${DATA_PATH[node-b]}"
}

# Loop devices on the LUN files of runs that are gone (a run killed with SIGKILL cannot clean up).
lun_clean_leftovers() {
    local dev file owner
    while read -r dev file; do
        [[ $file == /tmp/$E2E_PREFIX-* ]] || continue
        owner=${file#/tmp/"$E2E_PREFIX"-}
        owner=${owner%%-*}
        if [[ $owner == "$RUN_ID" ]] || { [[ -r /proc/$owner/cmdline ]] &&
            tr '\0' ' ' <"/proc/$owner/cmdline" | grep -q "scripts/e2e/"; }; then
            continue
        fi
        say "detaching $dev, left by an earlier run ($file)"
        losetup -d "$dev" 2>/dev/null || true
    done < <(losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null)
}

# At teardown: the nodes' processes go first (a mount holds its loop device, and a node's mounts go with the last
# process of its namespace), the root namespace's set-up mount if the run ended in the middle of it, then every
# loop device of the run. One still held is detached by the kernel once let go (losetup -d sets autoclear).
lun_teardown() {
    local ns dev
    for ns in "$NS_A" "$NS_B"; do ns_kill_all "$ns" 2>/dev/null || true; done
    if [[ -n $DATA_MNT ]] && mountpoint -q "$DATA_MNT"; then umount "$DATA_MNT" || umount -l "$DATA_MNT"; fi
    for dev in "${LUN_LOOPS[@]}"; do losetup -d "$dev" 2>/dev/null || true; done
    if [[ -n $RUN ]] && ! wait_until 5 eval "! losetup --list --noheadings --output BACK-FILE | grep -q '$RUN/'"; then
        say "warning: loop devices still on files of $RUN: $(losetup --list --noheadings --output NAME,BACK-FILE | grep "$RUN/" | tr '\n' ' ')"
    fi
}

# pg_init_lun: PostgreSQL's cluster on the data LUN's filesystem, in $DATA_MNT/pgdata (PGDATA_SHARED): mounted once
# from the root namespace, initdb as pg_init does, unmounted (before any node starts: a node's mount namespace is a
# copy of the host's at its start).
pg_init_lun() {
    mount -t ext4 "$DATA_LUN" "$DATA_MNT"
    pg_init "$DATA_MNT/pgdata"
    umount "$DATA_MNT"
}

# fs_resource NODE: the OCF Filesystem resource (Debian's heartbeat/Filesystem, unchanged): the data LUN through
# NODE's own path, on $DATA_MNT, ext4. In a group, before the resources that use it.
fs_resource() {
    cat <<EOF
  - name: datafs
    type: ocf
    agent: heartbeat/Filesystem
    params:
      device: ${DATA_PATH[$1]}
      directory: $DATA_MNT
      fstype: ext4
    timeouts: { start: 30s, stop: 30s, monitor: 10s }
    monitor_interval: 2s
EOF
}

# mounts_data NODE: the node's daemon sees an ext4 filesystem on $DATA_MNT (its /proc/PID/mountinfo).
mounts_data() {
    local pid
    pid=$(daemon_pid "$1") || return 1
    awk -v m="$DATA_MNT" '$5 == m && / - ext4 / { found = 1 } END { exit !found }' "/proc/$pid/mountinfo"
}

# ext4_live DEVICE: the kernel holds a mounted ext4 superblock on DEVICE (in whatever mount namespace; its directory
# in /sys/fs/ext4 goes at the start of the unmount).
ext4_live() { [[ -e /sys/fs/ext4/${1##*/} ]]; }

# lun_path_free NODE: nothing holds NODE's path to the data LUN any more: no mount of it, and the kernel's unmount
# of the last one is over (superblock and journal closed), as an exclusive open tells.
lun_path_free() { "$PYTHON" "$E2E_DIR/lunpath.py" free "${DATA_PATH[$1]}"; }

# lun_path_sectors NODE: the capacity of NODE's path to the data LUN, in sectors (0 when cut).
lun_path_sectors() { cat "/sys/class/block/${DATA_PATH[$1]##*/}/size"; }

# lun_path_restore NODE: the repaired host's path to the LUN works again. Only once the kernel has let go of its
# old mount (a superblock still held would write its stale state through the restored path).
lun_path_restore() {
    if ! lun_path_free "$1"; then
        say "$1's path ${DATA_PATH[$1]} is still held (its old mount); not restoring it"
        return 1
    fi
    "$PYTHON" "$E2E_DIR/lunpath.py" restore "${DATA_PATH[$1]}"
}

# host_kill_lun NODE: the host dies as in a power cut, with its storage: every process on it stopped (SIGSTOP) as
# its cables are pulled (HOST_DEATH_US), then its path to the data LUN cut (LUN_CUT_US; the cutter is armed
# before, so that the cut costs only its ioctl), then every process SIGKILLed (host_kill). Nothing of the host runs
# after HOST_DEATH_US, and nothing its kernel still holds reaches the array after LUN_CUT_US.
host_kill_lun() {
    local node=$1 pids ready=$RUN/lunpath-$1.ready cutter
    rm -f "$ready"
    "$PYTHON" "$E2E_DIR/lunpath.py" cut "${DATA_PATH[$node]}" "$ready" &
    cutter=$!
    if ! wait_until 10 test -s "$ready"; then
        fail "the cutter of $node's path to the LUN is armed"
        return 1
    fi
    pids=$(ip netns pids "${NODE_NS[$node]}" 2>/dev/null) || pids=""
    # shellcheck disable=SC2034 # read by the scenario
    HOST_DEATH_US=$(now_us)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -STOP $pids 2>/dev/null || true
    links "$node" down
    # Anything forked between the listing and the stop.
    pids=$(ip netns pids "${NODE_NS[$node]}" 2>/dev/null) || pids=""
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -STOP $pids 2>/dev/null || true
    kill -USR1 "$cutter"
    # shellcheck disable=SC2034 # read by the scenario
    if wait "$cutter"; then
        LUN_CUT_US=$(now_us)
    else
        LUN_CUT_US=""
        fail "$node's path to the LUN is cut"
    fi
    host_kill "$node"
}

# kmsg_mark TEXT: a line in the kernel log, after which kernel_log_since TEXT reads (loop device numbers are reused
# from run to run, so the kernel's lines about a device are only this run's after its mark).
kmsg_mark() { echo "$E2E_PREFIX $RUN_ID: $*" >/dev/kmsg; }
kernel_log_since() { dmesg | awk -v m="$E2E_PREFIX $RUN_ID: $1" 'index($0, m) { on = 1 } on'; }

# mounts_start INTERVAL: samples every INTERVAL seconds where the data filesystem is mounted (mounts.py: in the
# mount namespaces of each node's processes and in the host's, and which ext4 superblocks the kernel holds on each
# node's path and on DATA_LUN), into $MOUNT_SAMPLES.
mounts_start() {
    MOUNT_SAMPLES=$RUN/mounts.txt
    "$PYTHON" "$E2E_DIR/mounts.py" "$MOUNT_SAMPLES" "$1" "$DATA_MNT" "$NS_A" "$NS_B" \
        "${DATA_PATH[node-a]}" "${DATA_PATH[node-b]}" "$DATA_LUN" &
    MOUNT_SAMPLER=$!
    wait_until 5 test -s "$MOUNT_SAMPLES"
}
mounts_stop() {
    kill -TERM "$MOUNT_SAMPLER"
    wait "$MOUNT_SAMPLER" || true
}

# e2e_deadline SECONDS: a run still going after SECONDS is ended (SIGTERM to the harness: teardown, a failure).
e2e_deadline() {
    (
        trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
        sleep "$1" &
        sleeper=$!
        if wait "$sleeper"; then
            say "deadline: the run is still going after $1 s; ending it"
            kill -TERM $$
        fi
    ) &
    e2e_on_exit "kill -TERM $! 2>/dev/null"
}
