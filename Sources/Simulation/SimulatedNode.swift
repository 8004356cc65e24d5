import Coordinator

/// One simulated node: its driver (and the core inside it), its log, its clocks, and the physical things it drives.
struct SimulatedNode {
    let id: NodeID
    var driver: NodeDriver
    var log: [Event] = []
    /// How much of `log` is surely durable: what was flushed, and what the writer's bound has committed since
    /// (`unsyncedBound`). A crash loses the rest, so that the simulator checks that nothing the driver leaves
    /// unflushed is needed after a restart.
    var durableEvents = 0
    /// Log lengths after each append since the last flush, with when they were appended.
    var unflushed: [(count: Int, at: UInt64)] = []

    /// The daemon's writer writes routine events within a second and syncs them within 250 ms after that
    /// (`Daemon.writerOptions`).
    static let unsyncedBound: UInt64 = 1_250_000_000

    /// Records an append to the log (a flush makes everything so far durable).
    mutating func appended(_ events: [Event], flush: Bool, at now: UInt64) {
        log.append(contentsOf: events)
        if flush {
            durableEvents = log.count
            unflushed.removeAll(keepingCapacity: true)
        } else {
            unflushed.append((log.count, now))
            if unflushed.count > 256 { settle(at: now) }
        }
    }

    /// Counts as durable what the writer's bound has committed by `now`.
    mutating func settle(at now: UInt64) {
        let committed = unflushed.prefix { $0.at + Self.unsyncedBound <= now }
        if let last = committed.last { durableEvents = max(durableEvents, last.count) }
        unflushed.removeFirst(committed.count)
    }

    /// The host or daemon died: the log keeps what was durable.
    mutating func loseUnsyncedTail(at now: UInt64) {
        settle(at: now)
        log.removeLast(log.count - durableEvents)
        unflushed.removeAll()
    }
    var alive = false
    var boot = 0
    var clock = SimulatedClock()
    /// Whether each resource is physically up: from the start of its start until a stop or kill really ended it (a
    /// failed or hung stop leaves it up), or the guard killed it, or the host died.
    var physical: [Bool]
    var resourceToken: [UInt64]
    var agents = AgentFaults()
    var diskDown = false
    /// Slot I/O issued before then takes seconds (a stalled array or path).
    var diskStalledUntil: UInt64 = 0
    /// Slot writes issued before then fail at once (a storage path still logging in at power-on).
    var writesFailUntil: UInt64 = 0
    var arbitratorOK = true
    /// The next monitors of this resource report it not running.
    var monitorFailures: (resource: Int, left: Int) = (0, 0)
    /// A fence this node asked for has not answered yet.
    var fencing = false
    /// Simulation time of the last heartbeat delivered to this node, and of the last change of the peer's slot
    /// counter that a read of this node saw.
    var lastHeartbeatDelivered: UInt64?
    var lastCounterChangeSeen: UInt64?
    var lastCounterSeen: UInt64?

    var ticks = 0
    /// While set (simulation time), the daemon is stopped (SIGSTOP, a debugger, the scheduler): nothing it would
    /// do happens before then; its resources and its guard go on.
    var pausedUntil: UInt64?
    /// The whole host is frozen (a paused VM): its guard and its resources stand still too.
    var hostFrozen = false

    var core: Coordinator { driver.core }
    var groupUp: Bool { physical.contains(true) }
}

/// What goes wrong with one node's resource agents while a fault lasts.
struct AgentFaults {
    /// Starts of this resource fail: an error at once, or a hang until the start timeout.
    var brokenStart: Int?
    var stops: StopFault = .none

    enum StopFault {
        case none
        /// The stop exits with an error; the process stays up.
        case fail
        /// The stop hangs until the stop timeout, then times out (the process still up) or succeeds late.
        case hang
    }
}

/// How the fence device answers.
enum FenceDevice {
    case works
    /// Every request fails, at once or only at the agent's timeout.
    case dead
    /// Every request hangs until the agent's timeout, then fails or powers the host off late.
    case hangs
}
