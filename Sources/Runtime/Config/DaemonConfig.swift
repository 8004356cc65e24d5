import Coordinator

/// A heartbeat channel: a UDP port and each node's address on that path.
public struct ChannelEndpoint: Sendable, Hashable {
    public var name: String
    public var port: UInt16
    /// Address of each node on this path, in node order.
    public var addresses: [NodeID: String]
}

/// How a resource of the group is run.
public enum ResourceKind: Sendable, Hashable {
    /// A virtual IP address: added to `interface`, announced by gratuitous ARP `garpCount` times.
    case vip(address: String, prefixLength: Int, interface: String, garpCount: Int, garpInterval: UInt64)
    /// Shell commands with LSB exit codes.
    case script(start: String, stop: String, monitor: String)
    /// An OCF resource agent (`provider/type` under OCF_ROOT), with its OCF_RESKEY_ parameters.
    case ocf(agent: String, parameters: [String: String])
    /// A name that points at the active: RFC 2136 updates signed with TSIG.
    case dns(DNSAliasSpec)
}

/// The `dns` resource: `name` in `zone` on `server` points at this node's address while the group runs here.
public struct DNSAliasSpec: Sendable, Hashable {
    public enum AddressMode: Sendable, Hashable {
        /// The VIP resource's address (the same on both nodes).
        case vip(resource: String)
        /// Each node's own address (`addresses:`), for nodes in different subnets.
        case perNode
    }

    public enum OnStop: String, Sendable, Hashable {
        /// The record stays (pointing at the stopped node) until the next active replaces it: no moment without
        /// an answer for resolvers to cache negatively.
        case keep
        /// Deleted, unless it already points elsewhere.
        case remove
    }

    public var server: DNSServerAddress
    public var zone: DNSName
    public var name: DNSName
    public var mode: AddressMode
    /// Each node's address (by node name): the VIP's for every node in `vip` mode.
    public var addresses: [String: String]
    public var ttl: UInt32
    public var keyFile: String
    public var onStop: OnStop
    /// `FILE:LINE:COLUMN` of `key_file`, for check-config's messages.
    public var keyFileLocation: String
}

public struct ResourceSpec: Sendable, Hashable {
    public var name: String
    public var kind: ResourceKind
    public var startTimeout: UInt64
    public var stopTimeout: UInt64
    public var monitorTimeout: UInt64
    public var monitorInterval: UInt64
}

public enum AlarmSink: Sendable, Hashable {
    /// A program run with the alarm in environment variables and as JSON on standard input.
    case exec(command: String)
    /// An HTTP POST of the alarm as JSON, retried.
    case webhook(url: String, retries: Int, timeout: UInt64)
}

public struct ArbitratorConfig: Sendable, Hashable {
    public var address: String
    public var interval: UInt64
    public var timeout: UInt64
}

/// Everything the daemon runs by: the core's `ClusterConfig` and the shell's paths, addresses and resources.
public struct DaemonConfig: Sendable, Hashable {
    public var cluster: ClusterConfig
    public var thisNode: NodeID
    public var channels: [ChannelEndpoint]
    public var keyFile: String
    public var sharedStorage: String
    public var arbitrator: ArbitratorConfig?
    public var resources: [ResourceSpec]
    public var alarms: [AlarmSink]
    public var logDirectory: String
    public var adminSocket: String
    /// How to fence the peer (nil: no fencing configured).
    public var fencing: FenceSpec?
    /// The hardware watchdog the guard feeds (nil: none), and its timeout in seconds.
    public var watchdog: String?
    public var watchdogTimeout: Int32 = 10
    /// The timing profile the heartbeat and lease timings started from.
    public var profile: TimingProfile = .standard
    /// Real-time priority and locked memory for the daemon and its guard.
    public var realtime: RealtimeSettings = .default

    public var thisNodeName: String { cluster.name(of: thisNode) }

    /// The name clients reach the group by (the first `dns` resource's, without the root's dot), which scripts
    /// and OCF agents get as SERVHA_ALIAS.
    public var alias: String? {
        for spec in resources { if case .dns(let alias) = spec.kind { return alias.name.relativeText } }
        return nil
    }
    public var peer: NodeConfig? { cluster.peer(of: thisNode) }

    /// A resource that keeps data (a script or an OCF agent, as opposed to an address) runs without fencing: a host
    /// that freezes whole can resume beside its successor. One line, for check-config and status; nil otherwise.
    public var fencingWarning: String? {
        guard fencing == nil else { return nil }
        let kept = resources.filter { if case .vip = $0.kind { false } else { true } }.map(\.name)
        guard !kept.isEmpty else { return nil }
        return "warning: no fencing configured: a host that freezes whole (a paused VM) can run \(kept.joined(separator: ", ")) beside its successor when it resumes; configure 'fencing' (README: Fencing)"
    }
}
