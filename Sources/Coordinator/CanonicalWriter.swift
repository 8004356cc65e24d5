/// Where the core's canonical encodings go: the state digest and the configuration hash here, and the log's
/// record codec (whose byte sink conforms outside the core), so that each value is encoded by one function.
/// Little-endian, LEB128 varints, length-prefixed UTF-8 strings.
public protocol CanonicalWriter {
    mutating func append(_ byte: UInt8)
    mutating func appendVarint(_ value: UInt64)
    mutating func appendString(_ string: String)
}

/// A plain byte buffer for the core's own canonical encodings (the core imports no storage library).
public struct CanonicalBytes: CanonicalWriter, Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func appendString(_ string: String) {
        appendVarint(UInt64(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }
}
