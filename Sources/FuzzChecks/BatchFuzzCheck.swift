import EventLog

/// The batch harness. Input: one parameter byte, then by mode (its low two bits):
/// - 0: a batch frame as it lies in a segment (`BatchFrame.parse`, then decompression and the record columns);
/// - 1: the same, with its length check, CRC and chain digest (after the zero digest) repaired first;
/// - 2: a batch header (count u32, first sequence, first and last monotonic, first and last wall: 8 bytes each)
///   and a plain body (`DecodedBatch.decode` directly);
/// - 3: the same header, an uncompressed length (u32) and an LZ4 block (`LZ4Block.decompress`, then decode).
///
/// Invariants for every body the decoder accepts: the writer's encoding of its records decodes to the same
/// records and header, re-encoding is a fixed point, and a canonical body (as servha writes them) re-encodes to
/// the same bytes, a canonical raw frame to the same frame. A frame the parser accepts has its stated length,
/// and passes `FrameStream` too.
enum BatchFuzzCheck {
    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        var parameters = FuzzParameters(input)
        let first = parameters.byte()
        let mode = first & 3
        // Bit 2 picks the body format of modes 2 and 3: format 1 (logs written before format 2, still read) or the
        // newest.
        let version = first & 4 != 0 ? 1 : BatchBody.formatVersion
        switch mode {
        case 0, 1:
            var frame = parameters.rest
            if mode == 1 { LogBytes.repairFrame(&frame, at: 0, previous: .zero) }
            return try checkFrame(frame, previous: mode == 1 ? .zero : nil)
        default:
            // count u32, first sequence, first and last monotonic, first and last wall
            var fields: [UInt8] = [version, mode == 2 ? 0 : 1, 0, 0]
            for _ in 0..<(4 + 5 * 8) { fields.append(parameters.byte()) }
            let uncompressed: [UInt8] = mode == 3 ? (0..<4).map { _ in parameters.byte() } : [0, 0, 0, 0]
            fields += uncompressed + [UInt8](repeating: 0, count: 32)
            guard let header = LogBytes.header(fields: fields) else { return .rejected("batch with no records") }
            var plain = parameters.rest
            if mode == 3 {
                let stored = plain
                let ok = stored.withUnsafeBytes {
                    LZ4Block.decompress($0, uncompressedLength: Int(header.uncompressedLength), into: &plain)
                }
                guard ok else { return .rejected("LZ4 block does not decompress") }
                try require(plain.count == Int(header.uncompressedLength), "LZ4 gave another length than asked")
            }
            return try checkBody(plain, header: header, frame: nil, previous: nil)
        }
    }

    static func checkFrame(_ frame: [UInt8], previous: ChainDigest?) throws(FuzzViolation) -> FuzzOutcome {
        var dataEnd = frame.count
        while dataEnd > 0 && frame[dataEnd - 1] == 0 { dataEnd -= 1 }
        let parsed = frame.withUnsafeBytes { BatchFrame.parse($0, at: 0, dataEnd: dataEnd) }
        switch parsed {
        case .end:
            try require(dataEnd == 0, "a frame with data parses as the end of the log")
            return .rejected("end")
        case .torn(let reason), .damaged(let reason):
            try require(!reason.isEmpty && !reason.contains("\n"), "frame refusal is not one line: \(reason)")
            return .rejected(reason)
        case .frame(let header, let bodyRange, let length):
            try require(
                length <= frame.count && bodyRange == BatchFrame.headerSize..<(length - 4),
                "accepted frame's body \(bodyRange) or length \(length) does not fit the \(frame.count) bytes"
            )
            var stream = FrameStream()
            stream.feed(frame[0..<length])
            guard case .frame(let streamed) = stream.next(), streamed.header == header, streamed.bytes.count == length
            else { throw FuzzViolation("the frame stream does not accept a frame the parser accepted") }
            let stored = Array(frame[bodyRange])
            guard
                let plain = LogBytes.plainBody(
                    stored,
                    codec: header.codec.rawValue,
                    uncompressedLength: header.uncompressedLength
                )
            else { return .rejected("body does not decompress") }
            guard plain.count == Int(header.uncompressedLength) else { return .rejected("raw batch length mismatch") }
            return try checkBody(plain, header: header, frame: Array(frame[0..<length]), previous: previous)
        }
    }

    static func checkBody(
        _ plain: [UInt8],
        header: BatchHeader,
        frame: [UInt8]?,
        previous: ChainDigest?
    ) throws(FuzzViolation) -> FuzzOutcome {
        var decoded = DecodedBatch()
        do {
            try plain.withUnsafeBytes { try decoded.decode($0, header: header) }
        } catch let error as BatchDecodeFailure {
            try require(!error.reason.contains("\n"), "batch refusal is not one line: \(error.reason)")
            return .rejected(error.reason)
        } catch {
            throw FuzzViolation("DecodedBatch.decode threw \(error) instead of BatchDecodeFailure")
        }
        try require(decoded.count == Int(header.count), "decoded \(decoded.count) records of \(header.count)")
        var viewed = 0
        decoded.forEach { view in
            if view.sequence == header.firstSequence &+ UInt64(viewed) { viewed += 1 }
        }
        try require(viewed == decoded.count, "borrowed records do not carry dense sequences")
        var statedHeader = header
        statedHeader.uncompressedLength = UInt32(plain.count)
        try LogBytes.checkRoundTrip(
            records: decoded.records,
            header: statedHeader,
            plain: plain,
            frame: frame,
            previous: previous
        )
        return .accepted
    }
}
