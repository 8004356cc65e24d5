/// A bounds-checked cursor over borrowed bytes. Every read that would run past the end throws, so a decoder fed
/// garbage reports it instead of crashing.
public struct ByteSource {
    public let base: UnsafeRawBufferPointer
    public var position: Int

    /// Thrown when a read runs past the end or a varint is too long; callers turn it into an error with context.
    public struct Underflow: Error, Sendable {
        public var position: Int
        @inlinable public init(position: Int) { self.position = position }
    }

    public init(_ base: UnsafeRawBufferPointer, position: Int = 0) {
        self.base = base
        self.position = position
    }

    public var remaining: Int { base.count - position }
    public var isAtEnd: Bool { position >= base.count }

    @inlinable public mutating func readByte() throws(Underflow) -> UInt8 {
        guard position < base.count else { throw Underflow(position: position) }
        defer { position += 1 }
        return base[position]
    }

    @inlinable public mutating func readLE<T: FixedWidthInteger>(_: T.Type = T.self) throws(Underflow) -> T {
        let size = MemoryLayout<T>.size
        guard position + size <= base.count else { throw Underflow(position: position) }
        defer { position += size }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    @inlinable public mutating func readVarint() throws(Underflow) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count, shift < 64 else { throw Underflow(position: position) }
            let byte = base[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    @inlinable public mutating func readSignedVarint() throws(Underflow) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// The next `count` bytes, borrowed.
    @inlinable public mutating func readBytes(_ count: Int) throws(Underflow) -> UnsafeRawBufferPointer {
        guard count >= 0, position + count <= base.count else { throw Underflow(position: position) }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: base[position..<(position + count)])
    }

    public mutating func readString(maxLength: Int = 4096) throws(Underflow) -> String {
        let length = try readVarint()
        guard length <= UInt64(maxLength) else { throw Underflow(position: position) }
        let raw = try readBytes(Int(length))
        return String(decoding: raw, as: UTF8.self)
    }
}
