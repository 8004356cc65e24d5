import Coordinator
import CoreMetrics
import EventLog
import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory
import Synchronization

/// The daemon's Prometheus metrics (`GET /metrics`), recorded through swift-metrics into a registry of their own
/// (not the process-wide bootstrap, so that tests can run two daemons in one process).
///
/// Most figures come from the events the shell logs (`observe`), so they agree with the log by construction;
/// gauges that describe "now" (role, lease left, log and mirror figures) are set when scraped.
public final class ConsoleMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let config: DaemonConfig

    private let received: [Counter]
    private let lost: [Counter]
    private let roundTrip: [Timer]
    private let decisions: [DecisionKind: Counter]
    private let failovers: [DecisionKind: Counter]
    private let actionTime: [[Timer]]
    private let actionFailures: [[Counter]]
    private let renewals: Counter
    private let fenceRequests: Counter
    private let fenceFailures: Counter
    private let alarmFailures: Counter
    private let roles: [Role: Gauge]
    private let epoch: Gauge
    private let leaseRemaining: Gauge
    private let alarmsActive: Gauge
    private let alarmsPending: Gauge
    private let logEvents: Counter
    private let logBytes: Counter
    private let logUncompressed: Counter
    private let compressionRatio: Gauge
    private let mirrorLagBytes: Gauge
    private let mirrorLagSeconds: Gauge
    private let mirrorHealthy: Gauge
    private let streamClients: Gauge

    private struct Tracking {
        var rejected: [String: Counter] = [:]
        /// Alarm notices not yet delivered: (kind, raised, sink).
        var pending: Set<[Int]> = []
        var logged = WriterCounters()
    }
    private let tracking = Mutex(Tracking())
    static let operations: [ResourceOperation] = [.start, .stop, .monitor, .kill]
    static let roleNames: [Role] = [.starting, .standby, .acquiring, .active, .releasing, .fenced]
    /// More distinct rejection reasons than this are counted under "other" (a label per reason must stay few).
    static let maximumReasons = 32

    public init(config: DaemonConfig) {
        self.config = config
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["servha_heartbeat_round_trip_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1),
        ]
        factory.durationHistogramBuckets["servha_resource_action_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
        ]
        self.factory = factory
        let channels = config.channels.indices.map { config.cluster.channelName($0) }
        received = channels.map { Counter(label: "servha_heartbeats_received_total", dimensions: [("channel", $0)], factory: factory) }
        lost = channels.map { Counter(label: "servha_heartbeats_lost_total", dimensions: [("channel", $0)], factory: factory) }
        roundTrip = channels.map {
            Timer(label: "servha_heartbeat_round_trip_seconds", dimensions: [("channel", $0)], factory: factory)
        }
        let kinds: [DecisionKind] = (0...9).compactMap { DecisionKind(rawValue: $0) }
        decisions = Dictionary(
            uniqueKeysWithValues: kinds.map {
                ($0, Counter(label: "servha_decisions_total", dimensions: [("kind", "\($0)")], factory: factory))
            }
        )
        failovers = Dictionary(
            uniqueKeysWithValues: kinds.filter(\.isFailover).map {
                ($0, Counter(label: "servha_failovers_total", dimensions: [("kind", "\($0)")], factory: factory))
            }
        )
        // One per resource and operation: [resource][operation], in `operations`' order.
        let perAction = config.resources.map { spec in Self.operations.map { [("resource", spec.name), ("operation", "\($0)")] } }
        actionTime = perAction.map { $0.map { Timer(label: "servha_resource_action_seconds", dimensions: $0, factory: factory) } }
        actionFailures = perAction.map {
            $0.map { Counter(label: "servha_resource_action_failures_total", dimensions: $0, factory: factory) }
        }
        renewals = Counter(label: "servha_lease_renewals_total", factory: factory)
        fenceRequests = Counter(label: "servha_fence_requests_total", factory: factory)
        fenceFailures = Counter(label: "servha_fence_failures_total", factory: factory)
        alarmFailures = Counter(label: "servha_alarm_delivery_failures_total", factory: factory)
        roles = Dictionary(
            uniqueKeysWithValues: Self.roleNames.map {
                ($0, Gauge(label: "servha_role", dimensions: [("role", "\($0)")], factory: factory))
            }
        )
        epoch = Gauge(label: "servha_epoch", factory: factory)
        leaseRemaining = Gauge(label: "servha_lease_remaining_seconds", factory: factory)
        alarmsActive = Gauge(label: "servha_alarms_active", factory: factory)
        alarmsPending = Gauge(label: "servha_alarm_deliveries_pending", factory: factory)
        logEvents = Counter(label: "servha_log_events_total", factory: factory)
        logBytes = Counter(label: "servha_log_bytes_total", factory: factory)
        logUncompressed = Counter(label: "servha_log_uncompressed_bytes_total", factory: factory)
        compressionRatio = Gauge(label: "servha_log_compression_ratio", factory: factory)
        mirrorLagBytes = Gauge(label: "servha_log_mirror_lag_bytes", factory: factory)
        mirrorLagSeconds = Gauge(label: "servha_log_mirror_lag_seconds", factory: factory)
        mirrorHealthy = Gauge(label: "servha_log_mirror_healthy", factory: factory)
        streamClients = Gauge(label: "servha_console_stream_clients", factory: factory)
    }

    /// Counts what the logged events say (called by the shell for each batch it appended).
    public func observe(_ events: [Event]) {
        for event in events {
            switch event {
            case .input(let stamped):
                switch stamped.input {
                case .heartbeat(let heartbeat):
                    let c = Int(heartbeat.channel)
                    guard c < received.count else { break }
                    received[c].increment()
                    if let sent = heartbeat.echoOfOwnSentAt, stamped.at >= sent {
                        roundTrip[c].recordNanoseconds(Int64(clamping: stamped.at - sent))
                    }
                case .resourceOutcome(let outcome):
                    guard outcome.resource < actionTime.count,
                        let o = Self.operations.firstIndex(of: outcome.operation)
                    else { break }
                    actionTime[outcome.resource][o].recordNanoseconds(Int64(clamping: outcome.tookNanos))
                    if outcome.result != .succeeded { actionFailures[outcome.resource][o].increment() }
                case .fenceOutcome(let succeeded, _):
                    if !succeeded { fenceFailures.increment() }
                case .alarmDelivery(let delivery):
                    if delivery.succeeded {
                        _ = tracking.withLock {
                            $0.pending.remove([Int(delivery.kind.rawValue), delivery.raised ? 1 : 0, delivery.sink])
                        }
                    } else {
                        alarmFailures.increment()
                    }
                case .started, .configLoaded, .timerFired, .diskSlot, .slotWritten, .arbitrator, .admin, .rejected,
                    .logSpace, .lateRecord, .archived:
                    break
                }
            case .decision(let decision):
                decisions[decision.kind]?.increment()
                failovers[decision.kind]?.increment()
            case .issued(let action):
                switch action {
                case .fencePeer: fenceRequests.increment()
                case .raiseAlarm(let alarm): notices(kind: alarm.kind, raised: true)
                case .clearAlarm(let kind): notices(kind: kind, raised: false)
                case .armTimer, .writeSlot, .readPeerSlot, .startResource, .stopResource, .killResource, .announce:
                    break
                }
            case .rejected, .channelChanged, .peerSuspected, .peerDeclaredDead, .peerAlive, .commandRefused,
                .stateDigest, .snapshot:
                break
            }
        }
    }

    /// Renewals of this node's lease (by echo or by slot write) since the last call.
    public func renewed(_ count: Int) {
        if count > 0 { renewals.increment(by: count) }
    }

    private func notices(kind: AlarmKind, raised: Bool) {
        guard !config.alarms.isEmpty else { return }
        tracking.withLock { tracking in
            for sink in config.alarms.indices { tracking.pending.insert([Int(kind.rawValue), raised ? 1 : 0, sink]) }
        }
    }

    /// A heartbeat that failed authentication or the replay window (`reason` with its numbers taken out).
    public func rejected(_ reason: String) {
        let counter = tracking.withLock { tracking -> Counter in
            var kind = RejectionCounter.kind(of: reason)
            if tracking.rejected[kind] == nil && tracking.rejected.count >= Self.maximumReasons { kind = "other" }
            if let counter = tracking.rejected[kind] { return counter }
            let counter = Counter(label: "servha_heartbeats_rejected_total", dimensions: [("reason", kind)], factory: factory)
            tracking.rejected[kind] = counter
            return counter
        }
        counter.increment()
    }

    /// Heartbeats from the peer that never arrived on `channel` (gaps in its sequence numbers).
    public func lost(_ count: Int, channel: Int) {
        if count > 0 && channel < lost.count { lost[channel].increment(by: count) }
    }

    /// The text a scrape returns: the gauges of now, then everything in the registry.
    public func render(
        state: State,
        log: WriterCounters,
        mirror: MirrorStatus,
        streamClients clients: Int,
        now: Instant
    ) -> String {
        for (role, gauge) in roles { gauge.record(state.role == role ? 1 : 0) }
        epoch.record(Double(state.epoch))
        let left = state.owns ? state.leaseEnd.map { $0 > now ? Double($0 - now) / 1e9 : 0 } ?? 0 : 0
        leaseRemaining.record(left)
        alarmsActive.record(Double(state.alarms.count))
        streamClients.record(Double(clients))
        let (pending, added) = tracking.withLock { tracking in
            let before = tracking.logged
            tracking.logged = log
            return (
                tracking.pending.count,
                (
                    log.records &- before.records, log.bytesWritten &- before.bytesWritten,
                    log.uncompressedBytes &- before.uncompressedBytes
                )
            )
        }
        alarmsPending.record(Double(pending))
        logEvents.increment(by: Int(clamping: added.0))
        logBytes.increment(by: Int(clamping: added.1))
        logUncompressed.increment(by: Int(clamping: added.2))
        compressionRatio.record(log.bytesWritten == 0 ? 0 : Double(log.uncompressedBytes) / Double(log.bytesWritten))
        mirrorLagBytes.record(Double(mirror.lagBytes))
        // How long since the copy last held everything: 0 while it keeps up.
        let behind = mirror.lagBytes == 0 && mirror.healthy ? 0 : mirror.caughtUpAt.map { now > $0 ? Double(now - $0) / 1e9 : 0 } ?? 0
        mirrorLagSeconds.record(behind)
        mirrorHealthy.record(mirror.healthy ? 1 : 0)
        return registry.emitToString()
    }
}
