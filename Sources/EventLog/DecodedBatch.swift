/// A batch body decoded into reusable columns, so that replay decodes millions of records without allocating
/// per record. See `BatchBody` for the layout.
public struct DecodedBatch {
    public private(set) var count = 0
    public private(set) var firstSequence: UInt64 = 0
    private var mono: [UInt64] = []
    private var wall: [Int64] = []
    private var nodes: [UInt16] = []
    private var types: [UInt16] = []
    /// Start of record i's payload in `payloads`; `payloadStart[count]` is the end.
    private var payloadStart: [Int] = []
    private var payloads: [UInt8] = []
    private var lastOfType = LastPayloadTable()
    private var lastOfKind = TimeTable()

    public init() {}

    /// Decodes `body`, which the frame says holds `count` records starting at `header.firstSequence`.
    /// Throws a one-line reason when the body does not match its header.
    public mutating func decode(_ body: UnsafeRawBufferPointer, header: BatchHeader) throws(BatchDecodeFailure) {
        let count = Int(header.count)
        self.count = 0
        // Every record takes at least a byte in the type column: a larger count is damage, refused before it
        // reserves gigabytes.
        guard count <= body.count else {
            throw BatchDecodeFailure("\(count) records cannot fit in a \(body.count)-byte body")
        }
        firstSequence = header.firstSequence
        mono.removeAll(keepingCapacity: true)
        wall.removeAll(keepingCapacity: true)
        nodes.removeAll(keepingCapacity: true)
        types.removeAll(keepingCapacity: true)
        payloadStart.removeAll(keepingCapacity: true)
        payloads.removeAll(keepingCapacity: true)
        lastOfType.removeAll()
        mono.reserveCapacity(count)
        wall.reserveCapacity(count)
        nodes.reserveCapacity(count)
        types.reserveCapacity(count)
        payloadStart.reserveCapacity(count + 1)

        var directory = ByteSource(body)
        // Format 2 opens with the unit of its times; format 1 counts nanoseconds.
        var unit: Int64 = 1
        let perKind = header.formatVersion >= 2
        if perKind {
            guard let exponent = try? directory.readByte(), exponent <= BatchBody.largestUnitExponent else {
                throw BatchDecodeFailure("the body's time unit is missing or above 10^9 ns")
            }
            unit = BatchBody.power(exponent)
        }
        var lengths = [Int](repeating: 0, count: 6)
        do {
            for i in 0..<6 {
                let length = try directory.readVarint()
                guard length <= UInt64(body.count) else {
                    throw BatchDecodeFailure("column \(i) length \(length) exceeds the body")
                }
                lengths[i] = Int(length)
            }
        } catch let failure as BatchDecodeFailure {
            throw failure
        } catch {
            throw BatchDecodeFailure("column directory is cut short")
        }
        var start = directory.position
        var columns: [ByteSource] = []
        for length in lengths {
            guard start + length <= body.count else { throw BatchDecodeFailure("columns run past the end of the body") }
            columns.append(ByteSource(UnsafeRawBufferPointer(rebasing: body[start..<(start + length)])))
            start += length
        }
        guard start == body.count else {
            throw BatchDecodeFailure("\(body.count - start) stray bytes after the columns")
        }

        var typeColumn = columns[0]
        var monoColumn = columns[1]
        var wallColumn = columns[2]
        var nodeColumn = columns[3]
        var sizeColumn = columns[4]
        let payloadColumn = columns[5]
        var payloadPosition = 0

        var monotonic = header.firstMonotonic
        var delta: Int64 = 0
        lastOfKind.removeAll()
        var offset = header.firstWall &- Int64(bitPattern: header.firstMonotonic)
        do {
            for _ in 0..<count {
                let type = try typeColumn.readVarint()
                let node = try nodeColumn.readVarint()
                guard type <= UInt64(UInt16.max), node <= UInt64(UInt16.max) else {
                    throw BatchDecodeFailure("record type or node out of range")
                }
                let t = UInt16(type)
                if perKind {
                    let reference = lastOfKind[t]
                    delta = (reference?.earlierDelta ?? 0) &+ (try monoColumn.readSignedVarint())
                    monotonic = (reference?.time ?? monotonic) &+ UInt64(bitPattern: delta &* unit)
                    lastOfKind[t] = (monotonic, delta, reference?.delta ?? delta)
                } else {
                    delta = delta &+ (try monoColumn.readSignedVarint())
                    monotonic = monotonic &+ UInt64(bitPattern: delta)
                }
                offset = offset &+ (try wallColumn.readSignedVarint()) &* unit
                let size = try sizeColumn.readVarint()
                guard size <= UInt64(payloadColumn.remaining - payloadPosition) else {
                    throw BatchDecodeFailure("payload sizes run past the payload column")
                }
                let payloadSize = Int(size)
                let rawStart = payloads.count
                payloadStart.append(rawStart)
                let filtered = UnsafeRawBufferPointer(
                    rebasing: payloadColumn.base[payloadPosition..<(payloadPosition + payloadSize)]
                )
                payloadPosition += payloadSize
                if let previous = lastOfType[t] {
                    let common = min(previous.count, payloadSize)
                    payloads.reserveCapacity(payloads.count + payloadSize)
                    for i in 0..<common { payloads.append(filtered[i] &+ payloads[previous.lowerBound + i]) }
                    if common < payloadSize { payloads.append(contentsOf: filtered[common...]) }
                } else {
                    payloads.append(contentsOf: filtered)
                }
                lastOfType[t] = rawStart..<(rawStart + payloadSize)
                mono.append(monotonic)
                wall.append(offset &+ Int64(bitPattern: monotonic))
                nodes.append(UInt16(node))
                types.append(t)
            }
        } catch let failure as BatchDecodeFailure {
            throw failure
        } catch {
            throw BatchDecodeFailure("a column is cut short")
        }
        payloadStart.append(payloads.count)
        guard typeColumn.isAtEnd, monoColumn.isAtEnd, wallColumn.isAtEnd, nodeColumn.isAtEnd, sizeColumn.isAtEnd,
            payloadPosition == payloadColumn.base.count
        else { throw BatchDecodeFailure("columns hold more data than \(count) records") }
        if count > 0 {
            guard mono[0] == header.firstMonotonic, wall[0] == header.firstWall else {
                throw BatchDecodeFailure("the first record's time does not match the batch header")
            }
            guard mono[count - 1] == header.lastMonotonic, wall[count - 1] == header.lastWall else {
                throw BatchDecodeFailure("the last record's time does not match the batch header")
            }
        }
        self.count = count
    }

    /// Calls `body` with each record, borrowed.
    public func forEach(from sequence: UInt64 = 0, _ body: (RecordView) throws -> Void) rethrows {
        let skip = sequence > firstSequence ? Int(min(sequence - firstSequence, UInt64(count))) : 0
        try payloads.withUnsafeBytes { bytes in
            for i in skip..<count {
                let payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart[i]..<payloadStart[i + 1]])
                try body(
                    RecordView(
                        sequence: firstSequence + UInt64(i),
                        monotonicNanos: mono[i],
                        wallNanos: wall[i],
                        node: nodes[i],
                        type: types[i],
                        payload: payload
                    )
                )
            }
        }
    }

    /// Record `index` as a value.
    public func record(at index: Int) -> LogRecord {
        LogRecord(
            sequence: firstSequence + UInt64(index),
            monotonicNanos: mono[index],
            wallNanos: wall[index],
            node: nodes[index],
            type: types[index],
            payload: Array(payloads[payloadStart[index]..<payloadStart[index + 1]])
        )
    }

    public var records: [LogRecord] { (0..<count).map(record(at:)) }
}

/// Why a batch body could not be decoded, in a few words; the reader adds file and offset.
public struct BatchDecodeFailure: Error, Hashable, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}
