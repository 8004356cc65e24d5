import ArgumentParser
import Foundation
import Replay

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Export a log as an audit trail with a hash chain, and check one.",
        subcommands: [AuditExport.self, AuditVerify.self]
    )
}

struct AuditExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "One line per event (JSON lines or CSV), each chained to the one before by SHA-256.",
        discussion: """
            The first line names the log, the last counts the events, and every line carries the hash of the \
            one before (prev) and its own (hash), so that `servha audit verify` finds a line altered, inserted, \
            removed or reordered, and a file cut short.
            """
    )

    @Argument(help: "A log directory (or DEVICE:NODE).", transform: DeviceLogLocation.directory) var directory: String
    @Option(help: "jsonl or csv.") var format: String = "jsonl"
    @Option(help: "Only events at or after this time (RFC 3339, such as 2026-11-26T13:22:30Z).") var from: String?
    @Option(help: "Only events at or before this time (RFC 3339).") var to: String?
    @Option(help: "Write here (atomically) instead of standard output.") var output: String?

    func run() throws {
        guard let format = AuditTrail.Format(rawValue: format) else {
            throw fail("--format \(format): expected jsonl or csv")
        }
        func time(_ option: String, _ text: String?) throws -> Int64? {
            guard let text else { return nil }
            guard let wall = parseWallTime(text) else {
                throw fail(
                    "--\(option) \(text): not a time (RFC 3339 such as 2026-11-26T13:22:30Z, or nanoseconds since the epoch)"
                )
            }
            return wall
        }
        let fromWall = try time("from", from)
        let toWall = try time("to", to)
        if let fromWall, let toWall, fromWall > toWall { throw fail("--from \(from!) is after --to \(to!)") }
        let log = try loadRecordedLog(directory)
        if let output {
            var text = ""
            AuditTrail.export(log, format: format, from: fromWall, to: toWall) { text += $0 + "\n" }
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw fail("\(output): cannot write the audit trail: \((error as NSError).localizedDescription)")
            }
        } else {
            AuditTrail.export(log, format: format, from: fromWall, to: toWall) { print($0) }
        }
    }
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an audit trail's hash chain; name the first broken line."
    )

    @Argument(help: "An export written by `servha audit export`.") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw fail("\(file): cannot read it (missing, or not a file)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw fail("\(file): not UTF-8 text, not an audit export")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        do {
            let verified = try AuditTrail.verify(lines: lines, path: file)
            print("\(file): ok: \(verified.events) events, \(verified.format), hash chain intact")
        } catch let error as ReplayError {
            throw fail("\(error)")
        }
    }
}
