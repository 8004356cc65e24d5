/// A node's monotonic clock reading in nanoseconds. Each node's core only ever compares instants from its own
/// clock; nothing here assumes the two nodes' clocks agree.
public typealias Instant = UInt64

/// A length of time in nanoseconds.
public typealias Nanos = UInt64

/// A node's id in the cluster (also the `node` field of its log records).
public typealias NodeID = UInt16

/// The fencing token: raised by every takeover, carried by every action with an outside effect.
public typealias Epoch = UInt64

public enum Milliseconds {
    public static func ns(_ ms: UInt64) -> Nanos { ms * 1_000_000 }
}

/// What a node is doing, as far as the lease and the resources are concerned.
///
/// Legal transitions:
///
///     starting  -> standby                      (discovery over, clean slate)
///     standby   -> acquiring                    (takeover decided)
///     acquiring -> active | standby             (lease written | write failed)
///     active    -> releasing                    (switchover, failback, step-down, group failover)
///     active    -> fenced                       (lease lost, or a peer with a higher epoch)
///     releasing -> standby                      (resources stopped, lease released)
///     fenced    -> standby                      (peer or disk heard again)
///     any       -> starting                     (node restart)
public enum Role: UInt8, Sendable, Hashable, CustomStringConvertible {
    case starting = 0
    case standby = 1
    case acquiring = 2
    case active = 3
    case releasing = 4
    case fenced = 5

    public var description: String {
        switch self {
        case .starting: "starting"
        case .standby: "standby"
        case .acquiring: "acquiring"
        case .active: "active"
        case .releasing: "releasing"
        case .fenced: "fenced"
        }
    }

    /// Whether resources may be running (or being started/stopped) in this role.
    public var mayRunResources: Bool {
        switch self {
        case .active, .releasing, .acquiring: true
        case .starting, .standby, .fenced: false
        }
    }
}

/// A resource's state as the core knows it.
public enum ResourceStatus: UInt8, Sendable, Hashable, CustomStringConvertible {
    case stopped = 0
    case starting = 1
    case running = 2
    case stopping = 3
    /// A start or stop failed; its state is unknown until a stop succeeds.
    case failed = 4

    public var description: String {
        switch self {
        case .stopped: "stopped"
        case .starting: "starting"
        case .running: "running"
        case .stopping: "stopping"
        case .failed: "failed"
        }
    }

    /// Anything but a confirmed stop counts as up, for safety.
    public var isUp: Bool { self != .stopped }
}

/// What a node tells its peer, in every heartbeat and in its disk slot.
public struct Advertisement: Sendable, Hashable {
    public var role: Role
    public var epoch: Epoch
    /// The node holds the lease.
    public var owns: Bool
    /// Bit i set: resource i is up.
    public var resourcesUp: UInt64
    /// The node can reach the arbitrator (nil: none configured or not probed yet).
    public var arbitratorReachable: Bool?
    /// The node hears its peer and recognizes the peer's ownership (its heartbeats then renew the peer's lease).
    public var acknowledgesPeer: Bool
    /// The node released the lease for its peer to take over.
    public var yields: Bool
    /// Ready to run the resources: started, not in admin standby, no recent resource failure.
    public var healthy: Bool
    public var maintenance: Bool
    /// How long, from when this was written, the node may still hold a disk-only lease (its peer silent on every
    /// network channel, disk writes its only renewals): a peer that reads it waits that long (plus the margin)
    /// before it may claim. Zero: none.
    public var diskOnlyRemaining: Nanos

    /// The node announces a disk-only lease.
    public var diskOnlyLease: Bool { diskOnlyRemaining > 0 }

    public init(
        role: Role,
        epoch: Epoch,
        owns: Bool,
        resourcesUp: UInt64,
        arbitratorReachable: Bool?,
        acknowledgesPeer: Bool,
        yields: Bool,
        healthy: Bool,
        maintenance: Bool,
        diskOnlyRemaining: Nanos = 0
    ) {
        self.diskOnlyRemaining = diskOnlyRemaining
        self.role = role
        self.epoch = epoch
        self.owns = owns
        self.resourcesUp = resourcesUp
        self.arbitratorReachable = arbitratorReachable
        self.acknowledgesPeer = acknowledgesPeer
        self.yields = yields
        self.healthy = healthy
        self.maintenance = maintenance
    }

    public static let unknown = Advertisement(
        role: .starting,
        epoch: 0,
        owns: false,
        resourcesUp: 0,
        arbitratorReachable: nil,
        acknowledgesPeer: false,
        yields: false,
        healthy: false,
        maintenance: false
    )
}
