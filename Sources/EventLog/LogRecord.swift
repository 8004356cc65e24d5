/// One entry of the log: what happened, on which node, and when.
///
/// The log does not interpret `type` or `payload`; the Coordinator defines them. Times are integer nanoseconds:
/// `monotonicNanos` orders events on one node (CLOCK_MONOTONIC, never jumps), `wallNanos` (since the Unix epoch)
/// lines them up with the outside world and with the other node.
public struct LogRecord: Sendable, Hashable {
    public var sequence: UInt64
    public var monotonicNanos: UInt64
    public var wallNanos: Int64
    public var node: UInt16
    public var type: UInt16
    public var payload: [UInt8]

    public init(
        sequence: UInt64,
        monotonicNanos: UInt64,
        wallNanos: Int64,
        node: UInt16,
        type: UInt16,
        payload: [UInt8]
    ) {
        self.sequence = sequence
        self.monotonicNanos = monotonicNanos
        self.wallNanos = wallNanos
        self.node = node
        self.type = type
        self.payload = payload
    }

    /// The record a draft became when the writer gave it `sequence`.
    public init(sequence: UInt64, draft: RecordDraft) {
        self.init(
            sequence: sequence,
            monotonicNanos: draft.monotonicNanos,
            wallNanos: draft.wallNanos,
            node: draft.node,
            type: draft.type,
            payload: draft.payload
        )
    }

    /// The record before the writer gives it its sequence number.
    public var draft: RecordDraft {
        RecordDraft(monotonicNanos: monotonicNanos, wallNanos: wallNanos, node: node, type: type, payload: payload)
    }
}

/// A record as a producer hands it to the writer, which assigns the next sequence number.
public struct RecordDraft: Sendable, Hashable {
    public var monotonicNanos: UInt64
    public var wallNanos: Int64
    public var node: UInt16
    public var type: UInt16
    public var payload: [UInt8]

    public init(monotonicNanos: UInt64, wallNanos: Int64, node: UInt16, type: UInt16, payload: [UInt8]) {
        self.monotonicNanos = monotonicNanos
        self.wallNanos = wallNanos
        self.node = node
        self.type = type
        self.payload = payload
    }
}

/// A record borrowed from a decoded batch, valid only inside the closure it is passed to. The replay fast path
/// reads these without copying payloads.
public struct RecordView {
    public let sequence: UInt64
    public let monotonicNanos: UInt64
    public let wallNanos: Int64
    public let node: UInt16
    public let type: UInt16
    public let payload: UnsafeRawBufferPointer

    /// A copy that outlives the closure.
    public var record: LogRecord {
        LogRecord(
            sequence: sequence,
            monotonicNanos: monotonicNanos,
            wallNanos: wallNanos,
            node: node,
            type: type,
            payload: Array(payload)
        )
    }
}
