#if canImport(Glibc)
import Glibc
#endif

/// A small raw LUN (a block device both hosts see) opened for servha's own use: whole 4 KiB blocks, written with
/// O_DIRECT and O_DSYNC, so that a write that returns is on the array and a read sees what the peer wrote there,
/// never a page cache's copy.
///
/// 4 KiB is the unit whatever the device's logical block size (512 or 4096): aligned to both, and the size of a
/// page. A regular file stands in for a LUN in tests and on a workstation; where its filesystem refuses O_DIRECT
/// (tmpfs) it is opened without it and `direct` says so.
public final class SharedDevice: Sendable {
    public static let blockSize = 4096

    public let path: String
    /// Whether reads and writes bypass the page cache (always, for a block device).
    public let direct: Bool
    public let isBlockDevice: Bool
    /// The device's size in bytes.
    public let size: Int
    private let descriptor: Int32

    /// Opens the device for reading and writing (or reading only). Throws a one-line error naming the device.
    public init(path: String, writable: Bool = true) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw EventLogError.system("cannot open the shared device", path: path) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFBLK || kind == S_IFREG else {
            throw EventLogError(.invalidArgument, "not a block device (nor a file standing in for one)", path: path)
        }
        isBlockDevice = kind == S_IFBLK
        let access = writable ? O_RDWR | O_DSYNC : O_RDONLY
        var fd = Glibc.open(path, access | DirectAppender.oDirect | O_CLOEXEC)
        var direct = true
        if fd < 0 && errno == EINVAL && !isBlockDevice {
            fd = Glibc.open(path, access | O_CLOEXEC)
            direct = false
        }
        guard fd >= 0 else { throw EventLogError.system("cannot open the shared device", path: path) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            let error = EventLogError.system("cannot find the size of the shared device", path: path)
            Glibc.close(fd)
            throw error
        }
        self.descriptor = fd
        self.direct = direct
        self.path = path
        self.size = Int(end)
    }

    deinit { Glibc.close(descriptor) }

    public var blockCount: Int { size / Self.blockSize }

    /// Reads `count` blocks from block `first`.
    public func read(block first: Int, count: Int) throws -> [UInt8] {
        let length = count * Self.blockSize
        let offset = first * Self.blockSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: Self.blockSize)
        defer { buffer.deallocate() }
        var done = 0
        while done < length {
            let n = pread(descriptor, buffer.baseAddress! + done, length - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 {
                    throw EventLogError(.io, "the device ends before block \(first + count)", path: path,
                        offset: Int64(offset + done))
                }
                throw EventLogError.system("cannot read the shared device", path: path, offset: Int64(offset + done))
            }
            done += n
        }
        return Array(buffer)
    }

    /// Writes `bytes` (zero-padded to whole blocks) from block `first`; durable when it returns.
    public func write(_ bytes: [UInt8], block first: Int) throws {
        let length = (bytes.count + Self.blockSize - 1) / Self.blockSize * Self.blockSize
        let offset = first * Self.blockSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: Self.blockSize)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        var done = 0
        while done < length {
            let n = pwrite(descriptor, buffer.baseAddress! + done, length - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw EventLogError.system("cannot write the shared device", path: path, offset: Int64(offset + done))
            }
            done += n
        }
        // O_DSYNC made each write durable; a file that could not take O_DIRECT still gets it through O_DSYNC.
    }
}
