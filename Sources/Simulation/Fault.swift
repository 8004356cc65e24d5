import Coordinator

/// The faults the simulator injects. Each seed picks some (or takes them from `--faults`) and when.
public enum FaultKind: String, Sendable, Hashable, CaseIterable {
    /// The active host dies (and stays dead).
    case crash
    /// The active host dies and comes back with its old log.
    case restart
    /// Every network channel between the nodes is cut; shared storage stays; one node also loses the arbitrator.
    case partition
    /// One network channel is cut.
    case channel
    /// One network channel goes up and down every few hundred milliseconds.
    case flap
    /// One node loses the shared storage.
    case disk
    /// Shared storage answers slowly (up to 300 ms) for a while.
    case stall
    /// A node is cut off from everything: network and shared storage.
    case isolate
    /// A fifth of all heartbeats are lost.
    case loss
    /// The database's monitor starts failing on the active node.
    case monitor
    /// An operator switches the group over.
    case switchover
    /// The preferred node dies and comes back; failback per mode.
    case failback
    /// An operator puts the active node in standby, later unstandby.
    case standby
    /// Both nodes start at the same moment.
    case simultaneous
    /// The active node's daemon stops (SIGSTOP) for a while; its host, guard and resources go on.
    case pause
    /// The active host freezes whole (a paused VM) for a while; fencing is configured.
    case freeze
    /// The active host freezes whole, and its fence device is dead until it thaws: every fence fails (fast, or
    /// only at the agent's timeout), so the survivor must never take over meanwhile.
    case fenceFailure
    /// The active node's log fails (a full disk): it takes its group down, stops, and is restarted.
    case logFailure

    /// How many times the group may move because of this fault (the "no flapping" bound).
    var allowedMoves: Int {
        switch self {
        case .crash, .switchover, .isolate, .partition, .monitor, .disk, .pause, .freeze, .fenceFailure: 1
        case .logFailure: 2
        // A disk slower than the lease margin costs the active its lease when the network cannot renew it
        // either (with a partition, an isolation or a crash at the same time): safe, and one move.
        case .stall: 1
        // The group may come back to the preferred node afterwards (failback auto).
        case .restart, .failback, .standby: 2
        case .channel, .flap, .loss, .simultaneous: 0
        }
    }
}

/// A broken invariant, with what the simulator knew at that moment.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    public var seed: UInt64
    public var atNanos: UInt64
    public var invariant: String
    public var detail: String

    public var description: String {
        "seed \(seed): at \(atNanos / 1_000_000) ms: \(invariant): \(detail)"
    }
}
