import Crypto

/// A SHA-256 value linking each batch to everything before it: `digest(batch) = SHA-256(previous digest ‖
/// batch's logical header ‖ uncompressed body)`. The codec is not part of it, so a log re-encoded with another
/// codec keeps its chain. The segment header carries the digest it continues from.
public struct ChainDigest: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]

    public static let zero = ChainDigest(bytes: [UInt8](repeating: 0, count: 32))

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a chain digest is 32 bytes")
        self.bytes = bytes
    }

    public var description: String { hex(bytes) }
    public var short: String { String(description.prefix(12)) }

    static func next(previous: ChainDigest, header: BatchHeader, body: UnsafeRawBufferPointer) -> ChainDigest {
        var hasher = SHA256()
        hasher.update(data: previous.bytes)
        var logical = ByteSink(capacity: 64)
        logical.append(header.formatVersion)
        logical.appendLE(header.count)
        logical.appendLE(header.firstSequence)
        logical.appendLE(header.firstMonotonic)
        logical.appendLE(header.lastMonotonic)
        logical.appendLE(header.firstWall)
        logical.appendLE(header.lastWall)
        logical.appendLE(header.uncompressedLength)
        hasher.update(data: logical.bytes)
        hasher.update(bufferPointer: body)
        return ChainDigest(bytes: Array(hasher.finalize()))
    }
}

/// Lower-case hexadecimal.
public func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
