import EventLog
import Foundation
import Glibc
import Runtime

/// Starts a real `servha daemon` (node-a of a loopback pair whose node-b never comes, dry-run VIP, as
/// scripts/loopback-pair.sh configures one) on a copy of a log directory, and times it from exec to systemd's
/// `READY=1`, which the daemon sends once its log is open, its state rebuilt, its sockets listening and its
/// first inputs delivered. Peak resident memory is the process's VmHWM (its high-water mark) at that moment.
struct YearLogDaemonStart {
    struct Measurement {
        var readyMs: Double
        var peakRSSMB: Double
        /// VmHWM a second after ready (the first retention round and mirror pass run then).
        var peakRSSAfterMB: Double
        var role: String
        /// What the daemon says it folded ("state rebuilt from the log").
        var rebuilt: String
    }

    let executable: String
    let cluster: String
    let retentionBytes: String

    /// One start on `run` (made afresh): sealed segments are hard links to `log`'s (the daemon only reads them), the
    /// open one a copy; the shared directory holds the log's verified copy (`sharedLog`), as a year-old node's does.
    func measure(log: String, sharedLog: String, run: String) throws -> Measurement {
        try? FileManager.default.removeItem(atPath: run)
        try Self.link(log, into: run + "/log")
        try Self.link(sharedLog, into: run + "/shared/logs/node-a")
        let key = (0..<48).map { _ in UInt8.random(in: 0...255) }
        FileManager.default.createFile(
            atPath: run + "/key",
            contents: Data(key),
            attributes: [.posixPermissions: 0o600]
        )
        let base = 20000 + Int.random(in: 0..<20000)
        let config = """
            cluster: \(cluster)
            this_node: node-a
            nodes:
              - { name: node-a, id: 1 }
              - { name: node-b, id: 2 }
            heartbeat:
              key_file: \(run)/key
              channels:
                - { name: lan, port: \(base), addresses: { node-a: 127.0.0.1, node-b: 127.0.0.2 } }
                - { name: backup, port: \(base + 1), addresses: { node-a: 127.0.0.1, node-b: 127.0.0.2 } }
            shared_storage: \(run)/shared
            log_dir: \(run)/log
            admin_socket: \(run)/admin.sock
            resources:
              - { name: vip, type: vip, address: 192.0.2.100/24, interface: lo }
              - { name: hostname, type: script, start: 'true', stop: 'true', monitor: 'true' }
              - { name: postgresql, type: script, start: 'true', stop: 'true', monitor: 'true' }
            log:
              retention: { max_age: 365d, max_bytes: \(retentionBytes) }

            """
        FileManager.default.createFile(atPath: run + "/node-a.yaml", contents: Data(config.utf8))

        // systemd's side of READY=1: a datagram socket named by NOTIFY_SOCKET.
        let notify = run + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw fail("cannot make the notify socket") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in notify.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw fail("cannot bind \(notify)") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["daemon", "--config", run + "/node-a.yaml", "--dry-run-vip"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify
        process.environment = environment
        FileManager.default.createFile(atPath: run + "/daemon.out", contents: nil)
        let output = FileHandle(forWritingAtPath: run + "/daemon.out")
        process.standardOutput = output
        process.standardError = output
        let t0 = monotonicNow()
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                let deadline = monotonicNow() + 30_000_000_000
                while process.isRunning && monotonicNow() < deadline { usleep(10_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
        }
        var readyAt: UInt64?
        var buffer = [UInt8](repeating: 0, count: 4096)
        while readyAt == nil && monotonicNow() < t0 + 30_000_000_000 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5) > 0 else {
                if !process.isRunning { throw fail("the daemon exited before it was ready (\(run)/daemon.out)") }
                continue
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0, String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").contains("READY=1") {
                readyAt = monotonicNow()
            }
        }
        guard let readyAt else { throw fail("the daemon was not ready within 30 s (\(run)/daemon.out)") }
        let peak = Self.highWaterMB(process.processIdentifier)
        let reply = try? AdminClient.send("status-json", socket: run + "/admin.sock")
        var role = "?"
        if case .ok(let json)? = reply, let range = json.range(of: "\"role\":\"") {
            role = String(json[range.upperBound...].prefix { $0 != "\"" })
        }
        usleep(1_000_000)
        let after = Self.highWaterMB(process.processIdentifier)
        let text = (try? String(contentsOfFile: run + "/daemon.out", encoding: .utf8)) ?? ""
        // The daemon's account of its fold: "... servha.events=N servha.role=R servha.segments=S servha.snapshot=..."
        let line = text.split(separator: "\n").first { $0.contains("state rebuilt from the log") } ?? ""
        let rebuilt = String(
            (line.range(of: "servha.events").map { line[$0.lowerBound...] } ?? line).prefix { $0 != "[" }
        )
        .trimmingCharacters(in: .whitespaces)
        return Measurement(
            readyMs: Double(readyAt - t0) / 1e6,
            peakRSSMB: peak,
            peakRSSAfterMB: after,
            role: role,
            rebuilt: rebuilt
        )
    }

    /// VmHWM of `pid`, in MB (2^20 bytes, as the rest of the benchmark).
    static func highWaterMB(_ pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let kib =
            status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
        return kib / 1024
    }

    /// `target` made to hold `source`'s files: sealed segments hard-linked (nothing writes them again), the rest
    /// copied.
    static func link(_ source: String, into target: String) throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name != "LOCK" {
            if name.hasSuffix(SegmentName.sealedSuffix) {
                try FileManager.default.linkItem(atPath: source + "/" + name, toPath: target + "/" + name)
            } else {
                try FileManager.default.copyItem(atPath: source + "/" + name, toPath: target + "/" + name)
            }
        }
    }
}
