#!/usr/bin/env bash
# Self-test of fencing.sh, without servha: the BMCs (ipmi_sim), the power hook, the nodes' freezable cgroups and
# the fence agent, on the harness's site.
#
# Each node's "host" is a stand-in started by daemon_start_frozenable (under host-init.sh, in the node's PID
# namespace, as the daemon would be): it makes a group cgroup under its own as servha does, puts a "resource" in
# it, and runs a ticker that writes the time every 20 ms, so that a freeze shows as a ticker that stops.
#
# Checked: every process of a node is in its cgroup; the agent sees the power on; freezing stops the whole host
# and thawing resumes it; an off from the other node, of a frozen host, succeeds in well under 2 s and leaves no
# process, dead cables, a thawed empty cgroup and one "off" line in the hook's log; the agent then sees the power
# off; a wrong password fails at once; the fenced node boots again; an off against a dead BMC fails within the
# agent's bounds and leaves its node running; and bmc_down and the cgroup removal leave nothing behind.
#
# Usage (as root): scripts/e2e/fencing-selftest.sh     PASS/FAIL per check; exit 0 only when every check passed.

# This test starts no servha: e2e_start only checks that the binary is there, and the developer's build may be
# rewriting the real one. Nor does it need PostgreSQL or keepalived (the e2e package set).
SERVHA=${SERVHA:-/bin/true}
E2E_DEPS=${E2E_DEPS:-demo}
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
source "$E2E_DIR/fencing.sh"

# e2e_start refuses while another run uses its namespaces (two runs would distort each other's deadlines): wait
# for it, up to E2E_WAIT_S seconds, rather than fail at once.
other_run_active() {
    local ns owner
    for ns in $(ip netns list | awk '{print $1}' | grep "^$E2E_PREFIX-" || true); do
        owner=${ns#"$E2E_PREFIX"-}
        owner=${owner%%-*}
        [[ $owner != "$RUN_ID" && -r /proc/$owner/cmdline ]] &&
            tr '\0' ' ' <"/proc/$owner/cmdline" | grep -q "scripts/e2e/" && return 0
    done
    return 1
}
if other_run_active; then
    say "another e2e run is going on; waiting for it (up to ${E2E_WAIT_S:-900} s)"
    wait_until "${E2E_WAIT_S:-900}" eval '! other_run_active' || true
fi

e2e_start fencing-selftest
topology_up
bmc_up
node_cgroup_create node-a
node_cgroup_create node-b

STANDIN=$RUN/standin-host.sh
cat >"$STANDIN" <<'EOF'
#!/bin/sh
# standin-host.sh NODE TICKFILE: servha's process layout without servha. host-init.sh has mounted cgroup2 on
# /sys/fs/cgroup (this is the node's own mount namespace); our cgroup is the node's (daemon_start_frozenable).
node=$1
tick=$2
group=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/servha-e2e-$node
mkdir -p "$group"
sh -c 'echo $$ >"$1/cgroup.procs" && exec sleep 1000' resource "$group" &
sh -c 'while :; do date +%s%N >"$1"; sleep 0.02; done' ticker "$tick" &
exec sleep 1000
EOF
chmod 755 "$STANDIN"

tick_of() { cat "$RUN/$1/tick" 2>/dev/null; }
# Whether the node's ticker advances within half a second.
ticking() {
    local before
    before=$(tick_of "$1")
    sleep 0.5
    [[ -n $before && $(tick_of "$1") != "$before" ]]
}
nprocs() { ip netns pids "${NODE_NS[$1]}" | wc -l; }
# unshare, host-init.sh, the stand-in (sleep), the resource (sleep), the ticker (sh) and its sleep.
host_up() { [[ -s $RUN/$1/tick ]] && (($(nprocs "$1") >= 5)); }
port_down() { ! ip -n "$NS_SW" -o link show "$1" | grep -q '[<,]UP[,>]'; }
events() { tr '\n' ' ' <"$(node_cgroup "$1")/cgroup.events"; }

# agent status|off|on NODE [KEY=VALUE...]: fence_agent_ACTION, with its output in $out and its status in $rc;
# not in a command substitution, whose subshell would keep FENCE_MS to itself.
agent() {
    local action=$1
    shift
    rc=0
    "fence_agent_$action" "$@" >"$RUN/agent.out" || rc=$?
    out=$(cat "$RUN/agent.out")
}

boot() {
    mkdir -p "$RUN/$1"
    rm -f "$RUN/$1/tick"
    daemon_start_frozenable "$1" "$STANDIN" "$1" "$RUN/$1/tick"
    wait_until 5 host_up "$1"
}

for node in node-a node-b; do
    if boot "$node"; then
        pass "$node's stand-in host runs ($(nprocs "$node") processes in ${NODE_NS[$node]})"
    else
        fail "$node's stand-in host runs (see $RUN/$node/daemon.out)"
        exit 1
    fi
    if strays=$(node_cgroup_strays "$node"); then
        pass "every process of $node's namespace is in $(node_cgroup "$node") or below"
    else
        fail "every process of $node's namespace is in its cgroup; outside: $(echo "$strays" | tr '\n' ',')"
    fi
    check "$node's resource runs in the group cgroup below the node's ($(node_cgroup_name "$node")/servha-e2e-$node)" \
        grep -q . "$(node_cgroup "$node")/servha-e2e-$node/cgroup.procs" # cgroup files have size 0: no test -s
done

agent status node-a
check "fence_agent_status node-a: '$out', exit $rc (ON is 0)" test "$rc" -eq 0 -a "$out" = "Status: ON"

# node_thaw undoes node_freeze (on node-b, which stays up for the rest).
if node_freeze node-b; then pass "node_freeze node-b: cgroup.events $(events node-b)"; else fail "node_freeze node-b: cgroup.events $(events node-b)"; fi
check "node-b's group cgroup below is frozen too" grep -qx 'frozen 1' "$(node_cgroup node-b)/servha-e2e-node-b/cgroup.events"
check "node-b's ticker stands still while frozen" eval '! ticking node-b'
if node_thaw node-b; then pass "node_thaw node-b: cgroup.events $(events node-b)"; else fail "node_thaw node-b: cgroup.events $(events node-b)"; fi
check "node-b's ticker runs again after the thaw" ticking node-b

# Fencing a frozen host: a hung node is what fencing is for.
if node_freeze node-a; then pass "node_freeze node-a: cgroup.events $(events node-a)"; else fail "node_freeze node-a: cgroup.events $(events node-a)"; fi
check "node-a's ticker stands still while frozen" eval '! ticking node-a'
frozen_pids=$(ip netns pids "$NS_A" | tr '\n' ' ')
from=$(now_us)
agent off node-a
to=$(now_us)
OFF_MS=$FENCE_MS
check "fence_agent_off node-a from node-b: '$out', exit $rc" test "$rc" -eq 0 -a "$out" = "Success: Powered OFF"
check "the off took $OFF_MS ms (power_wait=0: well under 2000 ms)" test "$OFF_MS" -lt 2000
# At once, no waiting: when the agent says off, the node is dead.
left=$(ip netns pids "$NS_A" | tr '\n' ' ')
check "node-a's processes, frozen at the off ($frozen_pids), are all gone${left:+ (left: $left)}" test -z "$left"
check "node-a's cgroup is empty and thawed (cgroup.events $(events node-a))" \
    eval 'grep -qx "populated 0" "$(node_cgroup node-a)/cgroup.events" && grep -qx "frozen 0" "$(node_cgroup node-a)/cgroup.events"'
for port in $(node_ports node-a); do
    check "node-a's switch port $port is down" port_down "$port"
done
hooklog=$(cat "$RUN/bmc/node-a.hook.log" 2>/dev/null || true)
check "the hook logged one off, during the agent's run ('$hooklog')" \
    eval '[[ $(grep -c "^off node-a " <<<"$hooklog") == 1 ]] && t=$(awk "/^off node-a /{print \$3}" <<<"$hooklog") && ((t >= from && t <= to))'

agent status node-a
check "fence_agent_status node-a after the off: '$out', exit $rc (OFF is 2)" test "$rc" -eq 2 -a "$out" = "Status: OFF"

agent status node-a password=wrong
check "a wrong password: exit $rc (1) in $FENCE_MS ms (under 2000), '$(echo "$out" | head -1 | cut -c 1-120)'" \
    test "$rc" -eq 1 -a "$FENCE_MS" -lt 2000

# The fenced node comes back: power on (starts nothing), cables in, boot. Its cgroup must not be left frozen.
agent on node-a
check "fence_agent_on node-a: '$out', exit $rc" test "$rc" -eq 0 -a "$out" = "Success: Powered ON"
host_reboot node-a
if boot node-a; then pass "node-a boots again in its cgroup after the fencing"; else fail "node-a boots again after the fencing (see $RUN/node-a/daemon.out)"; fi
check "node-a's ticker runs (its cgroup was not left frozen)" ticking node-a
agent status node-a
check "fence_agent_status node-a after power-on: '$out', exit $rc" test "$rc" -eq 0 -a "$out" = "Status: ON"

# A dead BMC: the off must fail, and in bounded time (FENCE_POWER_TIMEOUT caps each ipmitool run; without it
# ipmitool alone gives up after about 20 s).
bmc_kill node-b
agent off node-b
DEAD_MS=$FENCE_MS
check "fence_agent_off node-b from node-a with node-b's BMC dead fails: exit $rc, '$(echo "$out" | grep -m1 ERROR | cut -c 1-120)'" \
    test "$rc" -ne 0
check "... within $DEAD_MS ms (at most 10000)" test "$DEAD_MS" -le 10000
check "... and node-b is still running" ticking node-b
check "... with its cables in" eval '! port_down b-lan && ! port_down b-hb'
check "node-b's hook never ran an off" test ! -s "$RUN/bmc/node-b.hook.log"

say "off took $OFF_MS ms; the off against the dead BMC failed after $DEAD_MS ms"

# Removal, checked here (the EXIT trap does the same again, finding nothing).
sims="$(cat "$RUN/bmc/node-a/ipmi_sim.pid") $(cat "$RUN/bmc/node-b/ipmi_sim.pid")"
fencing_teardown
check "bmc_down removed $NS_BMC" eval '! ip netns list | grep -q "^$NS_BMC\b"'
check "no ipmi_sim left (pids $sims)" eval '! kill -0 '"${sims% *}"' 2>/dev/null && ! kill -0 '"${sims#* }"' 2>/dev/null'
check "no cgroup of this run left under $FENCING_CGROUP2" eval '! compgen -G "$FENCING_CGROUP2/$E2E_PREFIX-$RUN_ID-*" >/dev/null'
