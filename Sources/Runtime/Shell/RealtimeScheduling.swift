import Foundation
import Glibc
import Synchronization

/// How the daemon and its guard are scheduled. Heartbeats and lease renewals are a few microseconds of work that
/// must happen on time: on a host whose CPUs are saturated by ordinary work, a normal-priority daemon waits its
/// turn behind it, misses its lease by tens of milliseconds, and self-fences. Corosync (SCHED_RR) and keepalived
/// (`vrrp_rt_priority`) run at real-time priority for the same reason.
public struct RealtimeSettings: Sendable, Hashable {
    /// SCHED_RR priority (1...99) for the daemon's threads; nil for normal scheduling. The guard runs one above.
    public var priority: Int32?
    /// Lock the daemon's memory (mlockall), so that a heartbeat never waits for a page read back from swap. Off by
    /// default: on the project's machine it made PostgreSQL's start after a fenced failover take 2 s instead of
    /// 0.55 s (docs/benchmarks.md), for a gain that only a host that swaps would see.
    public var lockMemory: Bool

    /// Above ordinary work, below the kernel's interrupt threads (50) that deliver the heartbeats themselves.
    public static let defaultPriority: Int32 = 40
    public static let `default` = RealtimeSettings(priority: defaultPriority, lockMemory: false)
    public static let off = RealtimeSettings(priority: nil, lockMemory: false)

    public init(priority: Int32?, lockMemory: Bool) {
        self.priority = priority
        self.lockMemory = lockMemory
    }

    /// The guard's settings: one priority above the daemon (it must act even when the daemon spins).
    public var forGuard: RealtimeSettings {
        RealtimeSettings(priority: priority.map { min($0 + 1, 99) }, lockMemory: lockMemory)
    }
}

/// What applying the settings achieved. Failing to get real-time priority or locked memory is not fatal (the
/// daemon still works, with the timing margins of normal scheduling): it is logged and shown in `status`.
public struct RealtimeOutcome: Sendable, Hashable {
    /// The SCHED_RR priority every thread now has, or nil.
    public var priority: Int32?
    public var memoryLocked: Bool
    /// One line per thing asked for and not obtained.
    public var problems: [String] = []

    /// For the log and `status`: "SCHED_RR 40, memory not locked".
    public var summary: String {
        let scheduling = priority.map { "SCHED_RR \($0)" } ?? "normal scheduling"
        return "\(scheduling), memory \(memoryLocked ? "locked" : "not locked")"
    }
}

public enum RealtimeScheduling {
    /// Puts every thread of this process (and, by inheritance, every thread it creates later) at the settings'
    /// priority, and locks memory. Children are started at normal priority (`ProcessRunner`), so a resource
    /// agent or a fence agent never runs at real-time priority.
    public static func apply(_ settings: RealtimeSettings) -> RealtimeOutcome {
        var outcome = RealtimeOutcome(priority: nil, memoryLocked: false)
        if let priority = settings.priority {
            var failed: [String] = []
            let threads = threadIDs()
            for thread in threads {
                var parameters = sched_param(sched_priority: priority)
                if sched_setscheduler(thread, SCHED_RR, &parameters) != 0 {
                    failed.append("thread \(thread): \(String(cString: strerror(errno)))")
                }
            }
            if failed.isEmpty && !threads.isEmpty {
                outcome.priority = priority
            } else {
                outcome.problems.append(
                    "real-time priority (SCHED_RR \(priority)) refused: \(failed.first ?? "no threads found"); "
                        + "running at normal priority (needs root or CAP_SYS_NICE, and no cgroup cpu controller "
                        + "without real-time budget; realtime.priority: off silences this)"
                )
                // Leave no thread at real-time priority when not all of them could be: half would be worse.
                var normal = sched_param(sched_priority: 0)
                for thread in threads { _ = sched_setscheduler(thread, SCHED_OTHER, &normal) }
            }
        }
        if settings.lockMemory {
            // On fault: pages are locked as they are first touched, so idle thread stacks cost no memory.
            if mlockall(MCL_CURRENT | MCL_FUTURE | mclOnFault) == 0 {
                outcome.memoryLocked = true
            } else {
                outcome.problems.append(
                    "locking memory (mlockall) refused: \(String(cString: strerror(errno))); pages may be swapped "
                        + "out (needs root or CAP_IPC_LOCK, or LimitMEMLOCK=infinity; realtime.lock_memory: false "
                        + "silences this)"
                )
            }
        }
        return outcome
    }

    /// The scheduling policy and priority of a thread or process (for status and tests).
    public static func policy(of id: pid_t) -> (policy: Int32, priority: Int32)? {
        let policy = sched_getscheduler(id)
        guard policy >= 0 else { return nil }
        var parameters = sched_param()
        guard sched_getparam(id, &parameters) == 0 else { return nil }
        return (policy, parameters.sched_priority)
    }

    /// What the process runs with now, read back from the kernel (threads created since `apply` included).
    public static func observed() -> RealtimeObservation {
        var observation = RealtimeObservation()
        for thread in threadIDs() {
            guard let (policy, priority) = policy(of: thread) else { continue }
            observation.threads += 1
            if policy == SCHED_RR || policy == SCHED_FIFO {
                observation.realtimeThreads += 1
                observation.lowestPriority = min(observation.lowestPriority ?? priority, priority)
            }
        }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func kiB(_ field: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return 0 }
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
        }
        // VmLck counts whole locked mappings (with MCL_ONFAULT, untouched pages too): only "locked or not".
        observation.memoryLocked = kiB("VmLck:") > 0
        observation.residentKiB = kiB("VmRSS:")
        return observation
    }

    /// One line when the settings ask for more than the process has (for status and check-config), else nil.
    public static func warning(_ settings: RealtimeSettings, _ observation: RealtimeObservation) -> String? {
        var missing: [String] = []
        if let priority = settings.priority, observation.realtimeThreads < observation.threads {
            missing.append(
                "\(observation.threads - observation.realtimeThreads) of \(observation.threads) threads run at normal "
                    + "priority, not SCHED_RR \(priority)"
            )
        }
        if settings.lockMemory && !observation.memoryLocked { missing.append("memory is not locked") }
        guard !missing.isEmpty else { return nil }
        return "warning: \(missing.joined(separator: " and ")): under load heartbeats and lease renewals can be late "
            + "(the daemon's log says why at start; README: Real-time scheduling)"
    }

    /// The ids of this process's threads.
    /// The process's threads that decide, heartbeat and renew: all but those that asked to stay at normal
    /// priority (`keepNormal`).
    static func threadIDs() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let exempt = normalThreads.withLock { $0 }
        return entries.compactMap { pid_t($0) }.filter { !exempt.contains($0) }.sorted()
    }

    private static let normalThreads = Mutex<Set<pid_t>>([])

    /// Puts the calling thread at normal priority for good (`apply` leaves it there): for work that must yield to
    /// heartbeats, such as the console's HTTP server, which a flood of requests must never let delay a renewal.
    public static func keepNormal() {
        // The thread's id, from /proc/thread-self (-> "PID/task/TID"): Swift reaches neither gettid nor syscall.
        var link = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &link, link.count - 1)
        guard length > 0, let thread = pid_t(String(decoding: link[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "/").last ?? "") else { return }
        normalThreads.withLock { _ = $0.insert(thread) }
        var normal = sched_param(sched_priority: 0)
        _ = sched_setscheduler(thread, SCHED_OTHER, &normal)
    }

    /// MCL_ONFAULT (Linux 4.4), not exported by every Glibc module map.
    private static let mclOnFault: Int32 = 4
}

/// The process's scheduling as the kernel reports it.
public struct RealtimeObservation: Sendable, Hashable {
    public var threads = 0
    public var realtimeThreads = 0
    /// The lowest real-time priority among the real-time threads.
    public var lowestPriority: Int32?
    /// Whether the process's memory is locked (mlockall).
    public var memoryLocked = false
    /// Resident memory (VmRSS), in KiB: what locking it costs.
    public var residentKiB = 0

    public init() {}

    public var summary: String {
        let scheduling =
            realtimeThreads == 0
            ? "normal scheduling"
            : "SCHED_RR \(lowestPriority ?? 0) (\(realtimeThreads) of \(threads) threads)"
        return "\(scheduling), memory \(memoryLocked ? "locked" : "not locked") (\(residentKiB / 1024) MiB resident)"
    }

    public var json: String {
        "{\"threads\":\(threads),\"realtime_threads\":\(realtimeThreads),\"priority\":"
            + "\(lowestPriority.map { "\($0)" } ?? "null"),\"memory_locked\":\(memoryLocked),"
            + "\"resident_kib\":\(residentKiB)}"
    }
}
