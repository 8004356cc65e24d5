import EventLog
import Glibc

/// The client side of the admin socket (`servha status`, `servha switchover`, ...).
public enum AdminClient {
    public enum Reply: Sendable, Equatable {
        case ok(String)
        case refused(String)
        case error(String)
    }

    /// Sends one request and returns the reply. Throws a one-line error when the daemon cannot be reached.
    public static func send(_ request: String, socket path: String) throws -> Reply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EventLogError.system("cannot create a socket", path: path) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw EventLogError(.invalidArgument, "admin socket path is too long", path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            throw EventLogError.system("cannot reach the servha daemon (is it running?)", path: path)
        }
        let line = Array((request + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        let first = text.prefix { $0 != "\n" }
        let body = String(text.dropFirst(first.count + 1))
        if first == "ok" { return .ok(body) }
        if first.hasPrefix("refused: ") { return .refused(String(first.dropFirst(9))) }
        if first.hasPrefix("error: ") { return .error(String(first.dropFirst(7))) }
        return .error("unexpected reply from the daemon: \(first.prefix(80))")
    }
}
