# Sourced by scripts/demo-loopback.sh and scripts/bench-steady.sh: a servha pair on loopback (node-a on 127.0.0.1,
# node-b on 127.0.0.2), its run directory $OUT, ports from $BASE, and the helpers both use.
# Needs: SERVHA (the binary), OUT (a fresh directory).
BASE=$((20000 + RANDOM % 20000))

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# wait_for SECONDS COMMAND...: until COMMAND succeeds; status 1 when SECONDS pass first.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(now_ms) > deadline)) && return 1
        sleep 0.05
    done
}

# role NODE: the node's own role from its status ("" when it does not answer).
role() { "$SERVHA" status --json --socket "$OUT/$1.sock" 2>/dev/null | grep -o '^{"node":"[^"]*","role":"[^"]*"' | sed 's/.*"role":"//; s/"$//'; }

# settled NODE: NODE no longer announces the disk-only lease it renewed while it ran alone.
settled() { "$SERVHA" status --json --socket "$OUT/$1.sock" 2>/dev/null | grep -q '"disk_only_lease":false'; }

# loopback_key: the shared heartbeat key, $OUT/key.
loopback_key() {
    mkdir -p "$OUT/shared"
    head -c 48 /dev/urandom >"$OUT/key"
    chmod 600 "$OUT/key"
}

# loopback_config CLUSTER NODE: the part of NODE's configuration both scripts share (nodes, heartbeats, shared
# storage, log and admin socket in $OUT); each script appends its resources and the rest.
loopback_config() {
    cat <<EOC
cluster: $1
this_node: $2
nodes:
  - { name: node-a, id: 1 }
  - { name: node-b, id: 2 }
heartbeat:
  key_file: $OUT/key
  channels:
    - { name: lan, port: $BASE, addresses: { node-a: 127.0.0.1, node-b: 127.0.0.2 } }
    - { name: backup, port: $((BASE + 1)), addresses: { node-a: 127.0.0.1, node-b: 127.0.0.2 } }
shared_storage: $OUT/shared
log_dir: $OUT/$2-log
admin_socket: $OUT/$2.sock
EOC
}

# The idle pair of the steady-state benchmark: both nodes' configs in $OUT, with a dry-run VIP and a one-line
# service. Usage: idle_pair_configs CLUSTER
idle_pair_configs() {
    local node
    for node in node-a node-b; do
        {
            loopback_config "$1" "$node"
            echo "resources:"
            echo "  - { name: vip, type: vip, address: 192.0.2.100/24, interface: lo }"
            echo "  - { name: svc, type: script, start: 'true', stop: 'true', monitor: 'true' }"
        } >"$OUT/$node.yaml"
    done
}

# Stops the daemons in PIDS (SIGTERM: each hands its group over and stops its guard) and waits for them.
stop_pair() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}
