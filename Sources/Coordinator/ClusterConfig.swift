import Crypto

/// How a node returns to its preferred node after a failover.
public enum FailbackMode: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Once the preferred node has been healthy for `failbackStability`, the group moves back to it.
    case auto = 0
    /// Only on `servha failback`.
    case manual = 1
    /// The group stays where it is.
    case never = 2

    public var description: String {
        switch self {
        case .auto: "auto"
        case .manual: "manual"
        case .never: "never"
        }
    }
}

/// A member of the two-node cluster.
public struct NodeConfig: Sendable, Hashable {
    public var id: NodeID
    public var name: String

    public init(id: NodeID, name: String) {
        self.id = id
        self.name = name
    }
}

/// A resource of the group, as far as the core is concerned (how to run it is the daemon's business).
public struct ResourceConfig: Sendable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }
}

/// Everything the core decides by. Part of the log (a `configLoaded` input), so replay runs under the
/// configuration that was in force; `what-if` replays under a changed copy.
///
/// The timing defaults aim at a client-visible outage near 250 ms after a host dies, while a disk stall or a
/// lost network path alone never moves the group (see `Coordinator` for the lease rules).
@dynamicMemberLookup
public struct ClusterConfig: Sendable, Hashable {
    /// The fields, read and written as the configuration's own (`config.leaseDuration`).
    public struct Settings: Sendable, Hashable {

        public var cluster: String
        public var nodes: [NodeConfig]
        /// Network heartbeat channels (UDP paths), by index. The disk slot is a further channel after them.
        public var networkChannels: [String]
        /// How often heartbeats are sent and the disk slot is written and read. Short, so that the active sees
        /// several heartbeat echoes within its lease even when a fifth of the packets are lost and the disk stalls.
        public var heartbeatInterval: Nanos = Milliseconds.ns(20)
        /// A channel is down when nothing was heard on it for this long.
        public var channelDeadline: Nanos = Milliseconds.ns(100)
        /// How long a renewal (a disk write, or a heartbeat echo from the peer) keeps the lease. A host death is
        /// acted on after `leaseDuration + safetyMargin` plus one interval: about 190 ms with these defaults.
        public var leaseDuration: Nanos = Milliseconds.ns(130)
        /// The active stops `safetyMargin` before its lease runs out; the standby waits `safetyMargin` after.
        public var safetyMargin: Nanos = Milliseconds.ns(40)
        /// The lease an active node announces in its slot while its peer is silent on every network channel, when
        /// disk writes are its only renewals: long enough that a slow write (a busy disk, a SAN path failover) does
        /// not end it, as SBD gives its disk seconds. A peer that reads it in the slot waits this long (plus the
        /// margin) after the slot last changed before it may claim.
        public var diskOnlyLease: Nanos = Milliseconds.ns(3000)
        /// With fencing: after a failed fence, the next attempt comes this much later (no takeover meanwhile).
        public var fenceRetry: Nanos = Milliseconds.ns(5000)
        /// After start, how long to listen for a peer before deciding anything.
        public var startupDiscovery: Nanos = Milliseconds.ns(250)
        public var preferredNode: NodeID?
        public var failback: FailbackMode = .manual
        /// How long the preferred node must be healthy before an automatic failback.
        public var failbackStability: Nanos = Milliseconds.ns(5000)
        public var resources: [ResourceConfig]
        /// A failing monitor restarts the resource locally this many times within `restartWindow`, then the
        /// group fails over.
        public var maxLocalRestarts: Int = 3
        public var restartWindow: Nanos = Milliseconds.ns(600_000)
        /// An arbitrator (ping target) is configured and probed.
        public var arbitrator: Bool = true
        /// A fence command is configured: run it before taking over from a peer that was not heard to let go.
        public var fencing: Bool = false
        /// Emit a state digest every this many inputs.
        public var digestEvery: Int = 1000
        /// How many alarm sinks the daemon delivers to (each notice is pending until every sink has it).
        public var alarmSinks: Int = 0

        public init(cluster: String, nodes: [NodeConfig], networkChannels: [String], resources: [ResourceConfig]) {
            self.cluster = cluster
            self.nodes = nodes
            self.networkChannels = networkChannels
            self.resources = resources
        }

        /// The index of the disk channel (after the network channels).
        public var diskChannel: Int { networkChannels.count }
        public var channelCount: Int { networkChannels.count + 1 }

        public func node(_ id: NodeID) -> NodeConfig? { nodes.first { $0.id == id } }

        public func peer(of id: NodeID) -> NodeConfig? { nodes.first { $0.id != id } }

        public func name(of id: NodeID) -> String { node(id)?.name ?? "node \(id)" }

        public func channelName(_ index: Int) -> String {
            index < networkChannels.count ? networkChannels[index] : "disk"
        }

        /// Problems that make the configuration unusable, each one line; empty when it is fine.
        public func problems() -> [String] {
            var found: [String] = []
            if cluster.isEmpty { found.append("cluster name is empty") }
            if nodes.count != 2 { found.append("a cluster has exactly 2 nodes (found \(nodes.count))") }
            if Set(nodes.map(\.id)).count != nodes.count { found.append("node ids must differ") }
            if Set(nodes.map(\.name)).count != nodes.count { found.append("node names must differ") }
            if networkChannels.count < 2 {
                found.append("at least 2 network heartbeat channels are needed (found \(networkChannels.count))")
            }
            if networkChannels.count > 60 { found.append("at most 60 network channels") }
            if resources.count > 64 { found.append("at most 64 resources in the group") }
            if heartbeatInterval == 0 { found.append("heartbeat interval must be positive") }
            if channelDeadline < 2 * heartbeatInterval {
                found.append("channel deadline must be at least twice the heartbeat interval")
            }
            if safetyMargin == 0 || safetyMargin * 2 >= leaseDuration {
                found.append("safety margin must be positive and less than half the lease duration")
            }
            if diskOnlyLease < leaseDuration {
                found.append("the disk-only lease must be at least the lease duration")
            }
            if leaseDuration - safetyMargin <= heartbeatInterval {
                found.append("lease duration minus safety margin must exceed the heartbeat interval")
            }
            if let preferred = preferredNode, node(preferred) == nil {
                found.append("preferred node \(preferred) is not a cluster node")
            }
            if failback == .auto && preferredNode == nil { found.append("failback auto needs a preferred node") }
            if maxLocalRestarts < 0 { found.append("max local restarts must not be negative") }
            if digestEvery <= 0 { found.append("digest interval must be positive") }
            if alarmSinks < 0 || alarmSinks > 64 { found.append("at most 64 alarm sinks") }
            return found
        }

        /// A canonical binary encoding (field order fixed), the input to the config hash and the log's encoding.
        public func encoded() -> [UInt8] {
            var out = CanonicalBytes(capacity: 256)
            encode(into: &out)
            return out.bytes
        }

        public func encode<Writer: CanonicalWriter>(into out: inout Writer) {
            out.append(2)  // config encoding version (2: the disk-only lease, after the digest interval)
            out.appendString(cluster)
            out.appendVarint(UInt64(nodes.count))
            for node in nodes {
                out.appendVarint(UInt64(node.id))
                out.appendString(node.name)
            }
            out.appendVarint(UInt64(networkChannels.count))
            for channel in networkChannels { out.appendString(channel) }
            for value in [heartbeatInterval, channelDeadline, leaseDuration, safetyMargin, startupDiscovery] {
                out.appendVarint(value)
            }
            out.appendVarint(preferredNode.map { UInt64($0) + 1 } ?? 0)
            out.append(failback.rawValue)
            out.appendVarint(failbackStability)
            out.appendVarint(UInt64(resources.count))
            for resource in resources { out.appendString(resource.name) }
            out.appendVarint(UInt64(max(0, maxLocalRestarts)))
            out.appendVarint(restartWindow)
            out.append(arbitrator ? 1 : 0)
            out.append(fencing ? 1 : 0)
            out.appendVarint(UInt64(max(1, digestEvery)))
            out.appendVarint(UInt64(min(64, max(0, alarmSinks))))
            out.appendVarint(diskOnlyLease)
            out.appendVarint(fenceRetry)
        }

        /// How long a renewal by a slot write that announced the disk-only lease holds (never less than the lease).
        public var diskOnlyLeaseLength: Nanos { max(diskOnlyLease, leaseDuration) }

        /// SHA-256 of the canonical encoding: recorded in every log segment and in `configLoaded`.
        public var hash: [UInt8] { Array(SHA256.hash(data: encoded())) }
    }

    /// The settings live in an immutable box, so that a copy of the configuration (one in the state, read by
    /// every input; one per recorded `configLoaded`) moves one reference, not 150 bytes: the copies showed as a
    /// tenth of replay's re-run time. A write, which happens only while a configuration is built, replaces the box.
    private final class Box: Sendable {
        let settings: Settings
        init(_ settings: Settings) { self.settings = settings }
    }

    private var box: Box

    public var settings: Settings { box.settings }

    public init(cluster: String, nodes: [NodeConfig], networkChannels: [String], resources: [ResourceConfig]) {
        box = Box(Settings(cluster: cluster, nodes: nodes, networkChannels: networkChannels, resources: resources))
    }

    public subscript<Value>(dynamicMember field: KeyPath<Settings, Value>) -> Value {
        box.settings[keyPath: field]
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<Settings, Value>) -> Value {
        get { box.settings[keyPath: field] }
        set {
            var changed = box.settings
            changed[keyPath: field] = newValue
            box = Box(changed)
        }
    }

    public static func == (lhs: ClusterConfig, rhs: ClusterConfig) -> Bool {
        lhs.box === rhs.box || lhs.box.settings == rhs.box.settings
    }

    public func hash(into hasher: inout Hasher) { box.settings.hash(into: &hasher) }

    public func node(_ id: NodeID) -> NodeConfig? { box.settings.node(id) }
    public func peer(of id: NodeID) -> NodeConfig? { box.settings.peer(of: id) }
    public func name(of id: NodeID) -> String { box.settings.name(of: id) }
    public func channelName(_ index: Int) -> String { box.settings.channelName(index) }
    public func problems() -> [String] { box.settings.problems() }
    public var hash: [UInt8] { box.settings.hash }
    public func encoded() -> [UInt8] { box.settings.encoded() }
    public func encode<Writer: CanonicalWriter>(into out: inout Writer) { box.settings.encode(into: &out) }
}
