import Coordinator
import EventLog

/// `servha status`: what an operator needs at 3 a.m., as text or one JSON object.
enum StatusReport {
    static func age(_ instant: Instant?, now: Instant) -> String {
        guard let instant else { return "never" }
        let nanos = now >= instant ? now - instant : 0
        if nanos < 1_000_000_000 { return "\(nanos / 1_000_000) ms ago" }
        return "\(nanos / 1_000_000_000).\((nanos / 100_000_000) % 10) s ago"
    }

    /// When the peer was last heard on any channel: a heartbeat, or a change of its disk slot. (Not when its view
    /// was last refreshed: the core re-reads a silent peer's slot, unchanged, every interval.)
    static func lastHeard(_ state: State) -> Instant? { state.channels.compactMap(\.lastHeard).max() }

    static func percent(_ fraction: Double?) -> String {
        guard let fraction else { return "n/a" }
        let tenths = Int((fraction * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    static func text(
        _ state: State,
        config: DaemonConfig,
        rejections: [(reason: String, count: Int)],
        loss: [Double?]
    ) -> String {
        let now = monotonicNow()
        let cluster = config.cluster
        var lines: [String] = []
        var me = "\(config.thisNodeName) (this node): \(state.role), epoch \(state.epoch)"
        if state.maintenance { me += ", MAINTENANCE" }
        if state.adminStandby { me += ", admin standby" }
        if state.owns { me += ", lease renewed \(age(state.lastRenewal, now: now))" }
        if state.announcesDiskOnlyLease {
            me += " (disk-only lease \(Self.seconds(config.cluster.diskOnlyLease)): renewed by disk alone, or lately so)"
        }
        if let until = state.unhealthyUntil, until > now {
            me +=
                ", NOT ELIGIBLE to take the group for \(Self.seconds(until - now)) more (the group failed here; once it is fixed, restart servha here to clear this)"
        }
        lines.append(me)
        let peer = state.peerView
        let peerName = config.peer?.name ?? "peer"
        if state.peerViewAt == nil {
            lines.append("\(peerName) (peer): never heard since this node started")
        } else if state.peerDead {
            lines.append(
                "\(peerName) (peer): NOT HEARD on any channel (last heard \(age(lastHeard(state), now: now)): \(peer.role), epoch \(peer.epoch))"
            )
        } else {
            lines.append(
                "\(peerName) (peer): \(peer.role)\(peer.healthy ? ", healthy" : ", not healthy"), epoch \(peer.epoch)"
            )
        }
        var channels: [String] = []
        for c in 0..<cluster.channelCount where c < state.channels.count {
            let channel = state.channels[c]
            channels.append(
                "\(cluster.channelName(c)) \(channel.up ? "up" : "DOWN") (heard \(age(channel.lastHeard, now: now)))"
            )
        }
        lines.append("channels: " + channels.joined(separator: ", "))
        let resources = zip(cluster.resources, state.resources).map { "\($0.name) \($1)" }
        lines.append("resources: " + (resources.isEmpty ? "none" : resources.joined(separator: ", ")))
        if state.alarms.isEmpty {
            lines.append("alarms: none")
        } else {
            for alarm in state.alarms {
                lines.append(
                    "alarm \(alarm.kind) (\(alarm.severity == .critical ? "critical" : "warning")): \(alarm.message)"
                )
            }
        }
        if let last = state.lastFailover {
            lines.append("last failover: \(last.kind) epoch \(last.epoch), \(age(last.at, now: now)): \(last.reason)")
        } else {
            lines.append("last failover: none")
        }
        if !rejections.isEmpty {
            lines.append(
                "rejected heartbeats: " + rejections.map { "\($0.reason) x\($0.count)" }.joined(separator: "; ")
            )
        }
        let scheduling = RealtimeScheduling.observed()
        lines.append("timings: profile \(config.profile.rawValue); \(scheduling.summary)")
        if let warning = config.fencingWarning { lines.append(warning) }
        if let warning = RealtimeScheduling.warning(config.realtime, scheduling) { lines.append(warning) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func seconds(_ nanos: UInt64) -> String {
        nanos >= 60_000_000_000 ? "\(nanos / 60_000_000_000) min \(nanos % 60_000_000_000 / 1_000_000_000) s" : "\(nanos / 1_000_000_000) s"
    }

    static func json(
        _ state: State,
        config: DaemonConfig,
        rejections: [(reason: String, count: Int)],
        loss: [Double?]
    ) -> String {
        let now = monotonicNow()
        let cluster = config.cluster
        func ageMs(_ instant: Instant?) -> String {
            instant.map { String((now >= $0 ? now - $0 : 0) / 1_000_000) } ?? "null"
        }
        var parts: [String] = []
        parts.append("\"node\":\(jsonString(config.thisNodeName))")
        parts.append("\"role\":\"\(state.role)\"")
        parts.append("\"epoch\":\(state.epoch)")
        parts.append("\"maintenance\":\(state.maintenance)")
        parts.append("\"admin_standby\":\(state.adminStandby)")
        parts.append("\"lease_renewed_ms_ago\":\(state.owns ? ageMs(state.lastRenewal) : "null")")
        parts.append(
            // A peer not heard is not shown in the role it had: its last words are under last_seen.
            "\"peer\":{\"name\":\(jsonString(config.peer?.name ?? "")),\"role\":\"\(state.peerViewAt == nil ? "never heard" : state.peerDead ? "not heard" : "\(state.peerView.role)")\",\"epoch\":\(state.peerDead ? "null" : "\(state.peerView.epoch)"),\"heard\":\(!state.peerDead && state.peerViewAt != nil),\"healthy\":\(state.peerView.healthy && !state.peerDead),\"last_seen\":{\"role\":\"\(state.peerView.role)\",\"epoch\":\(state.peerView.epoch),\"ms_ago\":\(ageMs(lastHeard(state)))}}"
        )
        let channels = (0..<min(cluster.channelCount, state.channels.count)).map { c in
            let lost = c < loss.count ? (loss[c].map { String(Int(($0 * 1000).rounded())) } ?? "null") : "null"
            return
                "{\"name\":\(jsonString(cluster.channelName(c))),\"up\":\(state.channels[c].up),\"last_heard_ms_ago\":\(ageMs(state.channels[c].lastHeard)),\"loss_permille\":\(lost)}"
        }
        parts.append("\"channels\":[" + channels.joined(separator: ",") + "]")
        let resources = zip(cluster.resources, state.resources).map {
            "{\"name\":\(jsonString($0.name)),\"status\":\"\($1)\"}"
        }
        parts.append("\"resources\":[" + resources.joined(separator: ",") + "]")
        let alarms = state.alarms.map {
            "{\"kind\":\"\($0.kind)\",\"severity\":\"\($0.severity == .critical ? "critical" : "warning")\",\"message\":\(jsonString($0.message))}"
        }
        parts.append("\"alarms\":[" + alarms.joined(separator: ",") + "]")
        if let last = state.lastFailover {
            parts.append(
                "\"last_failover\":{\"kind\":\"\(last.kind)\",\"epoch\":\(last.epoch),\"ms_ago\":\(ageMs(last.at)),\"reason\":\(jsonString(last.reason))}"
            )
        } else {
            parts.append("\"last_failover\":null")
        }
        parts.append(
            "\"rejected\":{" + rejections.map { "\(jsonString($0.reason)):\($0.count)" }.joined(separator: ",") + "}"
        )
        // While announced, a takeover by the peer waits the disk-only lease (lease.disk_only_duration).
        parts.append("\"disk_only_lease\":\(state.announcesDiskOnlyLease)")
        parts.append("\"fencing\":" + (config.fencing.map { jsonString("\($0.agent) \($0.action)") } ?? "null"))
        let scheduling = RealtimeScheduling.observed()
        parts.append("\"realtime\":" + scheduling.json)
        let warnings = [config.fencingWarning, RealtimeScheduling.warning(config.realtime, scheduling)]
        parts.append("\"warnings\":[" + warnings.compactMap { $0.map(jsonString) }.joined(separator: ",") + "]")
        return "{" + parts.joined(separator: ",") + "}"
    }
}
