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

/// Where the disk slots, the lease and the shared copies of both logs live.
public enum SharedStorage: Sendable, Hashable, CustomStringConvertible {
    /// A directory both hosts mount at once (NFS, a cluster filesystem): slots under `slots/`, log copies under
    /// `logs/NODE/`.
    case directory(String)
    /// A raw block device both hosts see (a small LUN of the array), laid out by `servha disk init`.
    case device(String)

    public var description: String {
        switch self {
        case .directory(let path): path
        case .device(let path): "device \(path)"
        }
    }

    /// The directory of a node's log copy in directory mode (nil on a device, where the log area is on the LUN).
    public func logCopy(node: String) -> String? {
        switch self {
        case .directory(let path): path + "/logs/" + node
        case .device: nil
        }
    }
}

/// Everything the daemon runs by: the core's `ClusterConfig` and the shell's paths, addresses and resources.
public struct DaemonConfig: Sendable, Hashable {
    public var cluster: ClusterConfig
    public var thisNode: NodeID
    public var channels: [ChannelEndpoint]
    public var keyFile: String
    public var sharedStorage: SharedStorage
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
    /// How long the log's sealed segments are kept, and where they go first.
    public var retention: LogRetentionSettings = .default
    /// The read-only console (`http:`); nil: off, the default.
    public var http: HTTPSettings?

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

/// `http:`: the read-only console (status page, JSON, event stream, Prometheus metrics).
public struct HTTPSettings: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// A file holding the bearer token every request but `/healthz` must present; nil: no token asked.
    public var tokenFile: String?
    /// Where `token_file` was given (`FILE:LINE:COLUMN`), for the one-line error when it cannot be read.
    public var tokenFileLocation: String
    /// `tls: { certificate, key }`: HTTPS with this PEM certificate chain and private key; nil: plain HTTP.
    public var tls: TLSFiles?

    public struct TLSFiles: Sendable, Hashable {
        public var certificate: String
        public var key: String
        /// Where `tls` was given (`FILE:LINE:COLUMN`).
        public var location: String
    }
    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 7480

    public init(host: String = defaultHost, port: Int = defaultPort, tokenFile: String? = nil, tokenFileLocation: String = "") {
        self.host = host
        self.port = port
        self.tokenFile = tokenFile
        self.tokenFileLocation = tokenFileLocation
    }

    /// Where a browser finds the page.
    public func url(port bound: Int? = nil) -> String {
        "\(tls == nil ? "http" : "https")://\(host.contains(":") ? "[\(host)]" : host):\(bound ?? port)/"
    }

    /// `HOST:PORT`, `[V6]:PORT`, or `PORT` alone (on 127.0.0.1); nil when it is none of those.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        var host = defaultHost
        var portText = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }),
            portText.allSatisfy(\.isASCII), let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        return (host, port)
    }
}

/// `log.retention` and `log.archive_command`.
public struct LogRetentionSettings: Sendable, Hashable {
    public enum ByteLimit: Sendable, Hashable, CustomStringConvertible {
        /// This share (percent) of the size of the file system that holds the log.
        case share(percent: UInt64)
        case bytes(UInt64)

        public var description: String {
            switch self {
            case .share(let percent): "\(percent)% of the log's file system"
            case .bytes(let bytes): ByteText.render(bytes)
            }
        }
    }

    /// Sealed segments older than this (by when they were sealed) go.
    public var maxAge: UInt64
    /// While the log takes more than this, its oldest sealed segments go.
    public var maxBytes: ByteLimit
    /// Run for each sealed segment before it may go (`%p` its path, `%f` its file name), as PostgreSQL's
    /// `archive_command`; nil: none, segments go without it.
    public var archiveCommand: String?

    /// A year, within a quarter of the disk (whichever comes first): on a small disk the bytes decide, and the
    /// daemon never fills the file system its log needs.
    public static let `default` = LogRetentionSettings(maxAge: 365 * 86_400_000_000_000, maxBytes: .share(percent: 25), archiveCommand: nil)

    /// The byte limit on a file system of `totalBytes`.
    public func byteLimit(fileSystemBytes totalBytes: UInt64) -> UInt64 {
        switch maxBytes {
        case .share(let percent): totalBytes.multipliedReportingOverflow(by: percent).overflow ? totalBytes / 100 * percent : totalBytes * percent / 100
        case .bytes(let bytes): bytes
        }
    }
}

/// Sizes as people write them: `512MiB`, `8GiB`, `20GB`, `1TiB`.
public enum ByteText {
    public static func parse(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("KB", 1_000), ("MB", 1_000_000),
            ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = UInt64(text.dropLast(suffix.count)), value > 0, value <= UInt64.max / scale else { return nil }
            return value * scale
        }
        return nil
    }

    public static func render(_ bytes: UInt64) -> String {
        for (suffix, scale) in [("TiB", UInt64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes >= scale {
            let value = Double(bytes) / Double(scale)
            return value == value.rounded() ? "\(Int(value)) \(suffix)" : String(format: "%.1f %@", value, suffix)
        }
        return "\(bytes) B"
    }
}
