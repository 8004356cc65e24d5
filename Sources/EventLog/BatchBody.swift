/// The uncompressed contents of a batch: its records laid out column by column.
///
/// Layout (format 1), all integers LEB128 varints unless noted:
///
///     typeLength  monoLength  wallLength  nodeLength  sizeLength  payloadLength   (column byte counts)
///     types[]        record type per record
///     mono[]         zigzag delta-of-delta of the monotonic time (the first record's delta is from the
///                    batch's firstMonotonic, so the first entry is 0)
///     wall[]         zigzag change of (wall - monotonic) from the previous record (from the batch header's
///                    firstWall - firstMonotonic for the first), so 0 while the clocks run together
///     node[]         node per record
///     sizes[]        payload size per record
///     payloads       the payloads, each as bytewise differences from the previous payload of the same type in
///                    this batch (over their common length)
///
/// Sequence numbers are dense, so they are not stored per record: record i has `firstSequence + i`.
/// Column order keeps similar bytes together, and the payload filter turns a run of heartbeats into mostly zero
/// bytes, which is what lets LZ4 bring a heartbeat down to a few bytes.
public struct BatchBody: Sendable {
    public static let formatVersion: UInt8 = 1

    private var types = ByteSink(capacity: 4096)
    private var mono = ByteSink(capacity: 16384)
    private var wall = ByteSink(capacity: 4096)
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
    private var previousDelta: Int64 = 0
    private var previousOffset: Int64 = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// An estimate of the encoded size, used to decide when a batch is full.
    public var byteCount: Int {
        types.count + mono.count + wall.count + nodes.count + sizes.count + payloads.count
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
        let offset = wallNanos &- Int64(bitPattern: monotonicNanos)
        if count == 0 {
            firstSequence = sequence
            firstMonotonic = monotonicNanos
            firstWall = wallNanos
            lastMonotonic = monotonicNanos
            previousDelta = 0
            previousOffset = offset
        } else {
            precondition(sequence == firstSequence &+ UInt64(count), "batch sequences must be dense")
        }
        let delta = Int64(bitPattern: monotonicNanos &- lastMonotonic)
        mono.appendSignedVarint(delta &- previousDelta)
        previousDelta = delta
        wall.appendSignedVarint(offset &- previousOffset)
        previousOffset = offset
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
        var out = ByteSink(capacity: byteCount + 32)
        for column in [types, mono, wall, nodes, sizes, payloads] { out.appendVarint(UInt64(column.count)) }
        for column in [types, mono, wall, nodes, sizes, payloads] { out.append(contentsOf: column.bytes) }
        return out.bytes
    }

    /// Empties the body, keeping its buffers' capacity.
    public mutating func removeAll() {
        types.bytes.removeAll(keepingCapacity: true)
        mono.bytes.removeAll(keepingCapacity: true)
        wall.bytes.removeAll(keepingCapacity: true)
        nodes.bytes.removeAll(keepingCapacity: true)
        sizes.bytes.removeAll(keepingCapacity: true)
        payloads.bytes.removeAll(keepingCapacity: true)
        raw.bytes.removeAll(keepingCapacity: true)
        lastOfType.removeAll()
        count = 0
    }
}

/// Where the last payload of each record type sits; a flat array for the common small types.
struct LastPayloadTable: Sendable {
    private var small = [Range<Int>?](repeating: nil, count: 256)
    private var large: [UInt16: Range<Int>] = [:]
    private var used: [UInt16] = []

    subscript(type: UInt16) -> Range<Int>? {
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
