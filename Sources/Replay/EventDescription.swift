import Coordinator
import EventLog

/// Events and states in words, for `replay verify`, `explain` and timelines.
public enum EventDescription {
    /// For an action that did not succeed, its own account (the agent's first line of output), so that `explain`
    /// and the timeline say why: `: DNS UPDATE of db.example.test. refused by ...: NOTAUTH (TSIG error BADSIG ...)`.
    static func failureText(_ outcome: ResourceOutcome) -> String {
        guard outcome.result != .succeeded else { return "" }
        let line = outcome.output.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard !line.isEmpty else { return "" }
        return ": " + (line.count > 200 ? String(line.prefix(200)) + "..." : line)
    }

    /// One event in words; actions name their resource when `resources` (the group, in order) is given.
    public static func line(_ event: Event, resources: [String] = []) -> String {
        switch event {
        case .input(let stamped): return "input \(input(stamped.input, resources: resources))"
        case .rejected(let stamped, let reason): return "rejected \(input(stamped.input, resources: resources)): \(reason)"
        case .channelChanged(let channel, let up, _): return "channel \(channel) \(up ? "up" : "down")"
        case .peerSuspected: return "peer suspected (every network channel silent)"
        case .peerDeclaredDead: return "peer declared dead (every channel silent)"
        case .peerAlive(let channel): return "peer alive (channel \(channel))"
        case .decision(let decision): return "decision \(decision.kind) epoch \(decision.epoch): \(decision.reason)"
        case .issued(let action): return "action \(Self.action(action, resources: resources))"
        case .commandRefused(let command, let reason): return "refused \(command.verb) (\(command.source)): \(reason)"
        case .stateDigest(let digest): return "state digest \(hex(digest.prefix(8)))"
        case .snapshot(let bytes): return "state snapshot (\(bytes.count) bytes)"
        }
    }

    public static func action(_ action: Action, resources: [String] = []) -> String {
        let name = { (r: Int) in r >= 0 && r < resources.count ? resources[r] : "resource \(r)" }
        switch action {
        case .armTimer(let at): return "arm timer for \(at)"
        case .writeSlot(let owns, let epoch): return "write own slot (owns \(owns), epoch \(epoch))"
        case .readPeerSlot: return "read peer slot"
        case .startResource(let r, let epoch): return "start \(name(r)) (epoch \(epoch))"
        case .stopResource(let r, let epoch): return "stop \(name(r)) (epoch \(epoch))"
        case .killResource(let r, let epoch): return "kill \(name(r)) (epoch \(epoch))"
        case .fencePeer(let epoch): return "fence peer (epoch \(epoch))"
        case .announce(let epoch): return "announce the group's addresses again (epoch \(epoch))"
        case .raiseAlarm(let alarm): return "raise alarm \(alarm.kind) (\(alarm.severity == .critical ? "critical" : "warning")): \(alarm.message)"
        case .clearAlarm(let kind): return "clear alarm \(kind)"
        }
    }

    public static func input(_ input: Input, resources: [String] = []) -> String {
        switch input {
        case .started(let start): return "started (servha \(start.servhaVersion), boot \(start.bootID))"
        case .configLoaded(let config):
            return "config loaded (cluster \(config.cluster), hash \(hex(config.hash.prefix(6))))"
        case .heartbeat(let heartbeat):
            return
                "heartbeat channel \(heartbeat.channel) seq \(heartbeat.sequence): peer \(heartbeat.view.role) epoch \(heartbeat.view.epoch)"
        case .timerFired: return "timer fired"
        case .diskSlot(let reading):
            return reading.readable
                ? "peer slot: counter \(reading.counter), \(reading.view.role) epoch \(reading.view.epoch)"
                : "peer slot unreadable"
        case .slotWritten(let write):
            return "own slot written: \(write.succeeded ? "ok" : "FAILED") (owns \(write.owns), epoch \(write.epoch))"
        case .arbitrator(let reachable): return "arbitrator \(reachable ? "reachable" : "UNREACHABLE")"
        case .resourceOutcome(let outcome):
            let name = outcome.resource < resources.count ? resources[outcome.resource] : "resource \(outcome.resource)"
            return "\(name) \(outcome.operation): \(outcome.result)\(failureText(outcome))"
        case .fenceOutcome(let succeeded, let detail): return "fence \(succeeded ? "succeeded" : "failed"): \(detail)"
        case .admin(let command): return "admin \(command.verb) (\(command.source))"
        case .rejected(let rejected): return "shell rejected: \(rejected.reason) from \(rejected.source)"
        case .lateRecord(let text): return "recorded late: \(text)"
        case .logSpace(let space):
            return "log file system: \(space.freeBytes / 1_048_576) MiB free of \(space.totalBytes / 1_048_576) MiB"
        case .alarmDelivery(let delivery):
            return "alarm \(delivery.kind) to sink \(delivery.sink): \(delivery.succeeded ? "delivered" : "failed")"
        case .archived(let outcome):
            return "archive of \(outcome.segment): \(outcome.succeeded ? "done" : "FAILED: \(outcome.detail)")"
        }
    }

    public static func state(_ state: State) -> String {
        let resources = state.resources.map(\.description).joined(separator: ",")
        let channels = state.channels.map { $0.up ? "up" : "down" }.joined(separator: ",")
        return "role \(state.role), epoch \(state.epoch) (highest seen \(state.highestEpoch)), channels [\(channels)], "
            + "peer \(state.peerView.role) epoch \(state.peerView.epoch)\(state.peerDead ? " (dead)" : ""), resources [\(resources)]"
    }
}
