import Coordinator

/// An incident as spans and marks on one time line (`servha timeline`): each node's role, whether it ran the
/// whole group, its channels' outages, its suspicions, decisions and actions, and the client-visible outage (when
/// no node ran the group). Built by folding each node's events into its state, as the coordinator did.
public struct IncidentTimeline: Sendable {
    public enum Lane: Sendable, Hashable {
        case role
        /// Every resource of the group running on this node.
        case serving
        case channelDown(Int)
    }

    public struct Span: Sendable, Hashable {
        public var node: Int
        public var lane: Lane
        public var from: Int64
        public var to: Int64
        public var label: String
    }

    public enum MarkKind: String, Sendable {
        case suspicion, decision, action, alarm, admin, start
    }

    public struct Mark: Sendable {
        public var node: Int
        public var time: Int64
        public var kind: MarkKind
        public var text: String
    }

    public var nodes: [String]
    /// Per node, its channel names (the disk last).
    public var channels: [[String]]
    public var start: Int64
    public var end: Int64
    public var spans: [Span] = []
    public var marks: [Mark] = []
    /// When no node ran the group, after one first had: what a client of the service saw.
    public var outages: [(from: Int64, to: Int64)] = []

    public init(_ merged: MergedTimeline) {
        nodes = merged.logs.map(\.identity.nodeName)
        channels = merged.logs.map { _ in [] }
        start = merged.entries.first?.time ?? 0
        end = merged.entries.last?.time ?? 0
        for (l, log) in merged.logs.enumerated() {
            fold(log, node: l, offset: merged.offsets[l].nanos, diedAtEnd: Self.diedAtEnd(of: l, merged))
        }
        outages = Self.gaps(in: spans.filter { $0.lane == .serving }, until: end)
    }

    /// Whether a node's log ends because the node died (or was cut off): its peer declared it dead, or took the
    /// group over, after its last event; or the peer's log goes on for more than a second after it.
    static func diedAtEnd(of node: Int, _ merged: MergedTimeline) -> Bool {
        guard let last = merged.entries.last(where: { $0.log == node })?.time else { return false }
        for entry in merged.entries where entry.log != node && entry.time >= last {
            switch merged.logs[entry.log].events[entry.index] {
            case .peerDeclaredDead: return true
            case .decision(let decision): if decision.kind == .takeOver { return true }
            case .input, .rejected, .channelChanged, .peerSuspected, .peerAlive, .issued, .commandRefused,
                .stateDigest, .snapshot:
                continue
            }
        }
        return last + 1_000_000_000 < (merged.entries.last?.time ?? last)
    }

    private mutating func fold(_ log: RecordedLog, node: Int, offset: Int64, diedAtEnd: Bool) {
        var state = log.initialState ?? State(me: log.identity.node)
        var open: [Lane: (from: Int64, label: String)] = [:]
        var lastTime = start
        var started = false
        func close(_ lane: Lane, at time: Int64) {
            guard let span = open.removeValue(forKey: lane) else { return }
            if time > span.from { spans.append(Span(node: node, lane: lane, from: span.from, to: time, label: span.label)) }
        }
        for (index, event) in log.events.enumerated() {
            let time = log.walls[index] &- offset
            if case .input(let stamped) = event, case .started = stamped.input {
                if started {
                    // The process ended somewhere after its last event: nothing ran from then on.
                    for lane in Array(open.keys) { close(lane, at: lastTime) }
                }
                started = true
                marks.append(Mark(node: node, time: time, kind: .start, text: "servha started"))
            }
            state.apply(event)
            if case .input(let stamped) = event, case .configLoaded(let config) = stamped.input {
                channels[node] = (0..<config.channelCount).map(config.channelName)
            }
            lastTime = time
            // Lanes: the role, the group, each channel that was up once and went down.
            let role = state.role.description
            if open[.role]?.label != role {
                close(.role, at: time)
                open[.role] = (time, role)
            }
            let serving = !state.resources.isEmpty && state.resources.allSatisfy { $0 == .running }
            if serving && open[.serving] == nil { open[.serving] = (time, "running the group") }
            if !serving { close(.serving, at: time) }
            if case .channelChanged(let channel, let up, _) = event {
                if up { close(.channelDown(Int(channel)), at: time) } else { open[.channelDown(Int(channel))] = (time, "down") }
            }
            if let mark = Self.mark(for: event, node: node, time: time, log: log, state: state) { marks.append(mark) }
        }
        // A node that died: nothing ran there after its last event. Otherwise its log was read while it ran.
        let until = diedAtEnd ? lastTime : end
        for lane in Array(open.keys) { close(lane, at: until) }
    }

    private static func mark(for event: Event, node: Int, time: Int64, log: RecordedLog, state: State) -> Mark? {
        let name = { (r: Int) in
            state.config.map { r < $0.resources.count ? $0.resources[r].name : "resource \(r)" } ?? "resource \(r)"
        }
        switch event {
        case .peerSuspected: return Mark(node: node, time: time, kind: .suspicion, text: "peer suspected")
        case .peerDeclaredDead: return Mark(node: node, time: time, kind: .suspicion, text: "peer declared dead")
        case .peerAlive: return Mark(node: node, time: time, kind: .suspicion, text: "peer alive")
        case .decision(let decision):
            return Mark(node: node, time: time, kind: .decision, text: "\(decision.kind): \(decision.reason)")
        case .issued(.startResource(let r, _)): return Mark(node: node, time: time, kind: .action, text: "start \(name(r))")
        case .issued(.stopResource(let r, _)): return Mark(node: node, time: time, kind: .action, text: "stop \(name(r))")
        case .issued(.killResource(let r, _)): return Mark(node: node, time: time, kind: .action, text: "kill \(name(r))")
        case .issued(.fencePeer): return Mark(node: node, time: time, kind: .action, text: "fence the peer")
        case .issued(.raiseAlarm(let alarm)):
            return Mark(node: node, time: time, kind: .alarm, text: "alarm \(alarm.kind): \(alarm.message)")
        case .input(let stamped):
            switch stamped.input {
            case .admin(let command):
                return Mark(node: node, time: time, kind: .admin, text: "\(command.verb) by \(command.source)")
            case .resourceOutcome(let outcome) where outcome.operation != .monitor || outcome.result != .succeeded:
                return Mark(
                    node: node,
                    time: time,
                    kind: .action,
                    text: "\(name(outcome.resource)) \(outcome.operation): \(outcome.result)"
                )
            case .resourceOutcome, .started, .configLoaded, .heartbeat, .timerFired, .diskSlot, .slotWritten,
                .arbitrator, .fenceOutcome, .rejected, .alarmDelivery, .logSpace, .lateRecord, .archived:
                return nil
            }
        case .issued, .rejected, .channelChanged, .peerSuspected, .peerAlive, .commandRefused, .stateDigest, .snapshot:
            return nil
        }
    }

    /// The stretches after the first serving span that no span covers.
    static func gaps(in spans: [Span], until end: Int64) -> [(from: Int64, to: Int64)] {
        let sorted = spans.sorted { $0.from < $1.from }
        guard var covered = sorted.first?.to else { return [] }
        var gaps: [(Int64, Int64)] = []
        for span in sorted.dropFirst() {
            if span.from > covered { gaps.append((covered, span.from)) }
            covered = max(covered, span.to)
        }
        if covered < end { gaps.append((covered, end)) }
        return gaps
    }

    /// The incident in words: the notable events, then what a client saw.
    public func lines(_ merged: MergedTimeline) -> [String] {
        var out = merged.lines(all: false)
        out.append("summary:")
        for span in spans.filter({ $0.lane == .serving }).sorted(by: { $0.from < $1.from }) {
            let until = span.to >= end ? "the end of the logs" : rfc3339(span.to)
            out.append("  \(nodes[span.node]) ran the group from \(rfc3339(span.from)) to \(until)")
        }
        if outages.isEmpty {
            out.append("  client-visible outage: none (the group ran somewhere throughout)")
        }
        for gap in outages {
            let open = gap.to >= end ? " (still down when the logs end)" : ""
            out.append(
                "  client-visible outage: \(millisecondsText(gap.to - gap.from)), from \(rfc3339(gap.from)) to \(rfc3339(gap.to))\(open)"
            )
        }
        return out
    }
}
