import Coordinator

/// `servha replay what-if`: a recorded log's outside observations replayed through a fresh coordinator under a
/// changed configuration, and the decisions that come out compared with the recorded ones.
///
/// What is replayed as recorded: everything the node observed of the world (the peer's heartbeats and disk slot,
/// the arbitrator, monitors, operator commands, its own restarts), since the change cannot alter what happened
/// around it. What is not: the timer firings (a virtual clock fires them from the replayed coordinator's own
/// schedule) and the answers to the coordinator's own requests (slot writes and reads, resource starts and stops,
/// fencing), which come back after the time they took in the recording, to whatever the replayed coordinator
/// asked, when it asked. The peer is not re-run: a changed setting on this node does not change what the peer
/// was recorded doing.
public enum WhatIf {
    /// One decision, when it was taken.
    public struct Moment: Sendable, Hashable {
        public var kind: DecisionKind
        public var subject: DecisionSubject
        public var epoch: Epoch
        public var reason: String
        public var at: Instant
        public var wall: Int64
    }

    public enum Change: Sendable, Hashable {
        /// The same decision, taken at another time (`replayed.at - recorded.at`).
        case moved(recorded: Moment, replayed: Moment)
        /// A recorded decision the changed configuration does not take.
        case missing(Moment)
        /// A decision only the changed configuration takes.
        case extra(Moment)
    }

    public struct Report: Sendable {
        public var recorded: [Moment] = []
        public var replayed: [Moment] = []
        public var unchanged = 0
        public var changes: [Change] = []
        /// Answers to the replayed coordinator's requests that had no counterpart in the recording (assumed to
        /// succeed at once).
        public var assumed = 0
        /// The configuration recorded first, and the same with the overrides.
        public var before: ClusterConfig
        public var after: ClusterConfig
    }

    /// Two decisions less than this apart count as the same moment.
    public static let tolerance: Nanos = 1_000_000

    public static func run(_ log: RecordedLog, overrides: [ConfigOverride]) throws -> Report {
        guard
            let recordedConfig = log.events.lazy.compactMap({ event -> ClusterConfig? in
                if case .input(let stamped) = event, case .configLoaded(let config) = stamped.input { return config }
                return nil
            }).first
        else { throw ReplayError("\(log.directory): no configuration in this log to change") }
        let changed = try changedConfig(recordedConfig, overrides)
        var run = Run(log: log)
        for (index, event) in log.events.enumerated() {
            guard case .input(var stamped) = event else { continue }
            if case .configLoaded(let config) = stamped.input {
                stamped.input = .configLoaded(try changedConfig(config, overrides))
            }
            run.feedRecorded(stamped, index: index)
        }
        run.finish()
        let recorded = log.events.indices.compactMap { index -> Moment? in
            guard case .decision(let decision) = log.events[index] else { return nil }
            return Moment(decision, at: run.instants[index], wall: log.walls[index])
        }
        var report = Report(before: recordedConfig, after: changed)
        report.recorded = recorded
        report.replayed = run.decisions
        report.assumed = run.assumed
        (report.unchanged, report.changes) = compare(recorded, run.decisions)
        return report
    }

    static func changedConfig(_ config: ClusterConfig, _ overrides: [ConfigOverride]) throws -> ClusterConfig {
        var changed = config
        for change in overrides { try change.apply(to: &changed) }
        let problems = changed.problems()
        if !problems.isEmpty {
            let settings = overrides.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            throw ReplayError("--set \(settings): the changed configuration is not valid: \(problems.joined(separator: "; "))")
        }
        return changed
    }

    /// Pairs the decisions of both runs in order (a longest common subsequence of their kinds), so that a
    /// takeover that comes later is reported as later rather than as one missing and one extra.
    static func compare(_ recorded: [Moment], _ replayed: [Moment]) -> (unchanged: Int, changes: [Change]) {
        func same(_ a: Moment, _ b: Moment) -> Bool { a.kind == b.kind && a.subject == b.subject }
        let n = recorded.count
        let m = replayed.count
        var pairs: [(Int, Int)] = []
        if n * m <= 4_000_000 {
            var table = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    table[i][j] =
                        same(recorded[i], replayed[j])
                        ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
                }
            }
            var (i, j) = (0, 0)
            while i < n && j < m {
                if same(recorded[i], replayed[j]) {
                    pairs.append((i, j))
                    i += 1
                    j += 1
                } else if table[i + 1][j] >= table[i][j + 1] {
                    i += 1
                } else {
                    j += 1
                }
            }
        } else {
            // Too long for the table: pair greedily, in order.
            var j = 0
            for i in 0..<n {
                if let found = (j..<m).first(where: { same(recorded[i], replayed[$0]) }) {
                    pairs.append((i, found))
                    j = found + 1
                }
            }
        }
        var changes: [Change] = []
        var unchanged = 0
        var (i, j) = (0, 0)
        for (pi, pj) in pairs + [(n, m)] {
            while i < pi {
                changes.append(.missing(recorded[i]))
                i += 1
            }
            while j < pj {
                changes.append(.extra(replayed[j]))
                j += 1
            }
            guard pi < n else { break }
            let delta = recorded[pi].at > replayed[pj].at ? recorded[pi].at - replayed[pj].at : replayed[pj].at - recorded[pi].at
            if delta < tolerance {
                unchanged += 1
            } else {
                changes.append(.moved(recorded: recorded[pi], replayed: replayed[pj]))
            }
            i = pi + 1
            j = pj + 1
        }
        return (unchanged, changes)
    }
}

extension WhatIf.Moment {
    init(_ decision: Decision, at: Instant, wall: Int64) {
        self.init(
            kind: decision.kind,
            subject: decision.subject,
            epoch: decision.epoch,
            reason: decision.reason,
            at: at,
            wall: wall
        )
    }
}

extension WhatIf {
    /// The replay itself: a coordinator, a virtual clock, and the answers to its requests on their way back.
    struct Run {
        var driver: NodeDriver
        var decisions: [Moment] = []
        var assumed = 0
        /// Each recorded event's instant (a derived event shares its input's).
        var instants: [Instant]

        private var timer: (at: Instant, token: UInt64)?
        private var pending: [(at: Instant, order: Int, answer: Answer)] = []
        private var order = 0
        private var started = false
        private var lastAt: Instant = 0
        private var wallOffset: Int64 = 0
        private var lastWriteSucceeded = true
        private var peerReading: SlotReading?
        /// The replayed coordinator's lease view (owns, epoch) from each instant it changed (the recent ones).
        private var views: [(since: Instant, owns: Bool, epoch: Epoch)] = []
        /// The recorded answers to the recorded requests, by kind of request, in order: how long each took and
        /// what it said. The replayed coordinator's requests take them in turn.
        private var answers: [Request: [Recorded]] = [:]
        private var typicalDelay: [Request: Nanos] = [:]
        /// The log indices of those answers: replayed as answers, not as observations.
        private var answerIndices = Set<Int>()

        enum Request: Hashable {
            case resource(Int, ResourceOperation)
            case write
            case read
            case fence
        }

        struct Recorded {
            var requestedAt: Instant
            var delay: Nanos
            var input: Input
            /// For a slot write or read: when it started.
            var startedAt: Instant?
        }

        enum Answer {
            case input(Input)
            /// This node's own slot write, answered through the driver (which runs one at a time).
            case written(succeeded: Bool, startedAt: Instant, view: Advertisement)
            /// A read of the peer's slot asked at another time than recorded: what it holds is the newest
            /// recorded reading when the answer arrives.
            case peerRead(startedAt: Instant)
        }

        init(log: RecordedLog) {
            driver = NodeDriver(core: Coordinator(node: log.identity.node), sequenceStart: 0, slotCounterStart: 0)
            instants = Explanation.instants(log)
            var open: [Request: [Instant]] = [:]
            for (index, event) in log.events.enumerated() {
                let at = instants[index]
                switch event {
                case .issued(let action):
                    if let request = Self.request(action) { open[request, default: []].append(at) }
                case .input(let stamped):
                    let request: Request
                    var startedAt: Instant?
                    switch stamped.input {
                    case .resourceOutcome(let outcome) where outcome.operation != .monitor:
                        request = .resource(outcome.resource, outcome.operation)
                    case .slotWritten(let write):
                        request = .write
                        startedAt = write.startedAt
                    case .diskSlot(let reading):
                        request = .read
                        startedAt = reading.startedAt
                    case .fenceOutcome:
                        request = .fence
                    case .resourceOutcome, .started, .configLoaded, .heartbeat, .timerFired, .arbitrator, .admin,
                        .rejected, .alarmDelivery, .logSpace, .lateRecord, .archived:
                        continue
                    }
                    // The requests this answers: the earliest open one for a resource or a fence; for a slot write
                    // or read, every open one it started after (the shell runs one at a time and folds requests
                    // that arrive meanwhile into the next).
                    guard let requests = open[request], !requests.isEmpty else { continue }
                    let answered =
                        startedAt.map { started in requests.filter { $0 <= started } } ?? [requests[0]]
                    guard !answered.isEmpty else { continue }
                    open[request]!.removeFirst(answered.count)
                    for requestedAt in answered {
                        answers[request, default: []].append(
                            Recorded(
                                requestedAt: requestedAt,
                                delay: stamped.at - requestedAt,
                                input: stamped.input,
                                startedAt: startedAt
                            )
                        )
                    }
                    answerIndices.insert(index)
                case .rejected, .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision,
                    .commandRefused, .stateDigest, .snapshot:
                    continue
                }
            }
            for (request, list) in answers {
                typicalDelay[request] = list.map(\.delay).sorted()[list.count / 2]
            }
        }

        static func request(_ action: Action) -> Request? {
            switch action {
            case .startResource(let r, _): .resource(r, .start)
            case .stopResource(let r, _): .resource(r, .stop)
            case .killResource(let r, _): .resource(r, .kill)
            case .writeSlot: .write
            case .readPeerSlot: .read
            case .fencePeer: .fence
            case .armTimer, .announce, .raiseAlarm, .clearAlarm: nil
            }
        }

        static func request(_ effect: NodeDriver.Effect) -> Request? {
            switch effect {
            case .runAgent(let r, let operation, _): .resource(r, operation)
            case .writeSlot: .write
            case .readSlot: .read
            case .fence: .fence
            case .append, .send, .wake, .announce, .guardLease, .raiseAlarm, .clearAlarm: nil
            }
        }

        mutating func feedRecorded(_ stamped: StampedInput, index: Int) {
            var stamped = stamped
            if case .diskSlot(let reading) = stamped.input { peerReading = reading }
            if answerIndices.contains(index) {
                // Answers come back to the replayed coordinator's own requests instead (see `handle`).
                return
            }
            switch stamped.input {
            case .timerFired, .alarmDelivery:
                // Timers come from the virtual clock; alarm deliveries answer alarms the changed run may not
                // raise.
                return
            case .started:
                if started {
                    // The process died somewhere after its last recorded input: whatever it was waiting for
                    // after that never came.
                    pending.removeAll { $0.at > lastAt }
                    if let at = timer?.at, at > lastAt { timer = nil }
                }
                started = true
            case .slotWritten(let write):
                // A periodic write: the shell wrote the coordinator's view as of the write's start; here, the
                // replayed coordinator's view then.
                lastWriteSucceeded = write.succeeded
                let view = views.last { $0.since <= write.startedAt } ?? views.first
                stamped.input = .slotWritten(
                    SlotWrite(
                        succeeded: write.succeeded,
                        startedAt: write.startedAt,
                        owns: view?.owns ?? false,
                        epoch: view?.epoch ?? 0
                    )
                )
            case .configLoaded, .heartbeat, .diskSlot, .arbitrator, .resourceOutcome, .fenceOutcome, .admin, .rejected,
                .logSpace, .lateRecord, .archived:
                break
            }
            drain(before: stamped.at, inclusive: false)
            wallOffset = stamped.wall &- Int64(bitPattern: stamped.at)
            lastAt = stamped.at
            handle(stamped)
        }

        mutating func finish() { drain(before: lastAt, inclusive: true) }

        /// Fires the timer and delivers the answers due before `limit`, earliest first (answers before the timer
        /// at the same instant).
        private mutating func drain(before limit: Instant, inclusive: Bool) {
            while true {
                let answer = pending.indices.min {
                    (pending[$0].at, pending[$0].order) < (pending[$1].at, pending[$1].order)
                }
                let answerAt = answer.map { pending[$0].at }
                guard let next = [answerAt, timer?.at].compactMap({ $0 }).min(),
                    inclusive ? next <= limit : next < limit
                else { return }
                if let answer, pending[answer].at == next {
                    let due = pending.remove(at: answer)
                    let wall = Int64(bitPattern: due.at) &+ wallOffset
                    switch due.answer {
                    case .input(.diskSlot(let reading)):
                        handle(driver.slotRead(reading, at: due.at, wall: wall), at: due.at, wall: wall)
                    case .input(.resourceOutcome(let outcome)):
                        handle(driver.agentFinished(outcome, at: due.at, wall: wall), at: due.at, wall: wall)
                    case .input(let input):
                        handle(driver.observe(input, at: due.at, wall: wall), at: due.at, wall: wall)
                    case .written(let succeeded, let startedAt, let view):
                        let effects = driver.slotWritten(
                            succeeded: succeeded,
                            startedAt: startedAt,
                            view: view,
                            at: due.at,
                            wall: wall
                        )
                        handle(effects, at: due.at, wall: wall)
                    case .peerRead(let startedAt):
                        var reading =
                            peerReading
                            ?? SlotReading(node: 0, readable: false, counter: 0, view: .unknown, startedAt: 0)
                        reading.startedAt = startedAt
                        handle(driver.slotRead(reading, at: due.at, wall: wall), at: due.at, wall: wall)
                    }
                } else if let (at, token) = timer {
                    timer = nil
                    let wall = Int64(bitPattern: at) &+ wallOffset
                    handle(driver.timerFired(token: token, at: at, wall: wall), at: at, wall: wall)
                }
            }
        }

        private mutating func answer(_ input: Answer, at: Instant) {
            order += 1
            pending.append((at, order, input))
        }

        /// A recorded observation, through the driver as the daemon would have handed it over.
        private mutating func handle(_ stamped: StampedInput) {
            handle(driver.observe(stamped.input, at: stamped.at, wall: stamped.wall), at: stamped.at, wall: stamped.wall)
        }

        private mutating func handle(_ effects: [NodeDriver.Effect], at now: Instant, wall: Int64) {
            let view = driver.core.advertisement
            if views.last.map({ $0.owns != view.owns || $0.epoch != view.epoch }) ?? true {
                views.append((now, view.owns, view.epoch))
                if views.count > 64 { views.removeFirst(32) }
            }
            for effect in effects {
                switch effect {
                case .append(let events, _):
                    for event in events {
                        if case .decision(let decision) = event {
                            decisions.append(Moment(decision, at: now, wall: wall))
                        }
                    }
                case .wake(let at, let token):
                    timer = (at, token)
                case .runAgent, .writeSlot, .readSlot, .fence:
                    if let request = Self.request(effect) { answerRequest(request, effect, now) }
                case .send, .announce, .guardLease, .raiseAlarm, .clearAlarm:
                    break
                }
            }
        }

        /// Answers a request with the recorded answer to the same request, after the time that one took.
        private mutating func answerRequest(_ request: Request, _ effect: NodeDriver.Effect, _ now: Instant) {
            // The recorded answer to the same request at the same instant (for a slot write, one that started
            // then: the driver runs writes one at a time, so a request made meanwhile starts when the one before
            // is back); otherwise, for a resource or a fence, the next recorded one not yet used (its result
            // matters more than its time).
            var recorded: Recorded?
            if let list = answers[request] {
                let position =
                    list.firstIndex { $0.requestedAt == now || (request == .write && $0.startedAt == now) }
                    ?? (request == .read || request == .write ? nil : list.indices.first)
                if let position { recorded = answers[request]!.remove(at: position) }
            }
            let delay = recorded?.delay ?? typicalDelay[request] ?? 0
            let shifted = { (instant: Instant) in instant &- (recorded?.requestedAt ?? 0) &+ now }
            switch (effect, recorded?.input) {
            case (.runAgent(_, _, let epoch), .resourceOutcome(var outcome)?):
                outcome.epoch = epoch
                answer(.input(.resourceOutcome(outcome)), at: now + delay)
            case (.runAgent(let r, let operation, let epoch), _):
                assumed += 1
                let outcome = ResourceOutcome(resource: r, operation: operation, result: .succeeded, epoch: epoch, tookNanos: delay)
                answer(.input(.resourceOutcome(outcome)), at: now + delay)
            case (.writeSlot(_, let view, _), let input):
                var succeeded = lastWriteSucceeded
                var startedAt = now
                if case .slotWritten(let write)? = input {
                    succeeded = write.succeeded
                    startedAt = recorded?.startedAt == now ? now : shifted(write.startedAt)
                }
                answer(.written(succeeded: succeeded, startedAt: startedAt, view: view), at: now + delay)
            case (.readSlot, .diskSlot(var reading)?) where recorded?.requestedAt == now:
                reading.startedAt = shifted(reading.startedAt)
                answer(.input(.diskSlot(reading)), at: now + delay)
            case (.readSlot, _):
                answer(.peerRead(startedAt: now), at: now + delay)
            case (.fence, .fenceOutcome(let succeeded, let detail)?):
                answer(.input(.fenceOutcome(succeeded: succeeded, detail: detail)), at: now + delay)
            case (.fence, _):
                assumed += 1
                answer(.input(.fenceOutcome(succeeded: true, detail: "assumed: not in the recording")), at: now)
            case (.append, _), (.send, _), (.wake, _), (.announce, _), (.guardLease, _), (.raiseAlarm, _), (.clearAlarm, _):
                break
            }
        }
    }
}

extension WhatIf.Report {
    /// The report in words, for `servha replay what-if`.
    public func lines(directory: String, node: String, overrides: [ConfigOverride]) -> [String] {
        let settings = overrides.map { "\($0.key) \($0.current(in: before)) -> \($0.current(in: after))" }
        var out = ["what-if for \(node) (\(directory)): \(settings.joined(separator: ", "))"]
        out.append("(the peer is not re-run: what it did is replayed as recorded)")
        out.append(
            "decisions: \(recorded.count) recorded, \(replayed.count) under the change, \(unchanged) unchanged"
        )
        if changes.isEmpty { out.append("no decision changes") }
        for change in changes {
            switch change {
            case .moved(let was, let now):
                let later = now.at > was.at
                let delta = millisecondsText(Int64(later ? now.at - was.at : was.at - now.at))
                out.append(
                    "  \(was.kind) (epoch \(now.epoch)): \(delta) \(later ? "later" : "earlier"), at \(rfc3339(now.wall)) instead of \(rfc3339(was.wall)): \(now.reason)"
                )
            case .missing(let was):
                out.append("  no \(was.kind): recorded at \(rfc3339(was.wall)) (epoch \(was.epoch)): \(was.reason)")
            case .extra(let now):
                out.append("  extra \(now.kind) at \(rfc3339(now.wall)) (epoch \(now.epoch)): \(now.reason)")
            }
        }
        if assumed > 0 {
            out.append(
                "note: \(assumed) answer(s) to requests the recording never made (a start, stop or fence) were assumed to succeed at once"
            )
        }
        return out
    }
}
