import Foundation
import Glibc

/// systemd's service notifications (sd_notify), spoken directly on `$NOTIFY_SOCKET` (a Unix datagram socket; a
/// leading `@` names an abstract one): `READY=1` once the daemon runs, `WATCHDOG=1` from the heartbeat loop at half
/// the unit's `WatchdogSec=` (so a daemon stuck or starved past it is killed and restarted by systemd, its guard
/// having taken the group down), `STOPPING=1` on the way out. Without `$NOTIFY_SOCKET` (not under systemd) every
/// call does nothing.
public struct SystemdNotifier: Sendable {
    public let socketPath: String
    /// How often systemd wants a WATCHDOG=1 (half of `WatchdogSec=`), when it asked for them.
    public let watchdogEvery: UInt64?

    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        socketPath = path
        // WATCHDOG_PID, when set, names the process systemd expects the pings from.
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogEvery = usec * 1000 / 2
        } else {
            watchdogEvery = nil
        }
    }

    /// Sends one notification (`KEY=VALUE` lines). Returns whether it went out.
    @discardableResult
    public func send(_ state: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sockaddrPointer, length) }
            }
        }
        return sent == bytes.count
    }
}
