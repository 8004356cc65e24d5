import ArgumentParser
import EventLog
import Replay

struct LogStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Segments, events, bytes, compression ratio and time span of a log."
    )

    @OptionGroup var log: LogDirectoryArgument
    @Flag(help: "Print the figures as one JSON line.") var json = false

    func run() throws {
        let summary: ReadSummary
        do {
            summary = try LogReader(directory: log.directory).forEachBatch(from: .max, depth: .checksums) { _ in }
        } catch {
            throw fail("\(EventLogError.wrap(error, path: log.directory))")
        }
        let sealed = summary.scans.filter { !$0.isOpen }.count
        let span = (summary.lastWall ?? 0) - (summary.firstWall ?? 0)
        let perEvent = summary.records == 0 ? 0 : Double(summary.storedBytes) / Double(summary.records)
        let lz4Ratio =
            summary.storedBytes == 0
            ? 1
            : Double(summary.uncompressedBytes) / Double(summary.storedBytes - summary.batches * BatchFrame.overhead)
        if json {
            var line = JSONLine()
            line.add("directory", log.directory)
            if let identity = summary.identity {
                line.add("cluster", identity.cluster)
                line.add("node", identity.nodeName)
            }
            line.add("segments", summary.segments)
            line.add("sealed_segments", sealed)
            line.add("events", summary.records)
            line.add("batches", summary.batches)
            line.add("first_sequence", summary.firstSequence ?? 0)
            line.add("last_sequence", summary.lastSequence ?? 0)
            line.add("stored_bytes", summary.storedBytes)
            line.add("file_bytes", summary.fileBytes)
            line.add("uncompressed_bytes", summary.uncompressedBytes)
            line.add("compression_ratio", lz4Ratio)
            line.add("bytes_per_event", perEvent)
            if let first = summary.firstWall, let last = summary.lastWall {
                line.add("first_time", rfc3339(first))
                line.add("last_time", rfc3339(last))
                line.add("span_ns", span)
            }
            line.add("torn_tail", summary.tornTail != nil)
            print(line.text)
            return
        }
        print("log         \(log.directory)")
        if let identity = summary.identity {
            print(
                "node        \(identity.nodeName) (id \(identity.node)) of cluster \(identity.cluster), servha \(identity.servhaVersion)"
            )
        }
        print("segments    \(summary.segments) (\(sealed) sealed, \(summary.segments - sealed) open)")
        if let first = summary.firstSequence, let last = summary.lastSequence {
            print("events      \(summary.records) (sequence \(first) to \(last)) in \(summary.batches) batches")
        } else {
            print("events      0")
        }
        print(
            "bytes       \(humanBytes(summary.storedBytes)) in batches (\(humanBytes(summary.fileBytes)) in files), "
                + "\(humanBytes(summary.uncompressedBytes)) uncompressed"
        )
        print("compression \(fixed(lz4Ratio, 2))x (LZ4 on batch bodies), \(fixed(perEvent, 2)) bytes per event on disk")
        if let first = summary.firstWall, let last = summary.lastWall {
            print("time span   \(rfc3339(first)) to \(rfc3339(last)) (\(humanDuration(span)))")
        }
        if let torn = summary.tornTail {
            print("torn tail   \(torn.path) offset \(torn.offset): \(torn.reason) (recoverable)")
        }
    }
}
