/// Something that happened, as the shell observed it, stamped with when.
public struct StampedInput: Sendable, Hashable {
    /// This node's monotonic clock when the input was observed.
    public var at: Instant
    /// The wall clock at the same moment (for people and for lining up both nodes' logs; never for decisions).
    public var wall: Int64
    public var input: Input

    public init(at: Instant, wall: Int64, _ input: Input) {
        self.at = at
        self.wall = wall
        self.input = input
    }
}

/// Everything the core can be told. Each is recorded in the log as it arrives.
public enum Input: Sendable, Hashable {
    /// The daemon started (or restarted): resources are in an unknown state.
    indirect case started(NodeStart)
    /// A configuration was loaded (at start or on SIGHUP), already validated by the shell.
    indirect case configLoaded(ClusterConfig)
    /// A heartbeat from the peer arrived on a network channel and passed authentication.
    case heartbeat(Heartbeat)
    /// The timer the core asked for fired.
    case timerFired
    /// The peer's disk slot was read (or could not be read).
    case diskSlot(SlotReading)
    /// This node's own disk slot write (its disk heartbeat, and the lease renewal while active) finished.
    case slotWritten(SlotWrite)
    /// The arbitrator probe finished.
    case arbitrator(reachable: Bool)
    /// A resource action finished.
    case resourceOutcome(ResourceOutcome)
    /// A fence of the peer finished.
    case fenceOutcome(succeeded: Bool, detail: String)
    /// An operator command arrived on the admin socket.
    case admin(AdminCommand)
    /// The shell refused something before it reached the core (a forged or replayed packet, a packet from
    /// another cluster or an unknown node, a newer format); recorded so that nothing is dropped silently.
    case rejected(RejectedInput)
    /// An alarm notice reached a sink (or an attempt failed): alarms are delivered at least once, from the log.
    case alarmDelivery(AlarmDelivery)
    /// The free space of the file system that holds this node's log, sampled by the shell.
    case logSpace(LogSpace)
    /// Something the shell saw that could not be recorded when it happened (the log had failed), recorded once
    /// the log works again: the core only records it.
    case lateRecord(String)
    /// The configured archive command ran for a sealed segment of the log (retention removes only archived ones).
    case archived(ArchiveOutcome)
}

/// One run of `log.archive_command` for one sealed segment.
public struct ArchiveOutcome: Sendable, Hashable {
    public var segment: String
    public var succeeded: Bool
    /// The command's account (its exit and output) when it failed.
    public var detail: String

    public init(segment: String, succeeded: Bool, detail: String) {
        self.segment = segment
        self.succeeded = succeeded
        self.detail = detail
    }
}

/// How much room the log's file system has left.
public struct LogSpace: Sendable, Hashable {
    public var freeBytes: UInt64
    public var totalBytes: UInt64

    public init(freeBytes: UInt64, totalBytes: UInt64) {
        self.freeBytes = freeBytes
        self.totalBytes = totalBytes
    }

    /// Below this share free, the low-space alarm is raised (well before the log cannot be written, when the node
    /// would have to stop deciding); it clears once `clearPercent` is free again.
    public static let alarmPercent: UInt64 = 10
    public static let clearPercent: UInt64 = 15

    public var isLow: Bool { freeBytes * 100 < totalBytes * Self.alarmPercent }
    public var isClear: Bool { freeBytes * 100 >= totalBytes * Self.clearPercent }
}

/// The outcome of one attempt to deliver an alarm notice (raised or cleared) to one sink.
public struct AlarmDelivery: Sendable, Hashable {
    public var kind: AlarmKind
    /// The notice was the alarm being raised (false: cleared).
    public var raised: Bool
    /// Which configured sink, by index.
    public var sink: Int
    public var succeeded: Bool
    public var attempt: Int
    public var detail: String

    public init(kind: AlarmKind, raised: Bool, sink: Int, succeeded: Bool, attempt: Int, detail: String) {
        self.kind = kind
        self.raised = raised
        self.sink = sink
        self.succeeded = succeeded
        self.attempt = attempt
        self.detail = detail
    }
}

public struct NodeStart: Sendable, Hashable {
    public var node: NodeID
    public var servhaVersion: String
    public var bootID: String
    public var configHash: [UInt8]

    public init(node: NodeID, servhaVersion: String, bootID: String, configHash: [UInt8]) {
        self.node = node
        self.servhaVersion = servhaVersion
        self.bootID = bootID
        self.configHash = configHash
    }
}

public struct Heartbeat: Sendable, Hashable {
    public var channel: UInt8
    public var from: NodeID
    public var sequence: UInt64
    public var view: Advertisement
    /// When this node sent the heartbeat of its own that the peer echoes (the shell looks the echoed sequence
    /// up in what it sent). With `view.acknowledgesPeer`, it renews this node's lease as of that instant. Each
    /// heartbeat echoes the newest sequence received on any channel, so one path through is enough.
    public var echoOfOwnSentAt: Instant?
    /// The sequence of this node's heartbeat that the peer echoes (0: none yet). With `sequence`, it pairs the
    /// two nodes' logs exchange by exchange, which is how `replay merge` estimates their clock offset.
    public var echo: UInt64

    public init(
        channel: UInt8,
        from: NodeID,
        sequence: UInt64,
        view: Advertisement,
        echoOfOwnSentAt: Instant?,
        echo: UInt64 = 0
    ) {
        self.channel = channel
        self.from = from
        self.sequence = sequence
        self.view = view
        self.echoOfOwnSentAt = echoOfOwnSentAt
        self.echo = echo
    }
}

public struct SlotReading: Sendable, Hashable {
    public var node: NodeID
    /// False when the shared storage could not be read: the disk channel then proves nothing either way.
    public var readable: Bool
    /// Incremented by the peer on every write.
    public var counter: UInt64
    public var view: Advertisement
    /// When the read started (a claim is checked only by a read that started after the claim was written).
    public var startedAt: Instant

    public init(node: NodeID, readable: Bool, counter: UInt64, view: Advertisement, startedAt: Instant) {
        self.node = node
        self.readable = readable
        self.counter = counter
        self.view = view
        self.startedAt = startedAt
    }
}

public struct SlotWrite: Sendable, Hashable {
    public var succeeded: Bool
    /// When the write started: a successful write renews the lease as of this instant (not its end).
    public var startedAt: Instant
    /// What was written.
    public var owns: Bool
    public var epoch: Epoch
    /// The write announced the disk-only lease (so it renews for that long).
    public var diskOnly: Bool

    public init(succeeded: Bool, startedAt: Instant, owns: Bool, epoch: Epoch, diskOnly: Bool = false) {
        self.succeeded = succeeded
        self.startedAt = startedAt
        self.owns = owns
        self.epoch = epoch
        self.diskOnly = diskOnly
    }
}

public enum ResourceOperation: UInt8, Sendable, Hashable, CustomStringConvertible {
    case start = 0
    case stop = 1
    case monitor = 2
    /// A kill without grace (self-fence).
    case kill = 3

    public var description: String {
        switch self {
        case .start: "start"
        case .stop: "stop"
        case .monitor: "monitor"
        case .kill: "kill"
        }
    }
}

public enum ResourceResult: Sendable, Hashable, CustomStringConvertible {
    case succeeded
    /// For a monitor: the resource is not running (LSB 3, OCF 7).
    case notRunning
    case failed(exitCode: Int32)
    case timedOut

    public var description: String {
        switch self {
        case .succeeded: "ok"
        case .notRunning: "not running"
        case .failed(let code): "failed (exit \(code))"
        case .timedOut: "timed out"
        }
    }
}

public struct ResourceOutcome: Sendable, Hashable {
    public var resource: Int
    public var operation: ResourceOperation
    public var result: ResourceResult
    public var epoch: Epoch
    public var tookNanos: Nanos
    /// The action's output, truncated by the shell.
    public var output: String

    public init(
        resource: Int,
        operation: ResourceOperation,
        result: ResourceResult,
        epoch: Epoch,
        tookNanos: Nanos,
        output: String = ""
    ) {
        self.resource = resource
        self.operation = operation
        self.result = result
        self.epoch = epoch
        self.tookNanos = tookNanos
        self.output = output
    }
}

public enum AdminVerb: UInt8, Sendable, Hashable, CustomStringConvertible {
    case switchover = 0
    case failback = 1
    case standby = 2
    case unstandby = 3
    case maintenanceOn = 4
    case maintenanceOff = 5

    public var description: String {
        switch self {
        case .switchover: "switchover"
        case .failback: "failback"
        case .standby: "standby"
        case .unstandby: "unstandby"
        case .maintenanceOn: "maintenance on"
        case .maintenanceOff: "maintenance off"
        }
    }
}

public struct AdminCommand: Sendable, Hashable {
    public var verb: AdminVerb
    /// Where it came from (for example `uid 0 pid 4242 via /run/servha/admin.sock`).
    public var source: String

    public init(verb: AdminVerb, source: String) {
        self.verb = verb
        self.source = source
    }
}

public struct RejectedInput: Sendable, Hashable {
    public var reason: String
    /// Where it came from (a packet source address, a file).
    public var source: String

    public init(reason: String, source: String) {
        self.reason = reason
        self.source = source
    }
}
