import Coordinator
import EventLog
import Foundation
import Logging

/// The shell around one node's core: it turns the world into stamped inputs, hands them to the core one at
/// a time, appends what the core derived to the log (durably before any action with an outside effect), and
/// carries the actions out, feeding each outcome back as a new input.
///
/// Periodic work (heartbeats, the disk slot, the arbitrator, monitors) runs in its own tasks, and the slow
/// parts (disk writes, resource agents) run off the actor, so that a stalled disk or agent never delays a
/// heartbeat.
public actor NodeShell {
    public let config: DaemonConfig
    private var core: Coordinator
    private let log: EventLogWriter
    private let slots: DiskSlotStore
    private let agents: [any ResourceAgent]
    private let logger: Logger
    private let send: @Sendable ([UInt8], Int) -> Void
    private var authenticator: HeartbeatAuthenticator
    private var alarms: AlarmDispatcher?

    private var sendSequence: UInt64 = 0
    private var sentAt: [UInt64: Instant] = [:]
    private var newestReceived: UInt64 = 0
    private var slotCounter: UInt64
    private var slotWriteInFlight = false
    private var slotWriteAgain = false
    private var slotReadInFlight = false
    private var slotReadAgain = false
    private var timerToken: UInt64 = 0
    private var rejections = RejectionCounter()
    private var loss: [ChannelLoss] = []
    private var tasks: [Task<Void, Never>] = []
    private var stopped = false
    /// Refused admin commands so far, and the last reason (for the admin socket's reply).
    private(set) var refusalsSeen = 0
    private(set) var lastRefusal: String?

    public init(
        config: DaemonConfig,
        core: Coordinator,
        log: EventLogWriter,
        slots: DiskSlotStore,
        agents: [any ResourceAgent],
        authenticator: HeartbeatAuthenticator,
        send: @escaping @Sendable ([UInt8], Int) -> Void,
        logger: Logger
    ) {
        self.config = config
        self.core = core
        self.log = log
        self.slots = slots
        self.agents = agents
        self.authenticator = authenticator
        self.send = send
        self.logger = logger
        slotCounter = UInt64(max(0, wallNow() / 1_000_000))  // keeps increasing across restarts
        sendSequence = HeartbeatPacket.initialSequence(wallNanos: wallNow())  // so is the heartbeat sequence
    }

    // MARK: - Inputs

    /// Hands one input to the core, stamped now (or at `at`, when it was observed earlier).
    public func deliver(_ input: Input, at: Instant? = nil) async {
        guard !stopped else { return }
        let stamped = StampedInput(at: at ?? monotonicNow(), wall: wallNow(), input)
        let output = core.handle(stamped)
        do {
            for draft in EventCodec.drafts(output.events, node: config.thisNode) { try log.append(draft) }
            if output.actions.contains(where: \.hasOutsideEffect) {
                try await log.flush()  // decisions are durable before their effects
            }
        } catch {
            logger.critical("event log failed; stopping", metadata: ["servha.error": "\(error)"])
            stopped = true
            return
        }
        for event in output.events { note(event) }
        for action in output.actions { execute(action) }
    }

    /// A datagram from a heartbeat channel.
    public func received(_ bytes: [UInt8], channel: Int, source: String, at: Instant) async {
        switch authenticator.open(bytes, channel: channel, source: source) {
        case .accepted(let packet):
            newestReceived = max(newestReceived, packet.sequence)
            if loss.count != config.channels.count {
                loss = Array(repeating: ChannelLoss(), count: config.channels.count)
            }
            if channel < loss.count { loss[channel].received(packet.sequence, channels: config.channels.count) }
            let heartbeat = Heartbeat(
                channel: UInt8(channel),
                from: packet.from,
                sequence: packet.sequence,
                view: packet.view,
                echoOfOwnSentAt: packet.echo == 0 ? nil : sentAt[packet.echo],
                echo: packet.echo
            )
            await deliver(.heartbeat(heartbeat), at: at)
        case .rejected(let rejected):
            if rejections.shouldRecord(reason: rejected.reason, at: at) {
                logger.warning(
                    "heartbeat rejected",
                    metadata: ["servha.reason": "\(rejected.reason)", "servha.source": "\(rejected.source)"]
                )
                await deliver(.rejected(rejected), at: at)
            }
        }
    }

    public var state: State { core.state }
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
        for notice in core.state.pendingNotices {
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
        let interval = config.cluster.heartbeatInterval
        tasks.append(Self.every(interval) { [weak self] in await self?.tick() })
        if let arbitrator = config.arbitrator {
            tasks.append(Self.every(arbitrator.interval) { [weak self] in await self?.probeArbitrator(arbitrator) })
        }
        for (index, resource) in config.resources.enumerated() {
            tasks.append(Self.every(resource.monitorInterval) { [weak self] in await self?.monitor(index) })
        }
    }

    public func stop() {
        stopped = true
        for task in tasks { task.cancel() }
        tasks.removeAll()
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

    private func tick() async {
        sendHeartbeats()
        startSlotWrite()
        startSlotRead()
    }

    private func sendHeartbeats() {
        let view = core.advertisement
        for channel in config.channels.indices {
            sendSequence += 1
            sentAt[sendSequence] = monotonicNow()
            if sendSequence > 256 { sentAt[sendSequence - 256] = nil }
            let packet = HeartbeatPacket(
                cluster: config.cluster.cluster,
                from: config.thisNode,
                channel: UInt8(channel),
                sequence: sendSequence,
                echo: newestReceived,
                view: view
            )
            send(authenticator.seal(packet), channel)
        }
    }

    private func startSlotWrite() {
        guard !slotWriteInFlight else {
            slotWriteAgain = true
            return
        }
        slotWriteInFlight = true
        slotCounter += 1
        let (store, name, node, counter, view) = (
            slots, config.thisNodeName, config.thisNode, slotCounter, core.advertisement
        )
        let started = monotonicNow()
        Task.detached { [weak self] in
            let ok = await BlockingIO.run {
                (try? store.write(nodeName: name, node: node, counter: counter, wall: wallNow(), view: view)) != nil
            }
            await self?.slotWritten(ok: ok, startedAt: started, view: view)
        }
    }

    private func slotWritten(ok: Bool, startedAt: Instant, view: Advertisement) async {
        slotWriteInFlight = false
        await deliver(.slotWritten(SlotWrite(succeeded: ok, startedAt: startedAt, owns: view.owns, epoch: view.epoch)))
        if slotWriteAgain {
            slotWriteAgain = false
            startSlotWrite()
        }
    }

    private func startSlotRead() {
        guard let peer = config.peer else { return }
        guard !slotReadInFlight else {
            slotReadAgain = true
            return
        }
        slotReadInFlight = true
        let store = slots
        let started = monotonicNow()
        Task.detached { [weak self] in
            let reading = await BlockingIO.run { store.read(nodeName: peer.name, node: peer.id, startedAt: started) }
            await self?.slotRead(reading)
        }
    }

    private func slotRead(_ reading: SlotReading) async {
        slotReadInFlight = false
        await deliver(.diskSlot(reading))
        if slotReadAgain {
            slotReadAgain = false
            startSlotRead()
        }
    }

    private func probeArbitrator(_ arbitrator: ArbitratorConfig) async {
        let reachable = await ArbitratorProbe.reachable(arbitrator.address, timeout: arbitrator.timeout)
        await deliver(.arbitrator(reachable: reachable))
    }

    private func monitor(_ index: Int) async {
        guard index < core.state.resources.count, core.state.resources[index] == .running else { return }
        let spec = config.resources[index]
        let agent = agents[index]
        let epoch = core.state.epoch
        let outcome = await agent.perform(.monitor, timeout: spec.monitorTimeout)
        guard core.state.resources[index] == .running else { return }  // stopped meanwhile: stale result
        await deliver(
            .resourceOutcome(
                ResourceOutcome(
                    resource: index,
                    operation: .monitor,
                    result: outcome.result,
                    epoch: epoch,
                    tookNanos: outcome.tookNanos,
                    output: outcome.output
                )
            )
        )
    }

    // MARK: - Actions

    private func execute(_ action: Action) {
        switch action {
        case .armTimer(let at):
            timerToken += 1
            let token = timerToken
            Task { [weak self] in
                let now = monotonicNow()
                if at > now { try? await Task.sleep(nanoseconds: at - now) }
                await self?.timerFired(token)
            }
        case .writeSlot:
            startSlotWrite()
        case .readPeerSlot:
            startSlotRead()
        case .startResource(let index, let epoch):
            run(.start, index, epoch, timeout: config.resources[index].startTimeout)
        case .stopResource(let index, let epoch):
            run(.stop, index, epoch, timeout: config.resources[index].stopTimeout)
        case .killResource(let index, let epoch):
            run(.kill, index, epoch, timeout: min(config.resources[index].stopTimeout, 5_000_000_000))
        case .fencePeer:
            let command = config.fenceCommand ?? "false"
            Task { [weak self] in
                let outcome = await ProcessRunner.run(shell: command, environment: [:], timeout: 60_000_000_000)
                let ok = outcome.result == .succeeded
                await self?.deliver(.fenceOutcome(succeeded: ok, detail: outcome.output))
            }
        case .raiseAlarm(let alarm):
            alarms?.send(alarm, raised: true)
        case .clearAlarm(let kind):
            alarms?.send(Alarm(kind: kind, severity: .warning, message: "", epoch: core.state.epoch), raised: false)
        }
    }

    private func run(_ operation: ResourceOperation, _ index: Int, _ epoch: Epoch, timeout: UInt64) {
        let agent = agents[index]
        Task { [weak self] in
            let outcome = await agent.perform(operation, timeout: timeout)
            await self?.deliver(
                .resourceOutcome(
                    ResourceOutcome(
                        resource: index,
                        operation: operation,
                        result: outcome.result,
                        epoch: epoch,
                        tookNanos: outcome.tookNanos,
                        output: outcome.output
                    )
                )
            )
        }
    }

    private func timerFired(_ token: UInt64) async {
        guard token == timerToken else { return }
        await deliver(.timerFired)
    }

    /// Logs derived events for the operator (the log holds them all; this is the readable summary).
    private func note(_ event: Event) {
        switch event {
        case .decision(let decision):
            logger.notice("\(decision.kind): \(decision.reason)", metadata: ["servha.epoch": "\(decision.epoch)"])
        case .peerDeclaredDead:
            logger.warning("peer declared dead")
        case .peerAlive:
            // Re-assert: switches may have learnt another MAC for the VIP while the peer was gone.
            if core.state.role == .active {
                for (index, agent) in agents.enumerated() where core.state.resources[index] == .running {
                    Task { await agent.reassert() }
                }
            }
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
        default:
            break
        }
    }
}

/// Runs blocking work (fsync'ed writes, reads of shared storage) on threads of its own, never on the
/// cooperative pool, so that a hung NFS mount cannot starve the rest of the daemon.
enum BlockingIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}

/// Heartbeat loss on one channel, from the sender's sequence numbers (consecutive packets on a channel are
/// `channels` apart, since the sender numbers its heartbeats across all channels), over windows of about
/// 500 packets.
struct ChannelLoss: Sendable {
    private var first: UInt64?
    private var last: UInt64 = 0
    private var count = 0
    private var channels = 1
    private var previousFraction: Double?

    mutating func received(_ sequence: UInt64, channels: Int) {
        self.channels = max(1, channels)
        guard let start = first, sequence >= start else {
            first = sequence
            last = sequence
            count = 1
            return
        }
        last = max(last, sequence)
        count += 1
        let expected = Int((last - start) / UInt64(max(1, channels))) + 1
        if expected >= 500 {
            previousFraction = max(0, 1 - Double(count) / Double(expected))
            first = nil
        }
    }

    var fraction: Double? {
        if let previousFraction { return previousFraction }
        guard let start = first, count > 1 else { return nil }
        let expected = Int((last - start) / UInt64(channels)) + 1
        return max(0, 1 - Double(count) / Double(max(expected, count)))
    }
}
