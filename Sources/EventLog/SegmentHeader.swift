/// The header at the start of every segment file.
///
///     0   [8]  magic "SRVHALOG"
///     8   u32  header length H
///     12  u32  CRC-32C of bytes [16, H)
///     16  u16  format version      18 u16 node id
///     20  u64  first sequence      28 i64 created (wall ns)
///     36  [32] config hash         68 [32] digest of the previous segment's last batch
///     100 cluster, node name, servha version (each a varint length and UTF-8)
///
/// Magic, length, checksum and version keep these positions in every format, so any servha can tell a newer
/// format from damage.
public struct SegmentHeader: Sendable, Hashable {
    public static let magic: [UInt8] = Array("SRVHALOG".utf8)
    public static let currentFormat: UInt16 = 1
    static let fixedSize = 100
    static let maximumSize = 4096

    public var formatVersion: UInt16
    public var identity: LogIdentity
    public var firstSequence: UInt64
    public var createdWallNanos: Int64
    public var previousDigest: ChainDigest

    public init(identity: LogIdentity, firstSequence: UInt64, createdWallNanos: Int64, previousDigest: ChainDigest) {
        self.formatVersion = Self.currentFormat
        self.identity = identity
        self.firstSequence = firstSequence
        self.createdWallNanos = createdWallNanos
        self.previousDigest = previousDigest
    }

    public func encoded() -> [UInt8] {
        var out = ByteSink(capacity: 160)
        out.append(contentsOf: Self.magic)
        out.appendLE(UInt32(0))  // length, below
        out.appendLE(UInt32(0))  // CRC, below
        out.appendLE(formatVersion)
        out.appendLE(identity.node)
        out.appendLE(firstSequence)
        out.appendLE(createdWallNanos)
        var hash = identity.configHash
        hash = Array((hash + [UInt8](repeating: 0, count: 32)).prefix(32))
        out.append(contentsOf: hash)
        out.append(contentsOf: previousDigest.bytes)
        out.appendString(identity.cluster)
        out.appendString(identity.nodeName)
        out.appendString(identity.servhaVersion)
        out.setLE(UInt32(out.count), at: 8)
        let crc = out.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[16...])) }
        out.setLE(crc, at: 12)
        return out.bytes
    }

    /// Parses the header at the start of `buffer` (the whole file or its first bytes).
    /// Returns the header and its length.
    public static func parse(_ buffer: UnsafeRawBufferPointer, path: String) throws -> (SegmentHeader, Int) {
        guard buffer.count >= 8, Array(buffer[0..<8]) == magic else {
            if buffer.count < 8 && Array(buffer) == Array(magic.prefix(buffer.count)) {
                throw EventLogError(
                    .badHeader,
                    "segment header cut short (\(buffer.count) bytes)",
                    path: path,
                    offset: 0
                )
            }
            throw EventLogError(.notASegment, "not a servha log segment (no SRVHALOG magic)", path: path, offset: 0)
        }
        guard buffer.count >= 18 else {
            throw EventLogError(.badHeader, "segment header cut short (\(buffer.count) bytes)", path: path, offset: 0)
        }
        let length = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let version = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
        if version > currentFormat {
            throw EventLogError(
                .newerFormat,
                "segment format version \(version) is newer than this servha reads (\(currentFormat)); upgrade servha",
                path: path,
                offset: 16
            )
        }
        guard length >= fixedSize, length <= maximumSize else {
            throw EventLogError(.badHeader, "bad segment header length \(length)", path: path, offset: 8)
        }
        guard buffer.count >= length else {
            throw EventLogError(
                .badHeader,
                "segment header cut short (\(buffer.count) of \(length) bytes)",
                path: path,
                offset: Int64(buffer.count)
            )
        }
        let stored = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[16..<length]))
        guard stored == actual else {
            throw EventLogError(
                .badHeader,
                "segment header checksum mismatch (stored 0x\(hex32(stored)), computed 0x\(hex32(actual)))",
                path: path,
                offset: 12
            )
        }
        var source = ByteSource(UnsafeRawBufferPointer(rebasing: buffer[0..<length]), position: 18)
        do {
            let node = try source.readLE(UInt16.self)
            let first = try source.readLE(UInt64.self)
            let created = try source.readLE(Int64.self)
            let configHash = Array(try source.readBytes(32))
            let previous = ChainDigest(bytes: Array(try source.readBytes(32)))
            let cluster = try source.readString(maxLength: 1024)
            let nodeName = try source.readString(maxLength: 1024)
            let servhaVersion = try source.readString(maxLength: 1024)
            var header = SegmentHeader(
                identity: LogIdentity(
                    cluster: cluster,
                    nodeName: nodeName,
                    node: node,
                    servhaVersion: servhaVersion,
                    configHash: configHash
                ),
                firstSequence: first,
                createdWallNanos: created,
                previousDigest: previous
            )
            header.formatVersion = version
            return (header, length)
        } catch {
            throw EventLogError(
                .badHeader,
                "segment header fields cut short",
                path: path,
                offset: Int64(error.position)
            )
        }
    }
}

/// Segment file names: the first sequence number, zero-padded so that names sort in log order. The active
/// segment ends in `.open` until it is sealed.
public enum SegmentName {
    public static let sealedSuffix = ".seg"
    public static let openSuffix = ".seg.open"

    public static func sealed(_ firstSequence: UInt64) -> String { padded(firstSequence) + sealedSuffix }
    public static func open(_ firstSequence: UInt64) -> String { padded(firstSequence) + openSuffix }

    /// The first sequence and whether the segment is still open, or nil for a name that is not a segment.
    public static func parse(_ name: String) -> (firstSequence: UInt64, isOpen: Bool)? {
        let isOpen = name.hasSuffix(openSuffix)
        guard isOpen || name.hasSuffix(sealedSuffix) else { return nil }
        let stem = name.dropLast(isOpen ? openSuffix.count : sealedSuffix.count)
        guard stem.count == 20, let value = UInt64(stem) else { return nil }
        return (value, isOpen)
    }

    private static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
}
