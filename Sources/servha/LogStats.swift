import ArgumentParser
import Coordinator
import EventLog
import EventRecords
import Foundation
import Glibc
import Replay
import Runtime

struct LogStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Segments, events, bytes, compression ratio and time span of a log.",
        discussion: """
            With --config, also what retention (log.retention, log.archive_command in that file) keeps, since when, \
            and what it removes next.
            """
    )

    @OptionGroup var log: LogDirectoryArgument
    @Flag(help: "Print the figures as one JSON line.") var json = false
    @Option(help: "The daemon's configuration file: show what its retention keeps and removes next.")
    var config: String?

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
        let retention = try config.map { try forecast($0) }
        if json {
            var line = JSONLine()
            if let retention {
                line.add("retention_kept_segments", retention.kept)
                line.add("retention_newest_snapshot", retention.snapshot ?? 0)
                line.add("retention_next", retention.next)
            }
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
        if let retention { for line in retention.lines { print(line) } }
    }

    /// What retention keeps and does next, by the configuration's settings.
    struct Forecast {
        var kept = 0
        var snapshot: UInt64?
        var next = ""
        var lines: [String] = []
    }

    func forecast(_ path: String) throws -> Forecast {
        let settings: LogRetentionSettings
        switch ConfigLoader.load(path: path) {
        case .success(let loaded): settings = loaded.retention
        case .failure(let errors): throw fail(errors.problems.map(\.description).joined(separator: "\n"))
        }
        var forecast = Forecast()
        do {
            let snapshotType = EventCodec.RecordType.snapshot.rawValue
            try LogReader(directory: log.directory).forEachRecord(depth: .checksums) { view in
                if view.type == snapshotType { forecast.snapshot = view.sequence }
                return true
            }
            let segments = try LogRetention.inventory(log.directory)
            var info = statvfs()
            let fileSystem = statvfs(log.directory, &info) == 0 ? UInt64(info.f_blocks) * UInt64(info.f_frsize) : 0
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            let plan = LogRetention.plan(
                segments, newestSnapshot: forecast.snapshot, settings: settings, fileSystemBytes: fileSystem, now: now
            )
            forecast.kept = segments.count - plan.removals.count
            forecast.lines.append(
                "retention   max age \(DurationText.render(settings.maxAge)), max bytes \(settings.maxBytes) "
                    + "(\(ByteText.render(plan.byteLimit)) here; the log takes \(ByteText.render(plan.totalBytes))), archive: "
                    + (settings.archiveCommand ?? "none")
            )
            if let snapshot = forecast.snapshot, plan.neededFrom < segments.count {
                forecast.lines.append(
                    "kept        from \(segments[plan.neededFrom].name) on: the newest state snapshot (sequence \(snapshot)) and after"
                )
            } else {
                forecast.lines.append("kept        everything: the log holds no state snapshot yet")
            }
            if let first = plan.removals.first {
                forecast.next = "\(first.segment.name): \(first.reason)"
                forecast.lines.append("next        \(plan.removals.count) segment(s) go now, first \(forecast.next)")
            } else if let waiting = plan.waitingForArchive {
                forecast.next = "\(waiting.name) waits for its archive"
                forecast.lines.append("next        \(forecast.next) (archive_command has not succeeded for it)")
            } else if let oldest = segments[..<plan.neededFrom].first(where: \.sealed) {
                let due = oldest.writtenAt + Int64(settings.maxAge)
                forecast.next = "\(oldest.name) at \(rfc3339(due))"
                forecast.lines.append(
                    "next        \(oldest.name) goes at \(rfc3339(due)) (max age), or once the log passes \(ByteText.render(plan.byteLimit))"
                )
            } else {
                forecast.next = "nothing"
                forecast.lines.append("next        nothing can go yet: every segment is the newest snapshot's or after it")
            }
        } catch {
            throw fail("\(EventLogError.wrap(error, path: log.directory))")
        }
        return forecast
    }
}
