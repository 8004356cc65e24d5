import Coordinator
import EventLog
import EventRecords
import Foundation
import Testing

@_spi(BrokenRulesForTesting) @testable import Simulation

/// Runs seeds on two threads of their own (not the cooperative pool, which other async tests share and which
/// a CPU-bound sweep would otherwise starve) and returns the reports in seed order.
func simulate(
    _ seeds: ClosedRange<UInt64>,
    faults: [FaultKind]? = nil,
    options: @escaping @Sendable (UInt64, [FaultKind]?) -> SimulationOptions = {
        SimulationOptions(seed: $0, faults: $1)
    }
) async -> [SimulationReport] {
    let list = Array(seeds)
    let parts = await withTaskGroup(of: [SimulationReport].self) { group in
        for worker in 0..<2 {
            group.addTask {
                await withCheckedContinuation { continuation in
                    Thread {
                        let reports = stride(from: worker, to: list.count, by: 2).map {
                            Simulator.run(options(list[$0], faults))
                        }
                        continuation.resume(returning: reports)
                    }.start()
                }
            }
        }
        var all: [SimulationReport] = []
        for await part in group { all += part }
        return all
    }
    return parts.sorted { $0.seed < $1.seed }
}

func decisions(_ log: [Event]) -> [DecisionKind] {
    log.compactMap { if case .decision(let decision) = $0 { decision.kind } else { nil } }
}

/// Every recorded input of a log, in order.
func inputs(_ log: [Event]) -> [StampedInput] {
    log.compactMap { if case .input(let stamped) = $0 { stamped } else { nil } }
}

/// The resource outcomes of a log, with the instant each was observed.
func outcomes(_ log: [Event]) -> [(at: Instant, outcome: ResourceOutcome)] {
    inputs(log).compactMap { if case .resourceOutcome(let outcome) = $0.input { ($0.at, outcome) } else { nil } }
}

/// The resource actions a log issued, with the instant of the input that led to each.
func issuedAgents(_ log: [Event]) -> [(at: Instant, resource: Int, operation: ResourceOperation)] {
    var at: Instant = 0
    var found: [(Instant, Int, ResourceOperation)] = []
    for event in log {
        switch event {
        case .input(let stamped): at = stamped.at
        case .issued(.startResource(let r, _)): found.append((at, r, .start))
        case .issued(.stopResource(let r, _)): found.append((at, r, .stop))
        case .issued(.killResource(let r, _)): found.append((at, r, .kill))
        default: break
        }
    }
    return found
}

func expectNoViolation(_ report: SimulationReport, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(
        report.violations.isEmpty,
        "\(report.reproduce): \(report.violations.first?.description ?? "")",
        sourceLocation: sourceLocation
    )
}

/// The scenario table, each run on several seeds in the simulator, with every invariant checked after every
/// step and every log replayed.
@Suite struct SimulatorScenarioTests {
    @Test(arguments: FaultKind.allCases)
    func scenarioHoldsEveryInvariant(fault: FaultKind) async {
        let reports = await simulate(1...12, faults: [fault])
        for report in reports {
            #expect(report.violations.isEmpty, "\(report.reproduce): \(report.violations.first?.description ?? "")")
            #expect(report.faults == [fault])
        }
        let takeovers = reports.map(\.takeovers)
        switch fault {
        case .crash, .switchover, .pause, .freeze, .logFailure, .fenceHang:
            #expect(takeovers.allSatisfy { $0 >= 2 }, "the group must move: \(takeovers)")
        case .channel, .flap, .loss, .clockJump:
            #expect(takeovers.allSatisfy { $0 == 1 }, "a lost path alone never moves the group: \(takeovers)")
        case .startFailure:
            #expect(takeovers.allSatisfy { $0 == 2 }, "a group that cannot start moves once: \(takeovers)")
        case .isolate, .monitor, .partition, .disk, .stall, .diskStall, .restart, .failback, .standby, .simultaneous,
            .fenceFailure, .stopFailure, .stopHang:
            // Depends on the seed: which node is cut off, how many monitors fail, who loses the arbitrator.
            #expect(takeovers.allSatisfy { $0 >= 1 })
        }
    }

    /// A paused daemon's guard takes the group down before the peer takes it over; without guards the same runs
    /// put the group on both nodes, which the single-active check (after every step) catches.
    @Test func aPausedDaemonsGuardKeepsTheGroupOnOneNode() {
        var withoutGuard = 0
        for seed in UInt64(1)...12 {
            let guarded = Simulator.run(SimulationOptions(seed: seed, faults: [.pause]))
            #expect(guarded.violations.isEmpty, "\(guarded.reproduce): \(guarded.violations.first?.description ?? "")")
            #expect(guarded.guardKills >= 1, "\(guarded.reproduce): the guard must have acted")
            var options = SimulationOptions(seed: seed, faults: [.pause])
            options.guards = false
            let unguarded = Simulator.run(options)
            if unguarded.violations.contains(where: { $0.invariant == "single active" }) { withoutGuard += 1 }
        }
        #expect(withoutGuard == 12, "without a guard every pause must show the overlap (\(withoutGuard) of 12)")
    }

    /// A frozen host (guard and all) is safe only with fencing: the survivor powers it off before it takes over.
    @Test func aFrozenHostIsFencedBeforeTheTakeover() {
        for seed in UInt64(1)...12 {
            let fenced = Simulator.run(SimulationOptions(seed: seed, faults: [.freeze]))
            #expect(fenced.violations.isEmpty, "\(fenced.reproduce): \(fenced.violations.first?.description ?? "")")
            #expect(fenced.logs[1].contains { if case .decision(let d) = $0 { d.kind == .fencePeer } else { false } })
            var options = SimulationOptions(seed: seed, faults: [.freeze])
            options.fencingForFreeze = false
            let unfenced = Simulator.run(options)
            #expect(
                unfenced.violations.contains { $0.invariant == "single active" },
                "\(unfenced.reproduce) without fencing"
            )
        }
    }

    /// A frozen host whose fence device is dead: the survivor fences, fails, retries, and never takes over while
    /// the host is frozen (the single-active check, after every step, would catch it).
    @Test func aFenceThatFailsNeverFallsThroughToATakeover() {
        for seed in UInt64(1)...12 {
            let report = Simulator.run(SimulationOptions(seed: seed, faults: [.fenceFailure]))
            #expect(report.violations.isEmpty, "\(report.reproduce): \(report.violations.first?.description ?? "")")
            let failedFences = report.logs.joined().filter { event in
                if case .input(let stamped) = event, case .fenceOutcome(false, _) = stamped.input {
                    true
                } else {
                    false
                }
            }
            #expect(!failedFences.isEmpty, "\(report.reproduce): the fence failed at least once")
        }
    }

    /// A survivor whose disk is slow (300 ms a write) holds the group on the disk-only lease: it acquires once and
    /// never self-fences, where the short lease alone gave out on every slow write. Its first claim may back off
    /// once: when the dead node's last write, still in flight when it died, lands after the claim (its check read
    /// sees the dead node's slot change), or when the claim is queued behind the slow disk's I/O in flight (a
    /// routine write that started just before the claim, then a read that started just before the claim was
    /// written: four slow I/Os in a row outlast the claim's time; seed 2 since routine writes halved while the pair
    /// hears each other, which moved the dead node's last write).
    @Test func aSurvivorOnASlowDiskHoldsTheGroup() {
        for seed in UInt64(1)...12 {
            let report = Simulator.run(SimulationOptions(seed: seed, faults: [.crash, .stall]))
            #expect(report.violations.isEmpty, "\(report.reproduce): \(report.violations.first?.description ?? "")")
            #expect(report.takeovers == 2, "\(report.reproduce): one start, one takeover (\(report.takeovers))")
            for log in report.logs {
                #expect(!decisions(log).contains(.selfFence), "\(report.reproduce): \(decisions(log))")
                let backedOff = log.compactMap { event -> String? in
                    guard case .decision(let d) = event, d.kind == .acquireFailed else { return nil }
                    return d.reason
                }
                #expect(backedOff.count <= 1, "\(report.reproduce): \(backedOff)")
                #expect(
                    backedOff.allSatisfy { $0.contains("claims the lease too") || $0.contains("did not finish within") },
                    "\(report.reproduce): \(backedOff)"
                )
            }
        }
    }

    @Test func failbackFollowsItsMode() async {
        // Seeds whose failback scenario drew each mode: the preferred node dies, comes back, and ...
        let reports = await simulate(1...60, faults: [.failback])
        var seen = Set<FailbackMode>()
        for report in reports {
            #expect(report.violations.isEmpty, "\(report.reproduce)")
            seen.insert(report.failback)
            let nodeA = decisions(report.logs[0])
            let ranAgain = nodeA.filter { $0 == .leaseAcquired }.count >= 2
            switch report.failback {
            case .auto, .manual:
                #expect(ranAgain, "\(report.reproduce): the group must return to node-a (\(report.failback))")
            case .never:
                #expect(!ranAgain, "\(report.reproduce): failback never must leave the group on node-b")
            }
        }
        #expect(seen == [.auto, .manual, .never])
    }

    @Test func aSeedAlwaysProducesTheSameRun() {
        let first = Simulator.run(SimulationOptions(seed: 4242))
        let second = Simulator.run(SimulationOptions(seed: 4242))
        #expect(first.logs == second.logs)
        #expect(first.faults == second.faults)
        let explicit = Simulator.run(SimulationOptions(seed: 4242, faults: first.faults))
        #expect(explicit.logs == first.logs, "the printed reproduce command must reproduce the run")
    }

    @Test func aSimulatedLogSurvivesTheBinaryCodec() throws {
        let report = Simulator.run(SimulationOptions(seed: 7, faults: [.crash]))
        for log in report.logs {
            var decoded: [Event] = []
            for event in log {
                let stamp = event.stampedInput
                let draft = EventCodec.draft(
                    event,
                    node: 1,
                    monotonicNanos: stamp?.at ?? 0,
                    wallNanos: stamp?.wall ?? 0
                )
                decoded.append(try EventCodec.decode(LogRecord(sequence: 1, draft: draft)))
            }
            #expect(decoded == log)
        }
    }

    @Test func aDeliberatelyAlteredDecisionIsFoundByReplay() {
        let report = Simulator.run(SimulationOptions(seed: 3, faults: [.crash]))
        var log = report.logs[1]
        guard let index = log.firstIndex(where: { if case .decision = $0 { true } else { false } }),
            case .decision(var decision) = log[index]
        else {
            Issue.record("no decision in the log")
            return
        }
        decision.reason = "tampered"
        log[index] = .decision(decision)
        let divergence = ReplayCheck.firstDivergence(node: 2, log: log)
        #expect(divergence?.hasPrefix("event \(index) differs") == true)
    }
}

/// CI runs at least 1,000 seeds with random faults (the release benchmark runs 10,000: `servha simulate`).
@Suite struct SimulatorSeedSweepTests {
    @Test func aThousandSeedsWithRandomFaultsBreakNoInvariant() async {
        let reports = await simulate(1...1000)
        let failing = reports.filter { !$0.violations.isEmpty }
        for report in failing.prefix(5) {
            Issue.record("\(report.violations[0]) — reproduce: \(report.reproduce)")
        }
        #expect(failing.isEmpty)
        #expect(Set(reports.flatMap(\.faults)) == Set(FaultKind.allCases), "every fault was drawn")
    }
}
