#!/usr/bin/env bash
# Re-records the incidents in Fixtures/incidents from the simulator (see Fixtures/README.md for when and why).
# Usage: scripts/record-fixtures.sh [SERVHA]   (default: .build/release/servha)
set -euo pipefail
cd "$(dirname "$0")/.."
servha=${1:-.build/release/servha}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# incident seed faults: the table in Fixtures/README.md
while read -r incident seed faults; do
    "$servha" simulate --seed "$seed" --faults "$faults" --log-dir "$work/$incident" >/dev/null
    for node in node-a node-b; do
        target="Fixtures/incidents/$incident/$node"
        rm -f "$target"/*.seg*
        mkdir -p "$target"
        cp "$work/$incident/seed-$seed/$node/"*.seg* "$target/"
    done
    echo "$incident: seed $seed, faults $faults"
done <<'TABLE'
host-death 3 crash
partition 3 partition
flapping-link 7 flap
monitor-failures 11 monitor
switchover 14 switchover
failback 5 failback
TABLE
"$servha" replay verify Fixtures/incidents/*/node-*
