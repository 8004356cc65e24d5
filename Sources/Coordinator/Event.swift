/// What the core asks the shell to do. Every action is also recorded as an event before the shell acts.
public enum Action: Sendable, Hashable {
    /// Fire `timerFired` at this instant (replacing any timer armed before).
    case armTimer(at: Instant)
    /// Write this node's disk slot now with the current advertisement, and report the outcome (`slotWritten`).
    /// The shell also writes it every heartbeat interval on its own.
    case writeSlot(owns: Bool, epoch: Epoch)
    /// Read the peer's disk slot now (after a claim of the lease, to check it), and report it (`diskSlot`).
    case readPeerSlot
    case startResource(Int, epoch: Epoch)
    case stopResource(Int, epoch: Epoch)
    /// Stop without grace (self-fence): SIGKILL, address removal.
    case killResource(Int, epoch: Epoch)
    /// Run the configured fence command against the peer.
    case fencePeer(epoch: Epoch)
    /// Announce the group's addresses again (gratuitous ARP): the peer came back, and switches may have learnt
    /// its MAC for them meanwhile. Only while the group still runs here at this epoch.
    case announce(epoch: Epoch)
    case raiseAlarm(Alarm)
    case clearAlarm(AlarmKind)

    public var isSlotWrite: Bool { if case .writeSlot = self { true } else { false } }

    /// Whether the action changes the outside world (and so must be durable in the log before it happens).
    public var hasOutsideEffect: Bool {
        switch self {
        case .armTimer, .readPeerSlot: false
        case .writeSlot, .startResource, .stopResource, .killResource, .fencePeer, .announce, .raiseAlarm,
            .clearAlarm:
            true
        }
    }
}

public enum AlarmKind: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    case peerLost = 0
    case tookOver = 1
    case selfFenced = 2
    case resourceFailed = 3
    case startFailed = 4
    case stopFailed = 5
    case fenceFailed = 6
    case leaseWriteFailed = 7
    case arbitratorUnreachable = 8
    case channelDown = 9
    case sharedStorage = 10
    case logSpaceLow = 11
    case ownerFlapping = 12
    case archiveFailed = 13

    public static func < (a: AlarmKind, b: AlarmKind) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .peerLost: "peer-lost"
        case .tookOver: "took-over"
        case .selfFenced: "self-fenced"
        case .resourceFailed: "resource-failed"
        case .startFailed: "start-failed"
        case .stopFailed: "stop-failed"
        case .fenceFailed: "fence-failed"
        case .leaseWriteFailed: "lease-write-failed"
        case .arbitratorUnreachable: "arbitrator-unreachable"
        case .channelDown: "channel-down"
        case .sharedStorage: "shared-storage"
        case .logSpaceLow: "log-space-low"
        case .ownerFlapping: "owner-flapping"
        case .archiveFailed: "archive-failed"
        }
    }
}

public enum AlarmSeverity: UInt8, Sendable, Hashable {
    case warning = 0
    case critical = 1
}

public struct Alarm: Sendable, Hashable {
    public var kind: AlarmKind
    public var severity: AlarmSeverity
    public var message: String
    public var epoch: Epoch

    public init(kind: AlarmKind, severity: AlarmSeverity, message: String, epoch: Epoch) {
        self.kind = kind
        self.severity = severity
        self.message = message
        self.epoch = epoch
    }
}

/// One channel's state when a decision was taken.
public struct ChannelEvidence: Sendable, Hashable {
    public var channel: UInt8
    public var up: Bool
    /// When something was last heard on it (nil: never since start).
    public var lastHeard: Instant?

    public init(channel: UInt8, up: Bool, lastHeard: Instant?) {
        self.channel = channel
        self.up = up
        self.lastHeard = lastHeard
    }
}

/// What a decision rests on: enough for `servha explain` to print the chain from evidence to action.
public struct Evidence: Sendable, Hashable {
    public var channels: [ChannelEvidence]
    /// The peer's disk slot: its counter, when it last changed, and whether the last read worked.
    public var peerCounter: UInt64?
    public var peerCounterChangedAt: Instant?
    public var diskReadable: Bool
    /// The last renewal of this node's lease (disk write start or heartbeat echo).
    public var lastRenewal: Instant?
    public var arbitrator: Bool?
    public var peerArbitrator: Bool?
    public var peerRole: Role
    public var peerEpoch: Epoch
    public var peerOwns: Bool

    public init(
        channels: [ChannelEvidence],
        peerCounter: UInt64?,
        peerCounterChangedAt: Instant?,
        diskReadable: Bool,
        lastRenewal: Instant?,
        arbitrator: Bool?,
        peerArbitrator: Bool?,
        peerRole: Role,
        peerEpoch: Epoch,
        peerOwns: Bool
    ) {
        self.channels = channels
        self.peerCounter = peerCounter
        self.peerCounterChangedAt = peerCounterChangedAt
        self.diskReadable = diskReadable
        self.lastRenewal = lastRenewal
        self.arbitrator = arbitrator
        self.peerArbitrator = peerArbitrator
        self.peerRole = peerRole
        self.peerEpoch = peerEpoch
        self.peerOwns = peerOwns
    }

    public static let none = Evidence(
        channels: [],
        peerCounter: nil,
        peerCounterChangedAt: nil,
        diskReadable: false,
        lastRenewal: nil,
        arbitrator: nil,
        peerArbitrator: nil,
        peerRole: .starting,
        peerEpoch: 0,
        peerOwns: false
    )
}

/// The kinds of decision; each changes the role or the resources, and says why.
public enum DecisionKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Discovery over (or back from fenced): ready to take over.
    case becomeStandby = 0
    /// Take the lease with a new epoch.
    case takeOver = 1
    /// The lease write with the new epoch succeeded: start the group.
    case leaseAcquired = 2
    /// The lease write failed: stay standby.
    case acquireFailed = 3
    /// Stop the group gracefully and release the lease (switchover, failback, step-down, group failover,
    /// start failure, admin standby).
    case release = 4
    /// Resources stopped and the lease released.
    case released = 5
    /// The lease could not be renewed in time (or a peer holds a higher epoch): kill the resources now.
    case selfFence = 6
    /// A monitor failed: restart the resource (and the ones after it) here.
    case restartResource = 7
    /// Fence the peer before taking over.
    case fencePeer = 8
    /// Enter or leave admin standby or maintenance.
    case adminMode = 9

    /// A decision that moves the group off a node or onto it (what `explain` and the console explain).
    public var isFailover: Bool {
        switch self {
        case .takeOver, .release, .selfFence: true
        case .becomeStandby, .leaseAcquired, .acquireFailed, .released, .restartResource, .fencePeer, .adminMode: false
        }
    }

    public var description: String {
        switch self {
        case .becomeStandby: "become-standby"
        case .takeOver: "take-over"
        case .leaseAcquired: "lease-acquired"
        case .acquireFailed: "acquire-failed"
        case .release: "release"
        case .released: "released"
        case .selfFence: "self-fence"
        case .restartResource: "restart-resource"
        case .fencePeer: "fence-peer"
        case .adminMode: "admin-mode"
        }
    }
}

/// Why a release happens (it decides whether the node yields to its peer).
public enum ReleaseCause: UInt8, Sendable, Hashable, CustomStringConvertible {
    case switchover = 0
    case failback = 1
    case arbitratorStepDown = 2
    case groupFailover = 3
    case startFailed = 4
    case adminStandby = 5

    public var description: String {
        switch self {
        case .switchover: "switchover"
        case .failback: "failback"
        case .arbitratorStepDown: "arbitrator step-down"
        case .groupFailover: "group failover"
        case .startFailed: "start failed"
        case .adminStandby: "admin standby"
        }
    }
}

/// What a decision is about, beyond its kind.
public enum DecisionSubject: Sendable, Hashable {
    case none
    /// `restartResource`: the resource (its index in the group) restarted with the ones after it.
    case resource(Int)
    /// `release`: why the group is handed over.
    case cause(ReleaseCause)
    /// `adminMode`: the operator's modes after the change.
    case modes(standby: Bool, maintenance: Bool)
}

public struct Decision: Sendable, Hashable {
    public var kind: DecisionKind
    /// The epoch the decision acts under (the new one, for a takeover).
    public var epoch: Epoch
    public var reason: String
    public var evidence: Evidence
    public var subject: DecisionSubject

    public init(kind: DecisionKind, epoch: Epoch, reason: String, evidence: Evidence, subject: DecisionSubject = .none) {
        self.kind = kind
        self.epoch = epoch
        self.reason = reason
        self.evidence = evidence
        self.subject = subject
    }
}

/// Everything appended to the log: each input as observed, then what the core derived from it.
public enum Event: Sendable, Hashable {
    case input(StampedInput)
    /// An input that the core refused (unknown node, another cluster, before any configuration); it changes
    /// nothing.
    indirect case rejected(StampedInput, reason: String)
    case channelChanged(channel: UInt8, up: Bool, lastHeard: Instant?)
    /// Every network channel is silent, but the disk slot still changes (or was never seen): the peer may be
    /// cut off rather than dead.
    indirect case peerSuspected(Evidence)
    indirect case peerDeclaredDead(Evidence)
    case peerAlive(channel: UInt8)
    indirect case decision(Decision)
    case issued(Action)
    case commandRefused(AdminCommand, reason: String)
    /// SHA-256 of the canonical encoding of the state after the events before it.
    case stateDigest([UInt8])
    /// The whole state after the events before it (`State.canonicalEncoding`), written by the shell when a log
    /// segment is sealed and at a clean shutdown: start-up folds from the newest one, and replay checks each
    /// against the state it rebuilt. Not derived by the core, so replay does not expect it from the core.
    case snapshot([UInt8])

    /// Whether replay compares this event (all derived events are compared; inputs are what replay feeds).
    public var isInput: Bool {
        switch self {
        case .input, .rejected: true
        case .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision, .issued, .commandRefused,
            .stateDigest, .snapshot:
            false
        }
    }

    public var stampedInput: StampedInput? {
        switch self {
        case .input(let stamped), .rejected(let stamped, _): stamped
        case .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision, .issued, .commandRefused,
            .stateDigest, .snapshot:
            nil
        }
    }
}
