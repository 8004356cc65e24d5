import ArgumentParser
import EventLog
import Glibc
import Replay

struct LogDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the events of a log, one per line.",
        discussion: """
            With --output FILE.lz4 the dump is written as an LZ4 frame that the `lz4` command reads \
            (lz4 -dc FILE.lz4). A damaged log is dumped up to the damage, then the error is printed (exit 1).
            """
    )

    @OptionGroup var log: LogDirectoryArgument
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: "Start at this sequence number.") var from: UInt64 = 0
    @Option(help: "Print at most this many events.") var limit: Int?
    @Option(help: "Write to this file instead of standard output (LZ4-compressed when it ends in .lz4).")
    var output: String?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        var lines: [UInt8] = []
        let toStdout = output == nil
        var printed = 0
        let maximum = limit ?? .max
        var failure: EventLogError?
        do {
            guard maximum > 0 else { return }
            try LogReader(directory: log.directory).forEachRecord(from: from) { view in
                let line = json ? Self.jsonLine(view) : Self.textLine(view)
                lines.append(contentsOf: line.utf8)
                lines.append(0x0A)
                printed += 1
                if toStdout && lines.count > 1 << 16 {
                    flushOut(&lines)
                }
                return printed < maximum
            }
        } catch {
            failure = EventLogError.wrap(error, path: log.directory)
        }
        if let output {
            let bytes = output.hasSuffix(".lz4") ? LZ4FrameFile.compress(lines) : lines
            let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw fail("\(output): cannot create: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
                guard n > 0 else { throw fail("\(output): cannot write: \(String(cString: strerror(errno)))") }
                done += n
            }
        } else {
            flushOut(&lines)
        }
        if let failure { throw fail("\(failure) [\(failure.code)]") }
    }

    private func flushOut(_ lines: inout [UInt8]) {
        FileHandleWriter.write(String(decoding: lines, as: UTF8.self), to: 1)
        lines.removeAll(keepingCapacity: true)
    }

    static func textLine(_ view: RecordView) -> String {
        "\(view.sequence) \(rfc3339(view.wallNanos)) mono=\(view.monotonicNanos) node=\(view.node) "
            + "type=\(view.type) len=\(view.payload.count) \(hex(view.payload))"
    }

    static func jsonLine(_ view: RecordView) -> String {
        var line = JSONLine()
        line.add("seq", view.sequence)
        line.add("wall", rfc3339(view.wallNanos))
        line.add("wall_ns", view.wallNanos)
        line.add("mono_ns", view.monotonicNanos)
        line.add("node", Int(view.node))
        line.add("type", Int(view.type))
        line.add("payload_hex", hex(view.payload))
        return line.text
    }
}
