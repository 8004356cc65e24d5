import Coordinator
import EventLog
import EventRecords
import Replay

/// The console's views of the logged events: JSON lines, the live stream, the last failover's explanation and
/// the recent time line, all with the same words and drawing as the command-line tools.
enum ConsoleEvents {
    /// One event as a JSON object with the fields of `servha audit export --format jsonl` (without its chain):
    /// `seq`, `time`, `mono`, `node`, `cluster`, `type`, `event`.
    static func json(_ entry: ConsoleFeed.Entry, identity: LogIdentity, config: DaemonConfig) -> String {
        let type = EventCodec.typeName(of: entry.event)
        let mono = entry.event.stampedInput.map { "\($0.at)" } ?? "null"
        return "{\"seq\":\(entry.sequence),\"time\":\(jsonQuote(rfc3339(entry.wall))),\"mono\":\(mono),"
            + "\"node\":\(jsonQuote(identity.nodeName)),\"cluster\":\(jsonQuote(identity.cluster)),"
            + "\"type\":\(jsonQuote(type)),"
            + "\"event\":\(jsonQuote(EventDescription.line(entry.event, resources: config.resources.map(\.name))))}"
    }

    /// What happens every tick whether or not anything changes: left out with `routine=false`.
    static func isRoutine(_ event: Event) -> Bool {
        switch event {
        case .input(let stamped):
            switch stamped.input {
            case .heartbeat, .timerFired, .diskSlot, .slotWritten: return true
            case .started, .configLoaded, .arbitrator, .resourceOutcome, .fenceOutcome, .admin, .rejected,
                .alarmDelivery, .logSpace, .lateRecord, .archived:
                return false
            }
        case .issued(let action):
            switch action {
            case .armTimer, .writeSlot, .readPeerSlot: return true
            case .startResource, .stopResource, .killResource, .fencePeer, .announce, .raiseAlarm, .clearAlarm:
                return false
            }
        case .stateDigest, .snapshot: return true
        case .rejected, .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .decision, .commandRefused:
            return false
        }
    }

    /// Server-sent events: first what the feed holds after `query.since`, then each event as it is logged, each
    /// with its sequence as the event id (so that a browser that reconnects resumes where it was). A comment
    /// line goes out at least every 15 s, so that a client that left is noticed even when nothing is logged.
    static func stream(
        _ query: ConsoleQuery,
        feed: ConsoleFeed,
        identity: LogIdentity,
        config: DaemonConfig,
        write: (String) async throws -> Void
    ) async throws {
        let live = feed.subscribe()  // before the catch-up, so that nothing falls between the two
        var last = query.since
        var lastWrite = monotonicNow()
        func send(_ entry: ConsoleFeed.Entry) async throws {
            guard entry.sequence > last else { return }
            last = entry.sequence
            let now = monotonicNow()
            if query.routine || !isRoutine(entry.event) {
                try await write("id: \(entry.sequence)\ndata: \(json(entry, identity: identity, config: config))\n\n")
                lastWrite = now
            } else if now > lastWrite + 15_000_000_000 {
                try await write(": still here\n\n")
                lastWrite = now
            }
        }
        if query.since > 0 {
            for entry in feed.events(after: query.since, limit: ConsoleQuery.maximumLimit).entries { try await send(entry) }
        } else {
            last = feed.events(after: 0, limit: Int.max).entries.last?.sequence ?? 0
        }
        try await write(": servha \(identity.nodeName) event stream\n\n")
        for await entry in live { try await send(entry) }
    }

    /// The last failover decision's explanation, as `servha explain` words it:
    /// `{"decision": SEQ, "lines": [...]}`, or a null decision when none happened since the daemon started.
    static func explanation(_ window: ConsoleFeed.Window?, identity: LogIdentity) -> String {
        guard let window else { return "{\"decision\":null,\"lines\":[]}" }
        let log = recordedLog(window, identity: identity)
        guard let index = Explanation.lastFailover(in: log) else { return "{\"decision\":null,\"lines\":[]}" }
        let lines = Explanation.lines(for: index, in: log)
        return "{\"decision\":\(log.sequences[index]),\"lines\":[" + lines.map(jsonQuote).joined(separator: ",") + "]}"
    }

    /// The recent events as the SVG time line of `servha timeline --html` (this node's lanes).
    static func timeline(_ window: ConsoleFeed.Window, identity: LogIdentity) -> String {
        let log = recordedLog(window, identity: identity)
        guard !log.events.isEmpty, let merged = try? MergedTimeline.merge([log]) else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"20\"><text x=\"4\" y=\"14\">no events yet</text></svg>"
        }
        return IncidentTimeline(merged).svg()
    }

    /// A window as a recorded log: the configuration in force first (for names), then the window's events.
    static func recordedLog(_ window: ConsoleFeed.Window, identity: LogIdentity) -> RecordedLog {
        var entries = window.entries
        if let config = window.config, config.sequence < (entries.first?.sequence ?? .max) {
            var first = config
            first.wall = entries.first?.wall ?? config.wall  // so that the drawing starts with the window
            entries.insert(first, at: 0)
        }
        return RecordedLog(
            directory: "the console of \(identity.nodeName)",
            identity: identity,
            events: entries.map(\.event),
            sequences: entries.map(\.sequence),
            walls: entries.map(\.wall),
            initialState: window.base
        )
    }
}
