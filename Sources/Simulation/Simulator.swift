import Coordinator
import EventLog

/// What to simulate.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// The faults to inject; nil lets the seed choose.
    public var faults: [FaultKind]?
    /// How long the cluster runs, at least. A run lasts until its last recovery check (every fault healed, the
    /// recovery bound passed, the group running) when that comes later, as it does in the standard sweep: a
    /// healthy cluster's steady state after that is what the long sweep watches.
    public var durationNanos: UInt64 = 4_000_000_000
    /// How many different faults the seed draws, at random times over the run (nil: the standard sweep, one fault
    /// and a third of the time a benign second one, all within a few seconds).
    public var faultsPerRun: ClosedRange<Int>?
    /// Replay each node's recorded inputs through a fresh core and compare every event.
    public var checkReplay = true
    /// The simulated cluster's name (in its configuration and its logs' identity).
    public var cluster = "sim"
    /// Each node's guard takes its group down when its lease runs out unrenewed (off only to show, in a test, what
    /// a paused node does without one).
    public var guards = true
    /// Fencing configured for runs that freeze a host (off only to show what a frozen host does without it).
    public var fencingForFreeze = true

    /// TEST ONLY: both cores run with a deliberately broken claim rule (`Coordinator.claimsBeforePeerLeaseEnds`),
    /// to show that the invariants catch it. The replay check is skipped then (a replay runs the intact rule).
    @_spi(BrokenRulesForTesting) public var brokenClaimRule = false
    /// Draws the nodes' clocks from another random stream than the seed's (nil: the seed's own); everything else
    /// in the run stays as the seed makes it.
    var clockSeed: UInt64?

    public init(seed: UInt64, faults: [FaultKind]? = nil) {
        self.seed = seed
        self.faults = faults
    }

    /// A long run: a minute of cluster time with three to five faults at random times, overlapping now and then.
    public static func long(seed: UInt64, faults: [FaultKind]? = nil) -> SimulationOptions {
        var options = SimulationOptions(seed: seed, faults: faults)
        options.durationNanos = 60_000_000_000
        options.faultsPerRun = 3...5
        return options
    }

    var isLong: Bool { faultsPerRun != nil }
}

/// What one simulated run did and found.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    public var faults: [FaultKind]
    public var failback: FailbackMode
    public var violations: [Violation]
    public var takeovers: Int
    /// How often a guard took a paused node's group down.
    public var guardKills: Int
    /// Each node's log (node 1 first), in order.
    public var logs: [[Event]]
    public var config: ClusterConfig
    /// Inputs recorded by both cores.
    public var inputs: Int
    public var long: Bool
    /// How long the cluster ran (the recovery checks may have made it longer than asked).
    public var durationNanos: UInt64
    /// Every decision, with its node and the simulation time it was taken at, in order.
    var timeline: [SimulatedDecision]

    /// The one-line command that reproduces this run.
    public var reproduce: String {
        "servha simulate \(long ? "--long " : "")--seed \(seed) --faults \(faults.map(\.rawValue).joined(separator: ","))"
    }
}

/// Both cores against a simulated network, shared disk, clocks, resources and crashes, driven by the seed
/// alone. After every step it checks the invariants; at the end it replays each node's log.
public enum Simulator {
    public static let nodeA: NodeID = 1
    public static let nodeB: NodeID = 2

    /// The configuration every simulated cluster runs under (defaults, with a short failback stability so
    /// that failback fits in a run).
    public static func config(failback: FailbackMode, cluster: String = "sim") -> ClusterConfig {
        var config = ClusterConfig(
            cluster: cluster,
            nodes: [NodeConfig(id: nodeA, name: "node-a"), NodeConfig(id: nodeB, name: "node-b")],
            networkChannels: ["udp0", "udp1"],
            resources: [
                ResourceConfig(name: "vip"), ResourceConfig(name: "hostname"), ResourceConfig(name: "postgresql"),
            ]
        )
        config.preferredNode = nodeA
        config.failback = failback
        config.failbackStability = 1_000_000_000
        config.maxLocalRestarts = 2
        config.digestEvery = 500
        // Seconds, as in the daemon, but short enough that the disk-only lease node-a held alone before node-b
        // started has run out when the faults come.
        config.diskOnlyLease = 1_000_000_000
        return config
    }

    public static func run(_ options: SimulationOptions) -> SimulationReport {
        var world = SimulationWorld(options: options)
        world.run()
        var violations = world.violations
        if options.checkReplay && !options.brokenClaimRule {
            for (index, log) in world.logs.enumerated() {
                if let divergence = ReplayCheck.firstDivergence(node: NodeID(index + 1), log: log) {
                    violations.append(
                        Violation(seed: options.seed, atNanos: world.now, invariant: "replay", detail: divergence)
                    )
                }
            }
        }
        return SimulationReport(
            seed: options.seed,
            faults: world.faults,
            failback: world.config.failback,
            violations: violations,
            takeovers: world.takeovers,
            guardKills: world.guardKills,
            logs: world.logs,
            config: world.config,
            inputs: world.inputs,
            long: options.isLong,
            durationNanos: world.duration,
            timeline: world.timeline
        )
    }
}
