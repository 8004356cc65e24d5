import Crypto
import EventLog

/// Byte-level helpers the log harnesses share: an independent digest chain, checksum repair (so that mutated
/// inputs get past the CRCs to the parsers behind them), and the batch round trip.
enum LogBytes {
    static let frameMagic: [UInt8] = [0x53, 0x48, 0x42, 0x31]  // "SHB1"

    /// The chain digest of a batch, computed here from the format description in ChainDigest.swift rather than
    /// with the reader's own function, so that the harness checks the reader instead of agreeing with it.
    static func chainDigest(previous: ChainDigest, header: BatchHeader, body: [UInt8]) -> ChainDigest {
        var hasher = SHA256()
        hasher.update(data: previous.bytes)
        var logical: [UInt8] = [header.formatVersion]
        appendLE(header.count, to: &logical)
        appendLE(header.firstSequence, to: &logical)
        appendLE(header.firstMonotonic, to: &logical)
        appendLE(header.lastMonotonic, to: &logical)
        appendLE(header.firstWall, to: &logical)
        appendLE(header.lastWall, to: &logical)
        appendLE(header.uncompressedLength, to: &logical)
        hasher.update(data: logical)
        hasher.update(data: body)
        return ChainDigest(bytes: Array(hasher.finalize()))
    }

    static func appendLE<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func loadLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }

    static func storeLE<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    static func crc(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// The batch header as the frame at `offset` states it, read by `BatchFrame.parse` from a copy of the
    /// header with an empty body and a repaired CRC (`BatchHeader` has no public initializer); nil when the frame
    /// is too short or the parser refuses the header's fields (version, codec, count).
    static func statedHeader(_ bytes: [UInt8], at offset: Int) -> BatchHeader? {
        guard offset + BatchFrame.headerSize <= bytes.count else { return nil }
        return header(fields: Array(bytes[(offset + 16)..<(offset + BatchFrame.headerSize)]))
    }

    /// The header with the given fields (bytes 16 to 100 of a frame), as `BatchFrame.parse` reads it.
    static func header(fields: [UInt8]) -> BatchHeader? {
        precondition(fields.count == BatchFrame.headerSize - 16, "a batch header's fields are 84 bytes")
        var frame = frameMagic
        appendLE(UInt32(BatchFrame.overhead), to: &frame)
        appendLE(~UInt32(BatchFrame.overhead), to: &frame)
        appendLE(UInt32(0), to: &frame)
        frame += fields
        appendLE(BatchFrame.trailer, to: &frame)
        storeLE(crc(frame, 16..<BatchFrame.headerSize), into: &frame, at: 12)
        guard case .frame(let header, _, _) = frame.withUnsafeBytes({ BatchFrame.parse($0, at: 0, dataEnd: $0.count) })
        else { return nil }
        return header
    }

    /// A stored body as plain bytes, per the codec byte; nil when it does not decompress.
    static func plainBody(_ stored: [UInt8], codec: UInt8, uncompressedLength: UInt32) -> [UInt8]? {
        switch codec {
        case BatchCodec.raw.rawValue:
            return stored
        case BatchCodec.lz4Block.rawValue:
            // Bounded here so that repair never asks liblz4 for gigabytes; LZ4 expands 255-fold at most.
            guard uncompressedLength <= UInt32(min(stored.count * 255, 1 << 24)) else { return nil }
            var plain: [UInt8] = []
            let ok = stored.withUnsafeBytes {
                LZ4Block.decompress($0, uncompressedLength: Int(uncompressedLength), into: &plain)
            }
            return ok ? plain : nil
        default:
            return nil
        }
    }

    /// Rewrites the length check and CRC of the frame at `offset` (and its chain digest after `previous`, when
    /// given and the body decompresses), so that a mutated frame reaches the checks behind the CRC. Returns the
    /// frame's length and digest, or nil when no frame with a plausible length starts there.
    @discardableResult
    static func repairFrame(_ bytes: inout [UInt8], at offset: Int, previous: ChainDigest?) -> (Int, ChainDigest)? {
        guard offset + BatchFrame.overhead <= bytes.count, Array(bytes[offset..<(offset + 4)]) == frameMagic else {
            return nil
        }
        let length = Int(loadLE(bytes, offset + 4, as: UInt32.self))
        guard length >= BatchFrame.overhead, offset + length <= bytes.count else { return nil }
        storeLE(~UInt32(length), into: &bytes, at: offset + 8)
        var digest = ChainDigest(bytes: Array(bytes[(offset + 68)..<(offset + 100)]))
        if let previous, var header = statedHeader(bytes, at: offset) {
            let stored = Array(bytes[(offset + BatchFrame.headerSize)..<(offset + length - 4)])
            if let plain = plainBody(stored, codec: bytes[offset + 17], uncompressedLength: header.uncompressedLength)
            {
                header.chainDigest = .zero
                digest = chainDigest(previous: previous, header: header, body: plain)
                bytes.replaceSubrange((offset + 68)..<(offset + 100), with: digest.bytes)
            }
        }
        storeLE(crc(bytes, (offset + 16)..<(offset + length - 4)), into: &bytes, at: offset + 12)
        return (length, digest)
    }

    /// Repairs the segment header's CRC and every frame after it that has a plausible length, chaining digests
    /// from the header's previous digest when `chain` is set.
    static func repairSegment(_ bytes: inout [UInt8], chain: Bool) {
        guard bytes.count >= 18, Array(bytes[0..<8]) == SegmentHeader.magic else { return }
        let headerLength = Int(loadLE(bytes, 8, as: UInt32.self))
        guard headerLength >= 100, headerLength <= 4096, headerLength <= bytes.count else { return }
        storeLE(crc(bytes, 16..<headerLength), into: &bytes, at: 12)
        var previous: ChainDigest? = chain ? ChainDigest(bytes: Array(bytes[68..<100])) : nil
        var offset = headerLength
        while let (length, digest) = repairFrame(&bytes, at: offset, previous: previous) {
            offset += length
            if chain { previous = digest }
        }
    }

    /// The records of a decoded batch, encoded again by the writer's encoder.
    static func reencodedBody(_ records: [LogRecord]) -> BatchBody {
        var body = BatchBody()
        for record in records {
            record.payload.withUnsafeBytes {
                body.append(
                    sequence: record.sequence,
                    monotonicNanos: record.monotonicNanos,
                    wallNanos: record.wallNanos,
                    node: record.node,
                    type: record.type,
                    payload: $0
                )
            }
        }
        return body
    }

    /// Checks the batch round trip on a body the decoder accepted as `records` under `header`: the writer's
    /// encoding of the records decodes to the same records under the header the writer derives, the header
    /// fields agree, and re-encoding is a fixed point. When `plain` is itself in the writer's canonical form (as
    /// everything servha writes is), the encoding must give back exactly those bytes and, for a raw frame, the
    /// frame's exact bytes (`frame`).
    static func checkRoundTrip(
        records: [LogRecord],
        header: BatchHeader,
        plain: [UInt8],
        frame: [UInt8]?,
        previous: ChainDigest?
    ) throws(FuzzViolation) {
        let body = reencodedBody(records)
        let again = body.encoded()
        try require(body.count == Int(header.count), "re-encoded batch holds \(body.count) records, not \(header.count)")
        try require(
            body.firstSequence == header.firstSequence && body.firstMonotonic == header.firstMonotonic
                && body.lastMonotonic == header.lastMonotonic && body.firstWall == header.firstWall
                && body.lastWall == header.lastWall,
            "decoded records' times or sequences disagree with the batch header"
        )
        var rebuiltHeader = header
        rebuiltHeader.uncompressedLength = UInt32(again.count)
        rebuiltHeader.formatVersion = BatchBody.formatVersion  // the writer writes the newest format (1 is read too)
        var decoded = DecodedBatch()
        do {
            try again.withUnsafeBytes { try decoded.decode($0, header: rebuiltHeader) }
        } catch {
            throw FuzzViolation("the writer's encoding of a decoded batch does not decode: \(error)")
        }
        try require(decoded.records == records, "re-encoded batch decodes to other records")
        try require(reencodedBody(decoded.records).encoded() == again, "batch encoding is not a fixed point")
        guard again == plain else { return }
        // Canonical input: the same bytes, and for a raw frame the same frame.
        guard let frame, let previous else { return }
        var scratch: [UInt8] = []
        let compress = header.codec == .lz4Block
        let (encodedFrame, encodedHeader) = BatchFrame.encode(body, previous: previous, compress: compress, scratch: &scratch)
        try require(
            encodedHeader.chainDigest == header.chainDigest,
            "re-encoded batch \(header.firstSequence) gets another chain digest"
        )
        let flags = LogBytes.loadLE(frame, 18, as: UInt16.self)
        if header.codec == .raw && flags == 0 {
            try require(encodedFrame == frame, "raw batch \(header.firstSequence) re-encodes to other frame bytes")
        }
    }
}
