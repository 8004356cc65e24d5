import Coordinator
import EventRecords
import EventLog
import Foundation
import Logging

/// The shell around one node's core: it turns the world into stamped inputs, hands them to the core one at
/// a time, appends what the core derived to the log (durably before any action with an outside effect), and
/// carries the actions out, feeding each outcome back as a new input.
///
/// The shell runs on a thread of its own (`ShellExecutor`), which also times its tick and the core's wake-ups; the
/// slow parts (disk writes and reads on their own threads, resource agents in tasks) run off it, so that a
/// stalled disk or agent never delays a heartbeat. Less frequent periodic work (the arbitrator, monitors, log
/// space, retention, snapshots) runs in tasks of its own.
public actor NodeShell {
    /// The thread this shell runs on (`ShellExecutor`): its tick, its wake-ups and every input land there.
    nonisolated let executor: ShellExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    public let config: DaemonConfig
    private var driver: NodeDriver
    private let log: EventLogWriter
    private let slots: any SlotStore
    private let agents: [any ResourceAgent]
    private let logger: Logger
    private let send: @Sendable ([UInt8], Int) -> Void
    private var authenticator: HeartbeatAuthenticator
    private var alarms: AlarmDispatcher?
    private let guardLink: GuardLink?
    private let hold: GroupHold

    /// Why this node stopped deciding (its log failed): the daemon then exits non-zero.
    public nonisolated let fatalFailures: AsyncStream<String>
    private let fatal: AsyncStream<String>.Continuation
    private let systemd = SystemdNotifier()
    private var lastTick: Instant?
    private var lastStallNote: Instant?
    private var lastWatchdogPing: UInt64 = 0
    private var rejections = RejectionCounter()
    private var loss: [ChannelLoss] = []
    private var tasks: [Task<Void, Never>] = []
    private var stopped = false
    /// Why appending to the log failed, from `logged` (which cannot wait) until `carryOut` acts on it.
    private var logFailure: (any Error)?
    /// A snapshot is due (a segment was sealed): written after the current step's effects.
    private var snapshotDue = false
    /// Refused admin commands so far, and the last reason (for the admin socket's reply).
    private(set) var refusalsSeen = 0
    private(set) var lastRefusal: String?
    /// The console's view of this node (nil: `http:` is off, and none of this costs anything).
    private var console: ConsoleFeed?

    init(
        executor: ShellExecutor = ShellExecutor(name: "servha shell"),
        config: DaemonConfig,
        core: Coordinator,
        log: EventLogWriter,
        slots: any SlotStore,
        agents: [any ResourceAgent],
        authenticator: HeartbeatAuthenticator,
        send: @escaping @Sendable ([UInt8], Int) -> Void,
        guardLink: GuardLink?,
        hold: GroupHold = GroupHold(),
        logger: Logger
    ) {
        self.executor = executor
        self.guardLink = guardLink
        self.hold = hold
        (fatalFailures, fatal) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        self.config = config
        driver = NodeDriver(
            core: core,
            // A random boot nonce, not the clock: a clock stepped back must not make the peer refuse this boot's
            // heartbeats as replays (it accepts a new sequence once the channel has been quiet).
            sequenceStart: NodeDriver.sequenceStart(random: UInt64.random(in: 1...UInt64.max)),
            slotCounterStart: UInt64(max(0, wallNow() / 1_000_000))  // keeps increasing across restarts
        )
        self.log = log
        self.slots = slots
        self.agents = agents
        self.authenticator = authenticator
        self.send = send
        self.logger = logger
    }

    /// From now on, hands every logged event and the state after each input to the console.
    public func attachConsole(_ feed: ConsoleFeed) {
        console = feed
        publishStatus()
    }

    private func publishStatus() {
        guard let console else { return }
        console.update(
            ConsoleFeed.Status(state: driver.state, rejections: rejections.counts, loss: loss.map(\.fraction))
        )
    }

    // MARK: - Inputs

    /// Hands one input to the core, stamped now (or at `at`, when it was observed earlier).
    public func deliver(_ input: Input, at: Instant? = nil) async {
        guard !stopped else { return }
        let at = at ?? StampClock.monotonic()
        await carryOut(logged(driver.observe(input, at: at, wall: StampClock.wall(at: at))))
    }

    /// A datagram from a heartbeat channel, stepped as it arrives: called on the shell's thread by the transport's
    /// socket handler (through `assumeIsolated`), with no task and no queue between the socket and the core.
    func received(_ bytes: [UInt8], channel: Int, source: String, at: Instant) {
        guard !stopped else { return }
        switch authenticator.open(bytes, channel: channel, source: source, at: at) {
        case .accepted(let packet):
            if loss.count != config.channels.count {
                loss = Array(repeating: ChannelLoss(), count: config.channels.count)
            }
            if channel < loss.count {
                let missed = loss[channel].received(packet.sequence, channels: config.channels.count)
                console?.lost(missed, channel: channel)
            }
            let effects = driver.received(
                channel: channel,
                from: packet.from,
                sequence: packet.sequence,
                echo: packet.echo,
                view: packet.view,
                at: at,
                wall: StampClock.wall(at: at)
            )
            carryOutNow(logged(effects))
        case .rejected(let rejected):
            console?.rejected(rejected.reason)
            if rejections.shouldRecord(reason: rejected.reason, at: at) {
                logger.warning(
                    "heartbeat rejected",
                    metadata: ["servha.reason": "\(rejected.reason)", "servha.source": "\(rejected.source)"]
                )
                carryOutNow(logged(driver.observe(.rejected(rejected), at: at, wall: StampClock.wall(at: at))))
            }
        }
    }

    public var state: State { driver.state }
    /// Per channel: the share of the peer's heartbeats lost in the last window (nil before any arrived).
    public var channelLoss: [Double?] {
        (0..<config.channels.count).map { $0 < loss.count ? loss[$0].fraction : nil }
    }
    public var rejectionCounts: [(reason: String, count: Int)] { rejections.counts }

    /// Connects the alarm sinks, and sends again every notice the log says is not yet delivered everywhere.
    public func startAlarms() {
        let dispatcher = AlarmDispatcher(sinks: config.alarms, node: config.thisNodeName, logger: logger) {
            [weak self] delivery in
            Task { await self?.deliver(.alarmDelivery(delivery)) }
        }
        alarms = dispatcher
        for notice in driver.state.pendingNotices {
            let missing = config.alarms.indices.filter { notice.delivered & (1 << UInt64($0)) == 0 }
            logger.notice(
                "sending an alarm notice again after a restart",
                metadata: ["servha.alarm": "\(notice.alarm.kind)"]
            )
            dispatcher.send(notice.alarm, raised: notice.raised, to: missing)
        }
    }

    // MARK: - Periodic work

    /// Starts the periodic tasks (heartbeats, slot writes and reads, arbitrator, monitors).
    public func startPeriodicWork() {
        scheduleTick(at: StampClock.monotonic())
        if let arbitrator = config.arbitrator {
            tasks.append(Self.every(arbitrator.interval) { [weak self] in await self?.probeArbitrator(arbitrator) })
        }
        for index in config.resources.indices {
            tasks.append(Self.every(config.resources[index].monitorInterval) { [weak self] in await self?.monitor(index) })
        }
        tasks.append(Self.every(Self.logSpaceInterval) { [weak self] in await self?.sampleLogSpace() })
        tasks.append(Self.every(Self.retentionInterval) { [weak self] in await self?.keepLog() })
        tasks.append(Self.every(Self.snapshotInterval) { [weak self] in await self?.requestSnapshot() })
    }

    /// A snapshot this often too, not only at seals: an 8 MiB segment holds hours of events, and start-up folds
    /// what follows the newest snapshot (about 130,000 events at most this way, a tenth of a second).
    static let snapshotInterval: UInt64 = 600_000_000_000

    /// How often retention (and the archive command) runs. SERVHA_TEST_RETENTION_MS shortens it for tests.
    static let retentionInterval: UInt64 =
        ProcessInfo.processInfo.environment["SERVHA_TEST_RETENTION_MS"].flatMap(UInt64.init).map { $0 * 1_000_000 }
        ?? 60_000_000_000

    /// The sequence of the newest state snapshot in the log (from start-up, then from each one appended):
    /// retention keeps its segment and everything after it.
    private var newestSnapshot: UInt64?
    private var keeping = false

    public func startedFromSnapshot(_ sequence: UInt64?) { newestSnapshot = sequence }

    private func snapshotDurable(_ sequence: UInt64) { newestSnapshot = max(newestSnapshot ?? 0, sequence) }

    private func keepLog() async {
        guard !stopped, !keeping else { return }
        keeping = true
        defer { keeping = false }
        let (directory, shared, settings, snapshot, logger) = (
            config.logDirectory, config.sharedStorage.logCopy(node: config.thisNodeName), config.retention,
            newestSnapshot, logger
        )
        let outcomes = await Task.detached {
            await LogKeeper.run(
                directory: directory, sharedCopy: shared, newestSnapshot: snapshot, settings: settings, logger: logger
            )
        }.value
        for outcome in outcomes { await deliver(.archived(outcome)) }
    }

    /// How often the log's file system's free space is looked at (and recorded).
    static let logSpaceInterval: UInt64 = 5_000_000_000

    private func sampleLogSpace() async {
        guard !stopped else { return }
        var info = statvfs()
        guard statvfs(config.logDirectory, &info) == 0 else {
            logger.warning("cannot read the free space of \(config.logDirectory): \(String(cString: strerror(errno)))")
            return
        }
        let unit = UInt64(info.f_frsize)
        await deliver(.logSpace(LogSpace(freeBytes: UInt64(info.f_bavail) * unit, totalBytes: UInt64(info.f_blocks) * unit)))
    }

    public func stop() {
        snapshotNow()  // start-up then folds from here, not from the last sealed segment
        stopped = true
        console?.failed("the daemon is stopping")
        for task in tasks { task.cancel() }
        tasks.removeAll()
    }

    /// The log sealed a segment (or the snapshot interval passed): the state goes into the log (`Event.snapshot`),
    /// so that start-up and replay can begin there.
    public func requestSnapshot() {
        snapshotDue = true
        snapshotNow()
    }

    /// Appends the state as a snapshot when one is due and every derived event is in the log.
    private func snapshotNow() {
        guard !stopped, logFailure == nil else { return }
        snapshotDue = false
        let state = driver.state
        guard state.config != nil else { return }
        do {
            let sequence = try log.append(
                EventCodec.draft(
                    .snapshot(StateSnapshot.encode(state)), node: config.thisNode, monotonicNanos: state.now,
                    wallNanos: state.wall
                )
            )
            // Retention may remove what is before it only once it is on disk.
            let log = log
            Task {
                guard (try? await log.flush()) != nil else { return }
                await self.snapshotDurable(sequence)
            }
        } catch {
            logger.error("cannot append a state snapshot to the log", metadata: ["servha.error": "\(error)"])
        }
    }

    private static func every(_ interval: UInt64, _ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task {
            var next = monotonicNow()
            while !Task.isCancelled {
                await body()
                next += interval
                let now = monotonicNow()
                if next > now { try? await Task.sleep(nanoseconds: next - now) } else { next = now }
            }
        }
    }

    /// The heartbeat loop: a timer of the shell's own thread, due every heartbeat interval on a steady grid (a
    /// tick that ran late does not move the grid; once more than an interval late, the next runs at once). A tick may run up to a quarter interval early
    /// when the thread is awake anyway (the peer's heartbeats came in): the next one is then due an interval and
    /// a little after it, so that the peer's next heartbeats arrive just before it is due and it runs with them
    /// again. One node's ticks settle on the other's heartbeats and share their wake-ups (a third of its
    /// wake-ups saved), while the other keeps its own regular grid; heartbeats still go out at least every
    /// interval less a quarter. (Regular ticks matter to the log too: the times it stores compress to almost
    /// nothing while they come at a steady pace, and a tick timed from when the last one ran drifted by its
    /// wake-up latency, which cost a tenth more log.)
    private func scheduleTick(at deadline: UInt64) {
        let early = config.cluster.heartbeatInterval / 4
        executor.call(at: deadline, early: early) { [weak self] in self?.assumeIsolated { $0.tick(due: deadline) } }
    }

    private func tick(due: UInt64) {
        guard !stopped else { return }
        let interval = config.cluster.heartbeatInterval
        defer {
            let now = monotonicNow()
            scheduleTick(at: now < due ? now + interval + interval / 20 : max(due + interval, now))
        }
        let now = StampClock.monotonic()
        noteStall(now)
        carryOutNow(logged(driver.tick(at: now, wall: StampClock.wall(at: now))))
        console?.ticked(at: now)
        // systemd's watchdog is fed from the heartbeat loop itself: a daemon that no longer ticks is not alive.
        if let systemd, let every = systemd.watchdogEvery, now >= lastWatchdogPing + every, !stopped {
            lastWatchdogPing = now
            systemd.send("WATCHDOG=1")
        }
    }

    /// Says so when the heartbeat loop did not run for a good part of the lease (SIGSTOP, a host starved of CPU,
    /// a hypervisor that took the machine's CPUs away): the log shows only a gap, and a self-fence that follows
    /// would otherwise read as a network or disk problem. At most one line a minute.
    private func noteStall(_ now: Instant) {
        defer { lastTick = now }
        guard let last = lastTick, now > last else { return }
        let gap = now - last
        let interval = config.cluster.heartbeatInterval
        let renewalWindow = config.cluster.leaseDuration - config.cluster.safetyMargin
        guard gap >= interval + renewalWindow / 2, lastStallNote.map({ now >= $0 + 60_000_000_000 }) ?? true else {
            return
        }
        lastStallNote = now
        logger.warning(
            "the heartbeat loop did not run for \(gap / 1_000_000) ms (every \(interval / 1_000_000) ms expected; the lease allows \(renewalWindow / 1_000_000) ms without renewal): this process or the whole machine stood still (a stop signal, CPU starvation, or the hypervisor; `servha status` shows the scheduling)"
        )
    }

    /// Tells systemd (when it runs this daemon) that the daemon is up, or on its way out.
    public func notifySystemd(_ state: String) { systemd?.send(state) }

    private func probeArbitrator(_ arbitrator: ArbitratorConfig) async {
        let reachable = await ArbitratorProbe.reachable(arbitrator.address, timeout: arbitrator.timeout)
        await deliver(.arbitrator(reachable: reachable))
    }

    private func monitor(_ index: Int) async {
        guard !stopped else { return }
        let stamp = StampClock.now()
        await carryOut(logged(driver.monitorDue(index, at: stamp.at, wall: stamp.wall)))
    }

    // MARK: - Effects

    /// Appends what the driver derived to the log, in the driver's order, before anything else can reach the
    /// driver. It must not wait: the driver's step and its appends are one synchronous stretch of the actor, or an
    /// input arriving at an `await` between them would be stepped after but logged before, and replay would not
    /// reproduce the state the core decided on (caught by `replay verify` in an e2e run: a heartbeat logged before
    /// an admin command that the core had handled first). Every call site is `carryOut(logged(driver.…))`.
    private func logged(_ effects: [NodeDriver.Effect]) -> [NodeDriver.Effect] {
        guard !stopped, logFailure == nil else { return effects }
        for case .append(let events, _) in effects {
            do {
                if let console {
                    var entries: [ConsoleFeed.Entry] = []
                    entries.reserveCapacity(events.count)
                    for (event, draft) in zip(events, EventCodec.drafts(events, node: config.thisNode)) {
                        let sequence = try log.append(draft)
                        entries.append(ConsoleFeed.Entry(sequence: sequence, wall: draft.wallNanos, event: event))
                    }
                    console.appended(entries, state: driver.state)
                } else {
                    for draft in EventCodec.drafts(events, node: config.thisNode) { try log.append(draft) }
                }
            } catch {
                logFailure = error
                break
            }
        }
        return effects
    }

    /// Where carrying out one step's effects stands: the next effect, and whether its flush is done.
    private struct Progress {
        var next = 0
        var flushed = false
    }

    /// What carrying out must wait for before it goes on.
    private enum Pause {
        /// The log's flush: the step's events are durable before anything after them.
        case flush
        case cannotLog(any Error)
        /// An outcome known at once (a fence with nothing to run), handed back before the rest.
        case deliver(Input)
    }

    /// Carries out the driver's effects in order, once `logged` has appended their events: the events are made
    /// durable before anything with an outside effect, then the rest is started. Outcomes come back through the
    /// driver.
    private func carryOut(_ effects: [NodeDriver.Effect]) async {
        var progress = Progress()
        let pause = carryOutUntilPause(effects, &progress)
        await carryOut(effects, from: progress, after: pause)
    }

    /// The same, on the shell's thread outside a task (a datagram, the tick, a timer, a slot outcome): as far as
    /// the effects go without waiting, at once; from the first wait on, in a task (the wait is then this actor's
    /// await point, where other inputs may come in, as for any input).
    private func carryOutNow(_ effects: [NodeDriver.Effect]) {
        var progress = Progress()
        guard let pause = carryOutUntilPause(effects, &progress) else {
            stepDone()
            return
        }
        let resumed = progress
        Task(executorPreference: executor) { await self.carryOut(effects, from: resumed, after: pause) }
    }

    private func carryOut(_ effects: [NodeDriver.Effect], from start: Progress, after first: Pause?) async {
        var (progress, pause) = (start, first)
        while let waiting = pause {
            switch waiting {
            case .flush:
                do {
                    try await log.flush()  // decisions are durable before their effects
                    progress.flushed = true
                } catch {
                    await cannotLog(error)  // stops the shell: nothing after this is carried out
                }
            case .cannotLog(let error):
                await cannotLog(error)
            case .deliver(let input):
                await deliver(input)
            }
            pause = carryOutUntilPause(effects, &progress)
        }
        stepDone()
    }

    private func stepDone() {
        if snapshotDue { snapshotNow() }
        publishStatus()
    }

    /// Carries out effects from `progress` on, in order, until one must wait: returns what it waits for (nil when
    /// none is left, or the shell stopped).
    private func carryOutUntilPause(_ effects: [NodeDriver.Effect], _ progress: inout Progress) -> Pause? {
        while progress.next < effects.count {
            guard !stopped else { return nil }
            let effect = effects[progress.next]
            progress.next += 1
            switch effect {
            case .append(let events, let flush):
                if let logFailure { return .cannotLog(logFailure) }
                if flush && !progress.flushed {
                    progress.next -= 1  // this batch's notes come once it is durable
                    return .flush
                }
                progress.flushed = false
                for event in events { note(event) }
                // Before anything else of this batch: announcements stop the moment the group is not held here.
                hold.set(driver.state.role == .active ? driver.state.epoch : nil)
            case .send(let heartbeat):
                let packet = HeartbeatPacket(
                    cluster: config.cluster.cluster,
                    from: config.thisNode,
                    channel: UInt8(heartbeat.channel),
                    sequence: heartbeat.sequence,
                    echo: heartbeat.echo,
                    view: heartbeat.view
                )
                send(authenticator.seal(packet), heartbeat.channel)
            case .writeSlot(let counter, let view, let startedAt):
                let (store, name, node, executor) = (slots, config.thisNodeName, config.thisNode, executor)
                let wake = !Self.outcomeCanWait(driver.state)
                Self.slotWriter.submit { [weak self] in
                    let ok =
                        (try? store.write(nodeName: name, node: node, counter: counter, wall: wallNow(), view: view))
                        != nil
                    let (shell, done) = (self, StampClock.monotonic())
                    executor.post(wake: wake) {
                        shell?.assumeIsolated { $0.slotWritten(ok: ok, startedAt: startedAt, view: view, observedAt: done) }
                    }
                }
            case .readSlot(let startedAt):
                guard let peer = config.peer else { continue }
                let (store, executor) = (slots, executor)
                let wake = !Self.outcomeCanWait(driver.state)
                Self.slotReader.submit { [weak self] in
                    let reading = store.read(nodeName: peer.name, node: peer.id, startedAt: startedAt)
                    let (shell, done) = (self, StampClock.monotonic())
                    executor.post(wake: wake) { shell?.assumeIsolated { $0.slotRead(reading, observedAt: done) } }
                }
            case .runAgent(let index, let operation, let epoch):
                run(operation, index, epoch)
            case .wake(let at, let token):
                // Woken at the first stamp at or after `at`: stamps are rounded down, so an earlier wake-up would
                // be stamped before the deadline and do nothing.
                let due = (at + StampClock.resolution - 1) / StampClock.resolution * StampClock.resolution
                executor.call(at: due) { [weak self] in self?.assumeIsolated { $0.timerFired(token) } }
            case .announce:
                for agent in agents { Task { await agent.reassert() } }
            case .fence:
                guard let spec = config.fencing, let peer = config.peer else {
                    return .deliver(.fenceOutcome(succeeded: false, detail: "no fencing configured"))
                }
                logger.notice("fencing \(peer.name): \(spec.agent) \(spec.action)")
                Task { [weak self] in
                    let result = await FenceAgent.run(spec, action: spec.action, node: peer.name)
                    await self?.deliver(.fenceOutcome(succeeded: result.succeeded, detail: result.detail))
                }
            case .guardLease(let until):
                guardLink?.arm(until: until)
            case .raiseAlarm(let alarm):
                alarms?.send(alarm, raised: true)
            case .clearAlarm(let kind):
                alarms?.send(Alarm(kind: kind, severity: .warning, message: "", epoch: driver.state.epoch), raised: false)
            }
        }
        return nil
    }

    /// Whether the outcome of a slot write or read may wait for the shell's next wake-up (a heartbeat's arrival or
    /// the next tick, at most an interval away) instead of waking it: while the pair runs steadily, one node
    /// active and the other standby, hearing each other over the network. Each outcome still carries the instant
    /// it came back, so what the core decides from it is the same, only up to an interval later: on an idle pair
    /// that is half of the shell's wake-ups saved. Claims, releases, starts and a silent peer wake it at once (the
    /// failover's own steps: a claim's write and its check read must not wait a tick each).
    static func outcomeCanWait(_ state: State) -> Bool {
        (state.role == .standby || state.role == .active) && state.hearsPeerOnTheNetwork && !state.maintenance
    }

    /// A node that cannot log cannot decide: it stops heartbeating and writing its slot (so the peer takes over
    /// after the lease), takes the group down at once without the log (the guard removes the addresses and kills
    /// the cgroup; the agents kill too, in group order, the VIP first), sends the alarm straight to the sinks, and
    /// tells the daemon to exit non-zero so that systemd restarts it.
    private func cannotLog(_ error: any Error) async {
        guard !stopped else { return }
        let reason = "the event log failed (\(error))"
        logger.critical(
            "\(reason): this node cannot decide any more; taking the group down, no more heartbeats, exiting",
            metadata: ["servha.error": "\(error)"]
        )
        stopped = true
        console?.failed(reason)
        for task in tasks { task.cancel() }
        tasks.removeAll()
        hold.set(nil)
        let held = driver.state.anyResourceUp || driver.state.role == .active
        if held { guardLink?.arm(until: 0) }
        alarms?.send(
            Alarm(
                kind: .selfFenced,
                severity: .critical,
                message: "\(config.thisNodeName): \(reason); group taken down here, daemon exiting",
                epoch: driver.state.epoch
            ),
            raised: true
        )
        // Kept beside the admin socket (not on the failing disk) until a later run can put it in the log.
        let note = "\(config.thisNodeName) stopped deciding at \(Date()): \(reason); it took the group down and exited"
        FileManager.default.createFile(atPath: Self.logFailureMarker(config), contents: Data(note.utf8))
        if held {
            for (index, agent) in agents.enumerated() {
                let outcome = await agent.perform(.kill, timeout: min(config.resources[index].stopTimeout, 5_000_000_000))
                logger.notice("\(config.resources[index].name) kill (log failed): \(outcome.result)")
            }
        }
        fatal.yield(reason)
    }

    /// The threads that write this node's slot and read the peer's (one daemon per process: shared).
    private static let slotWriter = BlockingWorker(name: "servha slot out")
    private static let slotReader = BlockingWorker(name: "servha slot in")

    /// Where a failed log is noted for the next run to record.
    static func logFailureMarker(_ config: DaemonConfig) -> String { config.adminSocket + ".log-failure" }

    /// Records what the last run could not (its log had failed), now that the log works; then forgets it.
    public func recordLateNotes() async {
        let path = Self.logFailureMarker(config)
        guard let data = FileManager.default.contents(atPath: path) else { return }
        await deliver(.lateRecord(String(decoding: data, as: UTF8.self)))
        if !stopped { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Whether the shell has stopped (stop, or a failed log).
    public var hasStopped: Bool { stopped }

    /// A slot write came back at `observedAt` (the disk thread's stamp: the outcome may have waited for this
    /// thread's next wake-up, see `outcomeCanWait`).
    private func slotWritten(ok: Bool, startedAt: Instant, view: Advertisement, observedAt: Instant) {
        guard !stopped else { return }
        let at = inOrder(observedAt)
        carryOutNow(
            logged(
                driver.slotWritten(
                    succeeded: ok, startedAt: startedAt, view: view, at: at, wall: StampClock.wall(at: at)
                )
            )
        )
    }

    private func slotRead(_ reading: SlotReading, observedAt: Instant) {
        guard !stopped else { return }
        let at = inOrder(observedAt)
        carryOutNow(logged(driver.slotRead(reading, at: at, wall: StampClock.wall(at: at))))
    }

    /// An outcome's own instant, or the newest input's when that is later: an outcome that waited may have come
    /// back before an input stepped meanwhile, and the log's times never go back.
    private func inOrder(_ observed: Instant) -> Instant {
        max(observed, driver.state.now)
    }

    private func timerFired(_ token: UInt64) {
        guard !stopped else { return }
        let stamp = StampClock.now()
        carryOutNow(logged(driver.timerFired(token: token, at: stamp.at, wall: stamp.wall)))
    }

    private func run(_ operation: ResourceOperation, _ index: Int, _ epoch: Epoch) {
        let agent = agents[index]
        let spec = config.resources[index]
        let timeout: UInt64
        switch operation {
        case .start: timeout = spec.startTimeout
        case .stop: timeout = spec.stopTimeout
        case .monitor: timeout = spec.monitorTimeout
        case .kill: timeout = min(spec.stopTimeout, 5_000_000_000)
        }
        Task { [weak self] in
            let outcome = await agent.perform(operation, timeout: timeout)
            await self?.agentFinished(
                ResourceOutcome(
                    resource: index,
                    operation: operation,
                    result: outcome.result,
                    epoch: epoch,
                    tookNanos: outcome.tookNanos,
                    output: outcome.output
                )
            )
        }
    }

    private func agentFinished(_ outcome: ResourceOutcome) async {
        guard !stopped else { return }
        let stamp = StampClock.now()
        await carryOut(logged(driver.agentFinished(outcome, at: stamp.at, wall: stamp.wall)))
    }

    /// Logs derived events for the operator (the log holds them all; this is the readable summary).
    private func note(_ event: Event) {
        switch event {
        case .decision(let decision):
            logger.notice("\(decision.kind): \(decision.reason)", metadata: ["servha.epoch": "\(decision.epoch)"])
        case .peerDeclaredDead:
            logger.warning("peer declared dead")
        case .commandRefused(let command, let reason):
            refusalsSeen += 1
            lastRefusal = reason
            logger.notice("refused \(command.verb): \(reason)", metadata: ["servha.source": "\(command.source)"])
        case .rejected(_, let reason):
            logger.warning("input rejected: \(reason)")
        case .input(let stamped):
            if case .resourceOutcome(let outcome) = stamped.input, outcome.result != .succeeded {
                let name = outcome.resource < config.resources.count ? config.resources[outcome.resource].name : "?"
                logger.warning(
                    "\(name) \(outcome.operation): \(outcome.result)",
                    metadata: ["servha.output": "\(outcome.output.prefix(400))"]
                )
            }
        case .channelChanged, .peerSuspected, .peerAlive, .issued, .stateDigest, .snapshot:
            break
        }
    }
}

/// Runs blocking work (fsync'ed writes, reads of shared storage) on threads of its own, never on the
/// cooperative pool, so that a hung NFS mount cannot starve the rest of the daemon.
/// A long-lived thread for blocking calls (slot writes and reads on shared storage, which may stall for seconds),
/// so that they never hold a thread of the cooperative pool. One per kind of call: the driver keeps at most one
/// write and one read in flight, and a thread made per call (hundreds a second at a 10 ms heartbeat) costs the
/// whole process a trip through the kernel's memory map each time.
final class BlockingWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    init(name: String) {
        startThread(named: name) { [unowned(unsafe) self] in self.loop() }
    }

    /// Runs `job` on this worker's thread, after the jobs before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// Heartbeat loss on one channel, from the sender's sequence numbers (consecutive packets on a channel are
/// `channels` apart, since the sender numbers its heartbeats across all channels), over windows of about
/// 500 packets (10 s at the default interval): `status` shows the last full window, or the one filling.
/// A silence of more than `silenceGap` packets (a partition, a peer restart: the channel is reported down for
/// those) starts a new window rather than counting as loss, so the figure after a heal is about now.
struct ChannelLoss: Sendable {
    private var first: UInt64?
    private var last: UInt64 = 0
    private var count = 0
    private var channels = 1
    private var previousFraction: Double?
    static let silenceGap: UInt64 = 250

    /// Counts a heartbeat; returns how many of the peer's heartbeats on this channel were skipped just before it
    /// (lost, or still to come out of order), 0 across a silence that starts a new window.
    @discardableResult
    mutating func received(_ sequence: UInt64, channels: Int) -> Int {
        self.channels = max(1, channels)
        guard let start = first, sequence >= start else {
            first = sequence
            last = sequence
            count = 1
            return 0
        }
        if sequence > last && (sequence - last) / UInt64(self.channels) > Self.silenceGap {
            first = sequence
            last = sequence
            count = 1
            previousFraction = nil
            return 0
        }
        let missed = sequence > last ? Int((sequence - last) / UInt64(self.channels)) - 1 : 0
        last = max(last, sequence)
        count += 1
        let expected = Int((last - start) / UInt64(max(1, channels))) + 1
        if expected >= 500 {
            previousFraction = max(0, 1 - Double(count) / Double(expected))
            first = nil
        }
        return max(0, missed)
    }

    var fraction: Double? {
        if let previousFraction { return previousFraction }
        guard let start = first, count > 1 else { return nil }
        let expected = Int((last - start) / UInt64(channels)) + 1
        return max(0, 1 - Double(count) / Double(max(expected, count)))
    }
}
