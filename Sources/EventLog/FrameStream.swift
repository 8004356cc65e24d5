/// Splits a stream of segment bytes, arriving in chunks of any size, into complete batch frames.
///
/// The shared-storage mirror uses it to copy only whole, checksum-valid frames of a segment that is still being
/// written; tests feed it one byte at a time and split at every offset.
public struct FrameStream {
    private var buffer: [UInt8] = []
    private var consumed = 0
    /// The stream offset of `buffer[0]`.
    public private(set) var baseOffset: Int

    public init(startingAt offset: Int = 0) {
        baseOffset = offset
    }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// A complete frame.
    public struct Frame: Sendable, Hashable {
        /// Where the frame starts in the stream.
        public var offset: Int
        public var header: BatchHeader
        public var bytes: [UInt8]
    }

    public enum Next: Sendable, Hashable {
        case frame(Frame)
        /// Not enough bytes yet for the next frame (or only zero fill so far).
        case needMore
        /// The bytes at `offset` cannot become a valid frame, whatever follows.
        case damaged(offset: Int, reason: String)
    }

    /// The next complete frame, if the bytes fed so far contain one.
    public mutating func next() -> Next {
        let available = buffer.count - consumed
        if available < 16 { return .needMore }
        let result: Next = buffer.withUnsafeBytes { raw in
            let view = UnsafeRawBufferPointer(rebasing: raw[consumed...])
            let length = Int(UInt32(littleEndian: view.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            let magic = UInt32(littleEndian: view.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            if magic == 0 && length == 0 { return .needMore }  // zero fill: nothing written here yet
            if magic == BatchFrame.magic, length >= BatchFrame.overhead, length <= BatchFrame.maximumLength,
                length > available
            {
                return .needMore
            }
            // Everything needed is here, so "torn" cannot happen: pass the available end as the data end.
            switch BatchFrame.parse(view, at: 0, dataEnd: view.count) {
            case .frame(let header, _, let length):
                return .frame(Frame(offset: baseOffset + consumed, header: header, bytes: Array(view[0..<length])))
            case .end, .torn:
                return .needMore
            case .damaged(let reason):
                return .damaged(offset: baseOffset + consumed, reason: reason)
            }
        }
        if case .frame(let frame) = result {
            consumed += frame.bytes.count
            if consumed > 1 << 20 {
                buffer.removeFirst(consumed)
                baseOffset += consumed
                consumed = 0
            }
        }
        return result
    }
}
