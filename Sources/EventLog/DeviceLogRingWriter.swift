import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon keeps of its log on shared storage, whichever the mode: a directory copy
/// (`SharedStorageMirror`) or the ring on the shared LUN (`DeviceLogRingWriter`).
public protocol SharedLogCopy: Sendable {
    var status: MirrorStatus { get }
    func start()
    func nudge()
    func stop()
    @discardableResult func passAndReport() -> Bool
}

extension SharedStorageMirror: SharedLogCopy {}

/// Copies a node's local log into its area of the shared LUN (`DeviceLogRing`), in the background.
///
/// Never blocks the writer: `nudge()` only wakes the copy thread, which copies the new whole frames of the local
/// log at most every `minimumIntervalNanos` (each pass writes whole blocks, so copying every 250 ms batch on its
/// own would fill the ring with padding). On start it continues the ring where it ended when the ring's newest
/// frame is still in the local log, else it starts a new chain from the newest segment's last frames. A failing
/// device is reported once (`failing`), retried, and reported again when it has caught up (`recovered`).
public final class DeviceLogRingWriter: SharedLogCopy {
    public let source: String
    public let device: SharedDevice
    public let layout: SharedDeviceLayout
    public let rank: Int
    public let owner: DeviceLogRing.Owner
    private let loop: CopyPassLoop
    private let progress = Mutex(Progress())

    /// Where the copy stands in the local log, and in the ring.
    private struct Progress {
        var prepared = false
        var nextNumber: UInt64 = 1
        var nextBlock = 0
        var position: Position?
    }

    private struct Position {
        var segmentFirst: UInt64
        var offset: Int
        var segmentHeader: [UInt8]
        var previous: ChainDigest
        var nextSequence: UInt64
    }

    public init(
        source: String,
        device: SharedDevice,
        layout: SharedDeviceLayout,
        rank: Int,
        owner: DeviceLogRing.Owner,
        minimumIntervalNanos: UInt64 = 500_000_000,
        onEvent: @escaping @Sendable (MirrorEvent) -> Void
    ) {
        self.source = source
        self.device = device
        self.layout = layout
        self.rank = rank
        self.owner = owner
        loop = CopyPassLoop(
            idleWaitNanos: 5_000_000_000,
            retryWaitNanos: 1_000_000_000,
            minimumIntervalNanos: minimumIntervalNanos,
            onEvent: onEvent
        )
    }

    public var status: MirrorStatus { loop.status }

    var ringBlocks: Int { layout.logBlocks - 1 }

    /// How much of the local segment one read takes (larger than any batch frame the daemon writes).
    static let readPiece = 256 * 1024

    public func start() { loop.start { [self] in passAndReport() } }

    public func nudge() { loop.nudge() }

    public func stop() { loop.stop() }

    @discardableResult
    public func passAndReport() -> Bool {
        let outcome: Result<Int, EventLogError>
        do {
            outcome = .success(try copyPass())
        } catch {
            outcome = .failure(EventLogError.wrap(error, path: device.path))
        }
        return loop.report(outcome)
    }

    private func copyPass() throws -> Int {
        try progress.withLock { p in
            if !p.prepared { try prepare(&p) }
            for attempt in 0..<3 {
                do {
                    return try copyNew(&p)
                } catch let error as EventLogError where error.errno == ENOENT && error.path?.hasPrefix(source) == true {
                    // The writer sealed (renamed) or retention removed the segment being read: list again.
                    if attempt == 2 { throw error }
                }
            }
            return 0
        }
    }

    /// Names this node in its area, and finds where the ring and the local log continue.
    private func prepare(_ p: inout Progress) throws {
        let areaBlock = layout.logArea(rank: rank)
        if try DeviceLogRing.owner(device: device, layout: layout, rank: rank) != owner {
            try device.write(DeviceLogRing.encodeArea(owner), block: areaBlock)
        }
        let entries = try DeviceLogRing.entries(device: device, layout: layout, rank: rank)
        if let newest = entries.max(by: { $0.number < $1.number }) {
            p.nextNumber = newest.number + 1
            p.nextBlock = (newest.block + newest.blocks) % ringBlocks
            p.position = try resume(after: newest)
        }
        p.prepared = true
    }

    /// The local log position right after the ring's newest frame, when the local log still holds that frame.
    private func resume(after newest: DeviceLogRing.Entry) throws -> Position? {
        let local = try LogDirectory(source)
        let wanted = newest.lastFrame.lastSequence
        guard let segment = local.segments.last(where: { $0.firstSequence <= wanted }) else { return nil }
        let bytes = try SystemFile.open(segment.path, flags: O_RDONLY).readAll()
        let (_, headerLength) = try bytes.withUnsafeBytes { try SegmentHeader.parse($0, path: segment.path) }
        var stream = FrameStream(startingAt: headerLength)
        stream.feed(bytes[headerLength...])
        while case .frame(let frame) = stream.next() {
            if frame.header.lastSequence == wanted {
                guard frame.header.chainDigest == newest.lastFrame.chainDigest else { return nil }
                return Position(
                    segmentFirst: segment.firstSequence,
                    offset: frame.offset + frame.bytes.count,
                    segmentHeader: Array(bytes[0..<headerLength]),
                    previous: frame.header.chainDigest,
                    nextSequence: wanted + 1
                )
            }
        }
        return nil
    }

    /// A new chain: the newest segment's frames that fill about half the ring (so that the older half still
    /// holds the chain written before, until it is overwritten).
    private func freshStart(_ local: LogDirectory) throws -> Position? {
        guard let segment = local.segments.last else { return nil }
        let bytes = try SystemFile.open(segment.path, flags: O_RDONLY).readAll()
        let (header, headerLength) = try bytes.withUnsafeBytes { try SegmentHeader.parse($0, path: segment.path) }
        var position = Position(
            segmentFirst: segment.firstSequence,
            offset: headerLength,
            segmentHeader: Array(bytes[0..<headerLength]),
            previous: header.previousDigest,
            nextSequence: header.firstSequence
        )
        var frames: [FrameStream.Frame] = []
        var stream = FrameStream(startingAt: headerLength)
        stream.feed(bytes[headerLength...])
        while case .frame(let frame) = stream.next() { frames.append(frame) }
        let budget = ringBlocks * SharedDevice.blockSize / 2
        guard let lastEnd = frames.last.map({ $0.offset + $0.bytes.count }) else { return position }
        if let firstKept = frames.firstIndex(where: { lastEnd - $0.offset <= budget }), firstKept > 0 {
            let before = frames[firstKept - 1]
            position.offset = frames[firstKept].offset
            position.previous = before.header.chainDigest
            position.nextSequence = before.header.lastSequence + 1
        }
        return position
    }

    /// Copies the new whole frames; returns the bytes of the local log left behind (partial frames).
    private func copyNew(_ p: inout Progress) throws -> Int {
        let local = try LogDirectory(source)
        if p.position == nil { p.position = try freshStart(local) }
        while var position = p.position {
            guard let index = local.segments.firstIndex(where: { $0.firstSequence == position.segmentFirst }) else {
                // Retention removed the segment being copied (the ring fell that far behind): start afresh.
                p.position = try freshStart(local)
                if p.position?.segmentFirst == position.segmentFirst { return 0 }
                continue
            }
            let segment = local.segments[index]
            let file = try SystemFile.open(segment.path, flags: O_RDONLY)
            let size = try file.size()
            var stream = FrameStream(startingAt: position.offset)
            var chunk: [UInt8] = []
            var chunkFirst = position.nextSequence
            var chunkPrevious = position.previous
            func flush(_ p: inout Progress) throws {
                guard !chunk.isEmpty else { return }
                let entry = DeviceLogRing.encodeEntry(
                    number: p.nextNumber,
                    segmentHeader: position.segmentHeader,
                    firstSequence: chunkFirst,
                    previousDigest: chunkPrevious,
                    frames: chunk
                )
                let blocks = (entry.count + SharedDevice.blockSize - 1) / SharedDevice.blockSize
                if p.nextBlock + blocks > ringBlocks { p.nextBlock = 0 }
                try device.write(entry, block: layout.logArea(rank: rank) + 1 + p.nextBlock)
                p.nextBlock = (p.nextBlock + blocks) % ringBlocks
                p.nextNumber += 1
                chunk = []
            }
            // The open segment is zero-filled up to a mebibyte ahead of the writer: read it in pieces and stop at
            // the zero fill, rather than reading the whole fill on every pass.
            var readAt = position.offset
            var dataEnd = position.offset
            while readAt < size {
                let piece = try file.read(count: min(Self.readPiece, size - readAt), at: readAt)
                if piece.isEmpty { break }
                stream.feed(piece)
                let nonZero = piece.withUnsafeBytes { SegmentScanner.endOfNonZeroData($0, from: 0) }
                if nonZero > 0 { dataEnd = readAt + nonZero }
                readAt += piece.count
                reading: while true {
                    switch stream.next() {
                    case .frame(let frame):
                        if chunk.count + frame.bytes.count > DeviceLogRing.maximumEntryBytes {
                            try flush(&p)
                        }
                        if chunk.isEmpty {
                            chunkFirst = frame.header.firstSequence
                            chunkPrevious = position.previous
                        }
                        chunk += frame.bytes
                        position.offset = frame.offset + frame.bytes.count
                        position.previous = frame.header.chainDigest
                        position.nextSequence = frame.header.lastSequence + 1
                    case .needMore:
                        break reading
                    case .damaged(let at, let reason):
                        throw EventLogError(.corruption, "local segment is damaged: \(reason)", path: segment.path,
                            offset: Int64(at))
                    }
                }
                if nonZero < piece.count { break }
            }
            try flush(&p)
            p.position = position
            if segment.isOpen || index + 1 >= local.segments.count {
                return max(0, dataEnd - position.offset)
            }
            // A sealed segment holds frames up to its end; a piece that happened to end in zeros inside a frame
            // stopped the reading early: the next pass goes on from here.
            if position.offset < size { return size - position.offset }
            // Sealed and copied to its end: on to the next segment, from its header.
            let next = local.segments[index + 1]
            let head = try SystemFile.open(next.path, flags: O_RDONLY).read(count: SegmentHeader.maximumSize, at: 0)
            let (_, headerLength) = try head.withUnsafeBytes { try SegmentHeader.parse($0, path: next.path) }
            p.position = Position(
                segmentFirst: next.firstSequence,
                offset: headerLength,
                segmentHeader: Array(head[0..<headerLength]),
                previous: position.previous,
                nextSequence: position.nextSequence
            )
        }
        return 0
    }
}
