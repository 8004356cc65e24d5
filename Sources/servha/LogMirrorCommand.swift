import ArgumentParser
import EventLog

struct LogMirror: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Copy a log to a directory on shared storage now, verifying every copied byte.",
        discussion: """
            The daemon does this continuously in the background. TARGET's parent must exist (it is the shared \
            storage mount); TARGET itself is created. Exit status 1 when the copy cannot be made.
            """
    )

    @OptionGroup var log: LogDirectoryArgument
    @Argument(help: "The directory on shared storage for this node's copy.") var target: String

    func run() throws {
        let mirror = SharedStorageMirror(source: log.directory, target: target) { _ in }
        guard mirror.passAndReport() else {
            throw fail("shared copy failed: \(mirror.status.lastError.map { "\($0)" } ?? "unknown error")")
        }
        let copied: ReadSummary
        do {
            copied = try LogReader(directory: target).verify()
        } catch {
            throw fail("\(EventLogError.wrap(error, path: target))")
        }
        print(
            "\(target): copy verified: \(copied.segments) segments, \(copied.records) events, last digest \(copied.lastDigest.short)"
        )
    }
}
