import Testing

@testable import EventLog

/// Format 2's time columns: the unit that divides every stored distance, the per-type delta-of-delta, and format 1
/// bodies still read.
@Suite struct TimeColumnTests {
    /// Two heartbeats (one per channel) every 20 ms, a slot reading and a slot write between them, with scheduling
    /// jitter in nanoseconds; `stamp` rounds each time as the shell's clock would.
    static func idleTick(_ count: Int, stamp: (UInt64) -> UInt64) -> [RecordDraft] {
        var rng = SplitMix64(seed: 9)
        var drafts: [RecordDraft] = []
        var sequence: UInt8 = 0
        for tick in 0..<UInt64(count) {
            let base = 7_000_000_000 + tick * 20_000_000
            for (type, offset) in [(UInt16(1), UInt64(0)), (1, 40_000), (5, 6_000_000), (6, 7_000_000)] {
                let at = stamp(base + offset + rng.next() % 300_000)
                let offsetFromWall = Int64(1_790_000_000_000_000_000) + Int64(rng.next() % 2)  // two clock reads
                sequence &+= 1
                drafts.append(
                    RecordDraft(
                        monotonicNanos: at, wallNanos: offsetFromWall + Int64(at), node: 1, type: type,
                        payload: [3, UInt8(type), sequence, 0, 0]
                    )
                )
            }
        }
        return drafts
    }

    func stored(_ drafts: [RecordDraft]) -> (plain: [UInt8], frame: Int) {
        var body = BatchBody()
        for (i, draft) in drafts.enumerated() { body.append(draft, sequence: UInt64(i + 1)) }
        var scratch: [UInt8] = []
        let (frame, _) = BatchFrame.encode(body, previous: .zero, compress: true, compressionLevel: 9, scratch: &scratch)
        return (body.encoded(), frame.count)
    }

    @Test func timesAreStoredInTheLargestUnitThatDividesThemAndComeBackExact() throws {
        let codec = BatchCodecTests()
        let stamped = Self.idleTick(50) { $0 / 100_000 * 100_000 }.map {
            var draft = $0
            draft.wallNanos = 1_790_000_000_000_000_000 + Int64(draft.monotonicNanos)  // the stamp clock's wall
            return draft
        }
        #expect(stored(stamped).plain.first == 5)
        #expect(try codec.roundTrip(stamped, compress: true).map(\.draft) == stamped)

        // One record of nanosecond precision, and one earlier than the record before it: nanoseconds, still exact.
        var mixed = stamped
        mixed[17].monotonicNanos += 1
        mixed[30].monotonicNanos = mixed[29].monotonicNanos - 3_000_000
        #expect(stored(mixed).plain.first == 0)
        #expect(try codec.roundTrip(mixed, compress: true).map(\.draft) == mixed)

        // Whole seconds: the largest unit.
        let seconds = (1...5).map {
            RecordDraft(monotonicNanos: UInt64($0) * 1_000_000_000, wallNanos: Int64($0) * 2_000_000_000, node: 1, type: 4, payload: [])
        }
        #expect(stored(seconds).plain.first == 9)
        #expect(try codec.roundTrip(seconds, compress: false).map(\.draft) == seconds)
    }

    @Test func stampsTo100MicrosecondsTakeFarLessThanNanoseconds() {
        // What format 2 is for: the same idle second of records, stamped by the kernel's clock and by the shell's.
        let nanoseconds = stored(Self.idleTick(50) { $0 }).frame
        let stamped = stored(
            Self.idleTick(50) { $0 / 100_000 * 100_000 }.map {
                var draft = $0
                draft.wallNanos = 1_790_000_000_000_000_000 + Int64(draft.monotonicNanos)
                return draft
            }
        ).frame
        #expect(Double(stamped) < 0.6 * Double(nanoseconds), "stamped \(stamped) bytes, nanoseconds \(nanoseconds)")
    }

    @Test func aFormatOneBodyStillDecodes() throws {
        // Format 1, written by hand: no unit byte, and the delta-of-delta runs over all records in order.
        let drafts = Array(sampleDrafts(40))
        var types = ByteSink(capacity: 64), mono = ByteSink(capacity: 64), wall = ByteSink(capacity: 64)
        var nodes = ByteSink(capacity: 64), sizes = ByteSink(capacity: 64), payloads = ByteSink(capacity: 4096)
        var last = drafts[0].monotonicNanos, previousDelta: Int64 = 0
        var previousOffset = drafts[0].wallNanos &- Int64(bitPattern: drafts[0].monotonicNanos)
        var lastPayload: [UInt16: [UInt8]] = [:]
        for draft in drafts {
            let delta = Int64(bitPattern: draft.monotonicNanos &- last)
            mono.appendSignedVarint(delta - previousDelta)
            previousDelta = delta
            last = draft.monotonicNanos
            let offset = draft.wallNanos &- Int64(bitPattern: draft.monotonicNanos)
            wall.appendSignedVarint(offset - previousOffset)
            previousOffset = offset
            types.appendVarint(UInt64(draft.type))
            nodes.appendVarint(UInt64(draft.node))
            sizes.appendVarint(UInt64(draft.payload.count))
            let previous = lastPayload[draft.type] ?? []
            for (i, byte) in draft.payload.enumerated() {
                payloads.append(i < previous.count ? byte &- previous[i] : byte)
            }
            lastPayload[draft.type] = draft.payload
        }
        var body = ByteSink(capacity: 8192)
        for column in [types, mono, wall, nodes, sizes, payloads] { body.appendVarint(UInt64(column.count)) }
        for column in [types, mono, wall, nodes, sizes, payloads] { body.append(contentsOf: column.bytes) }
        let header = BatchHeader(
            formatVersion: 1, codec: .raw, count: UInt32(drafts.count), firstSequence: 1,
            firstMonotonic: drafts[0].monotonicNanos, lastMonotonic: drafts.last!.monotonicNanos,
            firstWall: drafts[0].wallNanos, lastWall: drafts.last!.wallNanos,
            uncompressedLength: UInt32(body.count), chainDigest: .zero
        )
        var decoded = DecodedBatch()
        try body.bytes.withUnsafeBytes { try decoded.decode($0, header: header) }
        #expect(decoded.records.map(\.draft) == drafts)
    }
}
