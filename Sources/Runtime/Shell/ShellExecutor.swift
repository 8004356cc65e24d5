import EventLog
import Glibc
import Synchronization

/// The thread a node's shell runs on: the `NodeShell` actor's executor, the preferred executor of the tasks that
/// hand it inputs, and the clock of its tick and wake-ups.
///
/// Why a thread of its own rather than the shared pool: an idle node does the same few things every tick, and on
/// the pool each of them was a hop between threads (the pool's timer thread, a worker, the actor, the disk
/// threads, a worker again): about 17 thread switches a tick, which cost more CPU than the work itself (a
/// context switch is tens of microseconds in a virtual machine). Here the tick is a timed wait of this thread, an
/// input from the disk threads or the network is one job queued to it, and the work runs where it lands.
final class ShellExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    private let queue = JobQueue()

    init(name: String) {
        let queue = queue
        queue.executor.withLock { $0.value = self }
        startThread(named: name) { queue.run() }
    }

    deinit { queue.shutDown() }

    func enqueue(_ job: consuming ExecutorJob) { queue.push(UnownedJob(job)) }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
    func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// Runs `work` in a task on this thread once the monotonic clock reaches `deadline`.
    func schedule(at deadline: UInt64, _ work: @escaping @Sendable () async -> Void) {
        queue.addTimer(at: deadline) { [weak self] in
            guard let self else { return }
            Task(executorPreference: self) { await work() }
        }
    }

    /// Runs `work` in a task on this thread now (from another thread: one job queued, one wake-up).
    func run(_ work: @escaping @Sendable () async -> Void) {
        Task(executorPreference: self) { await work() }
    }
}

/// The executor's jobs and timers, and its thread's loop. Apart from the executor so that the thread does not
/// keep it alive: when the shell (and so its executor) goes, the thread ends.
private final class JobQueue: @unchecked Sendable {
    private struct Pending {
        var jobs: [UnownedJob] = []
        var timers: [(deadline: UInt64, fire: @Sendable () -> Void)] = []
        var shutDown = false
    }
    private let pending = Mutex(Pending())
    private let wakeup = Wakeup()
    /// The executor the jobs run isolated to. Weak: the queue (and its thread) must not keep it alive.
    let executor = Mutex(WeakExecutor())
    struct WeakExecutor: @unchecked Sendable { weak var value: ShellExecutor? }

    func push(_ job: UnownedJob) {
        pending.withLock { $0.jobs.append(job) }
        wakeup.signal()
    }

    func addTimer(at deadline: UInt64, _ fire: @escaping @Sendable () -> Void) {
        pending.withLock { $0.timers.append((deadline, fire)) }
        wakeup.signal()
    }

    func shutDown() {
        pending.withLock { $0.shutDown = true }
        wakeup.signal()
    }

    func run() {
        var jobs: [UnownedJob] = []
        var due: [@Sendable () -> Void] = []
        while true {
            let (stop, nextDeadline) = pending.withLock { state -> (Bool, UInt64?) in
                swap(&jobs, &state.jobs)
                let now = monotonicNow()
                var next: UInt64?
                state.timers.removeAll { timer in
                    if timer.deadline <= now {
                        due.append(timer.fire)
                        return true
                    }
                    next = min(next ?? .max, timer.deadline)
                    return false
                }
                return (state.shutDown, next)
            }
            if stop { return }
            for fire in due { fire() }
            due.removeAll(keepingCapacity: true)
            if !jobs.isEmpty {
                // Held for the batch. Gone: the shell is gone, and with it whatever these jobs were for.
                if let executor = executor.withLock({ $0.value }) {
                    let (serial, task) = (executor.asUnownedSerialExecutor(), executor.asUnownedTaskExecutor())
                    for job in jobs { job.runSynchronously(isolatedTo: serial, taskExecutor: task) }
                    withExtendedLifetime(executor) {}
                }
                jobs.removeAll(keepingCapacity: true)
                continue  // what the jobs queued or scheduled is looked at before sleeping
            }
            wakeup.wait(until: nextDeadline)
        }
    }
}

/// Starts a detached thread with a name (up to 15 characters show in `top -H` and /proc).
func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let label = String(name.prefix(15))
    let start = Unmanaged.passRetained(
        Start {
            // pthread_setname_np is not in Swift's Glibc module; the kernel takes the name from here too.
            let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                _ = label.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
            body()
        }
    ).toOpaque()
    let created = pthread_create(&thread, nil, { argument in
        Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, start)
    precondition(created == 0, "cannot start the thread \(name): \(String(cString: strerror(created)))")
    pthread_detach(thread)
}
