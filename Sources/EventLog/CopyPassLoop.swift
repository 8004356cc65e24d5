import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The background thread of a shared log copy (the directory mirror, the LUN's ring writer): it runs a pass,
/// waits for a nudge (or a while, shorter after a failure), and goes again; each pass's outcome goes into the
/// status and becomes a `failing` or `recovered` event; `stop` waits for the pass under way. Never blocks the log
/// writer, which only nudges.
final class CopyPassLoop: Sendable {
    /// How long to wait for a nudge after a pass that caught up, and after one that failed.
    let idleWaitNanos: UInt64
    let retryWaitNanos: UInt64
    /// The least time from the start of one pass to the start of the next (what came meanwhile goes in one pass).
    let minimumIntervalNanos: UInt64
    private let onEvent: @Sendable (MirrorEvent) -> Void
    private let wakeup = Wakeup()
    private let exited = Wakeup()
    private let control = Mutex(Control())

    private struct Control {
        var stopping = false
        var started = false
        var status = MirrorStatus()
    }

    init(
        idleWaitNanos: UInt64,
        retryWaitNanos: UInt64,
        minimumIntervalNanos: UInt64 = 0,
        onEvent: @escaping @Sendable (MirrorEvent) -> Void
    ) {
        self.idleWaitNanos = idleWaitNanos
        self.retryWaitNanos = retryWaitNanos
        self.minimumIntervalNanos = minimumIntervalNanos
        self.onEvent = onEvent
    }

    var status: MirrorStatus { control.withLock { $0.status } }

    func update(_ change: (inout MirrorStatus) -> Void) { control.withLock { change(&$0.status) } }

    private var stopping: Bool { control.withLock { $0.stopping } }

    /// Starts the thread (once); `pass` returns true when the copy caught up.
    func start(_ pass: @escaping @Sendable () -> Bool) {
        let first = control.withLock { c in
            defer { c.started = true }
            return !c.started
        }
        guard first else { return }
        Thread { [self] in
            while !stopping {
                let began = monotonicNow()
                let ok = pass()
                wakeup.wait(until: monotonicNow() + (ok ? idleWaitNanos : retryWaitNanos))
                let earliest = began + minimumIntervalNanos
                while !stopping {
                    // One reading of the clock: reading it again for the sleep could pass `earliest` and underflow.
                    let now = monotonicNow()
                    guard now < earliest else { break }
                    usleep(useconds_t(min(earliest - now, 50_000_000) / 1000))
                }
            }
            exited.signal()
        }.start()
    }

    func nudge() { wakeup.signal() }

    /// Stops the thread after its current pass.
    func stop() {
        let wasRunning = control.withLock { c in
            defer { c.stopping = true }
            return c.started && !c.stopping
        }
        guard wasRunning else { return }
        wakeup.signal()
        exited.wait()
    }

    /// Records a pass's outcome (the bytes still behind, or the error), tells the owner of any change of health,
    /// and returns true when the pass succeeded.
    func report(_ outcome: Result<Int, EventLogError>) -> Bool {
        if let event = control.withLock({ $0.status.record(outcome) }) { onEvent(event) }
        if case .success = outcome { return true }
        return false
    }
}
