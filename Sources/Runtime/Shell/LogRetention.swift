import Coordinator
import EventLog
import Foundation
import Glibc
import Logging

/// What retention keeps and what it removes in one log directory (`log.retention`, `log.archive_command`).
///
/// The rules, oldest segment first:
/// - only sealed segments go, and never one at or after the segment that holds the newest state snapshot
///   (start-up folds from there, and replay of a recent incident starts there);
/// - a segment goes when it was sealed longer ago than `max_age`, or while the log takes more than `max_bytes`;
/// - with an archive command, a segment goes only once the command has succeeded for it (a `NAME.archived`
///   marker beside it), and retention never skips ahead past one that is not archived: the log stays a
///   contiguous tail of the history.
public enum LogRetention {
    public struct Segment: Sendable, Hashable {
        public var name: String
        public var path: String
        public var firstSequence: UInt64
        public var bytes: UInt64
        /// When it was last written (its sealing, for a sealed segment), wall-clock nanoseconds.
        public var writtenAt: Int64
        public var sealed: Bool
        public var archived: Bool
    }

    public struct Plan: Sendable {
        public var segments: [Segment] = []
        /// Oldest first, with why.
        public var removals: [(segment: Segment, reason: String)] = []
        /// The oldest segment that would go but waits for its archive.
        public var waitingForArchive: Segment?
        /// Segments from this index on are needed (the newest snapshot's segment and after).
        public var neededFrom = 0
        public var byteLimit: UInt64 = 0
        public var totalBytes: UInt64 { segments.reduce(0) { $0 + $1.bytes } }
    }

    public static let archivedSuffix = ".archived"

    /// The segments of `directory`, with their sizes, times and archive markers.
    public static func inventory(_ directory: String) throws -> [Segment] {
        try LogDirectory(directory).segments.map { segment in
            var info = stat()
            guard stat(segment.path, &info) == 0 else {
                throw EventLogError(.io, "cannot stat: \(String(cString: strerror(errno)))", path: segment.path)
            }
            return Segment(
                name: segment.name,
                path: segment.path,
                firstSequence: segment.firstSequence,
                bytes: UInt64(info.st_size),
                writtenAt: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                sealed: !segment.isOpen,
                archived: access(segment.path + archivedSuffix, F_OK) == 0
            )
        }
    }

    /// What goes now. `newestSnapshot`: the sequence of the newest state snapshot in the log (nil: none known,
    /// so nothing goes). `fileSystemBytes`: the size of the file system holding the log.
    public static func plan(
        _ segments: [Segment],
        newestSnapshot: UInt64?,
        settings: LogRetentionSettings,
        fileSystemBytes: UInt64,
        now: Int64
    ) -> Plan {
        var plan = Plan(segments: segments, byteLimit: settings.byteLimit(fileSystemBytes: fileSystemBytes))
        guard let newestSnapshot else { return plan }
        plan.neededFrom = segments.lastIndex { $0.firstSequence <= newestSnapshot } ?? 0
        var total = plan.totalBytes
        for segment in segments[..<plan.neededFrom] where segment.sealed {
            let age = now > segment.writtenAt ? UInt64(now - segment.writtenAt) : 0
            let reason: String
            if total > plan.byteLimit {
                reason = "the log takes \(ByteText.render(total)), over \(ByteText.render(plan.byteLimit))"
            } else if age > settings.maxAge {
                reason = "sealed \(DurationText.render(age / 3_600_000_000_000 * 3_600_000_000_000)) ago, over \(DurationText.render(settings.maxAge))"
            } else {
                break
            }
            if settings.archiveCommand != nil && !segment.archived {
                plan.waitingForArchive = segment
                break
            }
            plan.removals.append((segment, reason))
            total -= segment.bytes
        }
        return plan
    }

    /// Removes what `plan` says, here and in the shared copy (`sharedCopy`: that directory, if any). Returns the
    /// names removed; a file that cannot be removed is left, and named in the error.
    public static func apply(_ plan: Plan, sharedCopy: String?) throws -> [String] {
        var removed: [String] = []
        for (segment, _) in plan.removals {
            guard unlink(segment.path) == 0 || errno == ENOENT else {
                throw EventLogError(.io, "cannot remove: \(String(cString: strerror(errno)))", path: segment.path)
            }
            unlink(segment.path + archivedSuffix)
            if let sharedCopy { unlink(sharedCopy + "/" + segment.name) }
            removed.append(segment.name)
        }
        return removed
    }

    /// `archive_command` for one segment: `%p` its path, `%f` its file name, `%%` a percent sign.
    public static func archiveCommand(_ template: String, for segment: Segment) -> String {
        var out = ""
        var chars = template.makeIterator()
        while let c = chars.next() {
            guard c == "%" else {
                out.append(c)
                continue
            }
            switch chars.next() {
            case "p": out += shellQuoted(segment.path)
            case "f": out += shellQuoted(segment.name)
            case "%": out.append("%")
            case let other?: out += "%" + String(other)
            case nil: out.append("%")
            }
        }
        return out
    }

    static func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The oldest sealed segment that has no archive yet (nil: none, or no archive command).
    public static func nextToArchive(_ segments: [Segment], settings: LogRetentionSettings) -> Segment? {
        guard settings.archiveCommand != nil else { return nil }
        return segments.first { $0.sealed && !$0.archived }
    }

    /// Marks `segment` archived (after its command succeeded).
    public static func markArchived(_ segment: Segment) throws {
        let path = segment.path + archivedSuffix
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw EventLogError(.io, "cannot write the archive marker: \(String(cString: strerror(errno)))", path: path)
        }
        close(fd)
    }
}

/// Runs retention for the daemon: archives sealed segments with the configured command, then removes what the
/// plan says, here and in the shared copy. Off the actor: file system work and the archive command only.
public enum LogKeeper {
    /// Archive commands run at most this long.
    static let archiveTimeout: UInt64 = 600_000_000_000

    /// One round. Returns the archive outcomes, for the log (and the archive-failed alarm).
    public static func run(
        directory: String,
        sharedCopy: String?,
        newestSnapshot: UInt64?,
        settings: LogRetentionSettings,
        logger: Logger
    ) async -> [ArchiveOutcome] {
        var outcomes: [ArchiveOutcome] = []
        do {
            var segments = try LogRetention.inventory(directory)
            // Archives first, oldest first, one at a time; a failure stops the round (tried again next round).
            while let template = settings.archiveCommand,
                let next = LogRetention.nextToArchive(segments, settings: settings)
            {
                let command = LogRetention.archiveCommand(template, for: next)
                let run = await ProcessRunner.run(ProcessCommand.shell(command), timeout: archiveTimeout)
                if case .exited(0) = run.termination {
                    try LogRetention.markArchived(next)
                    outcomes.append(ArchiveOutcome(segment: next.name, succeeded: true, detail: ""))
                    segments = try LogRetention.inventory(directory)
                } else {
                    let detail = "\(run.termination)" + (run.output.isEmpty ? "" : ": " + run.output.prefix(300))
                    outcomes.append(ArchiveOutcome(segment: next.name, succeeded: false, detail: detail))
                    break
                }
            }
            var info = statvfs()
            let fileSystem = statvfs(directory, &info) == 0 ? UInt64(info.f_blocks) * UInt64(info.f_frsize) : 0
            let plan = LogRetention.plan(
                segments,
                newestSnapshot: newestSnapshot,
                settings: settings,
                fileSystemBytes: fileSystem,
                now: wallNow()
            )
            for (segment, reason) in plan.removals {
                logger.notice("log retention removes \(segment.name): \(reason)")
            }
            _ = try LogRetention.apply(plan, sharedCopy: sharedCopy)
        } catch {
            logger.error("log retention failed", metadata: ["servha.error": "\(error)"])
        }
        return outcomes
    }
}
