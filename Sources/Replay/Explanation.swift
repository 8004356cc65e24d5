import Coordinator
import EventLog

/// The chain from evidence to action behind one decision of a recorded log, for `servha explain`.
public enum Explanation {
    /// The index of the last failover decision (take-over, release, self-fence, lease acquired), if any.
    public static func lastFailover(in log: RecordedLog) -> Int? {
        log.events.lastIndex { event in
            guard case .decision(let decision) = event else { return false }
            return decision.kind.isFailover
        }
    }

    /// The index of the event with record sequence `sequence`.
    public static func event(_ sequence: UInt64, in log: RecordedLog) -> Int? {
        log.sequences.firstIndex(of: sequence)
    }

    /// Lines explaining the decision at `index` (or the event there, if it is not a decision).
    public static func lines(for index: Int, in log: RecordedLog, window: Nanos = 2_000_000_000) -> [String] {
        let instants = self.instants(log)
        let at = instants[index]
        // Names from the configuration in force at the time (it is in the log).
        let config = log.events[..<index].reversed().lazy.compactMap { event -> ClusterConfig? in
            if case .input(let stamped) = event, case .configLoaded(let config) = stamped.input { return config }
            return nil
        }.first
        let channelName = { (c: UInt8) in config?.channelName(Int(c)) ?? "channel \(c)" }
        let names = config?.resources.map(\.name) ?? []
        let resourceName = { (r: Int) in
            r < (config?.resources.count ?? 0) ? config!.resources[r].name : "resource \(r)"
        }
        func ago(_ instant: Instant?) -> String {
            guard let instant else { return "never" }
            return instant <= at ? "\(ms(at - instant)) before" : "\(ms(instant - at)) after"
        }
        var out: [String] = []
        let when = rfc3339(log.walls[index])
        guard case .decision(let decision) = log.events[index] else {
            out.append(
                "#\(log.sequences[index]) at \(when): \(EventDescription.line(log.events[index], resources: log.resourceNames)) (not a decision)"
            )
            return out
        }
        out.append(
            "decision #\(log.sequences[index]) at \(when) on \(log.identity.nodeName): \(decision.kind), epoch \(decision.epoch)"
        )
        out.append("  rule: \(decision.reason)")
        out.append("  evidence:")
        let evidence = decision.evidence
        for channel in evidence.channels {
            out.append(
                "    \(channelName(channel.channel)): \(channel.up ? "up" : "DOWN"), last heard \(ago(channel.lastHeard))"
            )
        }
        let counter = evidence.peerCounter.map(String.init) ?? "never read"
        out.append(
            "    peer's disk slot: counter \(counter), last changed \(ago(evidence.peerCounterChangedAt)), storage \(evidence.diskReadable ? "readable" : "UNREADABLE")"
        )
        out.append(
            "    peer: \(evidence.peerRole), epoch \(evidence.peerEpoch), \(evidence.peerOwns ? "holds the lease" : "does not hold the lease")"
        )
        out.append("    own lease last renewed \(ago(evidence.lastRenewal))")
        let arbitrator = { (value: Bool?) in value.map { $0 ? "reachable" : "UNREACHABLE" } ?? "unknown" }
        out.append(
            "    arbitrator: from here \(arbitrator(evidence.arbitrator)), from the peer \(arbitrator(evidence.peerArbitrator))"
        )
        out.append("  what led to it:")
        var led = 0
        for i in stride(from: index - 1, through: 0, by: -1) where at - min(at, instants[i]) <= window {
            switch log.events[i] {
            case .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision, .commandRefused:
                out.insert("    \(ago(instants[i])): \(EventDescription.line(log.events[i], resources: names))", at: out.count - led)
                led += 1
            case .input(let stamped):
                if case .admin = stamped.input {
                    out.insert("    \(ago(instants[i])): \(EventDescription.line(log.events[i], resources: names))", at: out.count - led)
                    led += 1
                }
            case .rejected, .issued, .stateDigest, .snapshot:
                continue
            }
        }
        if led == 0 { out.append("    (nothing else in the \(ms(window)) before)") }
        out.append("  what followed:")
        var started: [Int: Instant] = [:]
        for i in (index + 1)..<log.events.count {
            if instants[i] > at + 60_000_000_000 { break }
            switch log.events[i] {
            case .decision(let next):
                out.append("    \(ago(instants[i])): decision \(next.kind): \(next.reason)")
                if next.kind != .leaseAcquired && next.kind != .fencePeer && next.kind != .released { return out }
            case .issued(let action):
                switch action {
                case .armTimer, .readPeerSlot: continue
                case .startResource(let r, _), .stopResource(let r, _), .killResource(let r, _):
                    started[r] = instants[i]
                    let verb =
                        if case .startResource = action { "start" } else if case .stopResource = action { "stop" } else
                        { "kill" }
                    out.append("    \(ago(instants[i])): \(verb) \(resourceName(r))")
                    continue
                case .raiseAlarm(let alarm):
                    out.append("    \(ago(instants[i])): alarm \(alarm.kind) raised")
                    continue
                case .writeSlot, .fencePeer, .announce, .clearAlarm: break
                }
                out.append("    \(ago(instants[i])): \(EventDescription.line(log.events[i], resources: names))")
            case .input(let stamped):
                if case .resourceOutcome(let outcome) = stamped.input, outcome.operation != .monitor {
                    let took = started[outcome.resource].map { " (took \(ms(stamped.at - $0)))" } ?? ""
                    out.append(
                        "    \(ago(instants[i])): \(resourceName(outcome.resource)) \(outcome.operation): \(outcome.result)\(took)"
                            + EventDescription.failureText(outcome)
                    )
                }
            case .rejected, .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .commandRefused,
                .stateDigest, .snapshot:
                continue
            }
        }
        return out
    }

    /// Each event's instant: an input's own `at`; a derived event shares the input it came from.
    static func instants(_ log: RecordedLog) -> [Instant] {
        var current: Instant = 0
        return log.events.map { event in
            if let stamped = event.stampedInput { current = stamped.at }
            return current
        }
    }

    static func ms(_ nanos: Nanos) -> String { millisecondsText(Int64(nanos)) }
}
