import Glibc

/// What a read covered.
public struct ReadSummary: Sendable {
    public var segments = 0
    public var batches = 0
    public var records: UInt64 = 0
    public var storedBytes = 0
    public var uncompressedBytes = 0
    public var fileBytes = 0
    public var firstSequence: UInt64?
    public var lastSequence: UInt64?
    public var firstWall: Int64?
    public var lastWall: Int64?
    public var lastDigest: ChainDigest = .zero
    /// A cut-short last batch, reported but not an error (the writer cuts it away on open).
    public var tornTail: TornTail?
    /// The identity in the first segment header.
    public var identity: LogIdentity?
    public var scans: [SegmentScan] = []

    public var compressionRatio: Double {
        storedBytes == 0 ? 1 : Double(uncompressedBytes + batches * BatchFrame.overhead) / Double(storedBytes)
    }
}

/// Reads a log directory from any sequence number, checking every batch (CRC, decompression, digest chain,
/// continuity) on the way. Never changes a file: a torn tail is reported, and cutting it is the writer's job.
public struct LogReader: Sendable {
    public let directory: LogDirectory

    public init(directory path: String) throws {
        directory = try LogDirectory(path)
    }

    /// Calls `body` with each decoded batch holding records at or after `from`. Stops and throws at the first
    /// corruption, after passing on everything before it. With `segments`, only those segments are read (the
    /// chain is checked from the first of them on): start-up reads from the segment of the newest snapshot.
    @discardableResult
    public func forEachBatch(
        from: UInt64 = 0,
        depth: ScanDepth = .chain,
        segments range: Range<Int>? = nil,
        _ body: (DecodedBatch) throws -> Void
    ) throws -> ReadSummary {
        var summary = ReadSummary()
        var decoded = DecodedBatch()
        var expectedFirst: UInt64?
        var expectedPrevious: ChainDigest?
        let segments = directory.segments
        for (index, segment) in segments.enumerated() where range?.contains(index) ?? true {
            // Segments wholly before `from` still have their headers and continuity checked, cheaply.
            let skipWhole = index + 1 < segments.count && segments[index + 1].firstSequence <= from
            let file = try SystemFile.open(segment.path, flags: O_RDONLY)
            let bytes = try file.readAll()
            let isLast = index == segments.count - 1
            let scan = try bytes.withUnsafeBytes { raw in
                try SegmentScanner.scan(
                    raw,
                    path: segment.path,
                    isOpen: segment.isOpen,
                    mayEndTorn: segment.isOpen && isLast,
                    expectedFirst: expectedFirst,
                    expectedPrevious: expectedPrevious,
                    depth: skipWhole ? .checksums : depth,
                    decodeFrom: skipWhole ? UInt64.max : from,
                    decodes: true
                ) { header, plain in
                    try decoded.decode(plain, header: header)
                    try body(decoded)
                }
            }
            if scan.header.firstSequence != segment.firstSequence {
                throw EventLogError(
                    .discontinuity,
                    "file name says sequence \(segment.firstSequence) but the header says \(scan.header.firstSequence)",
                    path: segment.path
                )
            }
            summary.add(scan)
            expectedFirst = scan.nextSequence
            expectedPrevious = scan.lastDigest
        }
        return summary
    }

    /// Calls `body` with each record at or after `from`, borrowed; return false to stop early.
    @discardableResult
    public func forEachRecord(
        from: UInt64 = 0,
        depth: ScanDepth = .chain,
        segments range: Range<Int>? = nil,
        _ body: (RecordView) throws -> Bool
    ) throws -> ReadSummary {
        struct Stop: Error {}
        var summary = ReadSummary()
        do {
            summary = try forEachBatch(from: from, depth: depth, segments: range) { batch in
                try batch.forEach(from: from) { view in
                    if try !body(view) { throw Stop() }
                }
            }
        } catch is Stop {}
        return summary
    }

    /// Up to `limit` records from `from`, as values.
    public func records(from: UInt64 = 0, limit: Int = .max) throws -> [LogRecord] {
        var out: [LogRecord] = []
        guard limit > 0 else { return out }
        try forEachRecord(from: from) { view in
            out.append(view.record)
            return out.count < limit
        }
        return out
    }

    /// Reads everything, checking the whole chain, and returns the summary (or throws the first problem).
    public func verify() throws -> ReadSummary {
        try forEachBatch(from: 0, depth: .chain) { _ in }
    }
}

extension ReadSummary {
    mutating func add(_ scan: SegmentScan) {
        segments += 1
        batches += scan.batches.count
        records += scan.recordCount
        storedBytes += scan.storedBytes
        uncompressedBytes += scan.uncompressedBytes
        fileBytes += scan.fileSize
        if identity == nil { identity = scan.header.identity }
        if let first = scan.batches.first {
            if firstSequence == nil { firstSequence = first.header.firstSequence }
            if firstWall == nil { firstWall = first.header.firstWall }
        }
        if let last = scan.batches.last {
            lastSequence = last.header.lastSequence
            lastWall = last.header.lastWall
        }
        lastDigest = scan.lastDigest
        if let torn = scan.tornTail { tornTail = torn }
        scans.append(scan)
    }
}
