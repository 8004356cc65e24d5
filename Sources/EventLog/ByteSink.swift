/// An append-only little-endian byte buffer with LEB128 varints: the encoding used for everything in the log.
public struct ByteSink: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    @inlinable public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    @inlinable public mutating func append<C: Collection>(contentsOf other: C) where C.Element == UInt8 {
        bytes.append(contentsOf: other)
    }

    @inlinable public mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Signed values as zigzag varints, so that small negative numbers stay small.
    @inlinable public mutating func appendSignedVarint(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value &<< 1) ^ (value >> 63)))
    }

    /// A length-prefixed UTF-8 string.
    public mutating func appendString(_ string: String) {
        let utf8 = Array(string.utf8)
        appendVarint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Overwrites a little-endian integer at `offset` (for fields filled in after the body is known).
    @inlinable public mutating func setLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<raw.count { bytes[offset + i] = raw[i] }
        }
    }
}
