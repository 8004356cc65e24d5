import CLZ4
import EventLog
import Glibc
import Synchronization

/// The thread a node's shell runs on: the `NodeShell` actor's executor, the preferred executor of the tasks that
/// hand it inputs, the clock of its tick and wake-ups, and the receiver of its heartbeat sockets.
///
/// Why a thread of its own rather than the shared pool: an idle node does the same few things every tick, and on
/// the pool each of them was a hop between threads (the pool's timer thread, a worker, the actor, the disk
/// threads, a worker again): about 17 thread switches a tick, which cost more CPU than the work itself (a
/// context switch is tens of microseconds in a virtual machine). Here the tick is a timed wait of this thread, a
/// datagram wakes this thread itself (its sockets are polled here, not on an event loop thread that would then
/// wake this one), an input from the disk threads is one job queued to it, and the work runs where it lands.
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

    /// Calls `work` on this thread, outside any task, once the monotonic clock reaches `deadline` (no task is
    /// made: `work` reaches its actor through `assumeIsolated`). With `early`, the call may come up to that much
    /// before `deadline` when the thread is awake then anyway: a periodic call that can shift a little (the
    /// heartbeat tick) then shares a wake-up with a datagram instead of costing one of its own.
    func call(at deadline: UInt64, early: UInt64 = 0, _ work: @escaping @Sendable () -> Void) {
        queue.addTimer(at: deadline, early: early, work)
    }

    /// Calls `work` on this thread, outside any task, before anything else it does next. With `wake` false the
    /// thread is not woken for it: it runs at the thread's next wake-up (its next timer at the latest), for an
    /// outcome that can wait a heartbeat interval and carries its own time.
    func post(wake: Bool, _ work: @escaping @Sendable () -> Void) { queue.post(wake: wake, work) }

    /// Code running on this thread outside a task (a socket handler, a timer, a posted call) is isolated to the
    /// actors whose executor this is: the thread runs one thing at a time, jobs and calls alike.
    func checkIsolated() {
        precondition(queue.isLoopThread, "not on the thread of the executor \(ObjectIdentifier(self))")
    }

    func isIsolatingCurrentContext() -> Bool? { queue.isLoopThread }

    /// Calls `onReadable` on this thread whenever `descriptor` has something to read, until `unwatch`. It must
    /// read what is there without blocking (or it is called again at once).
    func watch(_ descriptor: CInt, _ onReadable: @escaping @Sendable () -> Void) {
        queue.watch(descriptor, onReadable)
    }

    /// Stops watching `descriptor`. Once this returns, its `onReadable` is not running and is not called again
    /// (unless called from `onReadable` itself, which is then finishing).
    func unwatch(_ descriptor: CInt) { queue.unwatch(descriptor) }
}

/// The executor's jobs, timers and watched descriptors, and its thread's loop. Apart from the executor so that
/// the thread does not keep it alive: when the shell (and so its executor) goes, the thread ends.
private final class JobQueue: @unchecked Sendable {
    private struct Pending {
        var jobs: [UnownedJob] = []
        /// Calls posted from other threads (`post`), run before the timers and jobs.
        var posted: [@Sendable () -> Void] = []
        var timers: [(deadline: UInt64, early: UInt64, fire: @Sendable () -> Void)] = []
        var watched: [(descriptor: CInt, onReadable: @Sendable () -> Void)] = []
        var shutDown = false
        /// The loop is in (or about to enter) its wait: whoever adds work must write to `wakeDescriptor`. Cleared
        /// by the first who does, so that a burst of inputs costs one system call, and none while the loop runs.
        var sleeping = false
        /// Bumped after each round of `onReadable` calls, so that `unwatch` can wait for the one in progress.
        var round: UInt64 = 0
        var inRound = false
    }
    private let pending = Mutex(Pending())
    /// An eventfd: written to wake the loop out of its poll.
    private let wakeDescriptor: CInt
    private let roundDone = Wakeup()
    /// The loop's thread (0 until it runs): asked on every call into the shell (`assumeIsolated`), so an atomic
    /// rather than a lock.
    private let thread = Atomic<UInt>(0)
    /// The executor the jobs run isolated to. Weak: the queue (and its thread) must not keep it alive.
    let executor = Mutex(WeakExecutor())
    struct WeakExecutor: @unchecked Sendable { weak var value: ShellExecutor? }

    init() {
        wakeDescriptor = servha_eventfd()
        precondition(wakeDescriptor >= 0, "cannot make an eventfd: \(String(cString: strerror(errno)))")
    }

    deinit { close(wakeDescriptor) }

    private func change(wake: Bool = true, _ body: (inout Pending) -> Void) {
        let wake = pending.withLock { state in
            body(&state)
            guard wake else { return false }
            defer { state.sleeping = false }
            return state.sleeping
        }
        if wake {
            var one: UInt64 = 1
            _ = write(wakeDescriptor, &one, 8)
        }
    }

    func push(_ job: UnownedJob) { change { $0.jobs.append(job) } }

    func post(wake: Bool, _ work: @escaping @Sendable () -> Void) { change(wake: wake) { $0.posted.append(work) } }

    func addTimer(at deadline: UInt64, early: UInt64, _ fire: @escaping @Sendable () -> Void) {
        change { $0.timers.append((deadline, early, fire)) }
    }

    func watch(_ descriptor: CInt, _ onReadable: @escaping @Sendable () -> Void) {
        change { $0.watched.append((descriptor, onReadable)) }
    }

    func unwatch(_ descriptor: CInt) {
        var waitFor: UInt64?
        change { state in
            state.watched.removeAll { $0.descriptor == descriptor }
            if state.inRound { waitFor = state.round }
        }
        // From another thread while a round of `onReadable` calls runs: wait until it is over.
        guard let round = waitFor, !isLoopThread else { return }
        while pending.withLock({ $0.inRound && $0.round == round }) { roundDone.wait(until: monotonicNow() + 1_000_000) }
    }

    var isLoopThread: Bool {
        thread.load(ordering: .acquiring) == UInt(pthread_self())
    }

    func shutDown() { change { $0.shutDown = true } }

    func run() {
        thread.store(UInt(pthread_self()), ordering: .releasing)
        var jobs: [UnownedJob] = []
        var posted: [@Sendable () -> Void] = []
        var due: [@Sendable () -> Void] = []
        var polled: [pollfd] = []
        var handlers: [@Sendable () -> Void] = []
        while true {
            let (stop, sleep, nextDeadline) = pending.withLock { state -> (Bool, Bool, UInt64?) in
                swap(&jobs, &state.jobs)
                swap(&posted, &state.posted)
                let now = monotonicNow()
                var next: UInt64?
                state.timers.removeAll { timer in
                    // The loop is awake here (a wake-up, or work just done): a timer that may come early does.
                    if timer.deadline <= now + timer.early {
                        due.append(timer.fire)
                        return true
                    }
                    next = min(next ?? .max, timer.deadline)
                    return false
                }
                let sleep = jobs.isEmpty && due.isEmpty && posted.isEmpty
                if sleep {
                    state.sleeping = true
                    polled.removeAll(keepingCapacity: true)
                    polled.append(pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0))
                    for watched in state.watched {
                        polled.append(pollfd(fd: watched.descriptor, events: Int16(POLLIN), revents: 0))
                    }
                }
                return (state.shutDown, sleep, next)
            }
            if stop { return }
            runPosted(&posted)
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
            if !sleep { continue }  // timers fired: look again before sleeping
            wait(&polled, until: nextDeadline)
            if polled[0].revents != 0 {
                var drained: UInt64 = 0
                _ = read(wakeDescriptor, &drained, 8)
            }
            let ready = polled.indices.dropFirst().filter { polled[$0].revents != 0 }
            guard !ready.isEmpty else { continue }
            // Outcomes posted without a wake-up happened before this datagram: they go first, in order.
            pending.withLock { swap(&posted, &$0.posted) }
            runPosted(&posted)
            // Only descriptors still watched: `unwatch` may have run during the wait.
            pending.withLock { state in
                state.sleeping = false
                state.inRound = true
                for index in ready {
                    if let watched = state.watched.first(where: { $0.descriptor == polled[index].fd }) {
                        handlers.append(watched.onReadable)
                    }
                }
            }
            for call in handlers { call() }
            handlers.removeAll(keepingCapacity: true)
            pending.withLock { state in
                state.inRound = false
                state.round &+= 1
            }
            roundDone.signal()
        }
    }

    private func runPosted(_ posted: inout [@Sendable () -> Void]) {
        for call in posted { call() }
        posted.removeAll(keepingCapacity: true)
    }

    /// Polls until a descriptor is ready or the monotonic clock reaches `deadline`.
    private func wait(_ polled: inout [pollfd], until deadline: UInt64?) {
        var timeout = timespec()
        if let deadline {
            let now = monotonicNow()
            let left = deadline > now ? deadline - now : 0
            timeout = timespec(tv_sec: Int(left / 1_000_000_000), tv_nsec: Int(left % 1_000_000_000))
        }
        let count = nfds_t(polled.count)
        let result = polled.withUnsafeMutableBufferPointer { buffer in
            deadline == nil ? servha_ppoll(buffer.baseAddress, UInt(count), nil) : servha_ppoll(buffer.baseAddress, UInt(count), &timeout)
        }
        pending.withLock { $0.sleeping = false }
        if result < 0 {
            for index in polled.indices { polled[index].revents = 0 }  // EINTR: look again
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
