import Crypto

/// The pure, deterministic HA core of one node.
///
/// `handle` takes one stamped input and returns the events to append and the actions to carry out. It reads no
/// clock, no random generator, no file and no network: time arrives inside inputs, and timers are actions.
/// The state changes only by applying events (`State.apply`), so folding a node's log rebuilds exactly the
/// state it had, and feeding the recorded inputs to a fresh core reproduces every decision.
///
/// Lease rules (two-node safety):
/// - The lease lives in the active node's disk slot. It is renewed as of the *start* of each successful slot
///   write, and as of the *send time* of each own heartbeat that the peer echoes while acknowledging this
///   node's ownership. The active kills its resources once `lease - margin` has passed since the last renewal.
/// - The standby takes over from an owner only when, by its own clock, `lease + margin` has passed both since
///   it last heard the peer on any network channel and since the peer's slot counter last changed, with the
///   shared storage readable. Every renewal the owner counts happened before the standby's corresponding
///   observation, so the owner has stopped `2 x margin` (minus network delay) before the standby starts.
/// - The peer's network channels all lost while its disk slot keeps changing is a partition, never a death:
///   the arbitrator result decides which node stands down.
public struct Coordinator: Sendable {
    public private(set) var state: State

    /// TEST ONLY: a deliberately broken claim rule, so that a test can show the simulator catches a core that
    /// breaks single-active (SimulationTests `aBrokenClaimRuleIsCaught`). While set, the standby claims after half
    /// the lease with no margin, before the peer's lease has run out. Nothing but that test sets it: it is not in
    /// the configuration, the log or the CLI, and a replay of a log runs the intact rule.
    @_spi(BrokenRulesForTesting) public var claimsBeforePeerLeaseEnds = false

    public init(node: NodeID) {
        state = State(me: node)
    }

    /// A core that goes on from `state` (read back from a snapshot in the log).
    public init(resuming state: State) {
        self.state = state
    }

    /// Applies one event of the log (start-up's streaming fold).
    public mutating func fold(_ event: Event) { state.apply(event) }

    /// A core rebuilt by folding `events` (a node's log, on restart).
    public init(node: NodeID, folding events: some Sequence<Event>) {
        state = State(me: node)
        for event in events { state.apply(event) }
    }

    /// What one input produced.
    public struct Output: Sendable {
        public var events: [Event] = []
        public var actions: [Action] = []
    }

    public var advertisement: Advertisement { state.advertisement }

    /// Handles one input: records it, derives detections and decisions, and returns everything to append and
    /// to do, in order.
    public mutating func handle(_ stamped: StampedInput) -> Output {
        var output = Output()
        if let reason = rejection(of: stamped) {
            emit(.rejected(stamped, reason: reason), into: &output)
            return output
        }
        emit(.input(stamped), into: &output)
        react(to: stamped, into: &output)
        evaluate(into: &output)
        // A digest after every decision (so that even a short incident carries some) and every `digestEvery`
        // inputs.
        let decided = output.events.contains { if case .decision = $0 { true } else { false } }
        if let every = state.config?.digestEvery, decided || state.inputsRecorded % every == 0 {
            emit(.stateDigest(state.digest()), into: &output)
        }
        return output
    }

    // MARK: - Emitting

    mutating func emit(_ event: Event, into output: inout Output) {
        state.apply(event)
        output.events.append(event)
    }

    mutating func issue(_ action: Action, into output: inout Output) {
        emit(.issued(action), into: &output)
        output.actions.append(action)
    }

    mutating func decide(
        _ kind: DecisionKind,
        epoch: Epoch? = nil,
        reason: String,
        subject: DecisionSubject = .none,
        into output: inout Output
    ) {
        let decision = Decision(
            kind: kind,
            epoch: epoch ?? state.epoch,
            reason: reason,
            evidence: state.evidence(),
            subject: subject
        )
        emit(.decision(decision), into: &output)
    }

    mutating func raise(_ kind: AlarmKind, _ severity: AlarmSeverity, _ message: String, into output: inout Output) {
        if let open = state.alarm(kind), open.message == message { return }
        issue(.raiseAlarm(Alarm(kind: kind, severity: severity, message: message, epoch: state.epoch)), into: &output)
    }

    mutating func clear(_ kind: AlarmKind, into output: inout Output) {
        // Asked for every input of most kinds: a search, not a copy of the alarm found.
        guard state.alarms.contains(where: { $0.kind == kind }) else { return }
        issue(.clearAlarm(kind), into: &output)
    }

    // MARK: - Validation

    /// Why an input must be refused without changing anything, or nil.
    func rejection(of stamped: StampedInput) -> String? {
        switch stamped.input {
        case .started(let start):
            if start.node != state.me { return "start of node \(start.node) given to the core of node \(state.me)" }
            return nil
        case .configLoaded(let config):
            let problems = config.problems()
            if !problems.isEmpty { return "invalid configuration: " + problems.joined(separator: "; ") }
            if config.node(state.me) == nil { return "configuration does not name this node (id \(state.me))" }
            if let current = state.config, current.cluster != config.cluster {
                return "configuration is for cluster \(config.cluster), not \(current.cluster)"
            }
            return nil
        case .rejected:
            return nil
        case .heartbeat, .timerFired, .diskSlot, .slotWritten, .arbitrator, .resourceOutcome, .fenceOutcome, .admin,
            .alarmDelivery, .logSpace, .lateRecord, .archived:
            break
        }
        // The configuration's parts are read through `state.config?`: binding all of it copies it, for every input.
        guard state.config != nil else { return "no configuration loaded yet" }
        guard state.startedAt != nil else { return "node not started yet" }
        func known(_ node: NodeID) -> Bool { state.config?.nodes.contains { $0.id == node } ?? false }
        switch stamped.input {
        case .heartbeat(let heartbeat):
            if heartbeat.from == state.me { return "heartbeat claims to come from this node (\(state.me))" }
            if !known(heartbeat.from) { return "heartbeat from unknown node \(heartbeat.from)" }
            if Int(heartbeat.channel) >= state.config?.networkChannels.count ?? 0 {
                return "heartbeat on unknown channel \(heartbeat.channel)"
            }
            // Sequences start from a boot nonce, not the clock: a peer that restarted may start below where it
            // was. Once the channel has gone quiet (past the deadline), any sequence starts it afresh.
            let channel = state.channels[Int(heartbeat.channel)]
            if channel.up && heartbeat.sequence <= channel.lastSequence {
                return
                    "replayed or reordered heartbeat \(heartbeat.sequence) on \(state.config?.channelName(Int(heartbeat.channel)) ?? "")"
            }
            return nil
        case .diskSlot(let reading):
            if reading.node == state.me || !known(reading.node) {
                return "disk slot reading of node \(reading.node), not of the peer"
            }
            return nil
        case .resourceOutcome(let outcome):
            if outcome.resource < 0 || outcome.resource >= state.config?.resources.count ?? 0 {
                return "outcome for unknown resource \(outcome.resource)"
            }
            return nil
        case .alarmDelivery(let delivery):
            if delivery.sink < 0 || delivery.sink >= state.config?.alarmSinks ?? 0 {
                return "delivery to unknown alarm sink \(delivery.sink)"
            }
            return nil
        case .started, .configLoaded, .timerFired, .slotWritten, .arbitrator, .fenceOutcome, .admin, .rejected,
            .logSpace, .lateRecord, .archived:
            return nil
        }
    }
}

extension Advertisement {
    public func encode<Writer: CanonicalWriter>(into out: inout Writer) {
        out.append(role.rawValue)
        out.appendVarint(epoch)
        out.appendVarint(resourcesUp)
        var flags: UInt8 = 0
        if owns { flags |= 1 }
        if acknowledgesPeer { flags |= 2 }
        if yields { flags |= 4 }
        if healthy { flags |= 8 }
        if maintenance { flags |= 16 }
        if let reachable = arbitratorReachable { flags |= reachable ? 32 | 64 : 32 }
        if diskOnlyLease { flags |= 128 }
        out.append(flags)
        // In whole milliseconds, rounded up (the reader waits at least as long as announced).
        if diskOnlyLease { out.appendVarint((diskOnlyRemaining + 999_999) / 1_000_000) }
    }
}
