/// The bookkeeping around one node's core, written once for the daemon, the simulator and what-if.
///
/// The core decides *what*; the driver decides *when and how often*; the executors (the daemon's I/O edge, the
/// simulated world, what-if's recorded answers) only carry effects out and report what came of them as new
/// observations, stamped with the time they were observed. What the driver owns:
/// - the heartbeat sequence (a boot nonce plus a counter, never the wall clock) and the table of send times that
///   turns an echoed sequence into the instant that renews the lease;
/// - one slot write and one slot read in flight at a time (a request that arrives meanwhile runs once the
///   current one is back, with the view as of then);
/// - the timer token (only the newest armed timer fires);
/// - one monitor per resource at a time, and monitor results that arrive after the resource stopped are dropped;
/// - the resume rule: before it sends or writes anything, the driver lets the core look at the time, so that a
///   node that was paused past its lease steps down before it claims the group again.
///
/// Each observation returns the effects in the order they must be carried out. An `append` comes first
/// whenever the core derived events; when it says `flush`, the events must be durable before any later effect.
///
/// What must be durable first (docs/log-format.md, "What a tick writes"): every effect on the world that changes
/// who runs what (a start, stop or kill, a fence, an announcement, an alarm) and every slot write whose view
/// differs from the last view made durable (a claim, a release, a new epoch, a role or health change). A routine
/// renewal, a slot write repeating the durable view, is not flushed for: a node that loses such a tail in a crash
/// comes back believing its lease ended earlier than its slot says, which only makes it more careful, and the peer
/// goes by the slot on the shared disk, which is written either way. The writer commits these within its bound.
public struct NodeDriver: Sendable {
    public private(set) var core: Coordinator
    /// The sequence of the last heartbeat sent (across all channels).
    public private(set) var sendSequence: UInt64
    /// The newest sequence received from the peer, echoed in every heartbeat sent.
    public private(set) var newestReceived: UInt64 = 0
    /// The counter written with the last slot write (the peer sees it change while this node lives).
    public private(set) var slotCounter: UInt64
    /// The token of the newest armed timer: a wake-up with another token is stale.
    public private(set) var timerToken: UInt64 = 0
    private var sentAt: [(sequence: UInt64, at: Instant)]
    private var write = InFlight()
    private var read = InFlight()
    private var monitoring: [Bool] = []
    /// The deadline last handed to the guard (nil: disarmed).
    public private(set) var guardDeadline: Instant?
    /// The view as of the last flush: a slot write repeating it is a routine renewal, written without one.
    private var durableView: Advertisement?
    /// The last slot write asked for: when, and with what view (see `routineWriteDue`).
    private var lastWrite: (at: Instant, view: Advertisement)?
    /// The send time of the newest own heartbeat the peer echoed (when it last heard this node).
    private var newestEchoSent: Instant?

    /// How many of its own heartbeats a node remembers the send time of (an echo older than that renews nothing).
    public static let echoWindow = 256

    /// - Parameters:
    ///   - sequenceStart: where this boot's heartbeat sequence starts: a random nonce, so that a restarted
    ///     node's sequences are not taken for replays, whatever its clock did.
    ///   - slotCounterStart: where the slot counter starts (it must keep increasing across restarts for the peer
    ///     to see the slot change).
    public init(core: Coordinator, sequenceStart: UInt64, slotCounterStart: UInt64) {
        self.core = core
        sendSequence = sequenceStart
        slotCounter = slotCounterStart
        sentAt = Array(repeating: (0, 0), count: Self.echoWindow)
    }

    public var state: State { core.state }

    /// A boot nonce: the top bits of a random value, leaving room below for a counter that cannot wrap.
    public static func sequenceStart(random: UInt64) -> UInt64 { (random >> 24) << 16 }

    // MARK: - Effects

    /// A heartbeat for the executor to seal and send.
    public struct OutgoingHeartbeat: Sendable, Hashable {
        public var channel: Int
        public var sequence: UInt64
        public var echo: UInt64
        public var view: Advertisement
    }

    /// What the executor does, in order.
    public enum Effect: Sendable, Hashable {
        /// Append these events to the log; with `flush`, make them durable before carrying out the rest.
        case append([Event], flush: Bool)
        case send(OutgoingHeartbeat)
        /// Write this node's slot (counter, view); report with `slotWritten`.
        case writeSlot(counter: UInt64, view: Advertisement, startedAt: Instant)
        /// Read the peer's slot; report with `slotRead`.
        case readSlot(startedAt: Instant)
        /// Run a resource agent; report with `agentFinished`.
        case runAgent(resource: Int, operation: ResourceOperation, epoch: Epoch)
        /// Call `timerFired(token:)` at this instant.
        case wake(at: Instant, token: UInt64)
        /// Announce the group's addresses again (gratuitous ARP), while the group runs here at this epoch.
        case announce(epoch: Epoch)
        case fence(epoch: Epoch)
        /// Tell the guard (a process apart from this one) when to take the group down here if no later word
        /// comes: remove the addresses, then kill every process of the group. nil disarms it. The guard acts even
        /// when this process is paused, which is its point.
        case guardLease(until: Instant?)
        case raiseAlarm(Alarm)
        case clearAlarm(AlarmKind)
    }

    // MARK: - Observations

    /// Any input the executor observed that needs no bookkeeping (start, configuration, arbitrator, operator
    /// commands, fence outcomes, alarm deliveries, refused packets).
    public mutating func observe(_ input: Input, at: Instant, wall: Int64) -> [Effect] {
        var effects: [Effect] = []
        if case .started = input {
            // A new boot: nothing from before is in flight any more.
            write = InFlight()
            read = InFlight()
            lastWrite = nil
            monitoring = []
            timerToken += 1
        }
        feed(input, at: at, wall: wall, into: &effects)
        return effects
    }

    /// The heartbeat interval passed: heartbeats on every channel, the own slot written (see `routineWriteDue`),
    /// the peer's slot read.
    public mutating func tick(at: Instant, wall: Int64) -> [Effect] {
        var effects: [Effect] = []
        resume(at: at, wall: wall, into: &effects)
        guard let config = core.state.config, core.state.startedAt != nil else { return effects }
        let view = core.advertisement
        for channel in config.networkChannels.indices {
            sendSequence &+= 1
            sentAt[Int(sendSequence % UInt64(Self.echoWindow))] = (sendSequence, at)
            effects.append(
                .send(OutgoingHeartbeat(channel: channel, sequence: sendSequence, echo: newestReceived, view: view))
            )
        }
        if routineWriteDue(at: at, view: view, config) { requestWrite(at: at, into: &effects) }
        requestRead(at: at, into: &effects)
        return effects
    }

    /// An authenticated heartbeat arrived on a network channel.
    public mutating func received(
        channel: Int,
        from: NodeID,
        sequence: UInt64,
        echo: UInt64,
        view: Advertisement,
        at: Instant,
        wall: Int64
    ) -> [Effect] {
        newestReceived = max(newestReceived, sequence)
        let echoSent = echo == 0 ? nil : sentTime(of: echo)
        if let echoSent { newestEchoSent = max(newestEchoSent ?? 0, echoSent) }
        let heartbeat = Heartbeat(
            channel: UInt8(truncatingIfNeeded: channel),
            from: from,
            sequence: sequence,
            view: view,
            echoOfOwnSentAt: echoSent,
            echo: echo
        )
        var effects: [Effect] = []
        feed(.heartbeat(heartbeat), at: at, wall: wall, into: &effects)
        return effects
    }

    /// This node's slot write finished.
    public mutating func slotWritten(succeeded: Bool, startedAt: Instant, view: Advertisement, at: Instant, wall: Int64)
        -> [Effect]
    {
        let written = SlotWrite(
            succeeded: succeeded,
            startedAt: startedAt,
            owns: view.owns,
            epoch: view.epoch,
            diskOnly: view.diskOnlyLease
        )
        return finished(write: true, .slotWritten(written), at: at, wall: wall)
    }

    /// A read of the peer's slot finished.
    public mutating func slotRead(_ reading: SlotReading, at: Instant, wall: Int64) -> [Effect] {
        finished(write: false, .diskSlot(reading), at: at, wall: wall)
    }

    /// A resource's monitor interval passed: one monitor, if the resource runs and none is already running.
    public mutating func monitorDue(_ resource: Int, at: Instant, wall: Int64) -> [Effect] {
        var effects: [Effect] = []
        resume(at: at, wall: wall, into: &effects)
        let state = core.state
        guard resource < state.resources.count, state.resources[resource] == .running else { return effects }
        if monitoring.count != state.resources.count { monitoring = Array(repeating: false, count: state.resources.count) }
        guard !monitoring[resource] else { return effects }
        monitoring[resource] = true
        effects.append(.runAgent(resource: resource, operation: .monitor, epoch: state.epoch))
        return effects
    }

    /// A resource agent finished. A monitor's result is dropped when the resource stopped meanwhile (it
    /// describes something that no longer exists).
    public mutating func agentFinished(_ outcome: ResourceOutcome, at: Instant, wall: Int64) -> [Effect] {
        var effects: [Effect] = []
        if outcome.operation == .monitor {
            if outcome.resource < monitoring.count { monitoring[outcome.resource] = false }
            let resources = core.state.resources
            guard outcome.resource < resources.count, resources[outcome.resource] == .running else { return effects }
        }
        feed(.resourceOutcome(outcome), at: at, wall: wall, into: &effects)
        return effects
    }

    /// A wake-up the driver asked for (`wake`); stale tokens are ignored.
    public mutating func timerFired(token: UInt64, at: Instant, wall: Int64) -> [Effect] {
        guard token == timerToken else { return [] }
        var effects: [Effect] = []
        feed(.timerFired, at: at, wall: wall, into: &effects)
        return effects
    }

    // MARK: - Inside

    private struct InFlight: Sendable {
        var busy = false
        var again = false
    }

    /// A slot write or read came back: the core hears of it, then the one asked for meanwhile (if any) starts.
    /// (A flag rather than a key path to `write` or `read`: a key path is looked up at run time, a hundred times a
    /// second on an idle node.)
    private mutating func finished(write isWrite: Bool, _ input: Input, at: Instant, wall: Int64) -> [Effect] {
        var effects: [Effect] = []
        if isWrite { write.busy = false } else { read.busy = false }
        feed(input, at: at, wall: wall, into: &effects)
        if isWrite && write.again {
            write.again = false
            requestWrite(at: at, into: &effects)
        } else if !isWrite && read.again {
            read.again = false
            requestRead(at: at, into: &effects)
        }
        return effects
    }

    private func sentTime(of sequence: UInt64) -> Instant? {
        let entry = sentAt[Int(sequence % UInt64(Self.echoWindow))]
        return entry.sequence == sequence ? entry.at : nil
    }

    /// Before anything goes out: if the lease ran out while nothing woke this node (a paused process, a frozen
    /// host), the core must see the time first and step down.
    private mutating func resume(at: Instant, wall: Int64, into effects: inout [Effect]) {
        guard core.state.leaseRunsOut(by: at) else { return }
        feed(.timerFired, at: at, wall: wall, into: &effects)
    }

    /// Whether this tick writes the slot. Every tick, except while the two nodes hear each other both ways over
    /// the network (a heartbeat from the peer, and its echo of one of this node's, each within half a channel
    /// deadline), the peer accepts this node's ownership if it holds the group, and the slot would only say
    /// again what it says: then every `quietWriteInterval`, which halves an idle pair's slot writes at the
    /// default timings.
    ///
    /// Why that is safe: a node that claims counts from the last change it saw in the peer's slot *and* from the
    /// last heartbeat it heard, whichever is later, so a slot written less often only lets the disk go quiet
    /// sooner while the heartbeats keep the claim away; the holder's lease is renewed by the echoes meanwhile.
    /// Both conditions fail within half a channel deadline of the network going quiet (before any lease or
    /// claim wait runs out), and a changed view (a claim, a release, a role, health or disk-only lease) is
    /// written at once.
    private mutating func routineWriteDue(at: Instant, view: Advertisement, _ config: ClusterConfig) -> Bool {
        guard let last = lastWrite, last.view == view else { return true }
        let quiet = Self.quietWriteInterval(config)
        guard quiet > config.heartbeatInterval else { return true }
        let state = core.state
        // A holder whose peer does not accept its ownership renews by its slot writes alone.
        if view.owns && !state.peerView.acknowledgesPeer { return true }
        let fresh = config.channelDeadline / 2
        guard let heard = state.lastHeardNetwork, at < heard + fresh, let echoed = newestEchoSent, at < echoed + fresh
        else {
            return true
        }
        // Half an interval early counts as on time: ticks are stamped a little after they are due.
        return at + config.heartbeatInterval / 2 >= last.at + quiet
    }

    /// How often a routine slot write goes out while the pair hears each other (`routineWriteDue`): the peer,
    /// reading every tick, must see the slot change well within a channel deadline, or it would report the disk
    /// channel down: a write interval, a read interval and an interval of lateness on each side fit in it.
    /// 40 ms at the default timings (every second tick); the fast profile's 10 ms (every tick: not relaxed).
    public static func quietWriteInterval(_ config: ClusterConfig) -> Nanos {
        config.channelDeadline > 3 * config.heartbeatInterval ? config.channelDeadline - 3 * config.heartbeatInterval : 0
    }

    private mutating func requestWrite(at: Instant, into effects: inout [Effect]) {
        guard !write.busy else {
            write.again = true
            return
        }
        write.busy = true
        slotCounter &+= 1
        let view = core.advertisement
        lastWrite = (at, view)
        if view != durableView {
            // The events that made this view are durable before the slot tells the peer about it.
            if case .append(let events, false)? = effects.last {
                effects[effects.count - 1] = .append(events, flush: true)
            } else {
                effects.append(.append([], flush: true))
            }
            durableView = view
        }
        effects.append(.writeSlot(counter: slotCounter, view: view, startedAt: at))
    }

    private mutating func requestRead(at: Instant, into effects: inout [Effect]) {
        guard let config = core.state.config, config.peer(of: core.state.me) != nil else { return }
        guard !read.busy else {
            read.again = true
            return
        }
        read.busy = true
        effects.append(.readSlot(startedAt: at))
    }

    private mutating func feed(_ input: Input, at: Instant, wall: Int64, into effects: inout [Effect]) {
        let output = core.handle(StampedInput(at: at, wall: wall, input))
        if !output.events.isEmpty {
            // A slot write decides its own flush (requestWrite): only a changed view needs one.
            let flush = output.actions.contains { $0.hasOutsideEffect && !$0.isSlotWrite }
            effects.append(.append(output.events, flush: flush))
            if flush { durableView = core.advertisement }
        }
        for action in output.actions {
            switch action {
            case .armTimer(let instant):
                timerToken += 1
                effects.append(.wake(at: instant, token: timerToken))
            case .writeSlot:
                requestWrite(at: at, into: &effects)
            case .readPeerSlot:
                requestRead(at: at, into: &effects)
            case .startResource(let r, let epoch):
                effects.append(.runAgent(resource: r, operation: .start, epoch: epoch))
            case .stopResource(let r, let epoch):
                effects.append(.runAgent(resource: r, operation: .stop, epoch: epoch))
            case .killResource(let r, let epoch):
                effects.append(.runAgent(resource: r, operation: .kill, epoch: epoch))
            case .fencePeer(let epoch):
                effects.append(.fence(epoch: epoch))
            case .announce(let epoch):
                effects.append(.announce(epoch: epoch))
            case .raiseAlarm(let alarm):
                effects.append(.raiseAlarm(alarm))
            case .clearAlarm(let kind):
                effects.append(.clearAlarm(kind))
            }
        }
        let deadline = Self.guardDeadline(core.state)
        if deadline != guardDeadline {
            guardDeadline = deadline
            effects.append(.guardLease(until: deadline))
        }
    }

    /// When the group must be down here unless the lease is renewed first: half a safety margin after the instant
    /// the core itself self-fences while the group runs under the lease; at once after a self-fence while anything
    /// of it is still up; never otherwise (standby, starting, acquiring before anything starts, maintenance, where
    /// the operator holds the group).
    ///
    /// Why half a margin later than the core: a renewal the core counted in time reaches the guard a little after
    /// it was observed (the daemon stamps the observation, then hands the new deadline over); on a loaded host that
    /// can be a few milliseconds past the old deadline, and the guard must not kill a healthy group for it. The
    /// guard still acts one and a half margins before the peer may claim (lease plus margin after it last saw a
    /// renewal, which each came after the renewal's own instant).
    static func guardDeadline(_ state: State) -> Instant? {
        if state.maintenance { return nil }
        switch state.role {
        case .active, .releasing:
            guard state.holdsGroupUnderLease, let config = state.config else { return nil }
            return (state.leaseEnd ?? state.now) + config.safetyMargin / 2
        case .fenced:
            return state.anyResourceUp ? state.roleSince : nil
        case .starting, .standby, .acquiring:
            return nil
        }
    }
}
