import ArgumentParser
import Coordinator
import EventLog
import Replay

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-run recorded logs through the coordinator.",
        subcommands: [ReplayVerify.self, ReplayDecisions.self]
    )
}

struct ReplayVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-run each log's recorded inputs through a fresh coordinator and compare every event.",
        discussion: """
            Exit status 0 when every decision, action and state digest comes out identical. Otherwise the first \
            divergent event is printed, recorded and replayed side by side, with the state before it; exit 1. \
            A damaged log, a gap in its sequence numbers or a record of a newer format is a one-line error (exit 1).
            """
    )

    @Argument(help: "Log directories (a node's log_dir, or its copy on shared storage).") var directories: [String]

    func validate() throws {
        if directories.isEmpty { throw ValidationError("give at least one log directory") }
    }

    func run() throws {
        var failed = false
        for directory in directories {
            let log: RecordedLog
            let report: ReplayVerifier.Report
            do {
                (log, report) = try ReplayVerifier.verify(directory: directory)
            } catch {
                printError("servha: \(error)")
                failed = true
                continue
            }
            guard let divergence = report.divergence else {
                print(
                    "\(directory): ok: \(report.events) events (\(report.inputs) inputs, \(report.decisions) decisions, "
                        + "\(report.digests) state digests) replay identically (node \(log.identity.nodeName), cluster \(log.identity.cluster))"
                )
                continue
            }
            failed = true
            let when = divergence.wall.map { " at \(rfc3339($0))" } ?? ""
            let sequence = divergence.sequence.map { "sequence \($0)" } ?? "past the end of the log"
            print("\(directory): replay diverges at event \(divergence.index) (\(sequence)\(when))")
            print("  recorded: \(divergence.recorded.map(EventDescription.line) ?? "(nothing: the log ends here)")")
            print(
                "  replayed: \(divergence.replayed.map(EventDescription.line) ?? "(nothing: the replay produced no such event)")"
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

    @Argument(help: "A log directory.") var directory: String

    func run() throws {
        let log: RecordedLog
        do {
            log = try RecordedLog.load(directory)
        } catch {
            throw fail("\(error)")
        }
        for (index, event) in log.events.enumerated() {
            switch event {
            case .decision, .peerDeclaredDead, .commandRefused:
                print("\(rfc3339(log.walls[index])) #\(log.sequences[index]) \(EventDescription.line(event))")
            default:
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

    @Argument(help: "A log directory.") var directory: String
    @Option(help: "Explain the event with this sequence number.") var event: UInt64?
    @Flag(help: "Explain the last failover (take-over, release or self-fence).") var lastFailover = false

    func validate() throws {
        if (event == nil) == !lastFailover {
            throw ValidationError("give exactly one of --event SEQ and --last-failover")
        }
    }

    func run() throws {
        let log: RecordedLog
        do {
            log = try RecordedLog.load(directory)
        } catch {
            throw fail("\(error)")
        }
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
