import Coordinator
import Foundation
import Yams

/// Reads the daemon's YAML configuration, reporting every problem with its line and column.
///
/// Unknown keys are errors (a typo must not silently fall back to a default). Durations carry units. Defaults
/// are in `ConfigDefaults` and documented in the README.
public enum ConfigLoader {
    public static func load(path: String, thisNode override: String? = nil) -> Result<DaemonConfig, ConfigErrors> {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            return .failure(
                ConfigErrors(problems: [
                    ConfigProblem(file: path, line: 1, column: 1, message: "configuration file \(reason)")
                ])
            )
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(
                ConfigErrors(problems: [
                    ConfigProblem(file: path, line: 1, column: 1, message: "configuration is not UTF-8 text")
                ])
            )
        }
        return parse(text, file: path, thisNode: override)
    }

    public static func parse(
        _ text: String,
        file: String,
        thisNode override: String? = nil
    ) -> Result<DaemonConfig, ConfigErrors> {
        let reader = YAMLReader(file: file)
        if let (line, column) = YAMLNesting.tooDeep(text) {
            reader.problem(
                "nested more than \(YAMLNesting.limit) levels deep; a servha configuration needs a few",
                line: line,
                column: column
            )
            return .failure(ConfigErrors(problems: reader.problems))
        }
        let document: Node?
        do {
            // `.basic`: no tag-resolution rules. The default resolver compiles seven NSRegularExpressions (ICU) on first
            // use; the loader reads every scalar as its string and never asks a node for its tag.
            document = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            reader.problem(yamlMessage(error), at: yamlMark(error))
            return .failure(ConfigErrors(problems: reader.problems))
        } catch {
            reader.problem("not valid YAML: \(error)", at: nil)
            return .failure(ConfigErrors(problems: reader.problems))
        }
        guard document != nil else {
            reader.problem("configuration is empty", at: nil)
            return .failure(ConfigErrors(problems: reader.problems))
        }
        guard let root = YAMLMap(document, path: "", reader: reader, at: nil) else {
            return .failure(ConfigErrors(problems: reader.problems))
        }
        let config = read(root, reader: reader, override: override)
        root.finish()
        if let config, reader.problems.isEmpty { return .success(config) }
        return .failure(ConfigErrors(problems: reader.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) }))
    }

    // MARK: - Sections

    private static func read(_ root: YAMLMap, reader: YAMLReader, override: String?) -> DaemonConfig? {
        let clusterName = root.string("cluster", required: true) ?? ""

        // Nodes.
        var nodes: [NodeConfig] = []
        for item in root.sequence("nodes", required: true) {
            guard let node = YAMLMap(item, path: "nodes[]", reader: reader, at: item.mark) else { continue }
            let name = node.string("name", required: true) ?? ""
            let id = node.int("id", required: true, range: 1...65_535) ?? 0
            node.finish()
            if nodes.contains(where: { $0.name == name }) {
                reader.problem("node name '\(name)' is used twice", at: node.keyMark("name"))
            }
            if nodes.contains(where: { $0.id == NodeID(id) }) {
                reader.problem("node id \(id) is used twice", at: node.keyMark("id"))
            }
            nodes.append(NodeConfig(id: NodeID(id), name: name))
        }
        if nodes.count != 2 && !nodes.isEmpty {
            reader.problem("a servha cluster has exactly 2 nodes (found \(nodes.count))", at: root.keyMark("nodes"))
        }
        func nodeID(_ name: String, at mark: Mark?, what: String) -> NodeID? {
            if let node = nodes.first(where: { $0.name == name }) { return node.id }
            reader.problem(
                "\(what) '\(name)' is not one of the nodes (\(nodes.map(\.name).joined(separator: ", ")))",
                at: mark
            )
            return nil
        }
        var thisNode: NodeID?
        let named = root.string("this_node")
        if let name = override ?? named {
            thisNode = nodeID(name, at: root.keyMark("this_node"), what: "this_node")
        } else {
            let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
            thisNode = nodes.first { $0.name == host }?.id
            if thisNode == nil {
                reader.problem("set 'this_node' (this host's name '\(host)' is not one of the nodes)", at: root.mark)
            }
        }

        // The timing profile gives the defaults of the heartbeat and lease timings; keys set below override it.
        let profile = TimingProfile(rawValue: root.oneOf("profile", TimingProfile.allCases.map(\.rawValue), default: "default")) ?? .standard

        // Heartbeats.
        var channels: [ChannelEndpoint] = []
        var keyFile = ""
        var interval = profile.heartbeatInterval
        var deadline = profile.channelDeadline
        if let heartbeat = root.map("heartbeat", required: true) {
            interval = heartbeat.duration("interval", default: interval)
            deadline = heartbeat.duration("deadline", default: deadline)
            keyFile = heartbeat.string("key_file", required: true) ?? ""
            for item in heartbeat.sequence("channels", required: true) {
                guard let channel = YAMLMap(item, path: "heartbeat.channels[]", reader: reader, at: item.mark) else {
                    continue
                }
                let name = channel.string("name", required: true) ?? ""
                let port = channel.int("port", required: true, range: 1...65_535) ?? 0
                var addresses: [NodeID: String] = [:]
                for (node, address, mark) in channel.stringMap("addresses") {
                    if let id = nodeID(node, at: mark, what: "address for node") { addresses[id] = address }
                }
                for node in nodes where addresses[node.id] == nil {
                    reader.problem(
                        "channel '\(name)' has no address for node '\(node.name)'",
                        at: channel.keyMark("addresses")
                    )
                }
                channel.finish()
                if channels.contains(where: { $0.name == name }) {
                    reader.problem("channel name '\(name)' is used twice", at: channel.keyMark("name"))
                }
                channels.append(ChannelEndpoint(name: name, port: UInt16(port), addresses: addresses))
            }
            if channels.count < 2 && heartbeat.node("channels") != nil {
                reader.problem(
                    "at least 2 heartbeat channels (separate network paths) are needed (found \(channels.count))",
                    at: heartbeat.keyMark("channels")
                )
            }
            if deadline < 2 * interval {
                reader.problem(
                    "heartbeat.deadline (\(DurationText.render(deadline))) must be at least twice heartbeat.interval (\(DurationText.render(interval)))",
                    at: heartbeat.keyMark("deadline")
                )
            }
            heartbeat.finish()
        }

        // Lease.
        var leaseDuration = profile.leaseDuration
        var margin = profile.safetyMargin
        var diskOnlyLease = ConfigDefaults.diskOnlyLease
        if let lease = root.map("lease") {
            leaseDuration = lease.duration("duration", default: leaseDuration)
            margin = lease.duration("safety_margin", default: margin)
            diskOnlyLease = lease.duration("disk_only_duration", default: diskOnlyLease)
            if diskOnlyLease < leaseDuration {
                reader.problem(
                    "lease.disk_only_duration (\(DurationText.render(diskOnlyLease))) must be at least lease.duration (\(DurationText.render(leaseDuration)))",
                    at: lease.keyMark("disk_only_duration")
                )
            }
            if margin == 0 || margin * 2 >= leaseDuration {
                reader.problem(
                    "lease.safety_margin must be positive and less than half of lease.duration",
                    at: lease.keyMark("safety_margin")
                )
            } else if leaseDuration - margin <= interval {
                reader.problem(
                    "lease.duration minus lease.safety_margin must exceed heartbeat.interval",
                    at: lease.keyMark("duration")
                )
            }
            lease.finish()
        }

        // A directory both hosts mount (NFS, a cluster filesystem), or `{ device: PATH }`: a small raw LUN both
        // hosts see, laid out by `servha disk init`.
        var sharedStorage = SharedStorage.directory("")
        if case .mapping? = root.node("shared_storage") {
            if let section = root.map("shared_storage") {
                if let device = section.string("device", required: true) { sharedStorage = .device(device) }
                section.finish()
            }
        } else if let directory = root.string("shared_storage", required: true) {
            sharedStorage = .directory(directory)
        }

        var arbitrator: ArbitratorConfig?
        if let section = root.map("arbitrator") {
            if let address = section.string("address", required: true) {
                arbitrator = ArbitratorConfig(
                    address: address,
                    interval: section.duration("interval", default: ConfigDefaults.arbitratorInterval),
                    timeout: section.duration("timeout", default: ConfigDefaults.arbitratorTimeout)
                )
            }
            section.finish()
        }

        var failbackMode = FailbackMode.manual
        var preferred: NodeID?
        var stability = ConfigDefaults.failbackStability
        if let failback = root.map("failback") {
            switch failback.oneOf("mode", ["auto", "manual", "never"], default: "manual") {
            case "auto": failbackMode = .auto
            case "never": failbackMode = .never
            default: failbackMode = .manual
            }
            if let name = failback.string("preferred_node") {
                preferred = nodeID(name, at: failback.keyMark("preferred_node"), what: "preferred_node")
            }
            stability = failback.duration("stability", default: stability)
            if failbackMode == .auto && preferred == nil && failback.node("preferred_node") == nil {
                reader.problem("failback mode auto needs failback.preferred_node", at: failback.keyMark("mode"))
            }
            failback.finish()
        }

        var maxRestarts = ConfigDefaults.maxLocalRestarts
        var restartWindow = ConfigDefaults.restartWindow
        if let restart = root.map("restart") {
            maxRestarts = restart.int("max_local", default: maxRestarts, range: 0...100) ?? maxRestarts
            restartWindow = restart.duration("window", default: restartWindow)
            restart.finish()
        }

        var resources: [ResourceSpec] = []
        let resourceItems = root.sequence("resources", required: true)
        for item in resourceItems {
            if let resource = readResource(item, nodes: nodes, reader: reader) {
                if resources.contains(where: { $0.name == resource.name }) {
                    reader.problem("resource name '\(resource.name)' is used twice", at: item.mark)
                }
                resources.append(resource)
            }
        }

        if resourceItems.isEmpty && root.node("resources") != nil {
            reader.problem("the group needs at least one resource", at: root.keyMark("resources"))
        }
        resolveAliasAddresses(&resources, nodes: nodes, reader: reader, at: root.keyMark("resources"))

        var alarms: [AlarmSink] = []
        for item in root.sequence("alarms") {
            guard let alarm = YAMLMap(item, path: "alarms[]", reader: reader, at: item.mark) else { continue }
            switch alarm.oneOf("type", ["exec", "webhook"], default: "exec") {
            case "webhook":
                if let url = alarm.string("url", required: true) {
                    if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                        reader.problem("alarms[].url must start with http:// or https://", at: alarm.keyMark("url"))
                    }
                    alarms.append(
                        .webhook(
                            url: url,
                            retries: alarm.int("retries", default: 5, range: 0...100) ?? 5,
                            timeout: alarm.duration("timeout", default: 5_000_000_000)
                        )
                    )
                }
            default:
                if let command = alarm.string("command", required: true) { alarms.append(.exec(command: command)) }
            }
            alarm.finish()
        }

        let logDirectory = root.string("log_dir", default: ConfigDefaults.logDirectory) ?? ConfigDefaults.logDirectory
        let adminSocket = root.string("admin_socket", default: ConfigDefaults.adminSocket) ?? ConfigDefaults.adminSocket
        var fencing: FenceSpec?
        if let section = root.map("fencing") {
            let agent = section.string("agent", required: true) ?? ""
            let action = section.oneOf("action", FenceSpec.actions, default: "off")
            let timeout = section.duration("timeout", default: ConfigDefaults.fenceTimeout)
            let retry = section.duration("retry", default: ConfigDefaults.fenceRetry)
            var perNode: [String: [String: String]] = [:]
            var locations: [String: String] = [:]
            if let nodesSection = section.map("nodes", required: true) {
                for entry in nodesSection.keys {
                    guard nodes.contains(where: { $0.name == entry.key }) else {
                        reader.problem("fencing.nodes.\(entry.key): not a node of this cluster", at: entry.keyMark)
                        _ = nodesSection.node(entry.key)
                        continue
                    }
                    var parameters: [String: String] = [:]
                    for (key, value, mark) in nodesSection.stringMap(entry.key) {
                        if key == "action" {
                            reader.problem("fencing.nodes.\(entry.key).action: set the action with fencing.action", at: mark)
                        }
                        parameters[key] = value
                    }
                    perNode[entry.key] = parameters
                    locations[entry.key] = "\(reader.file):\(entry.keyMark?.line ?? 1):\(entry.keyMark?.column ?? 1)"
                }
                for node in nodes where perNode[node.name] == nil {
                    reader.problem("fencing.nodes: no fence parameters for node \(node.name)", at: nodesSection.mark)
                }
                nodesSection.finish()
            }
            if !agent.isEmpty {
                var spec = FenceSpec(agent: agent, action: action, timeout: timeout, retry: retry, nodes: perNode)
                spec.locations = locations
                if spec.executable == nil {
                    reader.problem(
                        "fencing.agent: no fence agent '\(agent)' (looked in \(FenceSpec.searchPath.joined(separator: ", ")); Debian: apt-get install fence-agents)",
                        at: section.node("agent")?.mark
                    )
                }
                fencing = spec
            }
            section.finish()
        }

        // The guard's hardware watchdog: /dev/watchdog when the host has one (auto), none (off), or a device.
        var watchdog: String? = FileManager.default.fileExists(atPath: ConfigDefaults.watchdog) ? ConfigDefaults.watchdog : nil
        var watchdogTimeout: Int32 = 10
        if let section = root.map("guard") {
            switch section.string("watchdog", default: "auto") ?? "auto" {
            case "auto": break
            case "off": watchdog = nil
            case let path:
                if !FileManager.default.fileExists(atPath: path) {
                    reader.problem("guard.watchdog: no watchdog device \(path)", at: section.node("watchdog")?.mark)
                }
                watchdog = path
            }
            let seconds = section.duration("watchdog_timeout", default: 10_000_000_000) / 1_000_000_000
            if seconds < 2 || seconds > 600 {
                reader.problem("guard.watchdog_timeout must be between 2s and 10m", at: section.keyMark("watchdog_timeout"))
            }
            watchdogTimeout = Int32(clamping: seconds)
            section.finish()
        }

        // Real-time priority and locked memory for the heartbeat and lease path (on unless switched off).
        var realtime = RealtimeSettings.default
        if let section = root.map("realtime") {
            if let text = section.string("priority") {
                if text == "off" {
                    realtime.priority = nil
                } else if let priority = Int32(text), (1...99).contains(priority) {
                    realtime.priority = priority
                } else {
                    reader.problem(
                        "'realtime.priority' must be off or a whole number from 1 to 99 (found '\(text)')",
                        at: section.node("priority")?.mark
                    )
                }
            }
            realtime.lockMemory = section.oneOf("lock_memory", ["true", "false"], default: "false") == "true"
            section.finish()
        }

        // The log: how long its sealed segments are kept, and the archive they go to first.
        var retention = LogRetentionSettings.default
        if let section = root.map("log") {
            if let limits = section.map("retention") {
                retention.maxAge = limits.duration("max_age", default: retention.maxAge)
                if retention.maxAge < 3_600_000_000_000 {
                    reader.problem("log.retention.max_age must be at least 1h", at: limits.node("max_age")?.mark)
                }
                if let text = limits.string("max_bytes") {
                    if text.hasSuffix("%"), let percent = UInt64(text.dropLast()), (1...90).contains(percent) {
                        retention.maxBytes = .share(percent: percent)
                    } else if let bytes = ByteText.parse(text), bytes >= 64 << 20 {
                        retention.maxBytes = .bytes(bytes)
                    } else {
                        reader.problem(
                            "log.retention.max_bytes must be a size of at least 64MiB (like 8GiB or 500MB) or a share of the file system from 1% to 90% (like 25%) (found '\(text)')",
                            at: limits.node("max_bytes")?.mark
                        )
                    }
                }
                limits.finish()
            }
            if let command = section.string("archive_command") {
                if !command.contains("%p") && !command.contains("%f") {
                    reader.problem(
                        "log.archive_command must name the segment with %p (its path) or %f (its file name)",
                        at: section.node("archive_command")?.mark
                    )
                }
                retention.archiveCommand = command
            }
            section.finish()
        }

        // The read-only console: off unless the section is there.
        var http: HTTPSettings?
        if let section = root.map("http") {
            var settings = HTTPSettings()
            if let text = section.string("listen") {
                if let (host, port) = HTTPSettings.parseListen(text) {
                    settings.host = host
                    settings.port = port
                } else {
                    reader.problem(
                        "http.listen must be HOST:PORT, [IPV6]:PORT or a port (like 127.0.0.1:7480) (found '\(text)')",
                        at: section.node("listen")?.mark
                    )
                }
            }
            if let token = section.string("token_file") {
                let mark = section.node("token_file")?.mark
                settings.tokenFile = token
                settings.tokenFileLocation = "\(reader.file):\(mark?.line ?? 1):\(mark?.column ?? 1)"
            }
            if let tls = section.map("tls") {
                let certificate = tls.string("certificate", required: true)
                let key = tls.string("key", required: true)
                let mark = section.node("tls")?.mark
                if let certificate, let key {
                    settings.tls = HTTPSettings.TLSFiles(
                        certificate: certificate, key: key, location: "\(reader.file):\(mark?.line ?? 1):\(mark?.column ?? 1)"
                    )
                }
                tls.finish()
            }
            section.finish()
            http = settings
        }

        guard let thisNode, !nodes.isEmpty else { return nil }
        var cluster = ClusterConfig(
            cluster: clusterName,
            nodes: nodes,
            networkChannels: channels.map(\.name),
            resources: resources.map { ResourceConfig(name: $0.name) }
        )
        cluster.heartbeatInterval = interval
        cluster.channelDeadline = deadline
        cluster.leaseDuration = leaseDuration
        cluster.diskOnlyLease = diskOnlyLease
        cluster.safetyMargin = margin
        cluster.preferredNode = preferred
        cluster.failback = failbackMode
        cluster.failbackStability = stability
        cluster.maxLocalRestarts = maxRestarts
        cluster.restartWindow = restartWindow
        cluster.arbitrator = arbitrator != nil
        cluster.fencing = fencing != nil
        if let fencing { cluster.fenceRetry = fencing.retry }
        cluster.alarmSinks = alarms.count
        if reader.problems.isEmpty {
            for problem in cluster.problems() { reader.problem(problem, at: root.mark) }
        }
        return DaemonConfig(
            cluster: cluster,
            thisNode: thisNode,
            channels: channels,
            keyFile: keyFile,
            sharedStorage: sharedStorage,
            arbitrator: arbitrator,
            resources: resources,
            alarms: alarms,
            logDirectory: logDirectory,
            adminSocket: adminSocket,
            fencing: fencing,
            watchdog: watchdog,
            watchdogTimeout: watchdogTimeout,
            profile: profile,
            realtime: realtime,
            retention: retention,
            http: http
        )
    }

    private static func readResource(_ item: Node, nodes: [NodeConfig], reader: YAMLReader) -> ResourceSpec? {
        guard let map = YAMLMap(item, path: "resources[]", reader: reader, at: item.mark) else { return nil }
        defer { map.finish() }
        let name = map.string("name", required: true) ?? ""
        let type = map.oneOf("type", ["vip", "script", "ocf", "dns"], default: "script")
        var timeouts = (
            start: ConfigDefaults.startTimeout, stop: ConfigDefaults.stopTimeout, monitor: ConfigDefaults.monitorTimeout
        )
        if let section = map.map("timeouts") {
            timeouts.start = section.duration("start", default: timeouts.start)
            timeouts.stop = section.duration("stop", default: timeouts.stop)
            timeouts.monitor = section.duration("monitor", default: timeouts.monitor)
            section.finish()
        }
        let monitorInterval = map.duration("monitor_interval", default: ConfigDefaults.monitorInterval)
        let kind: ResourceKind
        switch type {
        case "vip":
            guard let address = map.string("address", required: true) else { return nil }
            let parts = address.split(separator: "/")
            guard parts.count == 2, let prefix = Int(parts[1]), (1...32).contains(prefix), isIPv4(String(parts[0]))
            else {
                reader.problem(
                    "resources[].address must be an IPv4 address with a prefix length, like 192.0.2.100/24",
                    at: map.keyMark("address")
                )
                return nil
            }
            kind = .vip(
                address: String(parts[0]),
                prefixLength: prefix,
                interface: map.string("interface", required: true) ?? "",
                garpCount: map.int("garp_count", default: ConfigDefaults.garpCount, range: 1...100)
                    ?? ConfigDefaults.garpCount,
                garpInterval: map.duration("garp_interval", default: ConfigDefaults.garpInterval)
            )
        case "ocf":
            guard let agent = map.string("agent", required: true) else { return nil }
            if agent.split(separator: "/").count != 2 {
                reader.problem(
                    "resources[].agent must be PROVIDER/TYPE, like heartbeat/pgsql",
                    at: map.keyMark("agent")
                )
            }
            var parameters: [String: String] = [:]
            for (key, value, _) in map.stringMap("params") { parameters[key] = value }
            kind = .ocf(agent: agent, parameters: parameters)
        case "dns":
            guard let alias = readAlias(map, nodes: nodes, reader: reader) else { return nil }
            kind = .dns(alias)
        default:
            let start = map.string("start", required: true)
            let stop = map.string("stop", required: true)
            let monitor = map.string("monitor", required: true)
            guard let start, let stop, let monitor else { return nil }
            kind = .script(start: start, stop: stop, monitor: monitor)
        }
        return ResourceSpec(
            name: name,
            kind: kind,
            startTimeout: timeouts.start,
            stopTimeout: timeouts.stop,
            monitorTimeout: timeouts.monitor,
            monitorInterval: monitorInterval
        )
    }

    /// A `dns` resource's keys. The addresses of `address: vip` are filled in once every resource is read.
    private static func readAlias(_ map: YAMLMap, nodes: [NodeConfig], reader: YAMLReader) -> DNSAliasSpec? {
        let serverText = map.string("server", required: true)
        let zoneText = map.string("zone", required: true)
        // `hostname`, not `name`: that key is the resource's own name.
        let nameText = map.string("hostname", required: true)
        let addressText = map.string("address", required: true)
        let keyFile = map.string("key_file", required: true)
        let ttlNanos = map.duration("ttl", default: 5_000_000_000)
        let onStop = DNSAliasSpec.OnStop(rawValue: map.oneOf("on_stop", ["keep", "remove"], default: "keep")) ?? .keep
        var addresses: [String: String] = [:]
        var addressMarks: [String: Mark?] = [:]
        let hasAddresses = map.node("addresses") != nil
        for (node, address, mark) in map.stringMap("addresses") {
            if !nodes.contains(where: { $0.name == node }) {
                reader.problem("resources[].addresses.\(node): not a node of this cluster", at: mark)
            } else if DNSAddress(address) == nil {
                reader.problem("resources[].addresses.\(node): '\(address)' is not an IPv4 or IPv6 address", at: mark)
            }
            addresses[node] = address
            addressMarks[node] = mark
        }
        guard let serverText, let zoneText, let nameText, let addressText, let keyFile else { return nil }
        guard let server = DNSServerAddress(serverText) else {
            reader.problem(
                "resources[].server must be an IP address with an optional port, like 192.0.2.53 or 192.0.2.53:5353 (found '\(serverText)')",
                at: map.node("server")?.mark
            )
            return nil
        }
        var problem = ""
        guard let zone = DNSName(zoneText, problem: &problem) else {
            reader.problem("resources[].zone: \(problem)", at: map.node("zone")?.mark)
            return nil
        }
        guard let name = DNSName(nameText, problem: &problem) else {
            reader.problem("resources[].hostname: \(problem)", at: map.node("hostname")?.mark)
            return nil
        }
        if !name.isWithin(zone) {
            reader.problem("resources[].hostname: \(name) is not in the zone \(zone)", at: map.node("hostname")?.mark)
        }
        let ttl = ttlNanos / 1_000_000_000
        if ttlNanos % 1_000_000_000 != 0 || ttl > 86_400 {
            reader.problem("resources[].ttl must be whole seconds from 0s to 1d (DNS counts TTLs in seconds)", at: map.node("ttl")?.mark)
        }
        let mode: DNSAliasSpec.AddressMode
        switch addressText {
        case "self":
            mode = .perNode
            if !hasAddresses {
                reader.problem("resources[].address: self needs 'addresses:' with each node's address", at: map.keyMark("address"))
            }
            for node in nodes where hasAddresses && addresses[node.name] == nil {
                reader.problem("resources[].addresses: no address for node \(node.name)", at: map.keyMark("addresses"))
            }
        case "vip":
            mode = .vip(resource: "")
        case let other where other.hasPrefix("vip:"):
            mode = .vip(resource: String(other.dropFirst(4)))
        default:
            reader.problem(
                "resources[].address must be vip (the group's VIP), vip:RESOURCE, or self (with addresses:) (found '\(addressText)')",
                at: map.node("address")?.mark
            )
            return nil
        }
        if case .vip = mode, hasAddresses {
            reader.problem("resources[].addresses: only with address: self (address: vip uses the VIP's)", at: map.keyMark("addresses"))
        }
        let mark = map.node("key_file")?.mark
        return DNSAliasSpec(
            server: server, zone: zone, name: name, mode: mode, addresses: addresses, ttl: UInt32(min(ttl, 86_400)),
            keyFile: keyFile, onStop: onStop,
            keyFileLocation: "\(reader.file):\(mark?.line ?? 1):\(mark?.column ?? 1)"
        )
    }

    /// Gives each `address: vip` alias the VIP's address for every node: the named VIP resource, or the group's
    /// only one.
    private static func resolveAliasAddresses(
        _ resources: inout [ResourceSpec], nodes: [NodeConfig], reader: YAMLReader, at mark: Mark?
    ) {
        let vips = resources.compactMap { spec -> (name: String, address: String)? in
            if case .vip(let address, _, _, _, _) = spec.kind { return (spec.name, address) }
            return nil
        }
        for index in resources.indices {
            guard case .dns(var alias) = resources[index].kind, case .vip(let wanted) = alias.mode else { continue }
            let named = resources[index].name
            let vip: (name: String, address: String)?
            if wanted.isEmpty {
                guard vips.count == 1 else {
                    reader.problem(
                        "resource \(named): address: vip needs exactly one vip resource in the group (found \(vips.count)); name one with vip:RESOURCE",
                        at: mark
                    )
                    continue
                }
                vip = vips[0]
            } else {
                vip = vips.first { $0.name == wanted }
                if vip == nil {
                    reader.problem("resource \(named): address: vip:\(wanted): no vip resource named \(wanted)", at: mark)
                    continue
                }
            }
            guard let vip else { continue }
            for node in nodes { alias.addresses[node.name] = vip.address }
            resources[index].kind = .dns(alias)
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                guard let value = Int(part), !part.isEmpty, part.count <= 3 else { return false }
                return (0...255).contains(value)
            }
    }

    // MARK: - YAML errors

    private static func yamlMark(_ error: YamlError) -> Mark? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark
        default: nil
        }
    }

    private static func yamlMessage(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            return "not valid YAML: \(problem)" + (context.map { " (\($0.text))" } ?? "")
        case .reader(let problem, let offset, _, _):  // its description is several lines, with a snippet
            return "not valid YAML: \(problem)" + (offset.map { " (at character \($0))" } ?? "")
        default:
            return "not valid YAML: \(error)"
        }
    }
}

/// Named sets of heartbeat and lease timings (`profile:` in the file); the keys of `heartbeat:` and `lease:`
/// override single values.
public enum TimingProfile: String, Sendable, Hashable, CaseIterable {
    /// Host death to VIP in about 190 ms.
    case standard = "default"
    /// Host death to VIP in under 100 ms; needs the real-time scheduling that is on by default (`realtime:`),
    /// or a loaded host misses its 60 ms lease.
    case fast

    public var heartbeatInterval: UInt64 { self == .fast ? 10_000_000 : ConfigDefaults.heartbeatInterval }
    public var channelDeadline: UInt64 { self == .fast ? 40_000_000 : ConfigDefaults.channelDeadline }
    public var leaseDuration: UInt64 { self == .fast ? 60_000_000 : ConfigDefaults.leaseDuration }
    public var safetyMargin: UInt64 { self == .fast ? 20_000_000 : ConfigDefaults.safetyMargin }
}

/// The defaults, and why (the README's configuration reference repeats them).
public enum ConfigDefaults {
    /// Short, so that the active sees several heartbeat echoes within its lease even with lost packets.
    public static let heartbeatInterval: UInt64 = 20_000_000
    /// Five intervals: one or two lost heartbeats never mark a channel down.
    public static let channelDeadline: UInt64 = 100_000_000
    /// A dead host's group moves after lease + margin + one interval, about 190 ms.
    public static let leaseDuration: UInt64 = 130_000_000
    /// The active stops this long before its lease runs out; the standby waits as long after.
    public static let safetyMargin: UInt64 = 40_000_000
    /// While the peer is silent on every network channel: a slot write may take seconds (a busy disk, a SAN path
    /// failover) without costing the survivor its group; a failover after a partition waits as long.
    public static let diskOnlyLease: UInt64 = 3_000_000_000
    /// Powering a host off through its BMC takes about half a second to a few seconds.
    public static let fenceTimeout: UInt64 = 60_000_000_000
    /// Fed by the guard when the host has it (a BMC's watchdog, or the softdog module).
    public static let watchdog = "/dev/watchdog"
    /// A fence that failed is tried again this much later (never a takeover meanwhile).
    public static let fenceRetry: UInt64 = 5_000_000_000
    public static let arbitratorInterval: UInt64 = 1_000_000_000
    public static let arbitratorTimeout: UInt64 = 500_000_000
    /// Long enough that a node which keeps failing does not get the group back at once.
    public static let failbackStability: UInt64 = 300_000_000_000
    public static let maxLocalRestarts = 3
    public static let restartWindow: UInt64 = 600_000_000_000
    public static let startTimeout: UInt64 = 60_000_000_000
    public static let stopTimeout: UInt64 = 60_000_000_000
    public static let monitorTimeout: UInt64 = 20_000_000_000
    public static let monitorInterval: UInt64 = 10_000_000_000
    public static let garpCount = 5
    public static let garpInterval: UInt64 = 200_000_000
    public static let logDirectory = "/var/lib/servha/log"
    public static let adminSocket = "/run/servha/admin.sock"
}
