import Coordinator

/// Both nodes' logs on one time line (`servha replay merge`, `servha timeline`): the second node's clock offset
/// from the first is estimated from the heartbeats they exchanged, and its events are moved onto the first
/// node's clock.
public struct MergedTimeline: Sendable {
    public struct Entry: Sendable {
        /// Which log (index into `logs`).
        public var log: Int
        /// Index of the event in that log.
        public var index: Int
        /// The event's wall time on the first log's clock.
        public var time: Int64
    }

    /// How far a node's wall clock is ahead of the first node's, and how sure that is.
    public struct ClockOffset: Sendable {
        public var nanos: Int64
        /// Half the round trip of the best exchange: the offset is right to within this.
        public var uncertainty: Int64
        /// How many exchanges paired up (0: none could be, and the clocks are taken as they are).
        public var exchanges: Int
    }

    public var logs: [RecordedLog]
    /// One per log; the first is zero.
    public var offsets: [ClockOffset]
    public var entries: [Entry]
    /// Each log's event instants (a derived event shares its input's).
    public var instants: [[Instant]]

    /// Merges one log per node of the same cluster. Throws a one-line error for logs of two clusters, or two
    /// logs of the same node.
    public static func merge(_ logs: [RecordedLog]) throws -> MergedTimeline {
        guard let first = logs.first else { throw ReplayError("no logs to merge") }
        for other in logs.dropFirst() {
            if other.identity.cluster != first.identity.cluster {
                throw ReplayError(
                    "\(first.directory) is a log of cluster \(first.identity.cluster) and \(other.directory) of cluster \(other.identity.cluster): logs of two different clusters cannot be merged"
                )
            }
            if other.identity.node == first.identity.node {
                throw ReplayError(
                    "\(first.directory) and \(other.directory) are both logs of \(first.identity.nodeName): give one log of each node"
                )
            }
        }
        var offsets = [ClockOffset(nanos: 0, uncertainty: 0, exchanges: 0)]
        for other in logs.dropFirst() { offsets.append(estimateOffset(of: other, from: first)) }
        var entries: [Entry] = []
        for (l, log) in logs.enumerated() {
            for index in log.events.indices {
                entries.append(Entry(log: l, index: index, time: log.walls[index] &- offsets[l].nanos))
            }
        }
        // Stable: each node's own order is kept when two events land on the same nanosecond.
        entries.sort { ($0.time, $0.log, $0.index) < ($1.time, $1.log, $1.index) }
        return MergedTimeline(logs: logs, offsets: offsets, entries: entries, instants: logs.map(Explanation.instants))
    }

    /// NTP's estimate over the heartbeat exchanges: a heartbeat of `a` sent at t1 (its clock), received by `b`
    /// at t2 (`b`'s clock); `b`'s next heartbeat echoing it, sent at t3, received by `a` at t4. The offset is
    /// ((t2 - t1) + (t3 - t4)) / 2, and is best from the exchange with the shortest round trip
    /// (t4 - t1) - (t3 - t2). Send times come from the echoes: each node records when it sent the heartbeat
    /// its peer echoes.
    static func estimateOffset(of b: RecordedLog, from a: RecordedLog) -> ClockOffset {
        // In b's log: when b received each of a's heartbeats (b's wall clock), by a's sequence; and when b sent
        // each of its own heartbeats that a echoed back, by b's sequence.
        var receivedByB: [UInt64: Int64] = [:]
        var sentByB: [UInt64: Int64] = [:]
        for (index, event) in b.events.enumerated() {
            guard case .input(let stamped) = event, case .heartbeat(let heartbeat) = stamped.input else { continue }
            if receivedByB[heartbeat.sequence] == nil { receivedByB[heartbeat.sequence] = b.walls[index] }
            if heartbeat.echo != 0, let sent = heartbeat.echoOfOwnSentAt, sentByB[heartbeat.echo] == nil {
                sentByB[heartbeat.echo] = wall(of: sent, stamped)
            }
        }
        var best: (delay: Int64, offset: Int64)?
        var exchanges = 0
        for (index, event) in a.events.enumerated() {
            guard case .input(let stamped) = event, case .heartbeat(let heartbeat) = stamped.input,
                heartbeat.echo != 0, let sentAt = heartbeat.echoOfOwnSentAt,
                let t2 = receivedByB[heartbeat.echo], let t3 = sentByB[heartbeat.sequence]
            else { continue }
            let t1 = wall(of: sentAt, stamped)
            let t4 = a.walls[index]
            let delay = (t4 - t1) - (t3 - t2)
            guard delay >= 0 else { continue }
            exchanges += 1
            let offset = ((t2 - t1) + (t3 - t4)) / 2
            if best == nil || delay < best!.delay { best = (delay, offset) }
        }
        guard let best else { return ClockOffset(nanos: 0, uncertainty: 0, exchanges: 0) }
        return ClockOffset(nanos: best.offset, uncertainty: best.delay / 2, exchanges: exchanges)
    }

    /// A monotonic instant of the node that recorded `stamped`, on its wall clock.
    private static func wall(of instant: Instant, _ stamped: StampedInput) -> Int64 {
        stamped.wall &- Int64(bitPattern: stamped.at &- instant)
    }

    /// The events people read in an incident: no heartbeats, timer firings, slot reads and writes, digests, or
    /// timer and slot requests.
    public static func isNotable(_ event: Event) -> Bool {
        switch event {
        case .input(let stamped):
            switch stamped.input {
            case .heartbeat, .timerFired, .diskSlot, .slotWritten, .logSpace: return false
            case .resourceOutcome(let outcome): return outcome.operation != .monitor || outcome.result != .succeeded
            case .started, .configLoaded, .arbitrator, .fenceOutcome, .admin, .rejected, .alarmDelivery, .lateRecord,
                .archived:
                return true
            }
        case .issued(let action):
            switch action {
            case .armTimer, .readPeerSlot, .writeSlot: return false
            case .startResource, .stopResource, .killResource, .fencePeer, .announce, .raiseAlarm, .clearAlarm:
                return true
            }
        case .stateDigest, .snapshot: return false
        case .rejected, .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision, .commandRefused:
            return true
        }
    }

    /// The merge in words: a header with the offsets, then one line per event (`all`: every event; otherwise
    /// the notable ones).
    public func lines(all: Bool) -> [String] {
        var out: [String] = []
        let first = logs[0].identity.nodeName
        out.append(
            "merged: \(logs.map { "\($0.identity.nodeName) (\($0.directory))" }.joined(separator: ", ")), cluster \(logs[0].identity.cluster); times on \(first)'s clock"
        )
        for (l, log) in logs.enumerated().dropFirst() {
            let offset = offsets[l]
            if offset.exchanges == 0 {
                out.append(
                    "clock offset of \(log.identity.nodeName): unknown (no heartbeat exchange pairs the two logs; logs of event format 1 carry no echoed sequence); wall clocks taken as they are"
                )
            } else {
                out.append(
                    "clock offset of \(log.identity.nodeName): \(offset.nanos >= 0 ? "+" : "")\(millisecondsText(offset.nanos)) ahead of \(first) (± \(millisecondsText(offset.uncertainty)), best of \(offset.exchanges) heartbeat exchanges)"
                )
            }
        }
        let width = logs.map(\.identity.nodeName.count).max() ?? 0
        // The arbitrator is probed every second or so: only its changes are notable.
        var arbitrator: [Bool?] = logs.map { _ in nil }
        let names = logs.map(\.resourceNames)
        for entry in entries {
            let event = logs[entry.log].events[entry.index]
            if !all, case .input(let stamped) = event, case .arbitrator(let reachable) = stamped.input {
                if arbitrator[entry.log] == reachable { continue }
                arbitrator[entry.log] = reachable
            }
            guard all || Self.isNotable(event) else { continue }
            let name = logs[entry.log].identity.nodeName
            out.append(
                "\(rfc3339(entry.time))  \(name)\(String(repeating: " ", count: width - name.count))  #\(logs[entry.log].sequences[entry.index])  \(EventDescription.line(event, resources: names[entry.log]))"
            )
        }
        return out
    }
}
