/// Where everything lives on servha's shared LUN (`shared_storage: { device: ... }`), in 4 KiB blocks.
///
///     block 0        header (below); block 1 holds a second copy, so one bad sector does not lose the device
///     blocks 2..5    disk slots: node rank r (0 for the lower node id), copy k (the write counter's parity) at
///                    block 2 + 2r + k, each a slot record (DiskSlotStore's 512-byte format) in a block of its own
///     blocks 6, 7    reserved
///     log areas      from `logStart`, one per node rank, `logBlocks` each: the area's header block, then the ring
///                    of that node's newest log batches (DeviceLogRing)
///
/// Header (block 0 and 1; integers little-endian):
///
///     0   [8]  magic "SRVHDISK"      8  u16 format version (1)     10 u16 reserved
///     12  u32  block size (4096)     16 u64 blocks laid out        24 i64 created (wall ns since the epoch)
///     32  u32  first log block       36 u32 blocks per log area    40 cluster name (u8 length, UTF-8)
///     4092 u32 CRC-32C of bytes [0, 4092)
///
/// Each node writes only its own slot blocks and its own log area; the header is written once, by `disk init`.
/// The slots take the rank of the node's id, so nothing about the nodes needs writing at start-up, when both
/// nodes may start at once.
public struct SharedDeviceLayout: Sendable, Hashable {
    public static let magic = Array("SRVHDISK".utf8)
    public static let formatVersion: UInt16 = 1
    static let blockSize = SharedDevice.blockSize
    /// The smallest device servha lays out: the slots and two log areas of 504 KiB (about two minutes of an idle
    /// node's log each; 64 MiB keep hours).
    public static let minimumBytes = 1 << 20
    public static let firstLogBlock = 8

    public var cluster: String
    public var blocks: Int
    public var createdWallNanos: Int64
    public var logStart: Int
    public var logBlocks: Int

    /// The layout for a device of `bytes` bytes.
    public init(cluster: String, deviceBytes: Int, createdWallNanos: Int64) throws {
        guard !cluster.isEmpty, cluster.utf8.count <= 200 else {
            throw EventLogError(.invalidArgument, "a cluster name has 1 to 200 bytes")
        }
        guard deviceBytes >= Self.minimumBytes else {
            throw EventLogError(
                .invalidArgument,
                "the device has \(deviceBytes) bytes; servha needs at least \(Self.minimumBytes) (1 MiB)"
            )
        }
        self.cluster = cluster
        blocks = deviceBytes / Self.blockSize
        self.createdWallNanos = createdWallNanos
        logStart = Self.firstLogBlock
        logBlocks = (blocks - Self.firstLogBlock) / 2
    }

    init(cluster: String, blocks: Int, createdWallNanos: Int64, logStart: Int, logBlocks: Int) {
        self.cluster = cluster
        self.blocks = blocks
        self.createdWallNanos = createdWallNanos
        self.logStart = logStart
        self.logBlocks = logBlocks
    }

    /// The block of a node rank's slot copy (0 or 1).
    public func slotBlock(rank: Int, copy: Int) -> Int { 2 + 2 * rank + copy }

    /// The first block of a node rank's log area (its header block; the ring follows).
    public func logArea(rank: Int) -> Int { logStart + rank * logBlocks }

    public func encoded() -> [UInt8] {
        var out = ByteSink(capacity: Self.blockSize)
        out.append(contentsOf: Self.magic)
        out.appendLE(Self.formatVersion)
        out.appendLE(UInt16(0))
        out.appendLE(UInt32(Self.blockSize))
        out.appendLE(UInt64(blocks))
        out.appendLE(createdWallNanos)
        out.appendLE(UInt32(logStart))
        out.appendLE(UInt32(logBlocks))
        let name = Array(cluster.utf8)
        out.append(UInt8(name.count))
        out.append(contentsOf: name)
        out.append(contentsOf: [UInt8](repeating: 0, count: Self.blockSize - 4 - out.count))
        out.appendLE(CRC32C.checksum(out.bytes))
        return out.bytes
    }

    /// What block 0 or 1 of a device holds.
    public enum Found: Sendable, Hashable {
        case layout(SharedDeviceLayout)
        /// Not servha's: zeros, or another program's data.
        case foreign
        /// servha's magic, but the block is damaged (the message says how).
        case damaged(String)
        case newerFormat(UInt16)
    }

    public static func decode(_ block: [UInt8]) -> Found {
        guard block.count >= blockSize, Array(block[0..<8]) == magic else { return .foreign }
        return block.withUnsafeBytes { raw -> Found in
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: blockSize - 4, as: UInt32.self))
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(blockSize - 4)])) == stored else {
                return .damaged("header checksum does not match")
            }
            var source = ByteSource(raw, position: 8)
            do {
                let version = try source.readLE(UInt16.self)
                guard version <= formatVersion else { return .newerFormat(version) }
                _ = try source.readLE(UInt16.self)
                let size = try source.readLE(UInt32.self)
                guard size == UInt32(blockSize) else { return .damaged("block size \(size), expected \(blockSize)") }
                let blocks = Int(try source.readLE(UInt64.self))
                let created = try source.readLE(Int64.self)
                let logStart = Int(try source.readLE(UInt32.self))
                let logBlocks = Int(try source.readLE(UInt32.self))
                let length = Int(try source.readByte())
                let name = try source.readBytes(length)
                guard logStart >= firstLogBlock, logBlocks >= 2, logStart + 2 * logBlocks <= blocks else {
                    return .damaged("log areas (\(logStart), 2 x \(logBlocks) blocks) do not fit \(blocks) blocks")
                }
                return .layout(
                    SharedDeviceLayout(
                        cluster: String(decoding: name, as: UTF8.self),
                        blocks: blocks,
                        createdWallNanos: created,
                        logStart: logStart,
                        logBlocks: logBlocks
                    )
                )
            } catch {
                return .damaged("header is cut short")
            }
        }
    }

    /// Reads the layout from a device: the first good copy of the header. Throws a one-line error naming the
    /// device and the offset when neither copy is servha's, or when the device is smaller than the layout.
    public static func read(from device: SharedDevice) throws -> SharedDeviceLayout {
        let head = try device.read(block: 0, count: 2)
        var problems: [String] = []
        for copy in 0..<2 {
            switch decode(Array(head[(copy * blockSize)..<((copy + 1) * blockSize)])) {
            case .layout(let layout):
                guard layout.blocks <= device.blockCount else {
                    throw EventLogError(
                        .badHeader,
                        "laid out for \(layout.blocks) blocks but the device has \(device.blockCount) (was it shrunk?)",
                        path: device.path,
                        offset: Int64(copy * blockSize)
                    )
                }
                return layout
            case .damaged(let why): problems.append("offset \(copy * blockSize): \(why)")
            case .newerFormat(let version):
                throw EventLogError(
                    .newerFormat,
                    "device format version \(version) is newer than this servha reads (\(formatVersion)): upgrade servha",
                    path: device.path,
                    offset: Int64(copy * blockSize)
                )
            case .foreign: problems.append("offset \(copy * blockSize): no servha header")
            }
        }
        if problems.allSatisfy({ $0.hasSuffix("no servha header") }) {
            throw EventLogError(
                .notASegment,
                "not laid out for servha (run `servha disk init \(device.path) --cluster NAME`)",
                path: device.path,
                offset: 0
            )
        }
        throw EventLogError(.badHeader, "both header copies are damaged (\(problems.joined(separator: "; ")))",
            path: device.path)
    }

    /// Checks that a device read at start-up belongs to `cluster`; a one-line error otherwise.
    public func check(cluster expected: String, device: String) throws {
        guard cluster == expected else {
            throw EventLogError(
                .invalidArgument,
                "the device belongs to cluster '\(cluster)', not '\(expected)'",
                path: device,
                offset: 40
            )
        }
    }
}

/// What a device already holds, so that `disk init` does not lay servha over somebody's data.
public enum DeviceSignature {
    /// The name of a filesystem, volume or partition table found in the first blocks, or nil when none is known.
    /// (Not exhaustive: the common ones on a SAN LUN.)
    public static func detect(_ head: [UInt8]) -> String? {
        func at(_ offset: Int, _ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return head.count >= offset + bytes.count && Array(head[offset..<(offset + bytes.count)]) == bytes
        }
        if head.count > 1081 && head[1080] == 0x53 && head[1081] == 0xEF { return "an ext2/3/4 filesystem" }
        if at(0, "XFSB") { return "an XFS filesystem" }
        if at(65600, "_BHRfS_M") { return "a btrfs filesystem" }
        if at(512, "LABELONE") || at(0, "LABELONE") { return "an LVM physical volume" }
        if at(4086, "SWAPSPACE2") || at(4086, "SWAP-SPACE") { return "swap space" }
        if at(512, "EFI PART") { return "a GPT partition table" }
        if at(32769, "CD001") { return "an ISO 9660 filesystem" }
        if at(0, "SBD_SD") { return "an SBD device (Pacemaker)" }
        if at(3, "NTFS    ") { return "an NTFS filesystem" }
        if at(54, "FAT") || at(82, "FAT32") { return "a FAT filesystem" }
        if head.count > 511 && head[510] == 0x55 && head[511] == 0xAA { return "an MBR partition table" }
        return nil
    }
}
