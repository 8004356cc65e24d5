import Coordinator
import EventLog
import Foundation
import Glibc

/// An address the guard removes when the lease runs out: `ADDRESS/PREFIX@INTERFACE` on its command line.
public struct GuardedAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: String
    public var prefixLength: Int
    public var interface: String

    public init(address: String, prefixLength: Int, interface: String) {
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
    }

    public init?(_ text: String) {
        let atParts = text.split(separator: "@", maxSplits: 1)
        guard atParts.count == 2 else { return nil }
        let slashParts = atParts[0].split(separator: "/", maxSplits: 1)
        guard slashParts.count == 2, let prefix = Int(slashParts[1]), (1...32).contains(prefix) else { return nil }
        self.init(address: String(slashParts[0]), prefixLength: prefix, interface: String(atParts[1]))
    }

    public var description: String { "\(address)/\(prefixLength)@\(interface)" }
}

/// The guard: a small process apart from the daemon that takes the group down here when the daemon stops
/// renewing its lease, so that a daemon that is paused (SIGSTOP, a debugger, a scheduler that starves it) never
/// runs the group beside the node that took it over. The daemon tells it, on a pipe, until when the lease holds
/// (`arm NANOS` on CLOCK_MONOTONIC, which both processes read alike) or that nothing runs here (`disarm`). At the
/// deadline with no later word it removes the group's addresses first, then kills every process of the group's
/// cgroup. When the daemon is gone (the pipe closes) it still keeps the last deadline, then exits.
public struct LeaseGuard: Sendable {
    public enum Message: Sendable, Hashable {
        case arm(Instant)
        case disarm
        case exit
    }

    public private(set) var deadline: Instant?
    public private(set) var exitRequested = false

    public init() {}

    /// One line from the daemon; nil for a line the guard does not understand (ignored, and logged).
    public static func parse(_ line: Substring) -> Message? {
        let words = line.split(separator: " ")
        switch words.first {
        case "arm": return words.count == 2 ? UInt64(words[1]).map(Message.arm) : nil
        case "disarm": return words.count == 1 ? .disarm : nil
        case "exit": return words.count == 1 ? .exit : nil
        default: return nil
        }
    }

    public static func line(for message: Message) -> String {
        switch message {
        case .arm(let until): "arm \(until)\n"
        case .disarm: "disarm\n"
        case .exit: "exit\n"
        }
    }

    public mutating func receive(_ message: Message) {
        switch message {
        case .arm(let until): deadline = until
        case .disarm: deadline = nil
        case .exit:
            deadline = nil
            exitRequested = true
        }
    }

    /// Whether the group must come down now.
    public func isDue(at now: Instant) -> Bool { deadline.map { now >= $0 } ?? false }

    /// What the guard did, for its log line and its tests.
    public struct Firing: Sendable {
        public var lateBy: Nanos
        public var addressesRemoved: [String]
        public var addressFailures: [String]
        public var killed: Int
        public var cgroupKilled: Bool
    }

    /// Runs the guard on `input` until told to exit, or until the daemon is gone and nothing is armed. Returns the
    /// exit status.
    public static func run(
        input: Int32,
        addresses: [GuardedAddress],
        cgroup: GroupCgroup?,
        vipDriver: any VIPDriver,
        name: String,
        watchdog: HardwareWatchdog? = nil
    ) async -> Int32 {
        var state = LeaseGuard()
        var pending: [UInt8] = []
        var daemonGone = false
        // Once the guard could not take the group down, it feeds the watchdog no more: the host resets instead.
        var failed = false
        func say(_ text: String) { FileHandle.standardError.write(Data("servha guard (\(name)): \(text)\n".utf8)) }
        func finish(_ status: Int32) -> Int32 {
            if failed { watchdog?.abandon() } else { watchdog?.disarm() }
            return status
        }
        var fed: UInt64 = 0
        while true {
            let now = monotonicNow()
            if !failed, let watchdog, now >= fed + Self.feedEvery / 2 {
                watchdog.keepAlive()
                fed = now
            }
            if state.isDue(at: now), !daemonGone, listen(input, waiting: 0, &pending, &state, say) == .words {
                continue  // a word came in meanwhile (a renewal, usually): look again
            }
            if state.isDue(at: now), let deadline = state.deadline {
                let firing = await fire(addresses: addresses, cgroup: cgroup, vipDriver: vipDriver, lateBy: now - deadline)
                state.receive(.disarm)
                var words =
                    deadline == 0
                    ? "told to take the group down at once: "
                    : "lease ran out with no renewal (acted \(firing.lateBy / 1_000_000) ms after the deadline): "
                words += firing.addressesRemoved.isEmpty ? "no address to remove" : "removed \(firing.addressesRemoved.joined(separator: ", "))"
                if !firing.addressFailures.isEmpty { words += "; FAILED to remove \(firing.addressFailures.joined(separator: "; "))" }
                if let cgroup {
                    words += firing.cgroupKilled
                        ? "; killed the group's \(firing.killed) process(es) (\(cgroup.path))"
                        : "; FAILED to kill the group's processes (\(cgroup.path)/cgroup.kill)"
                } else {
                    words += "; no cgroup: the group's processes were not killed"
                }
                if !firing.addressFailures.isEmpty || (cgroup != nil && !firing.cgroupKilled) {
                    failed = true
                    if let watchdog { words += "; feeding \(watchdog.path) no more: the host resets" }
                }
                say(words)
                continue
            }
            if state.exitRequested { return finish(0) }
            if daemonGone {
                guard let deadline = state.deadline else { return finish(0) }
                let wait = deadline > now ? deadline - now : 0
                try? await Task.sleep(nanoseconds: watchdog == nil ? wait : min(wait, Self.feedEvery))
                continue
            }
            let untilDeadline = state.deadline.map { $0 > now ? ($0 - now + 999_999) / 1_000_000 : 0 } ?? 1000
            switch listen(input, waiting: Int32(clamping: min(untilDeadline, Self.feedEvery / 1_000_000)), &pending, &state, say) {
            case .words, .nothing:
                continue
            case .closed:
                daemonGone = true
                if let deadline = state.deadline {
                    say("the daemon is gone; the lease it renewed last still holds for \(deadline > now ? (deadline - now) / 1_000_000 : 0) ms")
                }
            case .failed(let reason):
                say("\(reason); treating the daemon as gone")
                daemonGone = true
            }
        }
    }

    /// How often the guard wakes at the least (to feed the watchdog).
    static let feedEvery: UInt64 = 1_000_000_000

    /// What waiting on the daemon's pipe brought.
    enum Heard: Equatable {
        case words
        case nothing
        case closed
        case failed(String)
    }

    /// Waits up to `milliseconds` (0: not at all) for the daemon's words and takes in whatever arrived.
    private static func listen(
        _ input: Int32,
        waiting milliseconds: Int32,
        _ pending: inout [UInt8],
        _ state: inout LeaseGuard,
        _ say: (String) -> Void
    ) -> Heard {
        var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready < 0 { return errno == EINTR ? .nothing : .failed("poll failed: \(String(cString: strerror(errno)))") }
        guard ready > 0 else { return .nothing }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(input, &buffer, buffer.count)
        if count < 0 { return errno == EINTR || errno == EAGAIN ? .nothing : .closed }
        guard count > 0 else { return .closed }
        pending += buffer[0..<count]
        apply(&pending, to: &state, say: say)
        return .words
    }

    private static func apply(_ pending: inout [UInt8], to state: inout LeaseGuard, say: (String) -> Void) {
        while let newline = pending.firstIndex(of: 10) {
            let line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if let message = parse(Substring(line)) {
                state.receive(message)
            } else {
                say("ignored a line it does not understand: \(line.prefix(60))")
            }
        }
    }

    static func fire(
        addresses: [GuardedAddress],
        cgroup: GroupCgroup?,
        vipDriver: any VIPDriver,
        lateBy: Nanos
    ) async -> Firing {
        var removed: [String] = []
        var failures: [String] = []
        // Addresses first: from now on no client reaches this node's copy of the service.
        for address in addresses {
            do {
                try await vipDriver.remove(address: address.address, prefixLength: address.prefixLength, interface: address.interface)
                removed.append("\(address.address)/\(address.prefixLength) from \(address.interface)")
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        let processes = cgroup?.processes().count ?? 0
        let killed = cgroup?.killAll() ?? false
        return Firing(lateBy: lateBy, addressesRemoved: removed, addressFailures: failures, killed: processes, cgroupKilled: killed)
    }
}
