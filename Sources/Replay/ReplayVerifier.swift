import Coordinator
import EventLog
import EventRecords

/// Re-runs a recorded log's inputs (recorded timer firings included) through a fresh coordinator and compares
/// every event it derives, digests included, with the recorded ones.
public enum ReplayVerifier {
    public struct Report: Sendable {
        public var events = 0
        public var inputs = 0
        public var decisions = 0
        public var digests = 0
        /// Snapshots in the log that matched the state replay had rebuilt by then.
        public var snapshots = 0
        /// The snapshot replay started from, when the log does not go back to its beginning (retention), and the
        /// events before it that were not replayed.
        public var resumedAt: UInt64?
        public var skipped = 0
        public var divergence: Divergence?
    }

    /// The first place where the replay and the log disagree.
    public struct Divergence: Sendable {
        /// Index in the log's events, and its record's sequence number and time.
        public var index: Int
        public var sequence: UInt64?
        public var wall: Int64?
        public var recorded: Event?
        public var replayed: Event?
        public var stateBefore: State
    }

    /// - Parameter resuming: start at this snapshot (an index of a `.snapshot` event in the log) rather than at
    ///   the beginning: the events before it are not needed (a log whose old segments retention removed).
    public static func verify(_ log: RecordedLog, resuming: Int? = nil) throws -> Report {
        var report = Report()
        var core = Coordinator(node: log.identity.node)
        var index = 0
        if let resuming {
            guard resuming < log.events.count, case .snapshot(let bytes) = log.events[resuming] else {
                throw ReplayError("event \(resuming) of \(log.directory) is not a state snapshot")
            }
            core = Coordinator(resuming: try StateSnapshot.decode(bytes))
            index = resuming + 1
            report.snapshots = 1
        }
        while index < log.events.count {
            if case .snapshot(let bytes) = log.events[index] {
                // Written by the shell, not derived by the core: it must be the state replay has rebuilt.
                guard core.state.canonicalEncoding() == bytes else {
                    return divergence(at: index, log: log, recorded: log.events[index], replayed: .snapshot(core.state.canonicalEncoding()), input: index, report)
                }
                report.snapshots += 1
                index += 1
                report.events = index
                continue
            }
            guard let stamped = log.events[index].stampedInput else {
                return divergence(at: index, log: log, recorded: log.events[index], replayed: nil, input: index, report)
            }
            let produced = core.handle(stamped).events
            for (offset, event) in produced.enumerated() {
                let at = index + offset
                let recorded = at < log.events.count ? log.events[at] : nil
                if recorded != event {
                    return divergence(at: at, log: log, recorded: recorded, replayed: event, input: index, report)
                }
                report.count(event)
            }
            index += produced.count
            report.events = index
        }
        return report
    }

    /// The state just before the input at `index`, rebuilt by replaying the inputs before it (only when a
    /// divergence is reported, so that the replay itself copies no state per input).
    static func state(before index: Int, of events: [Event], node: NodeID) -> State {
        var core = Coordinator(node: node)
        for event in events[..<min(index, events.count)] {
            if let stamped = event.stampedInput { _ = core.handle(stamped) }
        }
        return core.state
    }

    private static func divergence(
        at index: Int,
        log: RecordedLog,
        recorded: Event?,
        replayed: Event?,
        input: Int,
        _ report: Report
    ) -> Report {
        var report = report
        report.divergence = Divergence(
            index: index,
            sequence: index < log.sequences.count ? log.sequences[index] : nil,
            wall: index < log.walls.count ? log.walls[index] : nil,
            recorded: recorded,
            replayed: replayed,
            stateBefore: state(before: input, of: log.events, node: log.identity.node)
        )
        return report
    }
}

extension ReplayVerifier.Report {
    /// Counts one event that replayed identically.
    mutating func count(_ event: Event) {
        switch event {
        case .input, .rejected: inputs += 1
        case .decision: decisions += 1
        case .stateDigest: digests += 1
        case .snapshot: snapshots += 1
        case .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .issued, .commandRefused: break
        }
    }
}
