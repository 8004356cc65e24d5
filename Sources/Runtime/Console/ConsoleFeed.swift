import Coordinator
import Synchronization

/// What the console shows, handed over by the shell as it happens, so that no HTTP request ever waits on the
/// shell (which decides and heartbeats): the newest events, the state after them, the last failover's events,
/// and the live subscribers of the event stream.
///
/// Two sides, so that the shell (at real-time priority) never waits for a console thread (at normal priority,
/// which any busy process on the host can hold off the CPU): the shell only drops what it logged into a mailbox,
/// under a lock held for an array append and nothing else; the console's pump (`drain`, on a thread of its own)
/// empties the mailbox every few tens of milliseconds and does everything else: the window, the fold of the
/// events that leave it, the last incident, the metrics, and the subscribers' streams. Measured before the split
/// (issue 14's load test): with 100 stream clients and the CPUs busy, the shell stood still for up to 115 ms,
/// waiting on a stream's lock that a preempted console thread held, and self-fenced.
public final class ConsoleFeed: Sendable {
    /// One logged event with its record's sequence number and wall time.
    public struct Entry: Sendable {
        public var sequence: UInt64
        public var wall: Int64
        public var event: Event

        public init(sequence: UInt64, wall: Int64, event: Event) {
            self.sequence = sequence
            self.wall = wall
            self.event = event
        }
    }

    /// What the shell knew after its last input: the state, plus the counts `status` shows.
    public struct Status: Sendable {
        public var state: State
        public var rejections: [(reason: String, count: Int)]
        public var loss: [Double?]
    }

    /// A window of events that the time line and the explanation can be computed from: `base` is the state
    /// before the first of `entries`, `config` the configuration in force then.
    public struct Window: Sendable {
        public var base: State
        public var config: Entry?
        public var entries: [Entry]
    }

    /// How many recent events are kept (about a minute and a half at a pair's idle rate of ~220 a second).
    public let capacity: Int
    /// How many events a subscriber may fall behind before the oldest it has not read are dropped.
    public static let subscriberBuffer = 4096
    /// Events kept after a failover decision, for its explanation (what followed, within a minute).
    static let incidentAfter = 60_000_000_000 as Int64
    static let incidentBefore = 2_000_000_000 as Int64

    private struct Inner {
        var ring: [Entry] = []
        var head = 0
        var base: State
        var config: Entry?
        var status: Status
        var incident: [Entry] = []
        var incidentBase: State
        var incidentConfig: Entry?
        var incidentOpen = false
        var subscribers: [Int: AsyncStream<Entry>.Continuation] = [:]
        /// Events that never reached the window (the pump fell behind), since the start.
        var dropped = 0
        var streamsEnded = false
        var nextSubscriber = 0
    }

    private let inner: Mutex<Inner>

    /// What the shell handed over since the last `drain`.
    private struct Mailbox {
        var entries: [Entry] = []
        /// Lease renewals seen (the state's last renewal changed after an input), and the last one seen.
        var renewals = 0
        var lastRenewal: Instant?
        var status: Status?
        var lost: [Int: Int] = [:]
        var rejected: [String] = []
        /// Entries dropped because the pump did not keep up (the console's CPU starved for seconds), and the
        /// state after them, which the window restarts from.
        var dropped = 0
        var restart: State?
    }
    private let mailbox = Mutex(Mailbox())
    private let lastTick = Atomic<UInt64>(0)
    private let failure = Mutex<String?>(nil)
    /// The metrics fed from the same events, by the pump (nil in tests of the window alone).
    let metrics: ConsoleMetrics?
    /// Beyond this many undrained entries, the oldest are dropped rather than the shell's memory growing.
    var mailboxLimit: Int { capacity * 2 }

    public init(state: State, capacity: Int = 20_000, metrics: ConsoleMetrics? = nil) {
        self.capacity = max(16, capacity)
        self.metrics = metrics
        inner = Mutex(
            Inner(base: state, status: Status(state: state, rejections: [], loss: []), incidentBase: state)
        )
    }

    // MARK: - The shell's side: appends only

    /// Called by the shell once events are in the log, in log order, with the state after them.
    public func appended(_ entries: [Entry], state: State) {
        mailbox.withLock { box in
            if let renewal = state.lastRenewal, renewal != box.lastRenewal {
                box.renewals += 1
                box.lastRenewal = renewal
            }
            if box.entries.count + entries.count > mailboxLimit {
                // The pump has not run for a long while. The window cannot be folded across a gap: it restarts
                // from the state now, and the streams are told that events are missing.
                box.dropped += box.entries.count + entries.count
                box.entries = []
                box.restart = state
            } else {
                box.entries.append(contentsOf: entries)
            }
        }
    }

    /// The shell's state after its last input.
    public func update(_ status: Status) { mailbox.withLock { $0.status = status } }

    /// Heartbeats from the peer that never arrived on `channel`.
    public func lost(_ count: Int, channel: Int) {
        if count > 0 { mailbox.withLock { $0.lost[channel, default: 0] += count } }
    }

    /// A heartbeat refused by authentication or the replay window.
    public func rejected(_ reason: String) { mailbox.withLock { $0.rejected.append(reason) } }

    /// The shell's loop went round (for `/healthz`).
    public func ticked(at now: Instant) { lastTick.store(now, ordering: .relaxed) }

    /// The shell stopped deciding (its log failed, or it stops): `/healthz` answers 503 from now on.
    public func failed(_ reason: String) { failure.withLock { $0 = reason } }

    // MARK: - The console's side

    /// Empties the mailbox into the window, the metrics and the streams. Called by the console's pump only.
    public func drain() {
        let box = mailbox.withLock { box -> Mailbox in
            defer { box = Mailbox(lastRenewal: box.lastRenewal) }
            return box
        }
        if let metrics {
            metrics.observe(box.entries.map(\.event))
            metrics.renewed(box.renewals)
            for (channel, count) in box.lost { metrics.lost(count, channel: channel) }
            for reason in box.rejected { metrics.rejected(reason) }
        }
        inner.withLock { inner in
            if let status = box.status { inner.status = status }
            if let state = box.restart {
                inner.ring = []
                inner.head = 0
                inner.base = state
                inner.incidentOpen = false
                inner.dropped += box.dropped
            }
            for entry in box.entries {
                Self.remember(entry, in: &inner, capacity: capacity)
                for continuation in inner.subscribers.values { continuation.yield(entry) }
            }
        }
    }

    private static func remember(_ entry: Entry, in inner: inout Inner, capacity: Int) {
        if case .input(let stamped) = entry.event, case .configLoaded = stamped.input { inner.config = entry }
        if inner.ring.count < capacity {
            inner.ring.append(entry)
        } else {
            // The oldest leaves the window: fold it into the window's base state.
            inner.base.apply(inner.ring[inner.head].event)
            inner.ring[inner.head] = entry
            inner.head = (inner.head + 1) % capacity
        }
        if case .decision(let decision) = entry.event, decision.kind.isFailover {
            // The explanation looks two seconds back and a minute ahead: keep those events apart from the ring.
            let recent = ordered(inner)
            let from = recent.firstIndex { $0.wall >= entry.wall - incidentBefore } ?? recent.count - 1
            inner.incidentBase = inner.base
            for earlier in recent[..<from] { inner.incidentBase.apply(earlier.event) }
            inner.incident = Array(recent[from...])
            inner.incidentConfig = inner.config
            inner.incidentOpen = true
        } else if inner.incidentOpen {
            if let first = inner.incident.first, entry.wall > first.wall + incidentBefore + incidentAfter
                || inner.incident.count >= capacity
            {
                inner.incidentOpen = false
            } else {
                inner.incident.append(entry)
            }
        }
    }

    private static func ordered(_ inner: Inner) -> [Entry] {
        Array(inner.ring[inner.head...] + inner.ring[..<inner.head])
    }

    public var status: Status { inner.withLock { $0.status } }

    /// nil when healthy; otherwise why not, in one line.
    public func unhealthy(now: Instant, tickInterval: UInt64) -> String? {
        if let failure = failure.withLock({ $0 }) { return "not deciding: \(failure)" }
        // A loop late by more than a second (or ten intervals) is a loop an operator must hear about.
        let limit = max(1_000_000_000, 10 * tickInterval)
        let last = lastTick.load(ordering: .relaxed)
        if last == 0 { return "the daemon's loop has not run yet" }
        if now > last + limit { return "the daemon's loop last ran \((now - last) / 1_000_000) ms ago" }
        return nil
    }

    /// The recent events after `sequence` (at most `limit`), and whether older ones the caller asked for are
    /// no longer held (so that it can tell the client where its window starts).
    public func events(after sequence: UInt64, limit: Int) -> (entries: [Entry], truncated: Bool) {
        inner.withLock { inner in
            let all = Self.ordered(inner)
            let start = all.firstIndex { $0.sequence > sequence } ?? all.count
            let truncated = (all.first.map { $0.sequence > sequence + 1 } ?? false) && sequence != 0
            return (Array(all[start...].prefix(limit)), truncated)
        }
    }

    /// The recent events, with the state before them.
    public var recent: Window {
        inner.withLock { Window(base: $0.base, config: $0.config, entries: Self.ordered($0)) }
    }

    /// The events around the last failover decision, or nil when none happened while the daemon ran.
    public var lastIncident: Window? {
        inner.withLock { inner in
            inner.incident.isEmpty
                ? nil : Window(base: inner.incidentBase, config: inner.incidentConfig, entries: inner.incident)
        }
    }

    /// A live stream of events as they are logged; it ends when the subscriber's task is cancelled.
    public func subscribe() -> AsyncStream<Entry> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Entry.self,
            bufferingPolicy: .bufferingNewest(Self.subscriberBuffer)
        )
        let id = inner.withLock { inner -> Int? in
            if inner.streamsEnded { return nil }
            let id = inner.nextSubscriber
            inner.nextSubscriber += 1
            inner.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.inner.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public var subscriberCount: Int { inner.withLock { $0.subscribers.count } }

    /// Ends every open stream (the console is stopping); later subscribers get a stream that has ended.
    public func endStreams() {
        let open = inner.withLock { inner -> [AsyncStream<Entry>.Continuation] in
            inner.streamsEnded = true
            defer { inner.subscribers = [:] }
            return Array(inner.subscribers.values)
        }
        for continuation in open { continuation.finish() }
    }

    /// Events the console missed because its pump fell behind (they are in the log all the same).
    public var droppedEvents: Int { inner.withLock { $0.dropped } }
}
