import Coordinator
import Foundation
import Glibc
import Synchronization

/// The daemon's end of the guard: it starts the guard process (in a session of its own, so that a stop signal
/// sent to the daemon's process group or terminal does not stop it too) and tells it the lease's deadline on
/// every change. Writes never block the daemon: if the guard does not read, the word is dropped, and the guard
/// acts at the older deadline, which is the safe side.
public final class GuardLink: Sendable {
    public let pid: pid_t
    private let descriptor: Mutex<Int32>

    private init(pid: pid_t, descriptor: Int32) {
        self.pid = pid
        self.descriptor = Mutex(descriptor)
    }

    /// Starts `executable guard ARGUMENTS`; its standard error is the daemon's.
    public static func start(executable: String, arguments: [String]) throws -> GuardLink {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw GuardSetupError("pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        // Neither end leaks into the agents the daemon starts (the guard gets the read end as its stdin).
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        let argv = ([executable, "guard"] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let status = ProcessRunner.withChildAttributes { posix_spawn(&pid, executable, &actions, &$0, argv, environ) }
        close(readEnd)
        guard status == 0 else {
            close(writeEnd)
            throw GuardSetupError("cannot start the guard (\(executable)): \(String(cString: strerror(status)))")
        }
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
        return GuardLink(pid: pid, descriptor: writeEnd)
    }

    /// The lease holds until then (nil: nothing of the group runs here).
    public func arm(until: Instant?) { send(until.map(LeaseGuard.Message.arm) ?? .disarm) }

    /// Disarms the guard and lets it exit (a clean stop that handed the group over).
    public func stop() {
        send(.exit)
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
        var status: Int32 = 0
        for _ in 0..<100 {
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(10_000)
        }
    }

    /// Leaves the guard armed and lets go of it: it keeps the last deadline (the daemon stops without having
    /// handed the group over, so the guard takes it down then), and exits after.
    public func detach() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    private func send(_ message: LeaseGuard.Message) {
        let line = Array(LeaseGuard.line(for: message).utf8)
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }

    /// The running executable, for starting its guard.
    public static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return count > 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}
