import Coordinator
import EventLog
import Foundation
import Glibc
import Synchronization

/// The admin socket: a Unix socket owned by root with mode 0600. A client writes one request line (`status`,
/// `status-json`, `switchover`, `failback`, `standby`, `unstandby`, `maintenance-on`, `maintenance-off`) and
/// reads the reply: a first line `ok`, `refused: REASON` or `error: REASON`, then the body.
public final class AdminServer: Sendable {
    public let path: String
    private let descriptor: Int32
    private let shell: NodeShell

    /// Binds the socket (replacing a stale one). Throws a one-line error naming the path.
    public init(path: String, shell: NodeShell) throws {
        self.path = path
        self.shell = shell
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EventLogError.system("cannot create the admin socket", path: path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw EventLogError(.invalidArgument, "admin socket path is too long", path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        if let existing = try? FileManager.default.attributesOfItem(atPath: path),
            existing[.type] as? FileAttributeType == .typeSocket
        {
            unlink(path)  // left by a daemon that died; a live one would still hold its lock on the log
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 16) == 0 else {
            let error = EventLogError.system("cannot bind the admin socket", path: path)
            Glibc.close(fd)
            throw error
        }
        descriptor = fd
    }

    /// Serves requests on a thread of its own until `close()`.
    public func start() {
        let fd = descriptor
        let shell = shell
        let path = path
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                Self.serve(client, shell: shell, socketPath: path)
            }
        }.start()
    }

    public func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        Glibc.close(descriptor)
        unlink(path)
    }

    private static func serve(_ client: Int32, shell: NodeShell, socketPath: String) {
        defer { Glibc.close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length)
        let source = "uid \(credentials.uid) pid \(credentials.pid) via \(socketPath)"
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while request.count < 4096, !request.contains(0x0A) {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            request += buffer[0..<n]
        }
        let parsed = AdminRequest.parse(request)
        let done = DispatchSemaphore(value: 0)
        let reply = ReplyBox()
        Task {
            reply.text = await AdminRequest.handle(parsed, source: source, shell: shell)
            done.signal()
        }
        done.wait()
        let bytes = Array(reply.text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(client, $0.baseAddress! + sent, $0.count - sent) }
            if n <= 0 { break }
            sent += n
        }
    }
}

/// The reply being built for one admin connection (handed from the async handler to the socket thread).
private final class ReplyBox: Sendable {
    private let value = Mutex("")
    var text: String {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// What each admin request does.
public enum AdminRequest: Sendable, Hashable {
    case status
    case statusJSON
    case command(AdminVerb)
    /// Anything else: the request line as received (up to the first newline, spaces and tabs trimmed).
    case unknown(String)

    static let verbs: [String: AdminVerb] = [
        "switchover": .switchover, "failback": .failback, "standby": .standby, "unstandby": .unstandby,
        "maintenance-on": .maintenanceOn, "maintenance-off": .maintenanceOff,
    ]

    /// The request in the bytes a client wrote: its first line. Pure, so that the fuzz harness reaches it.
    public static func parse(_ request: [UInt8]) -> AdminRequest {
        let line = String(decoding: request.prefix { $0 != 0x0A }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        switch line {
        case "status": return .status
        case "status-json": return .statusJSON
        default: return verbs[line].map(AdminRequest.command) ?? .unknown(line)
        }
    }

    /// The reply to a request that is none of the known ones.
    public static func unknownReply(_ line: String) -> String {
        "error: unknown request '\(line.prefix(40))'; known: status, status-json, \(verbs.keys.sorted().joined(separator: ", "))\n"
    }

    static func handle(_ request: AdminRequest, source: String, shell: NodeShell) async -> String {
        switch request {
        case .status:
            return "ok\n"
                + StatusReport.text(
                    await shell.state,
                    config: shell.config,
                    rejections: await shell.rejectionCounts,
                    loss: await shell.channelLoss
                )
        case .statusJSON:
            return "ok\n"
                + StatusReport.json(
                    await shell.state,
                    config: shell.config,
                    rejections: await shell.rejectionCounts,
                    loss: await shell.channelLoss
                )
                + "\n"
        case .command(let verb):
            let refusal = await shell.command(AdminCommand(verb: verb, source: source))
            if let refusal { return "refused: \(refusal)\n" }
            return "ok\n\(verb) accepted; `servha status` shows its progress\n"
        case .unknown(let line):
            return unknownReply(line)
        }
    }
}

extension NodeShell {
    /// Feeds an admin command and returns the core's refusal, if it refused.
    public func command(_ command: AdminCommand) async -> String? {
        let before = refusalsSeen
        await deliver(.admin(command))
        return refusalsSeen > before ? lastRefusal : nil
    }
}

/// `struct ucred` (pid, uid, gid), which Swift's Glibc module hides behind _GNU_SOURCE: the peer of a Unix
/// socket, from SO_PEERCRED.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
