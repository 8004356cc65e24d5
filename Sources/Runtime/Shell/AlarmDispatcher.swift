import Coordinator
import EventLog
import Foundation
import Logging
import Replay
import Synchronization

/// Delivers alarm notices to the configured sinks, off the core's path, retrying failed deliveries.
///
/// Every attempt's outcome goes back to the core as an `alarmDelivery` input, so it is in the log, and a notice
/// stays pending in the state until every sink has it: after a crash the daemon sends the pending ones again
/// (delivery is at least once).
///
/// `exec`: the program gets SERVHA_ALARM_KIND, _SEVERITY, _MESSAGE, _NODE, _EPOCH, _STATE (raised/cleared)
/// in its environment and the alarm as one JSON line on standard input. `webhook`: an HTTP POST of the same
/// JSON (made with curl, which Debian ships), retried with back-off.
public final class AlarmDispatcher: Sendable {
    private let sinks: [AlarmSink]
    private let node: String
    private let logger: Logger
    private let onOutcome: @Sendable (AlarmDelivery) -> Void

    public init(
        sinks: [AlarmSink],
        node: String,
        logger: Logger,
        onOutcome: @escaping @Sendable (AlarmDelivery) -> Void
    ) {
        self.sinks = sinks
        self.node = node
        self.logger = logger
        self.onOutcome = onOutcome
    }

    /// Sends a notice to the given sinks (all of them unless told otherwise).
    public func send(_ alarm: Alarm, raised: Bool, to only: [Int]? = nil) {
        let severity = raised ? (alarm.severity == .critical ? "critical" : "warning") : "info"
        let state = raised ? "raised" : "cleared"
        let message = raised ? alarm.message : "\(alarm.kind) cleared"
        let json =
            "{\"kind\":\(jsonString(alarm.kind.description)),\"severity\":\"\(severity)\",\"state\":\"\(state)\",\"node\":\(jsonString(node)),\"epoch\":\(alarm.epoch),\"message\":\(jsonString(message)),\"time\":\(jsonString(rfc3339(wallNow(), fraction: false)))}"
        let environment = [
            "SERVHA_ALARM_KIND": alarm.kind.description, "SERVHA_ALARM_SEVERITY": severity,
            "SERVHA_ALARM_MESSAGE": message, "SERVHA_ALARM_NODE": node, "SERVHA_ALARM_EPOCH": "\(alarm.epoch)",
            "SERVHA_ALARM_STATE": state,
        ]
        for index in only ?? Array(sinks.indices) where index < sinks.count {
            let sink = sinks[index]
            let onOutcome = onOutcome
            let logger = logger
            Task {
                let retries: Int
                let command: String
                switch sink {
                case .exec(let program):
                    retries = 3
                    command = program
                case .webhook(let url, let count, let timeout):
                    retries = count
                    command =
                        "curl -fsS -m \(max(1, timeout / 1_000_000_000)) -X POST -H 'Content-Type: application/json' --data-binary @- \(shellQuote(url))"
                }
                var attempt = 0
                while true {
                    attempt += 1
                    let outcome = await ProcessRunner.run(
                        shell: command,
                        environment: environment,
                        stdin: Array((json + "\n").utf8),
                        timeout: 30_000_000_000
                    )
                    let succeeded = outcome.result == .succeeded
                    onOutcome(
                        AlarmDelivery(
                            kind: alarm.kind,
                            raised: raised,
                            sink: index,
                            succeeded: succeeded,
                            attempt: attempt,
                            detail: succeeded ? "" : String(outcome.annotatedOutput.prefix(300))
                        )
                    )
                    if succeeded { return }
                    logger.warning(
                        "alarm delivery failed",
                        metadata: [
                            "servha.alarm": "\(alarm.kind)", "servha.sink": "\(index)", "servha.attempt": "\(attempt)",
                        ]
                    )
                    if attempt > retries { return }
                    try? await Task.sleep(nanoseconds: UInt64(min(60, 1 << min(attempt, 6))) * 1_000_000_000)
                }
            }
        }
    }
}

func jsonString(_ text: String) -> String { jsonQuote(text) }

func shellQuote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// Whether the arbitrator answers a ping (Debian's iputils-ping), within the timeout.
public enum ArbitratorProbe {
    public static func reachable(_ address: String, timeout: UInt64) async -> Bool {
        let seconds = max(1, (timeout + 999_999_999) / 1_000_000_000)
        let outcome = await ProcessRunner.run(
            shell: "ping -n -q -c 1 -W \(seconds) \(shellQuote(address))",
            environment: [:],
            stdin: [],
            timeout: timeout + 1_000_000_000
        )
        return outcome.result == .succeeded
    }
}

