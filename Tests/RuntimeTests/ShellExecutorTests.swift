import Coordinator
import EventLog
import Synchronization
import Testing

@testable import Runtime

/// The shell's thread: calls posted from other threads, timers, and actors isolated to it.
@Suite struct ShellExecutorTests {
    /// An actor whose executor is the thread under test.
    private actor OnThread {
        nonisolated let executor: ShellExecutor
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        var seen: [String] = []

        init(_ executor: ShellExecutor) { self.executor = executor }

        func note(_ what: String) { seen.append(what) }
    }

    /// A call posted without a wake-up waits for the thread's next wake-up and then runs before what woke it, in
    /// the order posted: an outcome that waited is stepped before the input that came after it.
    @Test func aCallPostedWithoutWakingRunsFirstAtTheNextWakeUp() async {
        let executor = ShellExecutor(name: "executor test")
        let actor = OnThread(executor)
        let done = Mutex(false)
        executor.post(wake: false) { actor.assumeIsolated { $0.note("outcome 1") } }
        executor.post(wake: false) { actor.assumeIsolated { $0.note("outcome 2") } }
        executor.post(wake: true) {
            actor.assumeIsolated { $0.note("datagram") }
            done.withLock { $0 = true }
        }
        #expect(await waitUntil { done.withLock { $0 } })
        #expect(await actor.seen == ["outcome 1", "outcome 2", "datagram"])
    }

    /// A timer's call, too, runs on the thread isolated to its actors (no task made for it), after the calls
    /// posted before it came due.
    @Test func aTimerCallIsIsolatedToTheThreadsActors() async {
        let executor = ShellExecutor(name: "executor test")
        let actor = OnThread(executor)
        let done = Mutex(false)
        executor.post(wake: false) { actor.assumeIsolated { $0.note("outcome") } }
        executor.call(at: monotonicNow() + 5_000_000) {
            actor.assumeIsolated { $0.note("tick") }
            done.withLock { $0 = true }
        }
        #expect(await waitUntil { done.withLock { $0 } })
        #expect(await actor.seen == ["outcome", "tick"])
    }

    @Test func onlyItsOwnThreadIsIsolated() async {
        let executor = ShellExecutor(name: "executor test")
        #expect(executor.isIsolatingCurrentContext() == false)
        let onThread = Mutex<Bool?>(nil)
        executor.post(wake: true) { onThread.withLock { $0 = executor.isIsolatingCurrentContext() } }
        #expect(await waitUntil { onThread.withLock { $0 } != nil })
        #expect(onThread.withLock { $0 } == true)
    }

    /// Slot outcomes wait for the next wake-up only while the pair runs steadily and hears each other; the
    /// failover's steps (a claim, a release) and a silent peer wake the shell at once.
    @Test func slotOutcomesWaitOnlyWhileThePairRunsSteadily() {
        let config = ClusterConfig(
            cluster: "c",
            nodes: [NodeConfig(id: 1, name: "a"), NodeConfig(id: 2, name: "b")],
            networkChannels: ["lan", "wan"],
            resources: []
        )
        var state = State(me: 1)
        state.config = config
        state.channels = Array(repeating: ChannelState(), count: config.channelCount)
        state.channels[0].up = true
        for role in [Role.standby, .active] {
            state.role = role
            #expect(NodeShell.outcomeCanWait(state), "\(role)")
        }
        for role in [Role.starting, .acquiring, .releasing, .fenced] {
            state.role = role
            #expect(!NodeShell.outcomeCanWait(state), "\(role)")
        }
        state.role = .standby
        state.channels[0].up = false
        state.channels[config.diskChannel].up = true
        #expect(!NodeShell.outcomeCanWait(state), "the peer heard on the disk only")
        state.channels[1].up = true
        state.maintenance = true
        #expect(!NodeShell.outcomeCanWait(state), "maintenance")
    }
}

private func waitUntil(_ limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
