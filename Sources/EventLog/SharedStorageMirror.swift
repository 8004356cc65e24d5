import Foundation
import Glibc
import Synchronization

/// What the mirror tells its owner (the daemon turns `failing` into an alarm and `recovered` into clearing it).
public enum MirrorEvent: Sendable, Hashable {
    /// The shared copy cannot be written; local logging goes on and the copy will catch up later.
    case failing(EventLogError)
    /// The shared copy works again and holds everything the local log held at that moment.
    case recovered
}

/// How far the shared copy is.
public struct MirrorStatus: Sendable, Hashable {
    public var healthy = true
    public var lastError: EventLogError?
    /// Bytes of the local log not yet copied when the last pass ended.
    public var lagBytes = 0
    /// Passes that completed without error.
    public var completedPasses = 0
    public var segmentsCopied = 0
    /// When (monotonic) a pass last ended with nothing left to copy; nil: never yet.
    public var caughtUpAt: UInt64?
    /// Bytes written to shared storage since the mirror was made (copies, and their temporary files).
    public var bytesWritten = 0
    /// Bytes read from shared storage since the mirror was made (read-backs and comparisons).
    public var bytesRead = 0

    public init() {}
}

extension MirrorStatus {
    /// Takes in the outcome of one copy pass (the bytes still behind, or the error) and returns what to tell the
    /// owner: `failing` when the copy starts failing (or fails differently), `recovered` when it works again.
    /// Shared by both kinds of shared copy (`SharedStorageMirror`, `DeviceLogRingWriter`).
    mutating func record(_ outcome: Result<Int, EventLogError>) -> MirrorEvent? {
        switch outcome {
        case .success(let lag):
            lagBytes = lag
            completedPasses += 1
            if lag == 0 { caughtUpAt = monotonicNow() }
            lastError = nil
            if !healthy {
                healthy = true
                return .recovered
            }
            return nil
        case .failure(let error):
            let changed = healthy || lastError?.message != error.message
            healthy = false
            lastError = error
            return changed ? .failing(error) : nil
        }
    }
}

public struct MirrorOptions: Sendable {
    /// How long to wait before retrying after a failure (and the longest the mirror sleeps without a nudge).
    public var retryIntervalNanos: UInt64 = 1_000_000_000
    /// Fault injection for tests: called on the mirror thread before each write to shared storage.
    public var beforeWrite: (@Sendable (String) -> Void)?

    public init() {}
}

/// Copies a log directory to shared storage in the background, so that the other node (and an investigator)
/// can read it when this node is gone.
///
/// It never blocks the writer: `nudge()` only wakes the mirror thread. Each byte is written to shared storage
/// once and read back once. The open segment is copied frame by frame (only whole, checksum-valid frames) and the
/// appended bytes are read back and compared. When it is sealed, its copy is finished in place: the frames it
/// lacks are appended and read back, and it is renamed to the sealed name. A sealed segment without a usable open
/// copy is copied whole to a temporary name, synced, read back and compared, then renamed into place. A verified
/// sealed copy is marked (`VerifiedMark`), so that after a restart the mirror knows it from its size, its
/// modification time and a few KiB at its ends instead of reading it all again. When the shared directory is
/// missing, read-only, full or slow, the mirror reports `failing` once, keeps retrying, and reports `recovered`
/// when it has caught up.
public final class SharedStorageMirror: Sendable {
    public let source: String
    public let target: String
    private let options: MirrorOptions
    private let loop: CopyPassLoop
    private let progress = Mutex(Progress())

    /// What the mirror has verified in the target (touched only by the mirror pass, under its own lock).
    private struct Progress {
        var verifiedSealed: Set<String> = []
        /// Open segment name → how far its copy is verified.
        var openCopied: [String: OpenCopy] = [:]
    }

    private struct OpenCopy {
        /// Bytes at the start of the copy that were read back and found identical to the local segment.
        var end: Int
        /// The mark the copy was given after its last append; nil when the storage did not keep it. While the
        /// copy carries it, nobody else has written to the copy since (see `VerifiedMark`), so that its bytes
        /// need not be read again, and finishing it in place at the seal is safe.
        var mark: VerifiedMark?
    }

    /// - Parameters:
    ///   - source: the local log directory.
    ///   - target: the directory on shared storage for this node's copy. Its parent must exist (it is the
    ///     mount); the mirror creates `target` itself, but never the parent, so that a missing mount is noticed
    ///     instead of filling the local disk under the mount point.
    public init(
        source: String,
        target: String,
        options: MirrorOptions = MirrorOptions(),
        onEvent: @escaping @Sendable (MirrorEvent) -> Void
    ) {
        self.source = source
        self.target = target
        self.options = options
        loop = CopyPassLoop(
            idleWaitNanos: options.retryIntervalNanos * 5,
            retryWaitNanos: options.retryIntervalNanos,
            onEvent: onEvent
        )
    }

    public var status: MirrorStatus { loop.status }

    /// Starts the mirror thread.
    public func start() { loop.start { [self] in passAndReport() } }

    /// Tells the mirror there is something new to copy. Never blocks.
    public func nudge() { loop.nudge() }

    /// Stops the mirror thread after its current pass.
    public func stop() { loop.stop() }

    /// Runs one copy pass now, on the calling thread, and reports any change of health. Returns true when the
    /// copy caught up.
    @discardableResult
    public func passAndReport() -> Bool {
        let outcome: Result<Int, EventLogError>
        do {
            outcome = .success(try copyPass())
        } catch {
            outcome = .failure(EventLogError.wrap(error, path: target))
        }
        return loop.report(outcome)
    }

    /// Copies whatever is missing. Returns the bytes still behind (non-zero only when the local log grew during
    /// the pass).
    private func copyPass() throws -> Int {
        let parent = (target as NSString).deletingLastPathComponent
        guard SystemDirectory.exists(parent.isEmpty ? "/" : parent) else {
            throw EventLogError(.io, "shared storage is not available (\(parent) does not exist)", path: target)
        }
        if !SystemDirectory.exists(target) {
            try SystemDirectory.create(target)
            try SystemDirectory.sync(parent)
        }
        // The writer may seal (rename) the open segment while we read it: list again and retry.
        for attempt in 0..<3 {
            do {
                return try copySegments()
            } catch let error as EventLogError where error.errno == ENOENT && error.path?.hasPrefix(source) == true {
                if attempt == 2 { throw error }
            }
        }
        return 0
    }

    private func copySegments() throws -> Int {
        let local = try LogDirectory(source)
        var lag = 0
        for segment in local.segments {
            if segment.isOpen {
                lag += try copyOpen(segment)
            } else {
                try copySealed(segment)
            }
        }
        return lag
    }

    private func copySealed(_ segment: LogDirectory.Segment) throws {
        if progress.withLock({ $0.verifiedSealed.contains(segment.name) }) { return }
        let local = try SystemFile.open(segment.path, flags: O_RDONLY)
        let size = try local.size()
        let mark = try VerifiedMark(localModification: local.status().st_mtim)
        let finalPath = target + "/" + segment.name
        let openName = SegmentName.open(segment.firstSequence)
        let openPath = target + "/" + openName
        var copied = false
        if try hasMarkedCopy(finalPath, of: local, size: size, mark: mark) {
            // Verified by an earlier run of the mirror (see hasMarkedCopy for why that is enough).
        } else if try hasIdenticalCopy(finalPath, of: local, size: size, mark: mark) {
            // A copy without the mark, found identical by reading it all.
        } else if SystemDirectory.fileExists(openPath), try finishInPlace(segment, local, size: size, mark: mark) {
            copied = true
        } else {
            try copyInFull(segment, local, size: size, mark: mark)
            copied = true
        }
        progress.withLock {
            $0.verifiedSealed.insert(segment.name)
            $0.openCopied[openName] = nil
        }
        if copied { loop.update { $0.segmentsCopied += 1 } }
        // The open copy of this segment (if it was not the one finished in place) is superseded by the sealed one.
        if SystemDirectory.fileExists(openPath) {
            try SystemDirectory.remove(openPath)
            try SystemDirectory.sync(target)
        }
    }

    /// How many bytes at the end of a marked copy are compared with the local segment on start.
    static let endCheckBytes = 4096

    /// True when `path` is a copy that this mirror (in this run or an earlier one) verified byte for byte and
    /// marked, that still has the local segment's size, and whose header and last bytes still match the local
    /// segment's. Reads only those bytes (a few KiB), not the copy.
    ///
    /// Why that is enough: the mirror sets the mark (`VerifiedMark`) only on a copy whose every byte it compared
    /// with the local segment, and any later write or truncate of the copy, by anyone and through any path,
    /// replaces the mark with the current time. So a copy that still carries it holds the bytes that were
    /// verified. The size catches a copy cut short or extended. The header (node, config, previous digest) and
    /// the last bytes (the last batch's CRC and trailer and, when that batch is under 4 KiB, its chain digest,
    /// which commits to every batch before it) tie the copy to this local segment, so that a local log created
    /// anew under the same names is not taken for the one that was copied. What this cannot see is damage that
    /// bypasses the file system (the medium rotting under an unchanged file); nothing short of reading every
    /// byte can, and whoever reads the copy checks every frame's CRC and the digest chain and names the damage.
    private func hasMarkedCopy(
        _ path: String,
        of local: borrowing SystemFile,
        size: Int,
        mark: VerifiedMark
    ) throws -> Bool {
        guard let copy = try? SystemFile.open(path, flags: O_RDONLY) else { return false }
        let info = try copy.status()
        guard (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) == size, mark.isCarried(by: info.st_mtim) else {
            return false
        }
        let head = try local.read(count: min(size, SegmentHeader.maximumSize), at: 0)
        guard let headerLength = try? head.withUnsafeBytes({ try SegmentHeader.parse($0, path: local.path).1 }) else {
            return false
        }
        let tailStart = max(headerLength, size - Self.endCheckBytes)
        for range in [0..<headerLength, tailStart..<size] where !range.isEmpty {
            let expected = try local.read(count: range.count, at: range.lowerBound)
            guard try readShared(copy, count: range.count, at: range.lowerBound) == expected else { return false }
        }
        return true
    }

    /// True when `path` holds exactly the local segment's bytes, read in full on both sides. This is for a copy
    /// without the mark (written by an older servha, or on storage that cannot keep a nanosecond time); it is
    /// marked here, so that the next start finds it cheaply.
    private func hasIdenticalCopy(
        _ path: String,
        of local: borrowing SystemFile,
        size: Int,
        mark: VerifiedMark
    ) throws -> Bool {
        guard SystemDirectory.fileSize(path) == size, let copy = try? SystemFile.open(path, flags: O_RDONLY) else {
            return false
        }
        // Marked before it is compared: a write after this erases the mark, one before it shows in the comparison.
        let marked = mark.apply(to: copy)
        guard try sameBytes(copy, local, count: size) else {
            // Take the mark off again: this copy is about to be replaced, and if that fails the next start must
            // not trust it.
            if marked { try copy.touch() }
            return false
        }
        return true
    }

    /// Finishes a just-sealed segment's copy from its open copy, in place: appends the frames the open copy lacks,
    /// reads back only those, marks it, and renames it to the sealed name. Returns false when the local segment
    /// is not whole frames to its end, so that the caller copies it in full, as it is.
    ///
    /// Sealing adds nothing to a segment: the writer cuts the zero fill after its last batch and renames
    /// `NAME.seg.open` to `NAME.seg` (`ActiveSegment.seal()`). The open copy holds only whole frames, never zero
    /// fill, so once it holds every frame it is the sealed segment byte for byte, and the bytes it held before
    /// were read back and compared when they were appended.
    private func finishInPlace(
        _ segment: LogDirectory.Segment,
        _ local: borrowing SystemFile,
        size: Int,
        mark: VerifiedMark
    ) throws -> Bool {
        let openName = SegmentName.open(segment.firstSequence)
        let caughtUp: CatchUp
        do {
            caughtUp = try catchUp(local, localPath: segment.path, size: size, copyName: openName, mark: mark)
        } catch let error as EventLogError where error.path == segment.path && error.errno == nil {
            // The local segment does not parse as header and frames; a sealed segment is copied as it is anyway.
            return false
        }
        guard caughtUp.end == size else { return false }
        try SystemDirectory.rename(target + "/" + openName, target + "/" + segment.name)
        try SystemDirectory.sync(target)
        return true
    }

    /// Copies a sealed segment whole: to a temporary name, synced, marked, read back and compared, then renamed
    /// into place. For a segment with no usable open copy (sealed between two passes, or an open copy that does
    /// not match).
    private func copyInFull(
        _ segment: LogDirectory.Segment,
        _ local: borrowing SystemFile,
        size: Int,
        mark: VerifiedMark
    ) throws {
        let finalPath = target + "/" + segment.name
        let temporary = finalPath + ".copying"
        options.beforeWrite?(temporary)
        do {
            let file = try SystemFile.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
            // In pieces, so that copying a segment costs a piece of memory, not the segment's size.
            for offset in stride(from: 0, to: size, by: Self.pieceBytes) {
                try writeShared(file, try local.read(count: min(Self.pieceBytes, size - offset), at: offset), at: offset)
            }
            try file.syncData()
            // Marked before the read-back: a write after this erases the mark, one before it shows in the
            // comparison. The rename keeps the modification time.
            _ = mark.apply(to: file)
            guard try sameBytes(file, local, count: size) else {
                throw EventLogError(
                    .corruption,
                    "copy does not read back identical to \(segment.path)",
                    path: temporary
                )
            }
        }
        try SystemDirectory.rename(temporary, finalPath)
        try SystemDirectory.sync(target)
    }

    /// Appends the open segment's new whole frames to its copy. Returns the bytes of partial frames left behind.
    private func copyOpen(_ segment: LogDirectory.Segment) throws -> Int {
        let local = try SystemFile.open(segment.path, flags: O_RDONLY)
        let size = try local.size()
        let mark = try VerifiedMark(localModification: local.status().st_mtim)
        return try catchUp(local, localPath: segment.path, size: size, copyName: segment.name, mark: mark).behind
    }

    private struct CatchUp {
        /// Bytes at the start of the copy that are known to match the local segment (header and whole frames).
        var end: Int
        /// Bytes of the local segment past the last whole frame that are not zero fill (a batch being written).
        var behind: Int
    }

    /// Brings the copy `copyName` up to the local segment's last whole frame: appends what it lacks, syncs it,
    /// marks it, and reads back and compares only the appended bytes. The mark comes after the sync and before
    /// the read-back, for the same reason as in `copyInFull`.
    private func catchUp(
        _ local: borrowing SystemFile,
        localPath: String,
        size localSize: Int,
        copyName: String,
        mark: VerifiedMark
    ) throws -> CatchUp {
        let targetPath = target + "/" + copyName
        let known = progress.withLock { $0.openCopied[copyName] }
        let start: Int
        var carried: VerifiedMark?
        let targetFile: SystemFile
        if let known, let info = fileStatus(targetPath), Int(info.st_size) == known.end,
            known.mark.map({ $0.isCarried(by: info.st_mtim) }) ?? true
        {
            // As the last pass left it: its bytes were read back then, and nobody has written to it since.
            targetFile = try SystemFile.open(targetPath, flags: O_RDWR)
            start = known.end
            carried = known.mark
        } else {
            // Unknown state (first pass, or the copy changed behind our back): compare what is there, or restart.
            options.beforeWrite?(targetPath)
            targetFile = try SystemFile.open(targetPath, flags: O_RDWR | O_CREAT)
            let existing = try targetFile.size()
            // Compared in pieces; then, the copy being the local segment's first `existing` bytes, those are checked
            // to end at a frame's end (read locally: each byte of the copy is read from shared storage once).
            var matches = existing > 0 && existing <= localSize
            if matches { matches = try sameBytes(targetFile, local, count: existing) }
            if matches { matches = SegmentScanner.isWholeFrames(try local.read(count: existing, at: 0)) }
            if matches {
                start = existing
            } else {
                try targetFile.truncate(to: 0)
                start = 0
            }
        }
        let created = start == 0
        // The bytes to append: the header for a new copy, then the whole frames the copy lacks.
        var pending: [UInt8] = []
        if created {
            let head = try local.read(count: min(localSize, SegmentHeader.maximumSize), at: 0)
            let (_, headerLength) = try head.withUnsafeBytes { try SegmentHeader.parse($0, path: localPath) }
            pending = Array(head[0..<headerLength])
        }
        let framesStart = start + pending.count
        // The local segment's new bytes are read, and appended to the copy, a piece at a time: a first copy of a
        // large open segment costs a piece of memory, not the segment's size.
        var stream = FrameStream(startingAt: framesStart)
        var frameBytes = 0
        var unwritten = 0
        var readAt = framesStart
        var end = start
        reading: while readAt < localSize {
            let piece = try local.read(count: min(Self.pieceBytes, localSize - readAt), at: readAt)
            let dataEnd = SegmentScanner.endOfNonZeroData(piece, from: 0)
            if dataEnd > 0 { unwritten = readAt - framesStart + dataEnd }
            readAt += piece.count
            stream.feed(piece)
            framing: while true {
                switch stream.next() {
                case .frame(let frame):
                    pending += frame.bytes
                    frameBytes += frame.bytes.count
                    if pending.count >= Self.pieceBytes {
                        try append(&pending, to: targetFile, path: targetPath, end: &end)
                    }
                case .needMore: break framing
                case .damaged(let at, let reason):
                    throw EventLogError(
                        .corruption,
                        "local segment is damaged: \(reason)",
                        path: localPath,
                        offset: Int64(at)
                    )
                }
            }
            if piece.count < Self.pieceBytes { break reading }
        }
        try append(&pending, to: targetFile, path: targetPath, end: &end)
        let appended = end > start
        if appended { try targetFile.syncData() }
        if appended || carried != mark {
            carried = mark.apply(to: targetFile) ? mark : nil
        }
        // Read back and compared with the local segment, whose bytes up to its last whole frame never change.
        if appended, try !sameBytes(targetFile, local, count: end - start, at: start) {
            throw EventLogError(
                .corruption,
                "copy does not read back identical to \(localPath)",
                path: targetPath
            )
        }
        if created { try SystemDirectory.sync(target) }
        progress.withLock { $0.openCopied[copyName] = OpenCopy(end: end, mark: carried) }
        return CatchUp(end: end, behind: max(0, unwritten - frameBytes))
    }

    /// Writes `pending` to the copy at `end`, and empties it.
    private func append(_ pending: inout [UInt8], to file: borrowing SystemFile, path: String, end: inout Int) throws {
        guard !pending.isEmpty else { return }
        options.beforeWrite?(path)
        try writeShared(file, pending, at: end)
        end += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// How much of a segment the mirror holds in memory at a time when it copies or compares whole segments.
    static let pieceBytes = 1 << 20

    /// True when the first `count` bytes of `copy` (on shared storage) and `local` are the same, read a piece at a
    /// time.
    private func sameBytes(
        _ copy: borrowing SystemFile,
        _ local: borrowing SystemFile,
        count: Int,
        at start: Int = 0
    ) throws -> Bool {
        for offset in stride(from: start, to: start + count, by: Self.pieceBytes) {
            let length = min(Self.pieceBytes, start + count - offset)
            guard try readShared(copy, count: length, at: offset) == (try local.read(count: length, at: offset)) else {
                return false
            }
        }
        return true
    }

    /// Writes to shared storage, counted in the status.
    private func writeShared(_ file: borrowing SystemFile, _ bytes: [UInt8], at offset: Int) throws {
        try file.write(bytes, at: offset)
        loop.update { $0.bytesWritten += bytes.count }
    }

    /// Reads from shared storage, counted in the status.
    private func readShared(_ file: borrowing SystemFile, count: Int, at offset: Int) throws -> [UInt8] {
        let bytes = try file.read(count: count, at: offset)
        loop.update { $0.bytesRead += bytes.count }
        return bytes
    }
}

/// The modification time the mirror gives a sealed segment's copy once every byte of it has been compared with
/// the local segment: the local segment's modification time less one nanosecond.
///
/// Any write or truncate of the copy afterwards sets its modification time to the storage's current time, which
/// is never this value. On the host's own clock "now" is already past it: the copy is marked after the local
/// segment was sealed, and the mark is one nanosecond before that. (The local time itself would not do: on a
/// coarse clock, a write in the same tick as the seal gets exactly that time.) On a file server's clock, a
/// write would have to land on this very nanosecond. Storage that keeps times only to the microsecond or
/// second does not keep the mark; `apply` sees that, and such copies are compared in full on each start, as
/// before the mark existed.
struct VerifiedMark: Hashable, Sendable {
    var seconds: Int
    var nanoseconds: Int

    init(localModification local: timespec) {
        seconds = local.tv_nsec > 0 ? local.tv_sec : local.tv_sec - 1
        nanoseconds = local.tv_nsec > 0 ? local.tv_nsec - 1 : 999_999_999
    }

    func isCarried(by modification: timespec) -> Bool {
        modification.tv_sec == seconds && modification.tv_nsec == nanoseconds
    }

    /// Sets the mark on `file`. Returns false when it could not be set or the storage did not keep it exactly;
    /// the copy is still good then, only the next start has to read it all to know. Callers sync the file
    /// first, so that none of their own writes reaches the storage after the mark (an NFS client may hold
    /// writes back until a sync, and the server stamps them when they arrive).
    func apply(to file: borrowing SystemFile) -> Bool {
        let times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        guard futimens(file.descriptor, times) == 0, let kept = try? file.status().st_mtim else { return false }
        return isCarried(by: kept)
    }
}

/// stat(2) of `path`, or nil when it cannot be had (missing, most often).
private func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return stat(path, &info) == 0 ? info : nil
}

// futimens(2)'s special nanosecond values (<sys/stat.h>), macros that Swift does not import.
private let utimeNow = (1 << 30) - 1
private let utimeOmit = (1 << 30) - 2

extension SystemFile {
    fileprivate func status() throws -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw EventLogError.system("cannot stat", path: path) }
        return info
    }

    /// Sets the modification time to now (takes a `VerifiedMark` off).
    fileprivate func touch() throws {
        let times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), timespec(tv_sec: 0, tv_nsec: utimeNow)]
        guard futimens(descriptor, times) == 0 else {
            throw EventLogError.system("cannot set the modification time", path: path)
        }
    }
}

extension SegmentScanner {
    /// True when `bytes` is a segment header followed by whole, valid frames and nothing else.
    static func isWholeFrames(_ bytes: [UInt8]) -> Bool {
        guard
            let scan = try? bytes.withUnsafeBytes({
                try scan(
                    $0,
                    path: "",
                    isOpen: true,
                    mayEndTorn: false,
                    expectedFirst: nil,
                    expectedPrevious: nil,
                    depth: .checksums
                )
            })
        else { return false }
        return scan.validEnd == bytes.count
    }

    static func endOfNonZeroData(_ bytes: [UInt8], from start: Int) -> Int {
        bytes.withUnsafeBytes { endOfNonZeroData($0, from: start) }
    }
}
