/// The uncompressed contents of a batch: its records laid out column by column.
///
/// Layout (format 2), all integers LEB128 varints unless noted:
///
///     unit           u8: the mono and wall columns count in units of 10^unit nanoseconds
///     typeLength  monoLength  wallLength  nodeLength  sizeLength  payloadLength   (column byte counts)
///     types[]        record type per record
///     mono[]         zigzag delta-of-delta of the monotonic time, per record type: a record's distance from the
///                    previous record of its type, less the distance that one had from the record of its type
///                    before it, two records back (the first of a type in the batch: its distance from the record
///                    before it, of any type, less nothing; the second: less the first's distance). Two records
///                    back, because heartbeats come in pairs (one per channel) whose distances alternate.
///     wall[]         zigzag change of (wall - monotonic) from the previous record (from the batch header's
///                    firstWall - firstMonotonic for the first), so 0 while the clocks run together
///     node[]         node per record
///     sizes[]        payload size per record
///     payloads       the payloads, each as bytewise differences from the previous payload of the same type in
///                    this batch (over their common length)
///
/// Format 1 (still read) has no unit byte (nanoseconds), and its delta-of-delta runs over all records in order.
///
/// Sequence numbers are dense, so they are not stored per record: record i has `firstSequence + i`.
/// Column order keeps similar bytes together, and the payload filter turns a run of heartbeats into mostly zero
/// bytes, which is what lets LZ4 bring a heartbeat down to a few bytes. Why format 2: the shell stamps inputs to
/// 100 µs (`StampClock`), and nanosecond counts of such times spend two bytes a record on zeros LZ4 cannot find;
/// heartbeats, slot readings and slot writes each come at their own steady pace, so measured against their own
/// kind a record's time is its jitter alone, where against the record before it (another kind) it is the gap
/// between the two kinds. The unit is the largest power of ten (up to 10^9 ns) that divides every distance the
/// columns hold, so times of any precision are stored exactly.
public struct BatchBody: Sendable {
    public static let formatVersion: UInt8 = 2
    /// The largest unit a batch's times are stored in: 10^9 ns.
    static let largestUnitExponent: UInt8 = 9

    private var types = ByteSink(capacity: 4096)
    /// Each record's times, kept until `encoded()` knows the unit that divides them all.
    private var monoTimes: [UInt64] = []
    private var wallTimes: [Int64] = []
    private var recordTypes: [UInt16] = []
    private var nodes = ByteSink(capacity: 4096)
    private var sizes = ByteSink(capacity: 4096)
    private var payloads = ByteSink(capacity: 65536)
    /// Unfiltered payloads, the reference for the next payload of the same type.
    private var raw = ByteSink(capacity: 65536)
    private var lastOfType = LastPayloadTable()

    public private(set) var count = 0
    public private(set) var firstSequence: UInt64 = 0
    public private(set) var firstMonotonic: UInt64 = 0
    public private(set) var lastMonotonic: UInt64 = 0
    public private(set) var firstWall: Int64 = 0
    public private(set) var lastWall: Int64 = 0
    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// An estimate of the encoded size, used to decide when a batch is full (times: about 3 bytes a record).
    public var byteCount: Int {
        types.count + 3 * count + nodes.count + sizes.count + payloads.count
    }

    public mutating func append(_ draft: RecordDraft, sequence: UInt64) {
        draft.payload.withUnsafeBytes { payload in
            append(
                sequence: sequence,
                monotonicNanos: draft.monotonicNanos,
                wallNanos: draft.wallNanos,
                node: draft.node,
                type: draft.type,
                payload: payload
            )
        }
    }

    public mutating func append(
        sequence: UInt64,
        monotonicNanos: UInt64,
        wallNanos: Int64,
        node: UInt16,
        type: UInt16,
        payload: UnsafeRawBufferPointer
    ) {
        if count == 0 {
            firstSequence = sequence
            firstMonotonic = monotonicNanos
            firstWall = wallNanos
        } else {
            precondition(sequence == firstSequence &+ UInt64(count), "batch sequences must be dense")
        }
        monoTimes.append(monotonicNanos)
        wallTimes.append(wallNanos)
        recordTypes.append(type)
        lastMonotonic = monotonicNanos
        lastWall = wallNanos

        types.appendVarint(UInt64(type))
        nodes.appendVarint(UInt64(node))
        sizes.appendVarint(UInt64(payload.count))

        let rawStart = raw.count
        raw.bytes.append(contentsOf: payload)
        if let previous = lastOfType[type] {
            let common = min(previous.count, payload.count)
            raw.bytes.withUnsafeBufferPointer { r in
                for i in 0..<common { payloads.bytes.append(payload[i] &- r[previous.lowerBound + i]) }
            }
            if common < payload.count {
                payloads.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[common...]))
            }
        } else {
            payloads.bytes.append(contentsOf: payload)
        }
        lastOfType[type] = rawStart..<(rawStart + payload.count)
        count += 1
    }

    /// The encoded body.
    public func encoded() -> [UInt8] {
        // The distances the time columns hold, in nanoseconds: each record's from the record before it of its type
        // (or from the record before it), the earlier such distance it is stored against, and the change of
        // wall − monotonic. Then the unit: the largest power of ten that divides them all, so that they are
        // stored exactly.
        var deltas = [Int64](repeating: 0, count: count)
        var earlier = [Int64](repeating: 0, count: count)
        var offsetChanges = [Int64](repeating: 0, count: count)
        var lastOfKind = TimeTable()
        var previous = firstMonotonic
        var previousOffset = firstWall &- Int64(bitPattern: firstMonotonic)
        var unitExponent = Self.largestUnitExponent
        for i in 0..<count {
            let time = monoTimes[i]
            let reference = lastOfKind[recordTypes[i]]
            deltas[i] = Int64(bitPattern: time &- (reference?.time ?? previous))
            earlier[i] = reference?.earlierDelta ?? 0
            lastOfKind[recordTypes[i]] = (time, deltas[i], reference?.delta ?? deltas[i])
            previous = time
            let offset = wallTimes[i] &- Int64(bitPattern: time)
            offsetChanges[i] = offset &- previousOffset
            previousOffset = offset
            unitExponent = Self.exponent(dividing: deltas[i], upTo: unitExponent)
            unitExponent = Self.exponent(dividing: offsetChanges[i], upTo: unitExponent)
        }
        let unit = Self.power(unitExponent)
        var mono = ByteSink(capacity: 2 * count)
        var wall = ByteSink(capacity: count)
        for i in 0..<count {
            mono.appendSignedVarint(deltas[i] / unit &- earlier[i] / unit)
            wall.appendSignedVarint(offsetChanges[i] / unit)
        }
        var out = ByteSink(capacity: types.count + mono.count + wall.count + nodes.count + sizes.count + payloads.count + 32)
        out.append(unitExponent)
        for column in [types, mono, wall, nodes, sizes, payloads] { out.appendVarint(UInt64(column.count)) }
        for column in [types, mono, wall, nodes, sizes, payloads] { out.append(contentsOf: column.bytes) }
        return out.bytes
    }

    /// The largest k ≤ `limit` with 10^k dividing `value` (`limit` for 0).
    static func exponent(dividing value: Int64, upTo limit: UInt8) -> UInt8 {
        var magnitude = value.magnitude
        guard magnitude != 0 else { return limit }
        var k: UInt8 = 0
        while k < limit, magnitude % 10 == 0 {
            magnitude /= 10
            k += 1
        }
        return k
    }

    /// 10^exponent.
    static func power(_ exponent: UInt8) -> Int64 {
        var unit: Int64 = 1
        for _ in 0..<exponent { unit *= 10 }
        return unit
    }

    /// Empties the body, keeping its buffers' capacity.
    public mutating func removeAll() {
        types.bytes.removeAll(keepingCapacity: true)
        monoTimes.removeAll(keepingCapacity: true)
        wallTimes.removeAll(keepingCapacity: true)
        recordTypes.removeAll(keepingCapacity: true)
        nodes.bytes.removeAll(keepingCapacity: true)
        sizes.bytes.removeAll(keepingCapacity: true)
        payloads.bytes.removeAll(keepingCapacity: true)
        raw.bytes.removeAll(keepingCapacity: true)
        lastOfType.removeAll()
        count = 0
    }
}

/// Something kept per record type within a batch (where its last payload sits, its last time): a flat array for the
/// common small types, a dictionary for the rest, emptied in the time it was filled.
struct TypeTable<Value> {
    private var small = [Value?](repeating: nil, count: 256)
    private var large: [UInt16: Value] = [:]
    private var used: [UInt16] = []

    subscript(type: UInt16) -> Value? {
        get { type < 256 ? small[Int(type)] : large[type] }
        set {
            if type < 256 {
                if small[Int(type)] == nil { used.append(type) }
                small[Int(type)] = newValue
            } else {
                large[type] = newValue
            }
        }
    }

    mutating func removeAll() {
        for type in used { small[Int(type)] = nil }
        used.removeAll(keepingCapacity: true)
        if !large.isEmpty { large.removeAll() }
    }
}

extension TypeTable: Sendable where Value: Sendable {}

/// Where the last payload of each record type sits (in the unfiltered payloads).
typealias LastPayloadTable = TypeTable<Range<Int>>

/// The last time of each record type in a batch, with its distance from the one before it and that one's own
/// distance, for the per-type delta-of-delta.
typealias TimeTable = TypeTable<(time: UInt64, delta: Int64, earlierDelta: Int64)>
