import EventLog

/// The segment harness. Input: one parameter byte, then a segment file's bytes.
///
/// Parameter bits: 1 repair the header CRC and every frame's length check and CRC, 2 also repair the digest
/// chain (so that mutations reach decompression and the record columns), 4 the segment is the open (active) one,
/// 8 it may end torn. The next byte splits the frame stream check's input in two.
///
/// Invariants when the scanner accepts a segment at `.chain` depth:
/// - every batch passes an independent digest chain check, from the header's previous digest on;
/// - the batches hold exactly `nextSequence - firstSequence` records, and each decodes and round-trips;
/// - a scan at `.checksums` depth (what recovery uses) finds the same batches, end and torn tail;
/// - cutting the segment at `validEnd`, as recovery does, leaves a segment that scans clean, with no torn tail;
/// - `FrameStream` (the mirror's reader), fed the same bytes in two pieces, yields exactly those frames.
/// When it refuses one: the error names the segment and an offset inside it.
enum SegmentFuzzCheck {
    static let path = "fuzz.seg"

    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        var parameters = FuzzParameters(input)
        let flags = parameters.byte()
        let split = Int(parameters.byte())
        var bytes = parameters.rest
        if flags & 1 != 0 { LogBytes.repairSegment(&bytes, chain: flags & 2 != 0) }
        let isOpen = flags & 4 != 0
        let mayEndTorn = flags & 8 != 0

        var decodedBatches: [(BatchHeader, [UInt8], [LogRecord])] = []
        let scanned: Result<SegmentScan, any Error> = bytes.withUnsafeBytes { raw in
            Result {
                var decoded = DecodedBatch()
                return try SegmentScanner.scan(
                    raw,
                    path: path,
                    isOpen: isOpen,
                    mayEndTorn: mayEndTorn,
                    expectedFirst: nil,
                    expectedPrevious: nil,
                    depth: .chain,
                    decodes: true
                ) { header, plain in
                    try decoded.decode(plain, header: header)
                    decodedBatches.append((header, Array(plain), decoded.records))
                }
            }
        }
        let scan: SegmentScan
        switch scanned {
        case .failure(let error):
            try checkRefusal(error, size: bytes.count)
            return .rejected("\(error)")
        case .success(let value):
            scan = value
        }

        // The digest chain, checked independently, and the round trip of every batch.
        try require(decodedBatches.count == scan.batches.count, "scanner passed on fewer batches than it found")
        var previous = scan.header.previousDigest
        var records: UInt64 = 0
        for (location, (header, plain, batchRecords)) in zip(scan.batches, decodedBatches) {
            try require(location.header == header, "scanner passed on another header than it recorded")
            let expected = LogBytes.chainDigest(previous: previous, header: header, body: plain)
            try require(
                expected == header.chainDigest,
                "accepted batch \(header.firstSequence) at offset \(location.offset) breaks the digest chain"
            )
            let frame = Array(bytes[location.offset..<(location.offset + location.length)])
            try LogBytes.checkRoundTrip(
                records: batchRecords,
                header: header,
                plain: plain,
                frame: frame,
                previous: previous
            )
            previous = header.chainDigest
            records += UInt64(batchRecords.count)
        }
        try require(scan.lastDigest == previous, "the scan's last digest is not its last batch's")
        try require(records == scan.recordCount, "\(records) records decoded, the scan counts \(scan.recordCount)")

        // What recovery sees: the checksum-depth scan, and the segment cut at its valid end.
        let shallow: SegmentScan
        do {
            shallow = try bytes.withUnsafeBytes {
                try SegmentScanner.scan(
                    $0,
                    path: path,
                    isOpen: isOpen,
                    mayEndTorn: mayEndTorn,
                    expectedFirst: nil,
                    expectedPrevious: nil,
                    depth: .checksums
                )
            }
        } catch {
            throw FuzzViolation("a segment accepted at chain depth is refused at checksum depth: \(error)")
        }
        try require(
            shallow.batches == scan.batches && shallow.validEnd == scan.validEnd && shallow.tornTail == scan.tornTail,
            "checksum-depth and chain-depth scans disagree"
        )
        if isOpen {
            let cut = Array(bytes[0..<scan.validEnd])
            do {
                let rescan = try cut.withUnsafeBytes {
                    try SegmentScanner.scan(
                        $0,
                        path: path,
                        isOpen: true,
                        mayEndTorn: false,
                        expectedFirst: scan.header.firstSequence,
                        expectedPrevious: scan.header.previousDigest,
                        depth: .chain
                    )
                }
                try require(
                    rescan.batches == scan.batches && rescan.tornTail == nil && rescan.validEnd == scan.validEnd,
                    "the segment cut at its valid end scans differently"
                )
            } catch let violation as FuzzViolation {
                throw violation
            } catch {
                throw FuzzViolation("the segment cut at its valid end (\(scan.validEnd)) is refused: \(error)")
            }
        }

        // The mirror's frame stream over the same frames, fed in two pieces.
        let frames = Array(bytes[scan.headerLength..<scan.validEnd])
        let cutAt = frames.isEmpty ? 0 : split % (frames.count + 1)
        var stream = FrameStream(startingAt: scan.headerLength)
        stream.feed(frames[0..<cutAt])
        var streamed: [FrameStream.Frame] = []
        var fedAll = cutAt == frames.count
        while true {
            switch stream.next() {
            case .frame(let frame):
                streamed.append(frame)
            case .needMore:
                if fedAll {
                    try require(
                        streamed.map(\.offset) == scan.batches.map(\.offset)
                            && streamed.map(\.header) == scan.batches.map(\.header),
                        "the frame stream finds other frames than the scanner"
                    )
                    return .accepted
                }
                stream.feed(frames[cutAt...])
                fedAll = true
            case .damaged(let offset, let reason):
                throw FuzzViolation("the frame stream refuses a frame the scanner accepted (offset \(offset): \(reason))")
            }
        }
    }

    /// A refusal must be an `EventLogError` naming the segment and, when it has one, an offset inside it.
    static func checkRefusal(_ error: any Error, size: Int) throws(FuzzViolation) {
        guard let error = error as? EventLogError else {
            throw FuzzViolation("segment scan threw \(Swift.type(of: error)) instead of EventLogError: \(error)")
        }
        try require(error.path == path, "segment error does not name the segment: \(error)")
        if let offset = error.offset {
            try require(offset >= 0 && offset <= Int64(size), "segment error offset \(offset) outside the file")
        }
        try require(!error.message.contains("\n"), "segment error is not one line: \(error)")
    }
}
