# servha: two set-up commands, `make demo` and `make test`. Each installs what it needs first.
SWIFT ?= swift
SERVHA_RELEASE := .build/release/servha

.PHONY: demo log-demo stress test build release bench bench-year fuzz fuzz-seeds deps deps-test deps-e2e e2e e2e-host-death e2e-partition e2e-paused e2e-log-full e2e-disk-stall e2e-frozen e2e-dns e2e-console bench-steady bench-io-floor stress-survivor stress-partition bench-failover clean format

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-e2e:
	@scripts/install-deps.sh e2e

build: deps
	$(SWIFT) build

# The release binary's link: the Swift runtime and Foundation linked in statically, with no dynamic symbol table
# (each shared Swift library cost 3-4 MB of every process just by being loaded: its symbol and relocation tables),
# and lld (it ships with the Swift toolchain) with packed relative relocations. docs/benchmarks.md has the figures.
# A plain `swift build -c release` still works, without these savings; switching between the two rebuilds every
# module (the flags reach the compiler too).
RELEASE_FLAGS ?= --static-swift-stdlib -Xlinker --no-export-dynamic -Xswiftc -use-ld=lld \
	-Xlinker -z -Xlinker pack-relative-relocs $(CODE_LAYOUT)
# The code a daemon runs, laid out together at the front of the binary (scripts/release.order, recorded by
# scripts/record-code-layout.sh): the kernel maps 64 KiB around each page of code a process first touches, so the
# few thousand functions a daemon runs, spread over 26 MB of code, made it resident in 13 MB of it (6.5 MB now; the
# rest is in prebuilt libraries whose code cannot be split). Each function has its own section so that lld can
# move it. A build made before these flags keeps its objects: remove .build/*/release once to get the layout.
CODE_LAYOUT = -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
	-Xlinker --symbol-ordering-file=$(CURDIR)/scripts/release.order -Xlinker --no-warn-symbol-ordering

release: deps
	$(SWIFT) build -c release $(RELEASE_FLAGS)

# The main job on an embedded default: a two-node cluster (in network namespaces as root, else on loopback with a
# dry-run VIP) runs a small built-in service; the active node dies; the failover as it happens, then the incident
# read back from the logs (replay verify, timeline, HTML page). Under a minute once built.
demo: release
	@scripts/demo.sh $(SERVHA_RELEASE)

# The event log on its own: write, crash mid-write, verify, recover, inspect, copy.
log-demo: release
	@scripts/log-demo.sh $(SERVHA_RELEASE)

# Every test: unit, recovery at every byte offset, bit flips, shared-copy failures, SIGKILL crash trials, the
# coordinator step by step and in 1,000 simulated clusters, configuration, heartbeats, resource agents, and two
# real daemons on loopback. One test at a time: several tests start real processes and wait on them, and
# running them side by side on 2 cores starves the timing of the others.
# Then the end-to-end scenarios (as root, in network namespaces; they fail, never skip, where namespaces
# cannot be made).
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	$(MAKE) e2e

# Performance figures (release build); the results go in docs/benchmarks.md.
bench: release
	$(SERVHA_RELEASE) bench log
	$(SERVHA_RELEASE) bench startup

# Start-up after a simulated year of log (retention applied): ready within 1 s and 50 MB. About five minutes.
bench-year: release
	$(SERVHA_RELEASE) bench startup --days 365

# End to end, as root, in network namespaces the scripts create (and remove) themselves: two servha hosts and a
# client on a bridge, a real VIP, PostgreSQL on the shared storage. PASS/FAIL per check; see scripts/e2e/.
# STORAGE=device: servha's own shared storage on a raw LUN (a loop device laid out with `servha disk init`).
e2e: release deps-e2e
	scripts/e2e/host-death.sh
	FAILBACK=auto scripts/e2e/host-death.sh
	STORAGE=device scripts/e2e/host-death.sh
	scripts/e2e/partition.sh
	STORAGE=device scripts/e2e/partition.sh
	scripts/e2e/start-failure.sh
	scripts/e2e/switchover.sh
	scripts/e2e/paused.sh
	scripts/e2e/log-full.sh
	scripts/e2e/disk-stall.sh
	scripts/e2e/frozen.sh
	scripts/e2e/dns-alias.sh
	scripts/e2e/console.sh
	scripts/e2e/shared-lun.sh

e2e-host-death: release deps-e2e
	scripts/e2e/host-death.sh

e2e-partition: release deps-e2e
	scripts/e2e/partition.sh

e2e-paused: release deps-e2e
	scripts/e2e/paused.sh

e2e-log-full: release deps-e2e
	scripts/e2e/log-full.sh

e2e-disk-stall: release deps-e2e
	scripts/e2e/disk-stall.sh

e2e-frozen: release deps-e2e
	scripts/e2e/frozen.sh

# The virtual host name against BIND 9 (named in its own namespace, TSIG-signed updates): address: vip and host death,
# a wrong key, address: self with the two hosts in different subnets joined by routers.
e2e-dns: release deps-e2e
	scripts/e2e/dns-alias.sh

# The host death watched through the read-only console (http:): headless Chromium on node-b's page, Prometheus
# scraping both nodes' /metrics with their tokens, and 200 console clients for 30 s on the active node first (no false
# failover; heartbeat interval p99 within 5 ms of the baseline's; one JSON line, console-load: {...}).
e2e-console: release deps-e2e
	scripts/e2e/console.sh

# The database's filesystem as a resource (OCF heartbeat/Filesystem, ext4) on a LUN both hosts see (loop devices on
# sparse files, a path of its own for each host), and the active host dies with its storage: node-b replays the
# journal and starts PostgreSQL, no acknowledged commit lost, the filesystem never mounted on both nodes (sampled
# every 20 ms), then a failback and e2fsck; servha's own storage on a second, raw LUN (device mode), read by the
# survivor after the death (servha timeline, disk dump, replay verify).
.PHONY: e2e-shared-lun
e2e-shared-lun: release deps-e2e
	scripts/e2e/shared-lun.sh

# Client-visible outage after host death at the default and the fast profile, servha against keepalived, death to
# first PostgreSQL query (through the VIP, with servha's storage in a directory and on a raw LUN, and by name through
# a caching resolver at TTL 5 s and 1 s), and the same with fencing: a table and one JSON line (docs/benchmarks.md).
# ROWS=... runs some rows only.
bench-failover: release deps-e2e
	scripts/e2e/bench-failover.sh

# The steady-state cost of an idle pair at default timings (CPU, memory, log bytes, events), for STEADY_SECONDS
# (default 600): a table and one JSON line (docs/benchmarks.md).
STEADY_SECONDS ?= 600
bench-steady: release
	scripts/bench-steady.sh $(STEADY_SECONDS)

# The same pair's input and output without servha (scripts/io-floor.c: its sockets, slot reads and O_DSYNC slot
# writes, and nothing else): the floor under bench-steady's CPU figure on this machine.
bench-io-floor:
	scripts/bench-io-floor.sh $(STEADY_SECONDS)

# Both nodes under CPU, memory and I/O load (stress-ng) for 10 minutes: false failovers and self-fences (target 0
# each), and the CPU time the hypervisor stole. PROFILE=fast for the fast profile, STRESS_LOAD=issue for issue 11's
# load. Not in CI; the figures go in docs/benchmarks.md.
stress: release
	scripts/e2e/stress.sh

# The survivor of a host death alone under the same load for 10 minutes: self-fences (target 0), the VIP in every
# sample, the epoch unchanged, and the survivor's slot-write latencies. Not in CI; the figures go in
# docs/benchmarks.md.
stress-survivor: release
	scripts/e2e/survivor.sh

# A 60 s partition under the same load: one owner throughout, never the VIP on neither node once decided.
stress-partition: release
	scripts/e2e/partition-load.sh

# Coverage-guided fuzzing of every decoder that reads bytes from outside (segments, batches, events, heartbeats,
# configuration, admin requests, DNS answers): one libFuzzer binary in Fuzz/, built with the fuzzer and address sanitizers,
# each run for FUZZ_SECONDS (default 60), one at a time. New crashes are kept in Fuzz/Crashes/ and replayed by
# `swift test` (FuzzChecksTests). Not in CI; the figures go in docs/fuzzing.md.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) Fuzz/run.sh

# Remakes the seed corpora in Fuzz/Corpus/ from the fixtures, the example configuration and encoded packets.
fuzz-seeds: deps
	Fuzz/make-seeds.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build
