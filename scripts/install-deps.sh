#!/usr/bin/env bash
# Installs the Debian packages servha needs to build and test, when they are missing.
# Usage: scripts/install-deps.sh [build|test|demo|e2e]
# demo: `make demo` as root, a cluster in network namespaces with servha's own small service.
# stress: `make stress`, the demo's cluster under stress-ng load.
# test: the Swift tests; bind9 for the DNS alias tests against a real named, openssl for the console's HTTPS test.
# e2e: the end-to-end scenarios and the failover benchmark (scripts/e2e): PostgreSQL and its OCF agent,
# Debian's python3 with psycopg2 for the client, keepalived for the comparison, iproute2 for namespaces, BIND 9
# (named, tsig-keygen; dig and nsupdate from bind9-dnsutils) for the virtual host name, Chromium (headless) and
# Prometheus (prometheus, promtool) and stress-ng for the console scenario.
# tcpdump: the switchover scenario watches the gratuitous ARPs on the client.
# psmisc (fuser) and kmod (modprobe): the OCF Filesystem agent (shared-lun.sh) refuses to run without them.
set -euo pipefail

needed=(liblz4-dev pkg-config lz4 iproute2 iputils-ping curl)
case "${1:-build}" in
    test) needed+=(e2fsprogs util-linux resource-agents python3 fence-agents bind9 openssl) ;;
    demo) needed+=(util-linux procps) ;;
    stress) needed+=(util-linux procps stress-ng) ;;
    e2e) needed+=(util-linux e2fsprogs procps psmisc kmod tcpdump resource-agents python3 python3-psycopg2 postgresql keepalived fence-agents openipmi bind9 bind9-dnsutils chromium prometheus stress-ng) ;;
esac

missing=()
for package in "${needed[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        SUDO=sudo
    else
        echo "servha: missing packages ${missing[*]}; run this as root or install them with apt-get" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "servha: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
