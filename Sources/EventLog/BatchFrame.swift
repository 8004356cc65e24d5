/// How a batch's stored body is encoded.
public enum BatchCodec: UInt8, Sendable {
    case raw = 0
    case lz4Block = 1
}

/// The fixed header of a batch frame (what the frame says about its records).
public struct BatchHeader: Sendable, Hashable {
    public var formatVersion: UInt8
    public var codec: BatchCodec
    public var count: UInt32
    public var firstSequence: UInt64
    public var firstMonotonic: UInt64
    public var lastMonotonic: UInt64
    public var firstWall: Int64
    public var lastWall: Int64
    public var uncompressedLength: UInt32
    public var chainDigest: ChainDigest

    public var lastSequence: UInt64 { firstSequence + UInt64(count) - 1 }
}

/// The on-disk frame around one batch: the unit of write, compression, checksum and fsync.
///
///     0   u32  magic "SHB1"
///     4   u32  frame length L, trailer included
///     8   u32  ~L (a flipped bit in the length is caught before the length is trusted)
///     12  u32  CRC-32C of bytes [16, L-4)
///     16  u8   format version     17 u8 codec     18 u16 flags (0)
///     20  u32  record count       24 u64 first sequence
///     32  u64  first monotonic    40 u64 last monotonic
///     48  i64  first wall         56 i64 last wall
///     64  u32  uncompressed body length
///     68  [32] chain digest
///     100 body (raw or LZ4 block)
///     L-4 u32  trailer, a constant
///
/// All little-endian. The trailer tells a torn frame (its end never reached the disk: zeros or end of file)
/// from a damaged one (complete, but failing its checks).
public enum BatchFrame {
    public static let magic: UInt32 = 0x3142_4853  // "SHB1"
    public static let trailer: UInt32 = 0xC0DE_5EA1
    public static let headerSize = 100
    public static let trailerSize = 4
    public static let overhead = headerSize + trailerSize
    /// Frames larger than this are refused on read as implausible.
    public static let maximumLength = 64 << 20

    /// Frames `body` (which holds records with the given header fields) after `previous`, compressing it when that
    /// makes it smaller. Returns the frame bytes and the new chain digest.
    public static func encode(
        _ body: BatchBody,
        previous: ChainDigest,
        compress: Bool,
        compressionLevel: Int32 = 0,
        scratch: inout [UInt8]
    ) -> (frame: [UInt8], header: BatchHeader) {
        let plain = body.encoded()
        var header = BatchHeader(
            formatVersion: BatchBody.formatVersion,
            codec: .raw,
            count: UInt32(body.count),
            firstSequence: body.firstSequence,
            firstMonotonic: body.firstMonotonic,
            lastMonotonic: body.lastMonotonic,
            firstWall: body.firstWall,
            lastWall: body.lastWall,
            uncompressedLength: UInt32(plain.count),
            chainDigest: .zero
        )
        let compressed =
            compress && plain.withUnsafeBytes { LZ4Block.compress($0, into: &scratch, level: compressionLevel) }
        if compressed { header.codec = .lz4Block }
        header.chainDigest = plain.withUnsafeBytes { ChainDigest.next(previous: previous, header: header, body: $0) }

        let stored = compressed ? scratch : plain
        let length = overhead + stored.count
        var out = ByteSink(capacity: length)
        out.appendLE(magic)
        out.appendLE(UInt32(length))
        out.appendLE(~UInt32(length))
        out.appendLE(UInt32(0))  // CRC, filled in below
        out.append(header.formatVersion)
        out.append(header.codec.rawValue)
        out.appendLE(UInt16(0))
        out.appendLE(header.count)
        out.appendLE(header.firstSequence)
        out.appendLE(header.firstMonotonic)
        out.appendLE(header.lastMonotonic)
        out.appendLE(header.firstWall)
        out.appendLE(header.lastWall)
        out.appendLE(header.uncompressedLength)
        out.append(contentsOf: header.chainDigest.bytes)
        out.append(contentsOf: stored)
        out.appendLE(trailer)
        let crc = out.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[16..<(length - 4)])) }
        out.setLE(crc, at: 12)
        return (out.bytes, header)
    }

    /// What lies at an offset in a segment.
    public enum Parse {
        /// A frame that passed every check; `body` is the stored (possibly compressed) body.
        case frame(BatchHeader, body: Range<Int>, length: Int)
        /// The rest of the buffer is zero (or empty): the end of the log.
        case end
        /// A frame whose end never reached the disk: cut short by end of file, or ending in zeros.
        case torn(String)
        /// Data that is not a valid frame.
        case damaged(String)
    }

    /// Parses the frame at `offset`. `dataEnd` is the end of the non-zero data in the buffer (everything from
    /// there on is zero), which tells torn frames from damaged ones.
    public static func parse(_ buffer: UnsafeRawBufferPointer, at offset: Int, dataEnd: Int) -> Parse {
        let available = buffer.count - offset
        if offset >= dataEnd { return .end }
        if available < 16 || dataEnd <= offset + 16 {
            // A write cut short inside the first 16 bytes: what is there must be the start of the magic.
            let present = min(dataEnd - offset, 4)
            let magicBytes = withUnsafeBytes(of: magic.littleEndian) { Array($0) }
            if Array(buffer[offset..<(offset + present)]) == Array(magicBytes[0..<present]) {
                return .torn("frame header cut short (\(dataEnd - offset) bytes written)")
            }
            return .damaged("bad bytes where a frame header should start")
        }
        let first = buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        let length = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        let check = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
        guard UInt32(littleEndian: first) == magic else {
            return .damaged("bad batch magic 0x\(hex32(UInt32(littleEndian: first)))")
        }
        guard UInt32(length) == ~check, length >= overhead, length <= maximumLength else {
            // A write cut short inside the first 16 bytes leaves zeros after it and nothing else.
            if dataEnd <= offset + 16 { return .torn("frame header cut short") }
            return .damaged("bad frame length field (\(length), check 0x\(String(check, radix: 16)))")
        }
        if length > available {
            return .torn("frame of \(length) bytes runs past the end of the file (\(available) bytes left)")
        }
        let trailerValue = UInt32(
            littleEndian: buffer.loadUnaligned(fromByteOffset: offset + length - 4, as: UInt32.self)
        )
        if trailerValue != trailer {
            if offset + length > dataEnd { return .torn("frame of \(length) bytes ends in zeros (never written)") }
            return .damaged("bad batch trailer 0x\(hex32(trailerValue))")
        }
        let stored = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[(offset + 16)..<(offset + length - 4)]))
        guard stored == actual else {
            return .damaged(
                "batch checksum mismatch (stored 0x\(String(stored, radix: 16)), computed 0x\(String(actual, radix: 16)))"
            )
        }
        var source = ByteSource(buffer, position: offset + 16)
        do {
            let version = try source.readByte()
            let codecRaw = try source.readByte()
            _ = try source.readLE(UInt16.self)
            guard version <= BatchBody.formatVersion else {
                return .damaged(
                    "batch format version \(version) is newer than this servha reads (\(BatchBody.formatVersion))"
                )
            }
            guard version > 0 else { return .damaged("batch format version 0 was never written by any servha") }
            guard let codec = BatchCodec(rawValue: codecRaw) else { return .damaged("unknown batch codec \(codecRaw)") }
            let count = try source.readLE(UInt32.self)
            let firstSequence = try source.readLE(UInt64.self)
            let firstMonotonic = try source.readLE(UInt64.self)
            let lastMonotonic = try source.readLE(UInt64.self)
            let firstWall = try source.readLE(Int64.self)
            let lastWall = try source.readLE(Int64.self)
            let uncompressed = try source.readLE(UInt32.self)
            let digest = ChainDigest(bytes: Array(try source.readBytes(32)))
            guard count > 0 else { return .damaged("batch with no records") }
            guard firstSequence <= UInt64.max - UInt64(count) else {
                return .damaged("batch of \(count) records from sequence \(firstSequence) runs past the last sequence number")
            }
            let header = BatchHeader(
                formatVersion: version,
                codec: codec,
                count: count,
                firstSequence: firstSequence,
                firstMonotonic: firstMonotonic,
                lastMonotonic: lastMonotonic,
                firstWall: firstWall,
                lastWall: lastWall,
                uncompressedLength: uncompressed,
                chainDigest: digest
            )
            return .frame(header, body: (offset + headerSize)..<(offset + length - 4), length: length)
        } catch {
            return .damaged("frame header cut short")
        }
    }
}

/// Eight hexadecimal digits.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
