import Testing

@testable import EventLog

@Suite struct CRC32CTests {
    @Test func standardCheckValue() {
        let input = Array("123456789".utf8)
        #expect(CRC32C.checksum(input) == 0xE306_9283)
        let software = input.withUnsafeBytes { CRC32C.softwareUpdate(0, $0) }
        #expect(software == 0xE306_9283)
    }

    @Test func hardwareAndSoftwareAgreeOnEveryLengthAndAlignment() {
        var rng = SplitMix64(seed: 9)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for end in start..<raw.count where (end - start) % 7 == 0 || end - start < 20 {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    #expect(CRC32C.checksum(slice) == CRC32C.softwareUpdate(0, slice))
                }
            }
            let whole = CRC32C.checksum(raw)
            let split = CRC32C.update(
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<123])),
                UnsafeRawBufferPointer(rebasing: raw[123...])
            )
            #expect(whole == split)
        }
    }
}

@Suite struct VarintTests {
    @Test func roundTripsBoundaries() throws {
        let unsigned: [UInt64] = [0, 1, 127, 128, 16383, 16384, UInt64(UInt32.max), .max]
        let signed: [Int64] = [0, -1, 1, -64, 64, .min, .max, -50_000, 50_000]
        var sink = ByteSink()
        for v in unsigned { sink.appendVarint(v) }
        for v in signed { sink.appendSignedVarint(v) }
        try sink.bytes.withUnsafeBytes { raw throws in
            var source = ByteSource(raw)
            for v in unsigned { #expect(try source.readVarint() == v) }
            for v in signed { #expect(try source.readSignedVarint() == v) }
            #expect(source.isAtEnd)
        }
    }

    @Test func overlongVarintIsRejected() {
        let bytes = [UInt8](repeating: 0xFF, count: 11)
        bytes.withUnsafeBytes { raw in
            var source = ByteSource(raw)
            #expect(throws: ByteSource.Underflow.self) { try source.readVarint() }
        }
    }
}

@Suite struct BatchCodecTests {
    func roundTrip(_ drafts: [RecordDraft], firstSequence: UInt64 = 10, compress: Bool) throws -> [LogRecord] {
        var body = BatchBody()
        for (i, draft) in drafts.enumerated() { body.append(draft, sequence: firstSequence + UInt64(i)) }
        var scratch: [UInt8] = []
        let (frame, header) = BatchFrame.encode(body, previous: .zero, compress: compress, scratch: &scratch)
        #expect(header.codec == (compress ? .lz4Block : .raw) || !compress || header.codec == .raw)
        return try frame.withUnsafeBytes { raw in
            guard case .frame(let parsed, let bodyRange, let length) = BatchFrame.parse(raw, at: 0, dataEnd: raw.count)
            else {
                Issue.record("frame did not parse")
                return []
            }
            #expect(length == frame.count)
            #expect(parsed == header)
            var plain: [UInt8] = []
            let stored = UnsafeRawBufferPointer(rebasing: raw[bodyRange])
            if parsed.codec == .lz4Block {
                #expect(LZ4Block.decompress(stored, uncompressedLength: Int(parsed.uncompressedLength), into: &plain))
            } else {
                plain = Array(stored)
            }
            var decoded = DecodedBatch()
            try plain.withUnsafeBytes { try decoded.decode($0, header: parsed) }
            return decoded.records
        }
    }

    @Test(arguments: [false, true])
    func recordsRoundTrip(compress: Bool) throws {
        let drafts = sampleDrafts(500)
        let records = try roundTrip(drafts, compress: compress)
        #expect(records.map(\.draft) == drafts)
        #expect(records.map(\.sequence) == Array(10..<510))
    }

    @Test func extremeValuesRoundTrip() throws {
        let drafts = [
            RecordDraft(monotonicNanos: .max, wallNanos: .min, node: .max, type: .max, payload: []),
            RecordDraft(monotonicNanos: 0, wallNanos: .max, node: 0, type: 0, payload: [0xFF]),
            RecordDraft(monotonicNanos: 5, wallNanos: -5, node: 300, type: .max, payload: [1, 2, 3]),
            RecordDraft(
                monotonicNanos: 5,
                wallNanos: 0,
                node: 300,
                type: 255,
                payload: Array(repeating: 9, count: 70_000)
            ),
        ]
        let records = try roundTrip(drafts, compress: true)
        #expect(records.map(\.draft) == drafts)
    }

    @Test func heartbeatsCompress() throws {
        let drafts = sampleDrafts(3000).filter { $0.type == 1 }
        var body = BatchBody()
        for (i, draft) in drafts.enumerated() { body.append(draft, sequence: UInt64(i + 1)) }
        var scratch: [UInt8] = []
        let (frame, header) = BatchFrame.encode(body, previous: .zero, compress: true, scratch: &scratch)
        #expect(header.codec == .lz4Block)
        #expect(
            Double(frame.count) / Double(drafts.count) < 6.0,
            "bytes per heartbeat: \(Double(frame.count) / Double(drafts.count))"
        )
    }

    @Test func decoderRejectsBodiesThatDoNotMatchTheirHeader() throws {
        var body = BatchBody()
        for (i, draft) in sampleDrafts(20).enumerated() { body.append(draft, sequence: UInt64(i + 1)) }
        var scratch: [UInt8] = []
        let (_, header) = BatchFrame.encode(body, previous: .zero, compress: false, scratch: &scratch)
        let plain = body.encoded()
        // Every truncation and every single-byte change that still decodes must be caught somewhere; decoding
        // must never crash.
        for cut in 0..<plain.count {
            let short = Array(plain[0..<cut])
            var decoded = DecodedBatch()
            #expect(throws: BatchDecodeFailure.self) {
                try short.withUnsafeBytes { try decoded.decode($0, header: header) }
            }
        }
        var wrongCount = header
        wrongCount.count += 1
        var decoded = DecodedBatch()
        #expect(throws: BatchDecodeFailure.self) {
            try plain.withUnsafeBytes { try decoded.decode($0, header: wrongCount) }
        }
    }
}
