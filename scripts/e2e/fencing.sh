# servha end to end: fencing for the scenarios. Sourced AFTER harness.sh (it uses the harness's names, helpers
# and teardown):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/fencing.sh"
#
# It adds to the harness's site:
#
#   bmc     (namespace $NS_BMC)  eth0 on the switch's LAN bridge br0, with 192.0.2.120/25 (node-a's BMC) and
#                                192.0.2.121/25 (node-b's BMC): two ipmi_sim instances, one per address (one
#                                ipmi_sim cannot serve two LAN channels), user "fence", password "s3cret".
#
# and makes each node's "host" freezable as a whole: a cgroup v2 group per node
# (<cgroup2 mount>/servha-e2e-<run>-<node>) that the node's daemon is started in, so that everything the daemon
# starts (its guard, its group's cgroup with PostgreSQL in it, agents) is in it or below it. Freezing that group
# is a host that hangs (a stuck hypervisor, a kernel in trouble) rather than one daemon paused.
#
# A BMC's power-off does to its node what pulling the power would: both of its cables go dead at the switch and
# every process on it dies (frozen ones too), before the BMC answers that the power is off.
#
#   bmc_up                          the BMC namespace and both ipmi_sims; sets BMC_IP[node-a], BMC_IP[node-b]
#   bmc_down                        kills the ipmi_sims, deletes the BMC namespace (also done on exit)
#   node_cgroup_create NODE         makes the node's cgroup (node_cgroup NODE prints its directory)
#   node_join_cgroup NODE PID       moves a process into it (what it starts afterwards stays in it)
#   node_freeze NODE / node_thaw NODE   cgroup.freeze 1/0, waiting until cgroup.events says so
#   node_cgroup_strays NODE         prints the node namespace's processes outside its cgroup (none: status 0)
#   node_cgroup_remove NODE         kills what is left in the cgroup and removes it (also done on exit)
#   daemon_start_frozenable NODE [COMMAND...]   daemon_start, but inside the node's cgroup; with COMMAND, runs
#                                   that (under host-init.sh, as the node's "host") instead of the servha daemon
#   fence_agent_status NODE [KEY=VALUE...] / fence_agent_off NODE [KEY=VALUE...] / fence_agent_on NODE [...]
#                                   fence_ipmilan against NODE's BMC, run on the other node; prints its output,
#                                   returns its exit status (status: 0 on, 2 off, 1 error); KEY=VALUE lines are
#                                   added to its stdin (later keys win: password=wrong)
#
# Every fence_agent_* call leaves its exit status in FENCE_RC and its wall-clock time in FENCE_MS (and says it
# on stderr). Run-time files are under $RUN/bmc/: NODE.hook.log gets "off NODE TIME_US" for every power-off
# the BMC carries out.

if ! declare -F e2e_teardown >/dev/null || [[ -z ${E2E_PREFIX:-} ]]; then
    echo "fencing.sh: source harness.sh first" >&2
    exit 2
fi

NS_BMC=$E2E_PREFIX-$RUN_ID-bmc
BMC_USER=fence
BMC_PASSWORD=s3cret
# On the LAN (192.0.2.0/25: .0 to .127), and free in the harness's plan: .1 gateway, .11/.12 nodes, .50 client,
# .100/.101 VIPs. (192.0.2.250 would be on the heartbeat network 192.0.2.128/25: the nodes would look for it on
# eth1, and br1 is not where the BMCs are.)
declare -A BMC_IP=([node-a]=192.0.2.120 [node-b]=192.0.2.121)
# The agent's bounds (seconds). A status or off against a live ipmi_sim takes well under a second; with the BMC
# gone, ipmitool would retransmit for a long while, and fence_ipmilan's default power_timeout (20 s per ipmitool
# run) would let a single off take 20 s or more. FENCE_POWER_TIMEOUT caps every ipmitool run (it is killed then),
# FENCE_IPMITOOL_TIMEOUT is ipmitool's own -N (seconds between retransmits).
FENCE_POWER_TIMEOUT=${FENCE_POWER_TIMEOUT:-4}
FENCE_IPMITOOL_TIMEOUT=${FENCE_IPMITOOL_TIMEOUT:-1}
FENCE_RC=""
FENCE_MS=""

# The other node: the one that fences NODE.
fencer_of() { if [[ $1 == node-a ]]; then echo node-b; else echo node-a; fi; }

# Installs what fencing needs when it is missing (install-deps.sh knows nothing of it). ipmitool is a separate
# package: fence_ipmilan only runs it, and fence-agents does not pull it in on every machine.
fencing_deps() {
    local missing=()
    command -v ipmi_sim >/dev/null || missing+=(openipmi)
    command -v fence_ipmilan >/dev/null || missing+=(fence-agents)
    command -v ipmitool >/dev/null || missing+=(ipmitool)
    command -v nsenter >/dev/null || missing+=(util-linux)
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------------------
# The nodes' cgroups

# The cgroup v2 mount point, from this process's mountinfo (on these machines /sys/fs/cgroup/unified, beside the
# v1 controllers; elsewhere /sys/fs/cgroup). Its root must be the hierarchy's root: the paths in /proc/PID/cgroup,
# which node_cgroup_strays compares, are relative to it. Found once, here: the functions below mostly run in
# command substitutions, where neither a cached value nor an `exit` would reach the script.
FENCING_CGROUP2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2" && $4 == "/") print $5; break } }' \
    /proc/self/mountinfo | head -1)

cgroup2_mount() { [[ -n $FENCING_CGROUP2 ]] && echo "$FENCING_CGROUP2"; }

node_cgroup_name() { echo "$E2E_PREFIX-$RUN_ID-$1"; }
node_cgroup() { echo "$FENCING_CGROUP2/$(node_cgroup_name "$1")"; }

# Cgroups of runs that are gone (their owner pid no longer runs an e2e script), like e2e_clean_leftovers does for
# namespaces. Only servha-e2e-<pid>-*: servha's own group cgroups (servha-e2e-node-a) are not ours.
fencing_clean_leftovers() {
    local dir name owner
    for dir in "$FENCING_CGROUP2/$E2E_PREFIX"-*; do
        [[ -d $dir ]] || continue
        name=${dir##*/}
        owner=${name#"$E2E_PREFIX"-}
        owner=${owner%%-*}
        [[ $owner =~ ^[0-9]+$ && $owner != "$RUN_ID" ]] || continue
        if [[ -r /proc/$owner/cmdline ]] && tr '\0' ' ' <"/proc/$owner/cmdline" | grep -q "scripts/e2e/"; then
            continue
        fi
        say "removing cgroup left by an earlier run: $dir"
        cgroup_remove_tree "$dir" || true
    done
}

# Kills every process in a cgroup tree, thaws it, waits until it is empty, then removes it bottom up.
cgroup_remove_tree() {
    local dir=$1 deadline
    [[ -d $dir ]] || return 0
    echo 1 >"$dir/cgroup.kill" 2>/dev/null || true
    # The SIGKILLs are queued before the thaw, so no frozen process runs another instruction of its own.
    echo 0 >"$dir/cgroup.freeze" 2>/dev/null || true
    deadline=$(($(now_us) + 5000000))
    while grep -q '^populated 1' "$dir/cgroup.events" 2>/dev/null; do
        if (($(now_us) > deadline)); then
            say "warning: processes still in $dir after cgroup.kill: $(cat "$dir/cgroup.procs" | tr '\n' ' ')"
            return 1
        fi
        echo 1 >"$dir/cgroup.kill" 2>/dev/null || true
        sleep 0.02
    done
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
    [[ ! -d $dir ]]
}

node_cgroup_create() {
    local node=$1
    if [[ -z $FENCING_CGROUP2 ]]; then
        echo "servha-e2e: no cgroup v2 hierarchy mounted here (see /proc/self/mountinfo); freezing a node needs one" >&2
        exit 2
    fi
    if [[ -z ${FENCING_CLEANED:-} ]]; then
        fencing_clean_leftovers
        FENCING_CLEANED=1
    fi
    mkdir -p "$(node_cgroup "$node")"
}

node_join_cgroup() { echo "$2" >"$(node_cgroup "$1")/cgroup.procs"; }

node_frozen() { grep -qx 'frozen 1' "$(node_cgroup "$1")/cgroup.events"; }

# Freezing is asynchronous: cgroup.events says "frozen 1" once every process in the tree has stopped.
node_freeze() {
    local cg
    cg=$(node_cgroup "$1")
    echo 1 >"$cg/cgroup.freeze"
    if ! wait_until 5 grep -qx 'frozen 1' "$cg/cgroup.events"; then
        say "warning: $1's cgroup not frozen 5 s after the freeze: $(node_cgroup_report "$1")"
        return 1
    fi
}

node_thaw() {
    local cg
    cg=$(node_cgroup "$1")
    echo 0 >"$cg/cgroup.freeze"
    if ! wait_until 5 grep -qx 'frozen 0' "$cg/cgroup.events"; then
        say "warning: $1's cgroup still frozen 5 s after the thaw: $(node_cgroup_report "$1")"
        return 1
    fi
}

# One line on the node's cgroup tree, for a failure message: each cgroup's cgroup.freeze and cgroup.events, and
# each process left in it with its state and where it sleeps in the kernel.
node_cgroup_report() {
    local dir pid
    while read -r dir; do
        printf '%s: freeze %s, %s;' "${dir#"$FENCING_CGROUP2"/}" "$(cat "$dir/cgroup.freeze" 2>/dev/null)" \
            "$(tr '\n' ' ' <"$dir/cgroup.events" 2>/dev/null)"
        for pid in $(cat "$dir/cgroup.procs" 2>/dev/null); do
            printf ' pid %s (%s, state %s, wchan %s);' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)" \
                "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" "$(cat "/proc/$pid/wchan" 2>/dev/null)"
        done
    done < <(find "$(node_cgroup "$1")" -type d 2>/dev/null)
}

# node_cgroup_renew NODE: the fenced node's next boot gets a cgroup of its own, as a real host boots with nothing
# of its last run. The old one is empty (the power-off killed all in it) and goes. A kernel once left it marked
# frozen after the power-off's thaw (on CI; a start into it would hang), and a fresh cgroup never is.
node_cgroup_renew() {
    if ! node_cgroup_remove "$1"; then
        say "error: $1's old cgroup cannot be removed: $(node_cgroup_report "$1")"
        return 1
    fi
    mkdir -p "$(node_cgroup "$1")"
}

# Every process in the node's network namespace that is not in the node's cgroup or below it (pid and path, one
# a line); status 0 when there is none. A process that exits meanwhile is skipped.
node_cgroup_strays() {
    local node=$1 pid path rel strays=0
    rel=/$(node_cgroup_name "$node")
    for pid in $(ip netns pids "${NODE_NS[$node]}"); do
        path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null) || continue
        [[ -n $path ]] || continue
        [[ $path == "$rel" || $path == "$rel"/* ]] && continue
        echo "$pid $path"
        strays=1
    done
    return "$strays"
}

node_cgroup_remove() { cgroup_remove_tree "$(node_cgroup "$1")"; }

# daemon_start_frozenable NODE [COMMAND...]: starts the node's "host" like daemon_start does (same namespaces,
# same host-init.sh, same output file), but with the starting subshell moved into the node's cgroup before it
# execs, so that nothing of the host is ever outside it. Without COMMAND it runs the servha daemon with
# $RUN/NODE.yaml (daemon_start's command line); with COMMAND, that instead (a stand-in host for tests).
daemon_start_frozenable() {
    local node=$1 cg
    shift
    cg=$(node_cgroup "$node")
    [[ -d $cg ]] || node_cgroup_create "$node"
    # A process written into a frozen cgroup freezes at once: the start would hang unseen.
    if node_frozen "$node"; then
        say "error: $node's cgroup is frozen; thaw it before starting its host"
        return 1
    fi
    (($#)) || set -- "$SERVHA" daemon --config "$RUN/$node.yaml"
    mkdir -p "$RUN/$node"
    (
        echo "$BASHPID" >"$cg/cgroup.procs"
        exec ip netns exec "${NODE_NS[$node]}" unshare --pid --ipc --uts --fork --kill-child --mount-proc \
            "$E2E_DIR/host-init.sh" "$node" "$@"
    ) >>"$RUN/$node/daemon.out" 2>&1 </dev/null &
    disown # as daemon_start: its end is checked through the namespace
}

# ---------------------------------------------------------------------------------------------------------
# The BMCs

# The power hook ipmi_sim runs (chassis_control). It runs in the BMC namespace, as ipmi_sim's child: no harness
# function is there, so every name it needs is in $RUN/bmc/NODE/node.conf.
fencing_write_hook() {
    cat >"$RUN/bmc/power-hook" <<'EOF'
#!/bin/sh
# Written by bmc_up (scripts/e2e/fencing.sh). ipmi_sim runs, in the BMC namespace:
#   power-hook NODE get power       prints power:1 or power:0
#   power-hook NODE set power 0|1   prints nothing
# synchronously, for every request: it must stay fast (a slow hook makes ipmitool retransmit, and the off runs
# twice) and idempotent (a retransmitted off comes here again).
bmc=$(dirname "$0")
node=$1
# NETNS, SWITCH_NS, PORTS, CGROUP, ADDRESSES
. "$bmc/$node/node.conf"
state=$bmc/$node/power.state
case "$2 $3" in
"get power")
    [ -f "$state" ] || echo 1 >"$state"
    echo "power:$(cat "$state")"
    ;;
"set power")
    case $4 in
    0)
        echo "off $node $(date +%s%6N)" >>"$bmc/$node.hook.log"
        # The cables first (as `links NODE down`): from here on nothing the node still does reaches anyone.
        for port in $PORTS; do ip -n "$SWITCH_NS" link set dev "$port" down; done
        # Then every process on it. cgroup.kill takes the whole host at once, whatever forks meanwhile; the
        # namespace sweep takes whatever is on the node outside its cgroup (a host started without it).
        # SIGKILL ends a process frozen by cgroup v2's cgroup.freeze as it is (v1's freezer needed a thaw).
        # The thaw comes after the SIGKILLs are queued, never before: a thawed process runs no instruction of its
        # own with SIGKILL pending, and a thaw first would let a frozen daemon write to the shared storage.
        # Without the thaw the empty cgroup would stay frozen, and the node's next boot would start frozen.
        [ -e "$CGROUP/cgroup.kill" ] && echo 1 >"$CGROUP/cgroup.kill"
        pids=$(ip netns pids "$NETNS" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
        [ -e "$CGROUP/cgroup.freeze" ] && echo 0 >"$CGROUP/cgroup.freeze"
        # A host without power holds no address: the service addresses it had on its interface go with it (the
        # namespace, unlike a real host, would keep them).
        for address in $ADDRESSES; do ip -n "$NETNS" addr del "$address" dev eth0 2>/dev/null; done
        # A killed process leaves the namespace a little later (its exit runs): wait for that, within ipmitool's
        # retransmit interval (1 s).
        tries=0
        while pids=$(ip netns pids "$NETNS" 2>/dev/null) && [ -n "$pids" ]; do
            tries=$((tries + 1))
            if [ $tries -gt 50 ]; then
                echo "warning $node $(date +%s%6N) still running: $pids" >>"$bmc/$node.hook.log"
                break
            fi
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null
            sleep 0.01
        done
        echo 0 >"$state"
        ;;
    1) echo 1 >"$state" ;; # a power-on starts nothing: the scenario boots the host (host_reboot and a start)
    *) exit 1 ;;
    esac
    ;;
*) exit 1 ;;
esac
EOF
    chmod 755 "$RUN/bmc/power-hook"
}

# bmc_up: the BMC namespace on the LAN, and one ipmi_sim per node on BMC_IP[NODE], each with its own directory
# $RUN/bmc/NODE (lan.conf, sim.emu, state/, power.state).
bmc_up() {
    local node dir ip
    fencing_deps
    mkdir -p "$RUN/bmc"
    ip netns add "$NS_BMC"
    ip -n "$NS_BMC" link set lo up
    veth "$NS_SW" bmc-lan "$NS_BMC" eth0
    ip -n "$NS_SW" link set bmc-lan master br0
    for node in node-a node-b; do
        ip -n "$NS_BMC" addr add "${BMC_IP[$node]}/25" dev eth0
    done
    fencing_write_hook
    for node in node-a node-b; do
        dir=$RUN/bmc/$node
        ip=${BMC_IP[$node]}
        mkdir -p "$dir/state"
        cat >"$dir/node.conf" <<EOF
NETNS=${NODE_NS[$node]}
SWITCH_NS=$NS_SW
PORTS="$(node_ports "$node")"
CGROUP=$(node_cgroup "$node")
ADDRESSES="$VIP/$VIP_PREFIX"
EOF
        echo 1 >"$dir/power.state"
        # Two BMCs, two GUIDs.
        cat >"$dir/lan.conf" <<EOF
name "bmc-$node"
set_working_mc 0x20
  startlan 1
    addr $ip 623
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user md2 md5 straight
    allowed_auths_operator md2 md5 straight
    allowed_auths_admin md2 md5 straight
    guid a123456789abcdefa123456789abcde${node: -1}
  endlan
  chassis_control "$RUN/bmc/power-hook $node"
  user 2 true "$BMC_USER" "$BMC_PASSWORD" admin 10 md2 md5 straight
EOF
        printf '%s\n' "mc_setbmc 0x20" "mc_add 0x20 0 no-device-sdrs 0x23 0x09 0x08 0x9f 0x1291 0xf02" \
            "mc_enable 0x20" >"$dir/sim.emu"
        # nsenter --net, not `ip netns exec`: the latter gives a fresh /sys without the host's cgroup mounts, and
        # the hook needs the nodes' cgroup.kill and cgroup.freeze. (nsenter execs: $! is ipmi_sim itself.)
        nsenter --net="/run/netns/$NS_BMC" ipmi_sim -c "$dir/lan.conf" -f "$dir/sim.emu" -s "$dir/state" -n \
            >>"$dir/ipmi_sim.out" 2>&1 </dev/null &
        echo $! >"$dir/ipmi_sim.pid"
        disown # bmc_down ends it through the namespace
    done
    for node in node-a node-b; do
        if ! wait_until 5 bmc_listening "$node"; then
            echo "servha-e2e: $node's ipmi_sim does not listen on ${BMC_IP[$node]}:623 (see $RUN/bmc/$node/ipmi_sim.out)" >&2
            exit 2
        fi
    done
    say "BMCs up in $NS_BMC: node-a ${BMC_IP[node-a]}, node-b ${BMC_IP[node-b]} (ipmi_sim pids $(cat "$RUN/bmc/node-a/ipmi_sim.pid") $(cat "$RUN/bmc/node-b/ipmi_sim.pid"))"
}

bmc_listening() { ip netns exec "$NS_BMC" ss -Hlnu 2>/dev/null | grep -qF " ${BMC_IP[$1]}:623 "; }

# bmc_kill NODE: the BMC of NODE dies (its ipmi_sim is killed; its address stays, so requests get ICMP port
# unreachable).
bmc_kill() {
    local pid
    pid=$(cat "$RUN/bmc/$1/ipmi_sim.pid" 2>/dev/null) || return 0
    kill -9 "$pid" 2>/dev/null || true
    wait_until 5 eval "! bmc_listening $1"
}

bmc_down() {
    if ip netns list | grep -q "^$NS_BMC\b"; then
        ns_destroy "$NS_BMC"
    fi
}

# ---------------------------------------------------------------------------------------------------------
# The fence agent

# fence_agent ACTION NODE [KEY=VALUE...]: fence_ipmilan against NODE's BMC, run on the fencer (the other node):
# in its network namespace, and in its cgroup when it has one (a frozen host cannot fence: refused, status 1).
fence_agent() {
    local action=$1 node=$2 fencer ns cg start rc=0 out
    shift 2
    fencer=$(fencer_of "$node")
    ns=${NODE_NS[$fencer]}
    cg=$(node_cgroup "$fencer")
    if [[ -d $cg ]] && node_frozen "$fencer"; then
        say "fence_agent $action $node: $fencer (the fencer) is frozen"
        FENCE_RC=1
        FENCE_MS=0
        return 1
    fi
    out=$RUN/fence-$action-$node.$(now_us).out
    start=$(now_us)
    # cipher=3 always: without it ipmitool first asks for the cipher suites, which ipmi_sim does not answer (14 s).
    # power_wait=0: the 2 s default is a pause after the off that ipmi_sim does not need.
    printf '%s\n' "action=$action" "ip=${BMC_IP[$node]}" "username=$BMC_USER" "password=$BMC_PASSWORD" \
        lanplus=1 cipher=3 power_wait=0 "power_timeout=$FENCE_POWER_TIMEOUT" \
        "ipmitool_timeout=$FENCE_IPMITOOL_TIMEOUT" "$@" |
        (
            [[ -d $cg ]] && echo "$BASHPID" >"$cg/cgroup.procs"
            exec ip netns exec "$ns" fence_ipmilan
        ) >"$out" 2>&1 || rc=$?
    FENCE_MS=$((($(now_us) - start) / 1000))
    FENCE_RC=$rc
    # Every run warns that Python's `pipes` is deprecated: noise.
    grep -v -e 'DeprecationWarning' -e '^ *from pipes import' "$out" || true
    say "fence_agent $action $node (from $fencer, ${BMC_IP[$node]}): exit $rc in $FENCE_MS ms"
    return "$rc"
}

# fencing_yaml: servha's fencing section for the site: fence_ipmilan against each node's ipmi_sim (cipher 3 and
# power_wait 0 as fence_agent uses them; a dead BMC fails after the 4 s power timeout).
fencing_yaml() {
    local node
    echo "fencing:"
    echo "  agent: fence_ipmilan"
    echo "  action: off"
    echo "  timeout: 20s"
    echo "  retry: 2s"
    echo "  nodes:"
    for node in node-a node-b; do
        echo "    $node: { ip: ${BMC_IP[$node]}, username: $BMC_USER, password: $BMC_PASSWORD, lanplus: \"1\", cipher: \"3\", power_wait: \"0\", power_timeout: \"4\", ipmitool_timeout: \"1\" }"
    done
}

# hook_offs NODE: how many power-offs NODE's BMC carried out so far.
hook_offs() { grep -c "^off $1" "$RUN/bmc/$1.hook.log" 2>/dev/null || true; }

fence_agent_status() { fence_agent status "$@"; }
fence_agent_off() { fence_agent off "$@"; }
fence_agent_on() { fence_agent on "$@"; }

# ---------------------------------------------------------------------------------------------------------
# Teardown: the BMC and the cgroups go before the harness's own teardown (which ends with `exit`). The EXIT trap
# says 'e2e_teardown' by name, so redefining the function here works whether e2e_start already ran or not. The
# harness's teardown reads the exit status from $? on entry: it is handed on unchanged.

fencing_teardown() {
    local dir
    bmc_down
    [[ -n $FENCING_CGROUP2 ]] || return 0
    for dir in "$FENCING_CGROUP2/$E2E_PREFIX-$RUN_ID"-*; do
        [[ -d $dir ]] && cgroup_remove_tree "$dir"
    done
    return 0
}

if [[ -z ${FENCING_SH_LOADED:-} ]]; then
    FENCING_SH_LOADED=1
    eval "harness_e2e_teardown() $(declare -f e2e_teardown | tail -n +2)"
    e2e_teardown() {
        local status=$?
        trap - EXIT ERR INT TERM
        set +e
        fencing_teardown
        (exit "$status")
        harness_e2e_teardown
    }
fi
