import Foundation
import Glibc
import Testing

/// Under systemd (Type=notify, WatchdogSec=): READY=1 once the daemon runs, WATCHDOG=1 from its heartbeat loop at
/// half the watchdog interval, STOPPING=1 on SIGTERM. A real daemon, a real notify socket.
@Suite(.serialized) struct SystemdNotifyTests {
    /// A Unix datagram socket standing in for systemd's notify socket, collecting what arrives.
    final class NotifySocket {
        let path: String
        let fd: Int32

        init(path: String) {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// Everything received until `seconds` pass or `until` says enough.
        func collect(seconds: Double, until done: ([String]) -> Bool) -> [String] {
            var messages: [String] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline && !done(messages) {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 { messages.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
            }
            return messages
        }

        deinit { close(fd) }
    }

    @Test func theDaemonSaysReadyFeedsTheWatchdogAndSaysStopping() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        let notify = NotifySocket(path: cluster.root + "/notify.sock")
        try cluster.start("node-a", environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        let started = notify.collect(seconds: 20) { messages in
            messages.contains { $0.hasPrefix("READY=1") } && messages.filter { $0 == "WATCHDOG=1" }.count >= 3
        }
        #expect(started.contains { $0.hasPrefix("READY=1") && $0.contains("STATUS=node-a running") }, "\(started)")
        #expect(started.filter { $0 == "WATCHDOG=1" }.count >= 3, "pings at half of WATCHDOG_USEC: \(started)")
        let process = try #require(cluster.processes["node-a"])
        kill(process.processIdentifier, SIGTERM)
        let stopping = notify.collect(seconds: 20) { messages in messages.contains { $0.hasPrefix("STOPPING=1") } }
        #expect(stopping.contains { $0.hasPrefix("STOPPING=1") }, "\(stopping)")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
