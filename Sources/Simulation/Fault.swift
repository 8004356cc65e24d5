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
    /// Shared storage stalls for seconds, on one node's path or on the whole array: every slot write and read
    /// issued meanwhile takes 1 to 5 s (longer than the disk-only lease), and a fifth of them fail. A write lands
    /// at some instant while it is in flight (a failed one may have landed too); a read returns what the slot held
    /// at some instant while it was in flight.
    case diskStall
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
    /// Both nodes start at the same instant with empty logs, their timers in lockstep; half the time the network
    /// comes up late and the first slot writes fail, so that both see the peer silent and claim the lease at once.
    case simultaneous
    /// A node's wall clock is stepped (NTP) by up to two hours, forward or back (the core must not care).
    case clockJump
    /// The active node's daemon stops (SIGSTOP) for a while; its host, guard and resources go on.
    case pause
    /// The active host freezes whole (a paused VM) for a while; fencing is configured.
    case freeze
    /// The active host freezes whole, and its fence device is dead until it thaws: every fence fails (fast, or
    /// only at the agent's timeout), so the survivor must never take over meanwhile.
    case fenceFailure
    /// The active node's log fails (a full disk): it takes its group down, stops, and is restarted.
    case logFailure
    /// A resource of the active node fails its monitor, and then fails to start again (an error, or a hang until
    /// the start timeout) for as long as the fault lasts: the group moves.
    case startFailure
    /// Stops of the active node's resources fail (the processes stay up) for as long as the fault lasts, during a
    /// switchover or a local restart: the core must kill them, and nothing counts as stopped meanwhile.
    case stopFailure
    /// Stops of the active node's resources hang for the whole stop timeout, then fail (the process still up) or
    /// succeed late, during a switchover or a local restart.
    case stopHang
    /// The active host freezes whole, and the fence agent hangs until its timeout, then fails or powers the host
    /// off late: the survivor must not take over while the fence is in flight.
    case fenceHang

    /// How many times the group may move because of this fault (the "no flapping" bound).
    var allowedMoves: Int {
        switch self {
        case .crash, .switchover, .isolate, .partition, .monitor, .disk, .pause, .freeze, .fenceFailure,
            .startFailure, .stopFailure, .stopHang:
            1
        case .logFailure: 2
        // A disk slower than the lease margin costs the active its lease when the network cannot renew it
        // either (with a partition, an isolation or a crash at the same time): safe, and one move.
        case .stall: 1
        // A path stalled for seconds makes its node look dead to the peer (its slot stops changing) and then alive
        // (its late writes land); with the network cut too, the group may move to the peer and back.
        case .diskStall: 2
        // The group may come back to the preferred node afterwards (failback auto).
        case .restart, .failback, .standby: 2
        // The host thaws while the hung fence is in flight and takes its group back (the peer may not take over
        // meanwhile); the fence then answers late with a power cycle, and the group moves again.
        case .fenceHang: 2
        // Both claim at once: the loser backs off, but its claim, still in its slot, can make the winner stand
        // down before the loser's next write; the preferred node then takes the group.
        case .simultaneous: 1
        case .channel, .flap, .loss, .clockJump: 0
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
