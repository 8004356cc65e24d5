import ArgumentParser
import EventLog

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Inspect, check and repair an event log directory.",
        subcommands: [
            LogStats.self, LogDump.self, LogVerify.self, LogRecover.self, LogMirror.self, LogGenerate.self,
            LogTorture.self,
        ]
    )
}

/// The log directory argument shared by the log commands.
struct LogDirectoryArgument: ParsableArguments {
    @Argument(
        help: "The log directory (the daemon's log_dir, or its copy on shared storage), or DEVICE:NODE on a shared LUN.",
        transform: DeviceLogLocation.directory
    )
    var directory: String

    func validate() throws {
        guard !directory.isEmpty else { throw ValidationError("the log directory must not be empty") }
    }
}

struct LogVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every batch (checksum, decompression, digest chain, sequence continuity).",
        discussion: """
            Exit status 0: the log is intact. Exit status 1: the log is damaged (the file, byte offset and reason \
            are printed), or its last batch was cut short by a crash ("torn tail", recoverable: the writer cuts it \
            away when it opens the log, or run `servha log recover DIR`). Nothing is changed on disk.
            """
    )

    @OptionGroup var log: LogDirectoryArgument
    @Flag(help: "Print the result as one JSON line.") var json = false

    func run() throws {
        let summary: ReadSummary
        do {
            summary = try LogReader(directory: log.directory).verify()
        } catch {
            let error = EventLogError.wrap(error, path: log.directory)
            if json {
                var line = JSONLine()
                line.add("status", "corrupt")
                line.add("code", error.code.description)
                line.add("file", error.path ?? log.directory)
                if let offset = error.offset { line.add("offset", offset) } else { line.addNull("offset") }
                line.add("reason", error.message)
                print(line.text)
                throw ExitCode(1)
            }
            throw fail("\(error) [\(error.code)]")
        }
        if let torn = summary.tornTail {
            if json {
                var line = JSONLine()
                line.add("status", "torn-tail")
                line.add("file", torn.path)
                line.add("offset", torn.offset)
                line.add("reason", torn.reason)
                line.add("events", summary.records)
                print(line.text)
                throw ExitCode(1)
            }
            print("\(log.directory): \(summary.records) events intact up to the torn tail")
            throw fail(
                "\(torn.path): offset \(torn.offset): torn tail (recoverable): \(torn.reason); "
                    + "the writer cuts it away on open (or run: servha log recover \(log.directory))"
            )
        }
        if json {
            var line = JSONLine()
            line.add("status", "ok")
            line.add("segments", summary.segments)
            line.add("events", summary.records)
            line.add("last_digest", summary.lastDigest.description)
            print(line.text)
        } else {
            print(
                "\(log.directory): ok: \(summary.segments) segments, \(summary.records) events, "
                    + "digest chain intact (last \(summary.lastDigest.short))"
            )
        }
    }
}

struct LogRecover: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Open the log as its writer would: cut away a torn last batch, then close it.",
        discussion: "Refuses (exit 1) when the log is damaged anywhere else; damage is never cut away silently."
    )

    @OptionGroup var log: LogDirectoryArgument

    func run() throws {
        do {
            let summary = try LogReader(directory: log.directory).forEachBatch(from: .max, depth: .checksums) { _ in }
            guard let identity = summary.identity else {
                print("\(log.directory): empty log, nothing to recover")
                return
            }
            var options = WriterOptions()
            options.createDirectory = false
            // Reuse the identity of the last segment so that no new segment is started.
            let lastIdentity = summary.scans.last?.header.identity ?? identity
            let writer = try EventLogWriter(directory: log.directory, identity: lastIdentity, options: options)
            try writer.close()
            if let torn = writer.recovery.tornTail {
                print(
                    "\(torn.path): offset \(torn.offset): cut away a torn last batch (\(torn.reason)); "
                        + "the file now ends at offset \(torn.offset), \(writer.recovery.bytesCut) bytes shorter; "
                        + "the log ends at sequence \(writer.nextSequence - 1)"
                )
            } else {
                print("\(log.directory): nothing to recover; the log ends at sequence \(writer.nextSequence - 1)")
            }
        } catch {
            throw fail("\(EventLogError.wrap(error, path: log.directory))")
        }
    }
}
