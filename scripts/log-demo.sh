#!/usr/bin/env bash
# `make log-demo`: the event log end to end on an embedded default workload (a node's steady state: heartbeats on
# two channels, disk-slot readings, monitor results, decisions). Writes a log, dies mid-write with SIGKILL,
# shows the torn tail, recovers, inspects, dumps and copies it to "shared storage".
set -uo pipefail
servha=${1:-.build/release/servha}
work=$(mktemp -d /tmp/servha-demo-XXXXXX)
log=$work/log
shared=$work/shared
mkdir -p "$shared"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. A node writes 200,000 events, then the machine dies halfway through writing a batch (SIGKILL)"
run "$servha" log generate "$log" --events 400000 --crash-after 200000 --segment-bytes 262144
echo "(exit status $? : killed)"

step "2. verify: the acknowledged events are intact; the half-written batch is a recoverable torn tail"
run "$servha" log verify "$log"
echo "(exit status $?)"

step "3. recover: the writer cuts the torn batch away (and only that), as the daemon does when it starts"
run "$servha" log recover "$log" || exit 1

step "4. verify again: every checksum, LZ4 block, digest link and sequence number checks out"
run "$servha" log verify "$log" || exit 1

step "5. stats"
run "$servha" log stats "$log" || exit 1

step "6. dump the last events before the crash"
run "$servha" log dump "$log" --from 199996 --limit 5 || exit 1

step "7. copy the log to shared storage, verified byte for byte"
run "$servha" log mirror "$log" "$shared/node-a" || exit 1

step "8. damage one byte of a sealed segment in the copy: verify names the file, the offset and the reason"
segment=$(ls "$shared/node-a"/*.seg | head -n 2 | tail -n 1)
printf '\x5a' | dd of="$segment" bs=1 seek=5000 conv=notrunc status=none
run "$servha" log verify "$shared/node-a"
echo "(exit status $?: the damaged copy is refused; the local log is untouched)"

printf '\nThe logs are in %s (local: log/, shared copy: shared/node-a/).\n' "$work"
printf 'Try: %s log dump %s --json --limit 3\n' "$servha" "$log"
