#if canImport(Glibc)
import Glibc
#endif

/// One node's log area on the shared LUN: a header block naming the node, then a ring of entries, each holding
/// whole batch frames of that node's log, byte for byte as the local log holds them (same frames, checksums and
/// chain digests). The survivor of a takeover reads the dead node's newest events from here, without its disk.
///
/// Area header (the area's first block):
///
///     0  [8] magic "SRVHAREA"    8 u16 version (1)    10 u16 node id    12 node name (u8 length, UTF-8)
///     4092 u32 CRC-32C of bytes [0, 4092)
///
/// Entry (starts on a block boundary of the ring, padded with zeros to whole blocks, never split at the ring's
/// end: an entry that does not fit before the end starts again at the ring's first block):
///
///     0  [8] magic "SRVHRING"    8 u64 entry number (consecutive, across restarts)
///     16 u32 entry length E (header and payload, before padding)
///     20 u32 segment header length S    24 u64 log sequence of the first record    32 u32 frame bytes F
///     36 [32] the chain digest the first frame continues from
///     68 u32 CRC-32C of bytes [0, 68) and [72, E)
///     72 the local segment's header (S bytes), then F bytes of whole frames
///
/// Entries are overwritten oldest first; one overwritten in part fails its checksum and is left out. The newest
/// entries whose frames continue each other (sequence and chain digest) make the log the ring holds.
public enum DeviceLogRing {
    static let areaMagic = Array("SRVHAREA".utf8)
    static let entryMagic = Array("SRVHRING".utf8)
    static let entryHeaderSize = 72
    static let blockSize = SharedDevice.blockSize
    /// The largest entry: a pass with more to copy writes several.
    static let maximumEntryBytes = 256 * 1024

    // MARK: - Area header

    public struct Owner: Sendable, Hashable {
        public var node: UInt16
        public var name: String
        public init(node: UInt16, name: String) {
            self.node = node
            self.name = name
        }
    }

    static func encodeArea(_ owner: Owner) -> [UInt8] {
        var out = ByteSink(capacity: blockSize)
        out.append(contentsOf: areaMagic)
        out.appendLE(UInt16(1))
        out.appendLE(owner.node)
        let name = Array(owner.name.utf8.prefix(255))
        out.append(UInt8(name.count))
        out.append(contentsOf: name)
        out.append(contentsOf: [UInt8](repeating: 0, count: blockSize - 4 - out.count))
        out.appendLE(CRC32C.checksum(out.bytes))
        return out.bytes
    }

    static func decodeArea(_ block: [UInt8]) -> Owner? {
        guard block.count >= blockSize, Array(block[0..<8]) == areaMagic else { return nil }
        return block.withUnsafeBytes { raw -> Owner? in
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: blockSize - 4, as: UInt32.self))
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(blockSize - 4)])) == stored else {
                return nil
            }
            var source = ByteSource(raw, position: 10)
            guard let node = try? source.readLE(UInt16.self), let length = try? source.readByte(),
                let name = try? source.readBytes(Int(length))
            else { return nil }
            return Owner(node: node, name: String(decoding: name, as: UTF8.self))
        }
    }

    /// The owner named in a node rank's area header (nil: the area was never used).
    public static func owner(device: SharedDevice, layout: SharedDeviceLayout, rank: Int) throws -> Owner? {
        decodeArea(try device.read(block: layout.logArea(rank: rank), count: 1))
    }

    // MARK: - Entries

    /// One entry read back from the ring.
    public struct Entry: Sendable, Hashable {
        public var number: UInt64
        /// Its first block, counted from the ring's first block.
        public var block: Int
        public var blocks: Int
        public var segmentHeader: [UInt8]
        public var firstSequence: UInt64
        public var previousDigest: ChainDigest
        public var frames: [UInt8]
        /// The last frame's header (the entry's last record and chain digest).
        public var lastFrame: BatchHeader
    }

    static func encodeEntry(
        number: UInt64,
        segmentHeader: [UInt8],
        firstSequence: UInt64,
        previousDigest: ChainDigest,
        frames: [UInt8]
    ) -> [UInt8] {
        var out = ByteSink(capacity: entryHeaderSize + segmentHeader.count + frames.count)
        out.append(contentsOf: entryMagic)
        out.appendLE(number)
        out.appendLE(UInt32(entryHeaderSize + segmentHeader.count + frames.count))
        out.appendLE(UInt32(segmentHeader.count))
        out.appendLE(firstSequence)
        out.appendLE(UInt32(frames.count))
        out.append(contentsOf: previousDigest.bytes)
        out.appendLE(UInt32(0))
        out.append(contentsOf: segmentHeader)
        out.append(contentsOf: frames)
        let crc = out.bytes.withUnsafeBytes { raw in
            CRC32C.update(
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<68])),
                UnsafeRawBufferPointer(rebasing: raw[entryHeaderSize...])
            )
        }
        out.setLE(crc, at: 68)
        return out.bytes
    }

    /// What the ring holds at one block.
    enum Found {
        case entry(Entry)
        /// No entry starts here (zeros, or the inside of an entry).
        case none
        /// An entry's magic, but the entry does not check out: a torn write, an overwrite cut short, a bad sector.
        case damaged(String)
    }

    /// The entry starting at `offset` of `ring` (the whole ring's bytes).
    static func decodeEntry(_ ring: UnsafeRawBufferPointer, at offset: Int) -> Found {
        guard offset + entryHeaderSize <= ring.count else { return .none }
        let head = UnsafeRawBufferPointer(rebasing: ring[offset..<(offset + 8)])
        guard head.elementsEqual(entryMagic) else { return .none }
        func load<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            T(littleEndian: ring.loadUnaligned(fromByteOffset: offset + at, as: T.self))
        }
        let length = Int(load(16, UInt32.self))
        let headerLength = Int(load(20, UInt32.self))
        let frameLength = Int(load(32, UInt32.self))
        guard length == entryHeaderSize + headerLength + frameLength, frameLength > 0,
            length <= maximumEntryBytes + entryHeaderSize + SegmentHeader.maximumSize
        else { return .damaged("entry lengths do not add up (\(length) = 72 + \(headerLength) + \(frameLength)?)") }
        guard offset + length <= ring.count else { return .damaged("entry of \(length) bytes runs past the ring's end") }
        let crc = CRC32C.update(
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: ring[offset..<(offset + 68)])),
            UnsafeRawBufferPointer(rebasing: ring[(offset + entryHeaderSize)..<(offset + length)])
        )
        guard crc == load(68, UInt32.self) else { return .damaged("entry checksum does not match") }
        let framesStart = offset + entryHeaderSize + headerLength
        var stream = FrameStream()
        stream.feed(UnsafeRawBufferPointer(rebasing: ring[framesStart..<(offset + length)]))
        var last: BatchHeader?
        var expected = load(24, UInt64.self)
        var used = 0
        while case .frame(let frame) = stream.next() {
            // The frames of an entry are dense: each continues the record numbers of the one before.
            guard frame.header.firstSequence == expected else {
                return .damaged("batch at entry offset \(72 + headerLength + used) starts at record \(frame.header.firstSequence), expected \(expected)")
            }
            expected = frame.header.lastSequence + 1
            used += frame.bytes.count
            last = frame.header
        }
        guard let last, used == frameLength else {
            return .damaged("entry's batches end at byte \(used) of \(frameLength)")
        }
        return .entry(
            Entry(
                number: load(8, UInt64.self),
                block: offset / blockSize,
                blocks: (length + blockSize - 1) / blockSize,
                segmentHeader: Array(UnsafeRawBufferPointer(rebasing: ring[(offset + entryHeaderSize)..<framesStart])),
                firstSequence: load(24, UInt64.self),
                previousDigest: ChainDigest(
                    bytes: Array(UnsafeRawBufferPointer(rebasing: ring[(offset + 36)..<(offset + 68)]))
                ),
                frames: Array(UnsafeRawBufferPointer(rebasing: ring[framesStart..<(offset + length)])),
                lastFrame: last
            )
        )
    }

    /// A damaged entry: where it is on the device, and why it does not count.
    public struct Damage: Sendable, Hashable, CustomStringConvertible {
        public var device: String
        /// Byte offset on the device.
        public var offset: Int64
        public var reason: String
        public var description: String { "\(device): offset \(offset): \(reason)" }
    }

    /// Every valid entry in a node rank's ring, in ring order, and where an entry's magic stands over one that does
    /// not check out.
    public static func scan(device: SharedDevice, layout: SharedDeviceLayout, rank: Int) throws
        -> (entries: [Entry], damaged: [Damage])
    {
        let ringBlocks = layout.logBlocks - 1
        let first = layout.logArea(rank: rank) + 1
        let bytes = try device.read(block: first, count: ringBlocks)
        return bytes.withUnsafeBytes { raw in
            var found: [Entry] = []
            var damaged: [Damage] = []
            var block = 0
            while block < ringBlocks {
                switch decodeEntry(raw, at: block * blockSize) {
                case .entry(let entry):
                    found.append(entry)
                    block += entry.blocks
                case .damaged(let reason):
                    damaged.append(
                        Damage(device: device.path, offset: Int64(first + block) * Int64(blockSize), reason: reason))
                    block += 1
                case .none:
                    block += 1
                }
            }
            return (found, damaged)
        }
    }

    /// Every valid entry in a node rank's ring, in ring order.
    public static func entries(device: SharedDevice, layout: SharedDeviceLayout, rank: Int) throws -> [Entry] {
        try scan(device: device, layout: layout, rank: rank).entries
    }

    /// The newest entries that continue each other (oldest first): what the ring holds of the log.
    public static func newestChain(_ entries: [Entry]) -> [Entry] {
        let byNumber = Dictionary(entries.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        guard var current = entries.max(by: { $0.number < $1.number }) else { return [] }
        var chain = [current]
        while current.number > 0, let before = byNumber[current.number - 1],
            before.lastFrame.lastSequence + 1 == current.firstSequence,
            before.lastFrame.chainDigest == current.previousDigest
        {
            chain.append(before)
            current = before
        }
        return chain.reversed()
    }

    // MARK: - Reading a node's log back

    /// Writes what a node's ring holds into `directory` as segment files that `LogReader` reads like any log: one
    /// segment per local segment the entries came from, the first one starting at the ring's oldest record (its
    /// header says so, and names the digest it continues from).
    @discardableResult
    public static func materialize(
        device: SharedDevice,
        layout: SharedDeviceLayout,
        node name: String,
        into directory: String
    ) throws -> Materialized {
        var ownerFound: (Int, Owner)?
        var named: [String] = []
        for rank in 0..<2 {
            if let owner = try owner(device: device, layout: layout, rank: rank) {
                named.append(owner.name)
                if owner.name == name { ownerFound = (rank, owner) }
            }
        }
        guard let (rank, owner) = ownerFound else {
            let known = named.isEmpty ? "no node has written its log there yet" : "it holds " + named.joined(separator: ", ")
            throw EventLogError(.invalidArgument, "no log of node '\(name)' on the device (\(known))", path: device.path)
        }
        let scanned = try scan(device: device, layout: layout, rank: rank)
        let chain = newestChain(scanned.entries)
        guard let first = chain.first, let last = chain.last else {
            throw EventLogError(.io, "the log area of node '\(name)' holds no batches yet", path: device.path,
                offset: Int64(layout.logArea(rank: rank) * blockSize))
        }
        var groups: [[Entry]] = []
        for entry in chain {
            if let previous = groups.last?.last, previous.segmentHeader == entry.segmentHeader {
                groups[groups.count - 1].append(entry)
            } else {
                groups.append([entry])
            }
        }
        for (index, group) in groups.enumerated() {
            let offset = Int64(layout.logArea(rank: rank) + 1 + group[0].block) * Int64(blockSize)
            var (header, _) = try group[0].segmentHeader.withUnsafeBytes {
                try SegmentHeader.parse($0, path: "\(device.path):\(name)@\(offset)")
            }
            if index == 0 {
                // The ring may begin inside a segment: this copy begins where the ring does.
                header.firstSequence = group[0].firstSequence
                header.previousDigest = group[0].previousDigest
            }
            let isLast = index == groups.count - 1
            let fileName = isLast ? SegmentName.open(header.firstSequence) : SegmentName.sealed(header.firstSequence)
            var bytes = header.encoded()
            for entry in group { bytes += entry.frames }
            let file = try SystemFile.open(directory + "/" + fileName, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.write(bytes, at: 0)
        }
        return Materialized(
            owner: owner,
            records: last.lastFrame.lastSequence + 1 - first.firstSequence,
            damaged: scanned.damaged
        )
    }

    /// What `materialize` read.
    public struct Materialized: Sendable {
        public var owner: Owner
        /// Records in the log written out (the newest chain).
        public var records: UInt64
        /// Entries found damaged anywhere in the ring (the chain stops at one that falls inside it).
        public var damaged: [Damage]
    }
}
