import Coordinator
import EventLog
import Foundation
import Glibc
import Runtime
import Testing

/// Two real daemons on loopback: two heartbeat channels on distinct ports, shared storage in a temporary
/// directory, and a `script` resource that runs a small TCP server. The VIP is not part of this cluster (its
/// real move is tested end to end in network namespaces); the service binds 127.0.0.3, which only one node
/// can hold at a time, as a VIP would.
final class LoopbackCluster {
    let root: String
    let servicePort: Int
    let channelPorts: (Int, Int)
    var processes: [String: Process] = [:]
    /// The file standing in for a shared LUN (`shared_storage: { device: }`), or nil: a shared directory.
    var device: String?

    /// - Parameter onDevice: the slots and the log areas on a shared LUN (a file laid out by `servha disk init`)
    ///   instead of a shared directory.
    init(onDevice: Bool = false) throws {
        root = NSTemporaryDirectory() + "servha-cluster-\(getpid())-\(Int.random(in: 0...999_999))"
        try FileManager.default.createDirectory(atPath: root + "/shared", withIntermediateDirectories: true)
        let base = 20_000 + Int.random(in: 0...20_000)
        channelPorts = (base, base + 1)
        servicePort = base + 2
        if onDevice {
            let path = root + "/lun.img"
            _ = FileManager.default.createFile(atPath: path, contents: Data(count: 16 << 20))
            let laidOut = try servha(["disk", "init", path, "--cluster", "loop"])
            guard laidOut.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["why": laidOut.stderr]) }
            device = path
        } else {
            device = nil
        }
        let key = (0..<48).map { _ in UInt8.random(in: 0...255) }
        _ = FileManager.default.createFile(
            atPath: root + "/key",
            contents: Data(key),
            attributes: [.posixPermissions: 0o600]
        )
        for node in ["node-a", "node-b"] {
            try config(for: node).write(toFile: root + "/\(node).yaml", atomically: true, encoding: .utf8)
        }
    }

    /// The configuration of `node`. On the channels in `cut`, each node sends to an address where its peer does
    /// not listen: those paths are broken in both directions, as a cut cable would be.
    func config(
        for node: String,
        cut: Set<String> = [],
        failback: String = "manual",
        slowMonitor: Bool = false,
        extra: String = ""
    ) -> String {
        let monitorDelay = slowMonitor ? "sleep 4; " : ""
        let aFor = { (channel: String) in node == "node-b" && cut.contains(channel) ? "127.0.0.9" : "127.0.0.1" }
        let bFor = { (channel: String) in node == "node-a" && cut.contains(channel) ? "127.0.0.8" : "127.0.0.2" }
        return """
            cluster: loop
            this_node: \(node)
            nodes:
              - { name: node-a, id: 1 }
              - { name: node-b, id: 2 }
            heartbeat:
              key_file: \(root)/key
              channels:
                - { name: lan, port: \(channelPorts.0), addresses: { node-a: \(aFor("lan")), node-b: \(bFor("lan")) } }
                - { name: backup, port: \(channelPorts.1), addresses: { node-a: \(aFor("backup")), node-b: \(bFor("backup")) } }
            shared_storage: \(device.map { "{ device: \($0) }" } ?? root + "/shared")
            failback: { mode: \(failback), preferred_node: node-a, stability: 1s }
            resources:
              - name: web
                type: script
                start: "sh -c 'python3 -m http.server \(servicePort) --bind 127.0.0.3 >/dev/null 2>&1 & echo $! > \(root)/\(node).pid; sleep 0.5; kill -0 $(cat \(root)/\(node).pid)'"
                stop: "sh -c 'test -f \(root)/\(node).pid && kill $(cat \(root)/\(node).pid) 2>/dev/null; rm -f \(root)/\(node).pid; true'"
                monitor: "sh -c '\(monitorDelay)test -f \(root)/\(node).pid && kill -0 $(cat \(root)/\(node).pid) 2>/dev/null || exit 3'"
                timeouts: { start: 10s, stop: 10s, monitor: 5s }
                monitor_interval: 1s
            alarms:
              - { type: exec, command: "sh -c 'sleep ${SERVHA_TEST_ALARM_DELAY:-0}; echo $SERVHA_ALARM_STATE $SERVHA_ALARM_KIND >> \(root)/\(node)-alarms.txt'" }
            log_dir: \(root)/\(node)-log
            admin_socket: \(root)/\(node).sock
            \(extra)
            """
    }

    func start(_ node: String, environment: [String: String] = [:]) throws {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = URL(fileURLWithPath: try servhaBinary())
        process.arguments = ["daemon", "--config", root + "/\(node).yaml", "--dry-run-vip"]
        let log =
            FileHandle(forWritingAtPath: root + "/\(node).out")
            ?? {
                _ = FileManager.default.createFile(atPath: root + "/\(node).out", contents: nil)
                return FileHandle(forWritingAtPath: root + "/\(node).out")!
            }()
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        processes[node] = process
    }

    /// SIGKILL of the daemon and of the service it started: the host died.
    func killHost(_ node: String) {
        if let process = processes[node] {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if let pid = try? String(contentsOfFile: root + "/\(node).pid", encoding: .utf8),
            let value = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(value, SIGKILL)
        }
    }

    func status(_ node: String) -> String {
        (try? servha(["status", "--json", "--socket", root + "/\(node).sock"]).stdout) ?? ""
    }

    /// The node's own role from its status (not its view of the peer).
    func role(_ node: String) -> String? {
        guard let data = status(node).data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["role"] as? String
    }

    /// The status of the node's first resource, as the node sees it.
    func resourceStatus(_ node: String) -> String? {
        guard let data = status(node).data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let resources = object["resources"] as? [[String: Any]]
        else { return nil }
        return resources.first?["status"] as? String
    }

    /// The node's view of its peer's health.
    func peerHealthy(_ node: String) -> Bool {
        guard let data = status(node).data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let peer = object["peer"] as? [String: Any]
        else { return false }
        return peer["healthy"] as? Bool == true && peer["heard"] as? Bool == true
    }

    func admin(_ node: String, _ verb: [String]) throws -> Outcome {
        try servha(verb + ["--socket", root + "/\(node).sock"])
    }

    /// Waits (polling, with a deadline) until `condition` holds.
    func waitUntil(_ what: String, seconds: Double = 20, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return false
    }

    func serviceAnswers() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(servicePort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.3")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    /// Samples `node`'s status every 100 ms for `seconds`: it stays standby, every channel up (and whatever
    /// `check` asks of each channel); returns the longest it had not heard its peer on some channel, in ms.
    func worstHeard(by node: String, seconds: Double, check: ([String: Any]) -> Void) -> Int {
        let until = Date().addingTimeInterval(seconds)
        var worst = 0
        while Date() < until {
            if let data = status(node).data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let channels = object["channels"] as? [[String: Any]]
            {
                for channel in channels {
                    #expect(channel["up"] as? Bool == true, "\(channel)")
                    check(channel)
                    worst = max(worst, channel["last_heard_ms_ago"] as? Int ?? 0)
                }
            }
            #expect(role(node) == "standby")
            usleep(100_000)
        }
        return worst
    }

    func output(_ node: String) -> String {
        (try? String(contentsOfFile: root + "/\(node).out", encoding: .utf8)) ?? ""
    }

    func tearDown() {
        for node in processes.keys { killHost(node) }
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite(.serialized) struct DaemonProcessTests {
    @Test func killNineOfTheActiveMovesTheServiceToTheStandby() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(
            cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() },
            "\(cluster.output("node-a"))"
        )
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("node-b standby") { cluster.role("node-b") == "standby" && cluster.peerHealthy("node-b") }
        )
        let before = Date()
        cluster.killHost("node-a")
        #expect(
            cluster.waitUntil("node-b active") { cluster.role("node-b") == "active" && cluster.serviceAnswers() },
            "\(cluster.output("node-b"))"
        )
        let took = Date().timeIntervalSince(before)
        #expect(took < 10, "took over in \(took) s")
        let status = cluster.status("node-b")
        #expect(status.contains("\"kind\":\"took-over\""))
        #expect(status.contains("\"kind\":\"peer-lost\""))
    }

    /// Heartbeats and renewals run at real-time priority with locked memory (the default); what the daemon starts
    /// (the service here) runs at normal priority, and the guard one above the daemon.
    @Test(.enabled(if: getuid() == 0, "SCHED_RR and mlockall need root: NOT CHECKED on this machine"))
    func theDaemonRunsAtRealTimePriorityAndWhatItStartsDoesNot() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
        let status = cluster.status("node-a")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        let realtime = try #require(object["realtime"] as? [String: Any], "\(status)")
        let threads = try #require(realtime["threads"] as? Int)
        #expect(threads > 1)
        #expect(realtime["realtime_threads"] as? Int == threads, "\(realtime)")
        #expect(realtime["priority"] as? Int == Int(RealtimeSettings.defaultPriority))
        #expect(realtime["memory_locked"] as? Bool == false, "lock_memory is off by default")
        #expect((object["warnings"] as? [String])?.contains { $0.contains("priority") } == false, "\(status)")

        let daemon = try #require(cluster.processes["node-a"]?.processIdentifier)
        let guardPID = try #require(childPIDs(of: daemon).first { commandLine($0).contains(" guard ") })
        #expect(RealtimeScheduling.policy(of: guardPID)?.policy == SCHED_RR)
        #expect(RealtimeScheduling.policy(of: guardPID)?.priority == RealtimeSettings.defaultPriority + 1)
        let servicePID = try #require(
            Int32(try String(contentsOfFile: cluster.root + "/node-a.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        )
        #expect(RealtimeScheduling.policy(of: servicePID)?.policy == SCHED_OTHER)
    }

    /// A daemon that stood still (here SIGSTOP for half a second) says so when it runs again, so that what follows
    /// (here a self-fence) does not read as a network or disk problem.
    @Test func aDaemonThatStoodStillSaysSo() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" })
        let daemon = try #require(cluster.processes["node-a"]?.processIdentifier)
        kill(daemon, SIGSTOP)
        usleep(500_000)
        kill(daemon, SIGCONT)
        #expect(
            cluster.waitUntil("the stall noted") { cluster.output("node-a").contains("the heartbeat loop did not run for") },
            "\(cluster.output("node-a"))"
        )
        let line = cluster.output("node-a").split(separator: "\n").first { $0.contains("did not run for") } ?? ""
        let millis = line.split(separator: " ").drop { $0 != "for" }.dropFirst().first.flatMap { Int($0) } ?? 0
        #expect(millis >= 450, "\(line)")
    }

    @Test func switchoverIsGracefulAndRefusalsAreExplained() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b standby") {
                cluster.role("node-a") == "active" && cluster.role("node-b") == "standby"
                    && cluster.peerHealthy("node-a") && cluster.serviceAnswers()
            },
            "\(cluster.output("node-a"))\n\(cluster.output("node-b"))"
        )
        let refused = try cluster.admin("node-b", ["switchover"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("switchover runs on the active node"))
        let accepted = try cluster.admin("node-a", ["switchover"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(cluster.waitUntil("b active") { cluster.role("node-b") == "active" && cluster.serviceAnswers() })
        #expect(cluster.role("node-a") == "standby")
        let bad = try servha(["status", "--socket", cluster.root + "/nowhere.sock"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("cannot reach the servha daemon"))
    }

    @Test func forgedAndReplayedHeartbeatsAreRejectedAndCounted() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" })
        // Garbage, a packet with a bad HMAC (right magic, wrong key), and a truncated one, from 127.0.0.2.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var from = sockaddr_in()
        from.sin_family = sa_family_t(AF_INET)
        from.sin_addr.s_addr = inet_addr("127.0.0.2")
        _ = withUnsafePointer(to: &from) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(cluster.channelPorts.0).bigEndian)
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        // A genuine packet from node-b (the test knows the cluster key), sent twice: the copy is a replay.
        let key = Array(FileManager.default.contents(atPath: cluster.root + "/key") ?? Data())
        let sealer = HeartbeatAuthenticator(key: key, cluster: "loop", thisNode: 2, peer: 1, channelCount: 2)
        let genuine = sealer.seal(
            HeartbeatPacket(cluster: "loop", from: 2, channel: 0, sequence: 1_000, echo: 0, view: .unknown)
        )
        let forged: [[UInt8]] = [
            Array("hello".utf8),
            [0x53, 0x48, 1] + [UInt8](repeating: 7, count: 60),
            [0x53, 0x48],
            genuine,
            genuine,
        ]
        for packet in forged {
            _ = packet.withUnsafeBytes { bytes in
                withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
        #expect(
            cluster.waitUntil("rejections counted") {
                let status = cluster.status("node-a")
                return status.contains("bad magic") && status.contains("bad HMAC") && status.contains("truncated")
                    && status.contains("replayed heartbeat")
            },
            "\(cluster.status("node-a"))"
        )
        #expect(cluster.role("node-a") == "active", "forged packets change nothing")
    }

    @Test func aFailingMonitorRestartsLocallyThenTheGroupFailsOver() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b standby") {
                cluster.role("node-a") == "active" && cluster.peerHealthy("node-a")
                    && cluster.serviceAnswers()
            }
        )
        // Kill the service behind node-a's back, each time once node-a has it running again: 3 local restarts,
        // then the group fails over.
        for _ in 1...4 {
            guard
                cluster.waitUntil(
                    "web running on node-a",
                    {
                        (cluster.role("node-a") == "active" && cluster.resourceStatus("node-a") == "running")
                            || cluster.role("node-b") == "active"
                    }
                ), cluster.role("node-b") != "active"
            else { break }
            if let pid = try? String(contentsOfFile: cluster.root + "/node-a.pid", encoding: .utf8),
                let value = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                kill(value, SIGKILL)
            }
            _ = cluster.waitUntil("monitor notices") {
                cluster.resourceStatus("node-a") != "running" || cluster.role("node-b") == "active"
            }
        }
        #expect(
            cluster.waitUntil("node-b took over", seconds: 40) {
                cluster.role("node-b") == "active" && cluster.serviceAnswers()
            },
            "\(cluster.output("node-a"))"
        )
        #expect(cluster.output("node-a").contains("restart-resource"))
        #expect(cluster.status("node-a").contains("\"kind\":\"resource-failed\""))
    }

    /// One channel cut, then every network channel cut (a partition), with the shared storage alive.
    @Test(arguments: [["backup"], ["lan", "backup"]])
    func cutChannelsWithTheDiskAliveNeverMakeASecondActive(cut: [String]) throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        for node in ["node-a", "node-b"] {
            try cluster.config(for: node, cut: Set(cut)).write(
                toFile: cluster.root + "/\(node).yaml",
                atomically: true,
                encoding: .utf8
            )
        }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
        try cluster.start("node-b")
        #expect(cluster.waitUntil("node-b standby") { cluster.role("node-b") == "standby" })
        // Watch for three seconds (fifteen lease durations): node-b must never take the group.
        let until = Date().addingTimeInterval(3)
        var roles: Set<String> = []
        while Date() < until {
            roles.insert(cluster.role("node-b") ?? "?")
            #expect(cluster.role("node-a") == "active")
            usleep(100_000)
        }
        #expect(!roles.contains("active") && !roles.contains("acquiring"), "node-b roles seen: \(roles)")
        for node in ["node-a", "node-b"] {
            let status = cluster.status(node)
            for channel in cut {
                #expect(status.contains("{\"name\":\"\(channel)\",\"up\":false"), "\(node): \(status)")
            }
        }
    }

    @Test func aMalformedAdminRequestGetsAnErrorAndTheDaemonCarriesOn() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a up") { cluster.role("node-a") != nil })
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array((cluster.root + "/node-a.sock").utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in path.enumerated() { raw[i] = byte } }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        let garbage: [UInt8] = Array("\u{1}\u{2}drop table nodes;\n".utf8)
        _ = garbage.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buffer, buffer.count)
        let reply = String(decoding: buffer[0..<max(0, n)], as: UTF8.self)
        #expect(reply.hasPrefix("error: unknown request"))
        #expect(cluster.role("node-a") != nil, "the daemon still answers")
    }

    @Test func sighupReloadsAGoodConfigurationAndRefusesABadOne() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" })
        let pid = cluster.processes["node-a"]!.processIdentifier
        try "cluster: loop\nthis_node: [broken".write(
            toFile: cluster.root + "/node-a.yaml",
            atomically: true,
            encoding: .utf8
        )
        kill(pid, SIGHUP)
        #expect(cluster.waitUntil("refusal logged") { cluster.output("node-a").contains("reload refused") })
        #expect(cluster.role("node-a") == "active", "the old configuration stays in force")
        let changed = cluster.config(for: "node-a").replacingOccurrences(of: "mode: manual", with: "mode: never")
        try changed.write(toFile: cluster.root + "/node-a.yaml", atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(cluster.waitUntil("reloaded") { cluster.output("node-a").contains("configuration reloaded") })
        #expect(cluster.role("node-a") == "active")
    }

    @Test func sigtermHandsTheGroupOverAndExits() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b ready") {
                cluster.role("node-a") == "active" && cluster.peerHealthy("node-a") && cluster.serviceAnswers()
            }
        )
        let process = cluster.processes["node-a"]!
        kill(process.processIdentifier, SIGTERM)
        #expect(cluster.waitUntil("b took over") { cluster.role("node-b") == "active" && cluster.serviceAnswers() })
        #expect(cluster.waitUntil("a exited") { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }

    @Test(arguments: ["shared", "port", "script", "ocf"])
    func startupProblemsExitTwoNamingTheItem(problem: String) throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        var config = cluster.config(for: "node-a")
        var blocker: Int32 = -1
        switch problem {
        case "shared":
            config = config.replacingOccurrences(
                of: "shared_storage: \(cluster.root)/shared",
                with: "shared_storage: /nonexistent/servha-shared"
            )
        case "port":
            blocker = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(cluster.channelPorts.1).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case "ocf":
            config = config.replacingOccurrences(
                of: "resources:\n",
                with: "resources:\n  - { name: db, type: ocf, agent: heartbeat/nosuchagent }\n"
            )
        default:
            config = config.replacingOccurrences(of: "stop: \"sh -c", with: "stop: \"/nonexistent/stop-web -c")
        }
        defer { if blocker >= 0 { close(blocker) } }
        try config.write(toFile: cluster.root + "/node-a.yaml", atomically: true, encoding: .utf8)
        let result = try servha(["daemon", "--config", cluster.root + "/node-a.yaml", "--dry-run-vip"])
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("servha:") }
        #expect(lines.count == 1, "\(result.stderr)")
        switch problem {
        case "shared": #expect(lines.first?.contains("/nonexistent/servha-shared") == true)
        case "port":
            #expect(
                lines.first?.contains("heartbeat channel backup: cannot bind 127.0.0.1:\(cluster.channelPorts.1)")
                    == true
            )
        case "ocf":
            #expect(
                lines.first?.contains("resource db: OCF agent heartbeat/nosuchagent is not installed") == true,
                "\(lines)"
            )
        default: #expect(lines.first?.contains("resource web: stop command /nonexistent/stop-web") == true)
        }
        #expect(!FileManager.default.fileExists(atPath: cluster.root + "/node-a.sock"), "nothing half-started")
    }

    /// node-a (preferred) dies; node-b takes over; node-a comes back: auto fails back after the stability
    /// window, manual on `servha failback`, never not even then.
    @Test(arguments: ["auto", "manual", "never"])
    func failbackAfterRepairFollowsTheMode(mode: String) throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        for node in ["node-a", "node-b"] {
            try cluster.config(for: node, failback: mode).write(
                toFile: cluster.root + "/\(node).yaml",
                atomically: true,
                encoding: .utf8
            )
        }
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b ready") {
                cluster.role("node-a") == "active" && cluster.peerHealthy("node-a") && cluster.serviceAnswers()
            }
        )
        cluster.killHost("node-a")
        #expect(cluster.waitUntil("b took over") { cluster.role("node-b") == "active" && cluster.serviceAnswers() })
        try cluster.start("node-a")
        #expect(
            cluster.waitUntil("a back as standby") {
                cluster.role("node-a") == "standby" && cluster.peerHealthy("node-b")
            }
        )
        switch mode {
        case "auto":
            #expect(cluster.waitUntil("failed back") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
            #expect(cluster.role("node-b") == "standby")
        case "manual":
            usleep(2_000_000)  // longer than the stability window: nothing moves on its own
            #expect(cluster.role("node-b") == "active")
            let result = try cluster.admin("node-b", ["failback"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(cluster.waitUntil("failed back") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
        default:
            usleep(2_000_000)
            #expect(cluster.role("node-b") == "active")
            let result = try cluster.admin("node-b", ["failback"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("failback mode is never"))
            #expect(cluster.role("node-b") == "active")
        }
    }

    /// A monitor that takes 4 s of every 5 on node-a must not delay its heartbeats: node-b keeps hearing it on
    /// every channel and never takes over.
    @Test func aStalledResourceAgentNeverDelaysHeartbeats() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.config(for: "node-a", slowMonitor: true).write(
            toFile: cluster.root + "/node-a.yaml",
            atomically: true,
            encoding: .utf8
        )
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b ready") {
                cluster.role("node-a") == "active" && cluster.peerHealthy("node-b")
            }
        )
        let worst = cluster.worstHeard(by: "node-b", seconds: 6) { channel in
            if channel["name"] as? String != "disk" {
                #expect(channel["loss_permille"] as? Int == 0, "\(channel)")
            }
        }
        #expect(worst < 100, "node-b heard node-a at worst \(worst) ms ago")
    }

    @Test func alarmsAreDeliveredAtLeastOnceEvenAcrossACrash() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        let alarms = cluster.root + "/node-a-alarms.txt"
        // The sink takes 30 s: node-a dies (SIGKILL) before it has delivered anything.
        try cluster.start("node-a", environment: ["SERVHA_TEST_ALARM_DELAY": "30"])
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" })
        cluster.killHost("node-a")
        #expect(!FileManager.default.fileExists(atPath: alarms))
        // Back with a fast sink: the notice the log still owes is sent.
        try cluster.start("node-a")
        #expect(
            cluster.waitUntil("took-over delivered after the restart") {
                ((try? String(contentsOfFile: alarms, encoding: .utf8)) ?? "").contains("raised took-over")
            },
            "\(cluster.output("node-a"))"
        )
        #expect(cluster.output("node-a").contains("sending an alarm notice again after a restart"))
    }

    /// The log is copied to shared storage from the first start (when `logs/` does not exist there yet), and a
    /// clean stop leaves the copy complete: the same events as the local log, the hand-over's decisions included.
    /// The stop ends the log with a state snapshot, which the next start folds from.
    @Test func aCleanStopLeavesTheSharedCopyCompleteAndASnapshotToStartFrom() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
        let process = cluster.processes["node-a"]!
        kill(process.processIdentifier, SIGTERM)
        #expect(cluster.waitUntil("node-a exited") { !process.isRunning })
        func events(_ directory: String) throws -> Int? {
            let stats = try servha(["log", "stats", directory, "--json"])
            guard stats.status == 0, let data = stats.stdout.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return nil }
            return object["events"] as? Int
        }
        let local = try events(cluster.root + "/node-a-log")
        let shared = try events(cluster.root + "/shared/logs/node-a")
        #expect(
            local != nil && local == shared,
            "local \(String(describing: local)), shared \(String(describing: shared))"
        )
        // The log ends with a state snapshot; the next start folds from it, and replay checks it.
        let dump = try servha(["log", "dump", cluster.root + "/node-a-log", "--json"])
        let last = dump.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("\"type\":72"), "the last record is a snapshot: \(last)")
        let verified = try servha(["replay", "verify", cluster.root + "/node-a-log"])
        #expect(verified.status == 0 && verified.stdout.contains(" snapshots)"), "\(verified.stdout)\(verified.stderr)")
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a back") { cluster.role("node-a") != nil })
        #expect(
            cluster.waitUntil("rebuilt from the snapshot") {
                cluster.output("node-a").contains("servha.snapshot=sequence ")
            },
            "\(cluster.output("node-a").suffix(2000))"
        )
    }

    /// Sealed segments go to log.archive_command (here with segments of 8 KiB, sealed every few seconds); while
    /// the command fails the segments stay and the archive-failed alarm is up; once it works they are archived and
    /// the alarm clears. Each sealed segment is followed by a snapshot, which replay checks.
    @Test func sealedSegmentsAreArchivedAndAFailingArchiveIsAnAlarm() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        let archive = cluster.root + "/archive"
        let marker = cluster.root + "/archive-works"
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        let config = cluster.config(for: "node-a")
            + "\nlog: { archive_command: \"test -f \(marker) && cp %p \(archive)/%f\" }\n"
        try config.write(toFile: cluster.root + "/node-a.yaml", atomically: true, encoding: .utf8)
        let knobs = ["SERVHA_TEST_SEGMENT_BYTES": "8192", "SERVHA_TEST_RETENTION_MS": "300"]
        try cluster.start("node-a", environment: knobs)
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" })
        #expect(
            cluster.waitUntil("archive-failed raised", seconds: 60) { cluster.status("node-a").contains("archive-failed") },
            "\(cluster.output("node-a").suffix(1500))"
        )
        let sealed = { (try? LogDirectory(cluster.root + "/node-a-log").segments.filter { !$0.isOpen }.map(\.name)) ?? [] }
        #expect(!sealed().isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: archive))?.isEmpty == true)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        #expect(
            cluster.waitUntil("archived and cleared", seconds: 30) {
                let copied = Set((try? FileManager.default.contentsOfDirectory(atPath: archive)) ?? [])
                return !cluster.status("node-a").contains("archive-failed") && !copied.isEmpty
                    && Set(sealed()).isSubset(of: copied)
            },
            "\(cluster.status("node-a"))"
        )
        let process = cluster.processes["node-a"]!
        kill(process.processIdentifier, SIGTERM)
        #expect(cluster.waitUntil("node-a exited") { !process.isRunning })
        let verified = try servha(["replay", "verify", cluster.root + "/node-a-log"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("snapshots"), "\(verified.stdout)")
    }

    @Test func startupProblemsExitTwoWithOneLineAndNothingRunning() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: cluster.root + "/key")
        let result = try servha(["daemon", "--config", cluster.root + "/node-a.yaml", "--dry-run-vip"])
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").filter { $0.hasPrefix("servha:") }.count == 1)
        #expect(result.stderr.contains("\(cluster.root)/key"))
        #expect(!FileManager.default.fileExists(atPath: cluster.root + "/node-a.sock"))
    }
}

/// The processes whose parent is `pid`.
func childPIDs(of pid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { child in
        guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && pid_t(fields[1]) == pid
    }
}

func commandLine(_ pid: pid_t) -> String {
    let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
    return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
}
