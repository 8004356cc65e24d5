import Coordinator
import EventRecords
import EventLog
import Glibc

/// Where the nodes' disk slots live: files in a shared directory (`DiskSlotStore`), or blocks of a shared LUN
/// (`DeviceSlotStore`). Both keep two copies of each node's 512-byte record.
public protocol SlotStore: Sendable {
    /// Writes this node's slot, durable when it returns. Throws on any failure.
    func write(nodeName: String, node: NodeID, counter: UInt64, wall: Int64, view: Advertisement) throws
    /// Reads a node's slot (unreadable storage is a reading with `readable: false`).
    func read(nodeName: String, node: NodeID, startedAt: Instant) -> SlotReading
}

/// One node's disk slot on shared storage: its disk heartbeat, and the lease while it is active.
///
/// The file holds two copies of a 512-byte record, and each write goes to the copy its counter's parity picks,
/// so a write torn by a crash or a failing path can damage only one copy: a reader takes the valid copy with
/// the higher counter. Writes use O_DSYNC, so a write that returns is on the storage.
///
///     0   [8]  magic "SRVHSLOT"      8  u8 version (1)     9 u8 reserved     10 u16 node
///     12  u64  counter               20 i64 written (wall ns)
///     28  advertisement (Advertisement.encode)
///     508 u32  CRC-32C of bytes [0, 508)
public struct DiskSlotStore: SlotStore {
    public static let recordSize = 512
    static let magic = Array("SRVHSLOT".utf8)

    /// The directory on shared storage that holds the slots (`<shared_storage>/slots`).
    public let directory: String

    public init(sharedStorage: String) {
        directory = sharedStorage + "/slots"
    }

    public func path(for nodeName: String) -> String { directory + "/" + nodeName + ".slot" }

    /// Checks at start-up that the shared storage is there and writable; one-line error otherwise.
    public func prepare() throws {
        let parent = String(directory.dropLast("/slots".count))
        var st = stat()
        guard stat(parent, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw EventLogError(.io, "shared storage \(parent) does not exist (is it mounted?)", path: parent)
        }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw EventLogError(
                .io,
                "cannot create the slot directory: \(String(cString: strerror(errno)))",
                path: directory
            )
        }
        guard access(directory, W_OK) == 0 else {
            throw EventLogError(
                .io,
                "shared storage is not writable: \(String(cString: strerror(errno)))",
                path: directory
            )
        }
    }

    /// The record bytes for one write.
    static func record(node: NodeID, counter: UInt64, wall: Int64, view: Advertisement) -> [UInt8] {
        var out = ByteSink(capacity: recordSize)
        out.append(contentsOf: magic)
        out.append(1)
        out.append(0)
        out.appendLE(node)
        out.appendLE(counter)
        out.appendLE(wall)
        view.encode(into: &out)
        out.append(contentsOf: [UInt8](repeating: 0, count: recordSize - 4 - out.count))
        out.appendLE(CRC32C.checksum(out.bytes))
        return out.bytes
    }

    /// Writes this node's slot. Throws on any failure (the caller reports `slotWritten(succeeded: false)`).
    public func write(nodeName: String, node: NodeID, counter: UInt64, wall: Int64, view: Advertisement) throws {
        let bytes = Self.record(node: node, counter: counter, wall: wall, view: view)
        let path = path(for: nodeName)
        let fd = open(path, O_WRONLY | O_CREAT | O_DSYNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventLogError.system("cannot open slot", path: path) }
        defer { close(fd) }
        let offset = off_t(Int(counter % 2) * Self.recordSize)
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, offset) }
        guard written == bytes.count else {
            throw EventLogError.system("cannot write slot", path: path, offset: Int64(offset))
        }
    }

    /// Reads a node's slot. A missing file is a node that never wrote (readable, counter 0); an I/O error or
    /// a missing directory is unreadable storage.
    public func read(nodeName: String, node: NodeID, startedAt: Instant) -> SlotReading {
        let path = path(for: nodeName)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let missingFile = errno == ENOENT && access(directory, F_OK) == 0
            return SlotReading(node: node, readable: missingFile, counter: 0, view: .unknown, startedAt: startedAt)
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 2 * Self.recordSize)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else {
            return SlotReading(node: node, readable: false, counter: 0, view: .unknown, startedAt: startedAt)
        }
        let copies = (0..<2).filter { ($0 + 1) * Self.recordSize <= count }.map {
            Array(buffer[($0 * Self.recordSize)..<(($0 + 1) * Self.recordSize)])
        }
        return Self.newest(of: copies, node: node, startedAt: startedAt)
    }

    /// The reading from a slot's copies: the valid one with the higher counter (a torn or damaged copy is
    /// passed over); counter 0 when neither is valid (a node that never wrote).
    static func newest(of copies: [[UInt8]], node: NodeID, startedAt: Instant) -> SlotReading {
        var best: (counter: UInt64, view: Advertisement)?
        for copy in copies {
            if let parsed = parse(copy, node: node), parsed.counter >= best?.counter ?? 0 { best = parsed }
        }
        guard let best else {
            return SlotReading(node: node, readable: true, counter: 0, view: .unknown, startedAt: startedAt)
        }
        return SlotReading(node: node, readable: true, counter: best.counter, view: best.view, startedAt: startedAt)
    }

    /// A record's counter and advertisement, or nil when it is torn, damaged, or another node's.
    static func parse(_ bytes: [UInt8], node: NodeID) -> (counter: UInt64, view: Advertisement)? {
        guard let record = decode(bytes), record.node == node else { return nil }
        return (record.counter, record.view)
    }

    /// What one copy of a slot holds (for `servha disk dump`).
    public struct Record: Sendable, Hashable {
        public var node: NodeID
        public var counter: UInt64
        /// When it was written, by the writer's wall clock (ns since the epoch).
        public var wall: Int64
        public var view: Advertisement
    }

    /// A record, or nil when it is torn or damaged (bad magic, version or checksum).
    public static func decode(_ bytes: [UInt8]) -> Record? {
        guard bytes.count >= recordSize, Array(bytes[0..<8]) == magic, bytes[8] == 1 else { return nil }
        let stored = bytes.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: recordSize - 4, as: UInt32.self))
        }
        guard CRC32C.checksum(Array(bytes[0..<(recordSize - 4)])) == stored else { return nil }
        return bytes.withUnsafeBytes { raw -> Record? in
            var source = ByteSource(raw, position: 10)
            guard let owner = try? source.readLE(UInt16.self), let counter = try? source.readLE(UInt64.self),
                let wall = try? source.readLE(Int64.self), let view = try? Advertisement.decode(from: &source)
            else { return nil }
            return Record(node: owner, counter: counter, wall: wall, view: view)
        }
    }
}
