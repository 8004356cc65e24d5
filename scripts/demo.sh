#!/usr/bin/env bash
# `make demo`: a failover, as it happens, then read back from the logs.
#
# As root, where network namespaces can be made: a two-node cluster with a real virtual IP in namespaces of its
# own (scripts/e2e/demo.sh). Otherwise: two daemons on loopback with a dry-run VIP (scripts/demo-loopback.sh),
# which says so.
set -uo pipefail
cd "$(dirname "$0")/.."
export SERVHA=${1:-.build/release/servha}
SERVHA=$(cd "$(dirname "$SERVHA")" && pwd)/$(basename "$SERVHA")
if [[ $(id -u) -eq 0 ]] && ip netns add "servha-demo-check-$$" 2>/dev/null; then
    ip netns del "servha-demo-check-$$"
    exec scripts/e2e/demo.sh
fi
if [[ $(id -u) -eq 0 ]]; then
    echo "servha demo: network namespaces cannot be created here; running on loopback instead" >&2
else
    echo "servha demo: not root, so no network namespaces; running on loopback instead" >&2
fi
exec scripts/demo-loopback.sh
