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

    public init() {}
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
/// It never blocks the writer: `nudge()` only wakes the mirror thread. Sealed segments are copied to a temporary
/// name, synced, read back and compared byte for byte, then renamed into place. The open segment is copied
/// frame by frame (only whole, checksum-valid frames) and the appended bytes are read back and compared. When
/// the shared directory is missing, read-only, full or slow, the mirror reports `failing` once, keeps retrying,
/// and reports `recovered` when it has caught up.
public final class SharedStorageMirror: Sendable {
    public let source: String
    public let target: String
    private let options: MirrorOptions
    private let onEvent: @Sendable (MirrorEvent) -> Void
    private let wakeup = Wakeup()
    private let exited = Wakeup()
    private let control = Mutex(Control())
    private let progress = Mutex(Progress())

    private struct Control {
        var stopping = false
        var started = false
        var status = MirrorStatus()
    }

    /// What the mirror has verified in the target (touched only by the mirror pass, under its own lock).
    private struct Progress {
        var verifiedSealed: Set<String> = []
        /// Open segment name → bytes copied and verified.
        var openCopied: [String: Int] = [:]
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
        self.onEvent = onEvent
    }

    public var status: MirrorStatus { control.withLock { $0.status } }

    /// Starts the mirror thread.
    public func start() {
        let first = control.withLock { c in
            defer { c.started = true }
            return !c.started
        }
        guard first else { return }
        let thread = Thread { [self] in self.run() }
        thread.start()
    }

    /// Tells the mirror there is something new to copy. Never blocks.
    public func nudge() { wakeup.signal() }

    /// Stops the mirror thread after its current pass.
    public func stop() {
        let wasRunning = control.withLock { c in
            defer { c.stopping = true }
            return c.started && !c.stopping
        }
        guard wasRunning else { return }
        wakeup.signal()
        exited.wait()
    }

    private func run() {
        while !control.withLock({ $0.stopping }) {
            let ok = passAndReport()
            wakeup.wait(until: monotonicNow() + (ok ? options.retryIntervalNanos * 5 : options.retryIntervalNanos))
        }
        exited.signal()
    }

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
        let event: MirrorEvent? = control.withLock { c in
            switch outcome {
            case .success(let lag):
                c.status.lagBytes = lag
                c.status.completedPasses += 1
                if lag == 0 { c.status.caughtUpAt = monotonicNow() }
                c.status.lastError = nil
                if !c.status.healthy {
                    c.status.healthy = true
                    return .recovered
                }
                return nil
            case .failure(let error):
                let changed = c.status.healthy || c.status.lastError?.message != error.message
                c.status.healthy = false
                c.status.lastError = error
                return changed ? .failing(error) : nil
            }
        }
        if let event { onEvent(event) }
        if case .success = outcome { return true }
        return false
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
        let localBytes = try SystemFile.open(segment.path, flags: O_RDONLY).readAll()
        let finalPath = target + "/" + segment.name
        if let existing = try? SystemFile.open(finalPath, flags: O_RDONLY).readAll(), existing == localBytes {
            _ = progress.withLock { $0.verifiedSealed.insert(segment.name) }
        } else {
            let temporary = finalPath + ".copying"
            options.beforeWrite?(temporary)
            do {
                let file = try SystemFile.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
                try file.write(localBytes, at: 0)
                try file.syncData()
                let back = try file.read(count: localBytes.count, at: 0)
                guard back == localBytes else {
                    throw EventLogError(
                        .corruption,
                        "copy does not read back identical to \(segment.path)",
                        path: temporary
                    )
                }
            }
            try SystemDirectory.rename(temporary, finalPath)
            try SystemDirectory.sync(target)
            progress.withLock {
                $0.verifiedSealed.insert(segment.name)
                $0.openCopied[SegmentName.open(segment.firstSequence)] = nil
            }
            control.withLock { $0.status.segmentsCopied += 1 }
        }
        // The open copy of this segment is now superseded by the sealed one.
        let openCopy = target + "/" + SegmentName.open(segment.firstSequence)
        if SystemDirectory.fileExists(openCopy) {
            try SystemDirectory.remove(openCopy)
            try SystemDirectory.sync(target)
        }
    }

    /// Appends the open segment's new whole frames to its copy. Returns the bytes of partial frames left behind.
    private func copyOpen(_ segment: LogDirectory.Segment) throws -> Int {
        let localFile = try SystemFile.open(segment.path, flags: O_RDONLY)
        let localSize = try localFile.size()
        let targetPath = target + "/" + segment.name
        var copied = progress.withLock { $0.openCopied[segment.name] }
        let targetFile: SystemFile
        if let known = copied, SystemDirectory.fileSize(targetPath) == known {
            targetFile = try SystemFile.open(targetPath, flags: O_RDWR)
        } else {
            // Unknown state (first pass, or the copy changed behind our back): compare what is there, or restart.
            options.beforeWrite?(targetPath)
            targetFile = try SystemFile.open(targetPath, flags: O_RDWR | O_CREAT)
            let existing = try targetFile.readAll()
            let localPrefix = try localFile.read(count: min(existing.count, localSize), at: 0)
            if !existing.isEmpty && existing == localPrefix && SegmentScanner.isWholeFrames(existing) {
                copied = existing.count
            } else {
                try targetFile.truncate(to: 0)
                copied = 0
            }
        }
        var offset = copied ?? 0
        let created = offset == 0
        if offset == 0 {
            // Copy the header first.
            let head = try localFile.read(count: min(localSize, SegmentHeader.maximumSize), at: 0)
            let (_, headerLength) = try head.withUnsafeBytes { try SegmentHeader.parse($0, path: segment.path) }
            options.beforeWrite?(targetPath)
            try targetFile.write(Array(head[0..<headerLength]), at: 0)
            offset = headerLength
        }
        let tail = try localFile.read(count: max(0, localSize - offset), at: offset)
        var stream = FrameStream(startingAt: offset)
        stream.feed(tail)
        var frames: [UInt8] = []
        reading: while true {
            switch stream.next() {
            case .frame(let frame): frames += frame.bytes
            case .needMore: break reading
            case .damaged(let at, let reason):
                throw EventLogError(
                    .corruption,
                    "local segment is damaged: \(reason)",
                    path: segment.path,
                    offset: Int64(at)
                )
            }
        }
        if !frames.isEmpty {
            options.beforeWrite?(targetPath)
            try targetFile.write(frames, at: offset)
            try targetFile.syncData()
            let back = try targetFile.read(count: frames.count, at: offset)
            guard back == frames else {
                throw EventLogError(
                    .corruption,
                    "copy does not read back identical to \(segment.path)",
                    path: targetPath
                )
            }
        } else if created {
            try targetFile.syncData()
        }
        if created { try SystemDirectory.sync(target) }
        let end = offset + frames.count
        progress.withLock { $0.openCopied[segment.name] = end }
        let unwritten = SegmentScanner.endOfNonZeroData(tail, from: 0)
        return max(0, unwritten - frames.count)
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
