import Coordinator
import EventLog
import Foundation
import Logging
import Synchronization

/// Delivers alarms to the configured sinks, off the core's path, retrying failed deliveries.
///
/// `exec`: the program gets SERVHA_ALARM_KIND, _SEVERITY, _MESSAGE, _NODE, _EPOCH, _STATE (raised/cleared)
/// in its environment and the alarm as one JSON line on standard input. `webhook`: an HTTP POST of the same
/// JSON (made with curl, which Debian ships), retried with back-off.
public final class AlarmDispatcher: Sendable {
    private let sinks: [AlarmSink]
    private let node: String
    private let logger: Logger
    private let delivered = Mutex<Int>(0)

    public init(sinks: [AlarmSink], node: String, logger: Logger) {
        self.sinks = sinks
        self.node = node
        self.logger = logger
    }

    public var deliveries: Int { delivered.withLock { $0 } }

    public func raise(_ alarm: Alarm) {
        dispatch(
            kind: alarm.kind.description,
            severity: alarm.severity == .critical ? "critical" : "warning",
            message: alarm.message,
            epoch: alarm.epoch,
            state: "raised"
        )
    }

    public func clear(_ kind: AlarmKind) {
        dispatch(kind: kind.description, severity: "info", message: "\(kind) cleared", epoch: 0, state: "cleared")
    }

    private func dispatch(kind: String, severity: String, message: String, epoch: Epoch, state: String) {
        let json =
            "{\"kind\":\(jsonString(kind)),\"severity\":\"\(severity)\",\"state\":\"\(state)\",\"node\":\(jsonString(node)),\"epoch\":\(epoch),\"message\":\(jsonString(message)),\"time\":\(jsonString(ISO8601DateFormatter().string(from: Date())))}"
        let environment = [
            "SERVHA_ALARM_KIND": kind, "SERVHA_ALARM_SEVERITY": severity, "SERVHA_ALARM_MESSAGE": message,
            "SERVHA_ALARM_NODE": node, "SERVHA_ALARM_EPOCH": "\(epoch)", "SERVHA_ALARM_STATE": state,
        ]
        for sink in sinks {
            Task {
                var attempt = 0
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
                while true {
                    let outcome = await ProcessRunner.run(
                        shell: command,
                        environment: environment,
                        stdin: Array((json + "\n").utf8),
                        timeout: 30_000_000_000
                    )
                    if outcome.result == .succeeded {
                        delivered.withLock { $0 += 1 }
                        logger.info(
                            "alarm delivered",
                            metadata: ["servha.alarm": "\(kind)", "servha.sink": "\(command.prefix(60))"]
                        )
                        return
                    }
                    attempt += 1
                    logger.warning(
                        "alarm delivery failed",
                        metadata: [
                            "servha.alarm": "\(kind)", "servha.attempt": "\(attempt)",
                            "servha.output": "\(outcome.output.prefix(200))",
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
