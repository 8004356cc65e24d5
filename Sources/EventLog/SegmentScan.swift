/// Where a batch sits in a segment.
public struct BatchLocation: Sendable, Hashable {
    public var offset: Int
    public var length: Int
    public var header: BatchHeader
}

/// A frame at the end of the active segment that a crash cut short. It was never acknowledged as durable, so
/// the writer cuts it away on open.
public struct TornTail: Sendable, Hashable {
    public var path: String
    public var offset: Int
    public var reason: String
}

/// What a scan of one segment found: its header, its batches, and how it ends.
public struct SegmentScan: Sendable {
    public var path: String
    public var header: SegmentHeader
    public var headerLength: Int
    public var isOpen: Bool
    public var fileSize: Int
    public var batches: [BatchLocation] = []
    /// The offset just past the last good batch.
    public var validEnd: Int
    public var tornTail: TornTail?
    /// The chain digest after the last good batch (the header's previous digest when there are none).
    public var lastDigest: ChainDigest
    /// The sequence the next record after this segment gets.
    public var nextSequence: UInt64

    public var recordCount: UInt64 { nextSequence - header.firstSequence }
    public var storedBytes: Int { batches.reduce(0) { $0 + $1.length } }
    public var uncompressedBytes: Int { batches.reduce(0) { $0 + Int($1.header.uncompressedLength) } }
}

/// How much a scan checks.
public enum ScanDepth: Sendable {
    /// Frame structure and CRCs only (what the writer needs on open).
    case checksums
    /// Also decompresses each batch and recomputes the digest chain.
    case chain
}

/// Reads a segment's bytes frame by frame, checking everything the format lets it check, and calling `visit`
/// with each good batch's header and uncompressed body.
public enum SegmentScanner {
    /// - Parameters:
    ///   - mayEndTorn: true only for the last, open segment; anywhere else a cut-short frame is corruption.
    ///   - expectedFirst, expectedPrevious: what the segment must continue from (nil at the start of a log).
    ///   - decodeFrom: batches wholly before this sequence are checked by CRC only and not passed to `visit`;
    ///     the chain resumes from their stored digests.
    public static func scan(
        _ bytes: UnsafeRawBufferPointer,
        path: String,
        isOpen: Bool,
        mayEndTorn: Bool,
        expectedFirst: UInt64?,
        expectedPrevious: ChainDigest?,
        depth: ScanDepth,
        decodeFrom: UInt64 = 0,
        decodes: Bool = false,
        visit: (BatchHeader, UnsafeRawBufferPointer) throws -> Void = { _, _ in }
    ) throws -> SegmentScan {
        let (header, headerLength) = try SegmentHeader.parse(bytes, path: path)
        if let expectedFirst, header.firstSequence != expectedFirst {
            throw EventLogError(
                .discontinuity,
                "segment starts at sequence \(header.firstSequence), expected \(expectedFirst) (a gap or overlap)",
                path: path,
                offset: 20
            )
        }
        if let expectedPrevious, header.previousDigest != expectedPrevious {
            throw EventLogError(
                .discontinuity,
                "segment does not continue the previous segment's digest chain",
                path: path,
                offset: 68
            )
        }
        var scan = SegmentScan(
            path: path,
            header: header,
            headerLength: headerLength,
            isOpen: isOpen,
            fileSize: bytes.count,
            validEnd: headerLength,
            lastDigest: header.previousDigest,
            nextSequence: header.firstSequence
        )
        let dataEnd = endOfNonZeroData(bytes, from: headerLength)
        let decompress = depth == .chain || decodes
        var plain: [UInt8] = []
        var offset = headerLength
        scanning: while true {
            switch BatchFrame.parse(bytes, at: offset, dataEnd: dataEnd) {
            case .end:
                if !isOpen && offset < bytes.count {
                    throw EventLogError(
                        .corruption,
                        "\(bytes.count - offset) zero bytes after the last batch of a sealed segment",
                        path: path,
                        offset: Int64(offset)
                    )
                }
                break scanning
            case .torn(let reason):
                guard mayEndTorn else {
                    throw EventLogError(
                        .corruption,
                        "batch cut short (\(reason)) in a segment that is not the active tail",
                        path: path,
                        offset: Int64(offset)
                    )
                }
                scan.tornTail = TornTail(path: path, offset: offset, reason: reason)
                break scanning
            case .damaged(let reason):
                throw EventLogError(.corruption, reason, path: path, offset: Int64(offset))
            case .frame(let batch, let bodyRange, let length):
                guard batch.firstSequence == scan.nextSequence else {
                    throw EventLogError(
                        .discontinuity,
                        "batch starts at sequence \(batch.firstSequence), expected \(scan.nextSequence)",
                        path: path,
                        offset: Int64(offset)
                    )
                }
                if decompress && batch.lastSequence >= decodeFrom {
                    let stored = UnsafeRawBufferPointer(rebasing: bytes[bodyRange])
                    switch batch.codec {
                    case .raw:
                        guard stored.count == Int(batch.uncompressedLength) else {
                            throw EventLogError(
                                .corruption,
                                "raw batch length mismatch",
                                path: path,
                                offset: Int64(offset)
                            )
                        }
                        plain = Array(stored)
                    case .lz4Block:
                        guard
                            LZ4Block.decompress(stored, uncompressedLength: Int(batch.uncompressedLength), into: &plain)
                        else {
                            throw EventLogError(
                                .corruption,
                                "LZ4 block does not decompress",
                                path: path,
                                offset: Int64(offset)
                            )
                        }
                    }
                    if depth == .chain {
                        let computed = plain.withUnsafeBytes {
                            ChainDigest.next(previous: scan.lastDigest, header: batch, body: $0)
                        }
                        guard computed == batch.chainDigest else {
                            throw EventLogError(
                                .corruption,
                                "digest chain broken: batch \(batch.firstSequence) does not follow the batch before it",
                                path: path,
                                offset: Int64(offset + 68)
                            )
                        }
                    }
                    if decodes {
                        do {
                            try plain.withUnsafeBytes { try visit(batch, $0) }
                        } catch let failure as BatchDecodeFailure {
                            throw EventLogError(
                                .corruption,
                                "batch body: \(failure.reason)",
                                path: path,
                                offset: Int64(offset)
                            )
                        }
                    }
                }
                scan.batches.append(BatchLocation(offset: offset, length: length, header: batch))
                scan.lastDigest = batch.chainDigest
                scan.nextSequence = batch.lastSequence + 1
                offset += length
                scan.validEnd = offset
            }
        }
        return scan
    }

    /// The offset just past the last non-zero byte (the active segment is zero-filled ahead of the writer).
    static func endOfNonZeroData(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var end = bytes.count
        while end - 8 >= start && bytes.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
        while end > start && bytes[end - 1] == 0 { end -= 1 }
        return end
    }
}
