import Coordinator
import Synchronization

/// What the console shows, handed over by the shell as it happens, so that no HTTP request ever waits on the
/// shell (which decides and heartbeats): the newest events, the state after them, the last failover's events,
/// and the live subscribers of the event stream.
///
/// The shell only appends under a lock and yields to subscribers' bounded buffers; everything an HTTP request
/// needs (JSON, explanation, time line) is computed on the console's own threads from copies taken here.
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
        var nextSubscriber = 0
        var lastTick: Instant = 0
        var failure: String?
    }

    private let inner: Mutex<Inner>

    public init(state: State, capacity: Int = 20_000) {
        self.capacity = max(16, capacity)
        inner = Mutex(
            Inner(base: state, status: Status(state: state, rejections: [], loss: []), incidentBase: state)
        )
    }

    /// Called by the shell once events are in the log, in log order.
    public func appended(_ entries: [Entry]) {
        inner.withLock { inner in
            for entry in entries {
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

    /// The shell's state after its last input.
    public func update(_ status: Status) { inner.withLock { $0.status = status } }

    /// The shell's loop went round (for `/healthz`).
    public func ticked(at now: Instant) { inner.withLock { $0.lastTick = now } }

    /// The shell stopped deciding (its log failed): `/healthz` answers 503 from now on.
    public func failed(_ reason: String) { inner.withLock { $0.failure = reason } }

    public var status: Status { inner.withLock { $0.status } }

    /// nil when healthy; otherwise why not, in one line.
    public func unhealthy(now: Instant, tickInterval: UInt64) -> String? {
        inner.withLock { inner in
            if let failure = inner.failure { return "not deciding: \(failure)" }
            // A loop late by more than a second (or ten intervals) is a loop an operator must hear about.
            let limit = max(1_000_000_000, 10 * tickInterval)
            if inner.lastTick == 0 { return "the daemon's loop has not run yet" }
            if now > inner.lastTick + limit {
                return "the daemon's loop last ran \((now - inner.lastTick) / 1_000_000) ms ago"
            }
            return nil
        }
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
        let id = inner.withLock { inner in
            let id = inner.nextSubscriber
            inner.nextSubscriber += 1
            inner.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.inner.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public var subscriberCount: Int { inner.withLock { $0.subscribers.count } }
}
