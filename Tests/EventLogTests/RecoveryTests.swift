import Foundation
import Testing

@testable import EventLog

/// A closed log of several batches in one open segment, and where its last batch starts.
struct SmallLog {
    let dir: TemporaryDirectory
    let records: [LogRecord]
    let segmentPath: String
    let bytes: [UInt8]
    let lastBatch: BatchLocation
    let scan: SegmentScan

    init(batches: Int = 4, perBatch: Int = 6) async throws {
        dir = TemporaryDirectory()
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity)
        var written: [LogRecord] = []
        let drafts = sampleDrafts(batches * perBatch)
        for b in 0..<batches {
            for i in 0..<perBatch {
                let draft = drafts[b * perBatch + i]
                written.append(LogRecord(sequence: try writer.append(draft), draft: draft))
            }
            try await writer.flush()  // one batch per flush
        }
        try writer.close()
        records = written
        let listing = try LogDirectory(dir.path)
        segmentPath = listing.segments[0].path
        bytes = readFile(segmentPath)
        scan = try bytes.withUnsafeBytes {
            try SegmentScanner.scan(
                $0,
                path: "x",
                isOpen: true,
                mayEndTorn: true,
                expectedFirst: nil,
                expectedPrevious: nil,
                depth: .chain
            )
        }
        lastBatch = scan.batches.last!
    }

    /// A copy of the log directory with the segment replaced by `bytes`.
    func copy(with bytes: [UInt8], name: String? = nil) -> TemporaryDirectory {
        let copy = TemporaryDirectory("servha-copy")
        writeFile(copy.file(name ?? URL(fileURLWithPath: segmentPath).lastPathComponent), bytes)
        return copy
    }
}

@Suite struct RecoveryTests {
    @Test func theLogHasTheExpectedShape() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        #expect(log.scan.batches.count == 4)
        #expect(log.lastBatch.offset + log.lastBatch.length == log.bytes.count)
    }

    /// A crash mid-write leaves a prefix of the last frame, followed by nothing (file cut) or by the zero fill.
    @Test(arguments: [false, true])
    func aTornLastBatchAtEveryByteOffsetIsCutAwayAndReported(zeroFilled: Bool) async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        let keep = log.records.filter { $0.sequence < log.lastBatch.header.firstSequence }
        for cut in log.lastBatch.offset..<(log.lastBatch.offset + log.lastBatch.length) {
            var damaged = Array(log.bytes[0..<cut])
            if zeroFilled { damaged += [UInt8](repeating: 0, count: log.bytes.count - cut + 4096) }
            let copy = log.copy(with: damaged)
            defer { copy.cleanup() }

            // The reader reports it and leaves the file alone.
            let summary = try LogReader(directory: copy.path).verify()
            #expect(try LogReader(directory: copy.path).records() == keep)
            let segment = copy.file(URL(fileURLWithPath: log.segmentPath).lastPathComponent)
            #expect(readFile(segment) == damaged, "the reader must not change files")
            if cut == log.lastBatch.offset {
                #expect(summary.tornTail == nil, "cut at a batch boundary is a clean end")
            } else {
                #expect(summary.tornTail?.offset == log.lastBatch.offset, "cut at \(cut)")
            }

            // The writer cuts it away on open, says so, and carries on from the last whole batch.
            let writer = try EventLogWriter(directory: copy.path, identity: testIdentity)
            if cut != log.lastBatch.offset {
                #expect(writer.recovery.tornTail?.offset == log.lastBatch.offset)
                #expect(writer.recovery.tornTail?.path == segment)
            }
            #expect(writer.nextSequence == log.lastBatch.header.firstSequence)
            try writer.append(sampleDrafts(1)[0])
            try writer.close()
            let after = try LogReader(directory: copy.path)
            #expect(try after.verify().tornTail == nil)
            #expect(try after.records().count == keep.count + 1)
        }
    }

    @Test func aSingleBitFlipAnywhereIsDetected() async throws {
        let log = try await SmallLog(batches: 3, perBatch: 4)
        defer { log.dir.cleanup() }
        let copy = log.copy(with: log.bytes)
        defer { copy.cleanup() }
        let segment = copy.file(URL(fileURLWithPath: log.segmentPath).lastPathComponent)
        for offset in 0..<log.bytes.count {
            var flipped = log.bytes
            flipped[offset] ^= UInt8(1 << (offset % 8))
            writeFile(segment, flipped)
            let error = #expect(throws: EventLogError.self, "flip at \(offset)") {
                try LogReader(directory: copy.path).verify()
            }
            #expect(error?.path == segment)
            #expect(error?.offset != nil)
            #expect(error?.code != .tornTail)
            // And the writer refuses to open it rather than guess.
            #expect(throws: EventLogError.self, "writer open with flip at \(offset)") {
                try EventLogWriter(directory: copy.path, identity: testIdentity).close()
            }
            #expect(readFile(segment) == flipped, "nothing may change a damaged file")
        }
    }

    @Test func damageInTheMiddleNamesTheBatchAndKeepsWhatCameBefore() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        let second = log.scan.batches[1]
        var damaged = log.bytes
        damaged[second.offset + 120] ^= 0x40
        let copy = log.copy(with: damaged)
        defer { copy.cleanup() }
        var seen: [UInt64] = []
        let error = #expect(throws: EventLogError.self) {
            try LogReader(directory: copy.path).forEachRecord {
                seen.append($0.sequence)
                return true
            }
        }
        #expect(error?.code == .corruption)
        #expect(error?.offset == Int64(second.offset))
        #expect(error?.description.contains("checksum mismatch") == true)
        #expect(seen == log.records.prefix(6).map(\.sequence), "records before the damage are still read")
    }

    @Test func aCutShortBatchInASealedSegmentIsCorruptionNotATornTail() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        let first = log.records[0].sequence
        let copy = log.copy(with: Array(log.bytes.dropLast(3)), name: SegmentName.sealed(first))
        defer { copy.cleanup() }
        let error = #expect(throws: EventLogError.self) { try LogReader(directory: copy.path).verify() }
        #expect(error?.code == .corruption)
        #expect(error?.offset == Int64(log.lastBatch.offset))
    }

    @Test func aMissingSegmentIsAGap() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.segmentBytes = 4 << 10
        options.batchBytes = 512
        _ = try writeLog(dir.path, sampleDrafts(1000), options: options)
        let segments = try LogDirectory(dir.path).segments
        #expect(segments.count >= 3)
        try FileManager.default.removeItem(atPath: segments[1].path)
        let error = #expect(throws: EventLogError.self) { try LogReader(directory: dir.path).verify() }
        #expect(error?.code == .discontinuity)
        #expect(error?.path == segments[2].path)
    }

    @Test func notASegmentTruncatedHeaderAndNewerFormatAreNamed() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        let name = URL(fileURLWithPath: log.segmentPath).lastPathComponent

        let text = log.copy(with: Array("hello, this is not a log\n".utf8))
        defer { text.cleanup() }
        let e1 = #expect(throws: EventLogError.self) { try LogReader(directory: text.path).verify() }
        #expect(e1?.code == .notASegment)
        #expect(e1?.description == "\(text.file(name)): offset 0: not a servha log segment (no SRVHALOG magic)")

        let short = log.copy(with: Array(log.bytes.prefix(60)))
        defer { short.cleanup() }
        let e2 = #expect(throws: EventLogError.self) { try LogReader(directory: short.path).verify() }
        #expect(e2?.code == .badHeader)
        #expect(e2?.description.contains("cut short") == true)

        var newer = log.bytes
        newer[16] = 9
        let future = log.copy(with: newer)
        defer { future.cleanup() }
        let e3 = #expect(throws: EventLogError.self) { try LogReader(directory: future.path).verify() }
        #expect(e3?.code == .newerFormat)
        #expect(e3?.description.contains("format version 9 is newer") == true)
        #expect(throws: EventLogError.self) { try EventLogWriter(directory: future.path, identity: testIdentity) }
        #expect(readFile(future.file(name)) == newer)
    }

    @Test func aSegmentWhoseHeaderNeverReachedTheDiskIsRemovedOnOpen() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        // Seal by hand, then leave a next segment with only part of its magic written.
        let sealed = log.dir.file(SegmentName.sealed(1))
        try FileManager.default.moveItem(atPath: log.segmentPath, toPath: sealed)
        let next = log.dir.file(SegmentName.open(log.records.last!.sequence + 1))
        writeFile(next, Array("SRVH".utf8))
        let writer = try EventLogWriter(directory: log.dir.path, identity: testIdentity)
        #expect(writer.nextSequence == log.records.last!.sequence + 1)
        try writer.append(sampleDrafts(1)[0])
        try writer.close()
        #expect(try LogReader(directory: log.dir.path).verify().records == UInt64(log.records.count + 1))
    }
}

@Suite struct FrameStreamTests {
    @Test func framesComeOutWhateverTheChunking() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        let body = Array(log.bytes[log.scan.headerLength...])
        let expected = log.scan.batches.map(\.offset)

        func frames(_ chunks: [ArraySlice<UInt8>]) -> [Int] {
            var stream = FrameStream(startingAt: log.scan.headerLength)
            var offsets: [Int] = []
            for chunk in chunks {
                stream.feed(chunk)
                loop: while true {
                    switch stream.next() {
                    case .frame(let frame): offsets.append(frame.offset)
                    case .needMore: break loop
                    case .damaged(let offset, let reason):
                        Issue.record("damaged at \(offset): \(reason)")
                        break loop
                    }
                }
            }
            return offsets
        }

        #expect(frames(body.indices.map { body[$0...$0] }) == expected, "one byte at a time")
        for split in 0...body.count {
            #expect(frames([body[0..<split], body[split...]]) == expected, "split at \(split)")
        }
        #expect(frames([body[...] + [UInt8](repeating: 0, count: 64)]) == expected, "zero fill after the frames")
    }

    @Test func damageIsReportedAtItsOffset() async throws {
        let log = try await SmallLog()
        defer { log.dir.cleanup() }
        var body = Array(log.bytes[log.scan.headerLength...])
        let second = log.scan.batches[1].offset - log.scan.headerLength
        body[second + 30] ^= 1
        var stream = FrameStream(startingAt: log.scan.headerLength)
        stream.feed(body)
        guard case .frame = stream.next() else {
            Issue.record("first frame should be fine")
            return
        }
        #expect(stream.next() == .damaged(offset: log.scan.batches[1].offset, reason: stream.peekReason()))
    }
}

extension FrameStream {
    /// The reason `next()` gives for the current position (for comparing whole values in tests).
    func peekReason() -> String {
        var copy = self
        if case .damaged(_, let reason) = copy.next() { return reason }
        return ""
    }
}
