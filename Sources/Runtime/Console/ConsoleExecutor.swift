import Foundation

/// The thread the console's request handlers run on (a task executor preference for the whole HTTP server), at
/// normal priority: the shell's heartbeats, renewals and decisions run at real-time priority on the shared pool,
/// so however many requests arrive, the kernel runs the shell first. One thread: the console is read-only and
/// cheap per request; a flood queues here rather than taking a core from the daemon.
final class ConsoleExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init() {
        let thread = Thread { [unowned(unsafe) self] in
            RealtimeScheduling.keepNormal()
            self.loop()
        }
        thread.name = "servha console"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
