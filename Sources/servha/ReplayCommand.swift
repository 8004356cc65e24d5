import ArgumentParser
import Coordinator
import EventLog
import Replay

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-run recorded logs through the coordinator.",
        subcommands: [ReplayVerify.self, ReplayDecisions.self, ReplayWhatIf.self, ReplayMerge.self]
    )
}

struct ReplayVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-run each log's recorded inputs through a fresh coordinator and compare every event.",
        discussion: """
            Exit status 0 when every decision, action and state digest comes out identical. Otherwise the first \
            divergent event is printed, recorded and replayed side by side, with the state before it; exit 1. \
            A damaged log, a gap in its sequence numbers or a record of a newer format is a one-line error (exit 1). \
            An incident directory (one subdirectory per node's log, as collected after an incident) verifies each \
            log under it.
            """
    )

    @Argument(
        help:
            "Log directories (a node's log_dir, or its copy on shared storage), incident directories, DEVICE:NODE or DEVICE (a shared LUN).",
        transform: DeviceLogLocation.directoryOrIncident
    )
    var directories: [String]

    func validate() throws {
        if directories.isEmpty { throw ValidationError("give at least one log directory") }
    }

    func run() throws {
        var failed = false
        var logs: [String] = []
        for directory in directories {
            do {
                logs += try IncidentDirectory.logs(at: directory)
            } catch {
                printError("servha: \(error)")
                failed = true
            }
        }
        for directory in logs {
            let identity: LogIdentity
            let report: ReplayVerifier.Report
            do {
                (identity, report) = try ReplayVerifier.verify(directory: directory)
            } catch {
                printError("servha: \(error)")
                failed = true
                continue
            }
            guard let divergence = report.divergence else {
                print(
                    "\(directory): ok: \(report.events) events (\(report.inputs) inputs, \(report.decisions) decisions, "
                        + "\(report.digests) state digests\(report.snapshots > 0 ? ", \(report.snapshots) snapshots" : "")) replay identically (node \(identity.nodeName), cluster \(identity.cluster))"
                        + (report.resumedAt.map { "; from the snapshot at sequence \($0) (the log's older segments were removed)" } ?? "")
                )
                continue
            }
            failed = true
            let when = divergence.wall.map { " at \(rfc3339($0))" } ?? ""
            let sequence = divergence.sequence.map { "sequence \($0)" } ?? "past the end of the log"
            print("\(directory): replay diverges at event \(divergence.index) (\(sequence)\(when))")
            print("  recorded: \(divergence.recorded.map { EventDescription.line($0) } ?? "(nothing: the log ends here)")")
            print(
                "  replayed: \(divergence.replayed.map { EventDescription.line($0) } ?? "(nothing: the replay produced no such event)")"
            )
            print("  state before: \(EventDescription.state(divergence.stateBefore))")
        }
        if failed { throw ExitCode(1) }
    }
}

struct ReplayDecisions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decisions",
        abstract: "Print a log's decisions, one per line, with their times and reasons."
    )

    @Argument(help: "A log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory) var directory: String

    func run() throws {
        let log = try loadRecordedLog(directory)
        let names = log.resourceNames
        for (index, event) in log.events.enumerated() {
            switch event {
            case .decision, .peerDeclaredDead, .commandRefused:
                print(
                    "\(rfc3339(log.walls[index])) #\(log.sequences[index]) \(EventDescription.line(event, resources: names))"
                )
            case .input, .rejected, .channelChanged, .peerSuspected, .peerAlive, .issued, .stateDigest, .snapshot:
                continue
            }
        }
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "The chain from evidence to action behind a decision in a log.",
        discussion:
            "Which channels went silent when, what the disk slot and the arbitrator said, which rule fired, and which actions followed and how long each took."
    )

    @Argument(help: "A log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory) var directory: String
    @Option(help: "Explain the event with this sequence number.") var event: UInt64?
    @Flag(help: "Explain the last failover (take-over, release or self-fence).") var lastFailover = false

    func validate() throws {
        if (event == nil) == !lastFailover {
            throw ValidationError("give exactly one of --event SEQ and --last-failover")
        }
    }

    func run() throws {
        let log = try loadRecordedLog(directory)
        let index: Int
        if let event {
            guard let found = Explanation.event(event, in: log) else {
                throw fail(
                    "\(directory): no event with sequence \(event) (the log holds \(log.sequences.first ?? 0) to \(log.sequences.last ?? 0))"
                )
            }
            index = found
        } else {
            guard let found = Explanation.lastFailover(in: log) else {
                throw fail("\(directory): no failover in this log")
            }
            index = found
        }
        for line in Explanation.lines(for: index, in: log) { print(line) }
    }
}

struct ReplayWhatIf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "what-if",
        abstract: "Replay a log under a changed configuration and show which decisions change.",
        discussion: """
            The node's recorded observations (the peer's heartbeats and disk slot, the arbitrator, monitors, \
            operator commands) are replayed as they happened; timers fire from the changed coordinator's own \
            schedule, and its requests are answered after the time they took in the recording. Settings: \
            heartbeat.interval, heartbeat.deadline, lease.duration, lease.safety_margin, failback.mode, \
            failback.stability, failback.preferred_node, restart.max_local, restart.window.
            """
    )

    @Argument(help: "A log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory) var directory: String
    @Option(name: .customLong("set"), help: "A changed setting, KEY=VALUE (for example heartbeat.deadline=300ms).")
    var settings: [String] = []

    func validate() throws {
        if settings.isEmpty { throw ValidationError("give at least one --set KEY=VALUE") }
    }

    func run() throws {
        do {
            let overrides = try settings.map(ConfigOverride.parse)
            let log = try RecordedLog.load(directory)
            let report = try WhatIf.run(log, overrides: overrides)
            for line in report.lines(directory: directory, node: log.identity.nodeName, overrides: overrides) {
                print(line)
            }
        } catch let error as ReplayError {
            throw fail("\(error)")
        }
    }
}

struct ReplayMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Both nodes' logs on one time line, ordered by time.",
        discussion: """
            The second node's clock offset from the first is estimated from the heartbeats they exchanged (the \
            exchange with the shortest round trip), and its events are placed on the first node's clock. Give \
            the shared-storage copies of both logs, or the local ones.
            """
    )

    @Argument(help: "The first node's log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory)
    var first: String
    @Argument(help: "The second node's log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory)
    var second: String
    @Flag(help: "Every event, heartbeats, timers and slot reads and writes included.") var all = false

    func run() throws {
        do {
            let merged = try MergedTimeline.merge([RecordedLog.load(first), RecordedLog.load(second)])
            for line in merged.lines(all: all) { print(line) }
        } catch let error as ReplayError {
            throw fail("\(error)")
        }
    }
}

/// A log directory read back for the replay tools; its problems are one-line errors, exit 1.
func loadRecordedLog(_ directory: String) throws -> RecordedLog {
    do {
        return try RecordedLog.load(directory)
    } catch {
        throw fail("\(error)")
    }
}
