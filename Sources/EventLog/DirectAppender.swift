import Glibc

/// Appends to the active segment with O_DIRECT, a whole block at a time, so that a durable append costs one
/// write-through (O_DSYNC) instead of a page-cache write plus fdatasync: about 28 µs instead of 40 µs per
/// group commit on the machine this was measured on (see docs/benchmarks.md).
///
/// O_DIRECT needs block-aligned offsets, lengths and memory, so the partly written last block is kept in memory
/// and written again, completed, with the next frames. The area past the end is the zero fill, so the padding
/// written after the frames is what the file already held there. Rewriting that block cannot damage the frames
/// already in it: their bytes are written unchanged, so a sector left old or new by a crash holds the same data.
struct DirectAppender: ~Copyable {
    static let blockSize = 4096

    private let plain: Int32
    private let durable: Int32
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// The bytes of the last, partly written block (from its aligned start up to the end of the data).
    private var tail: [UInt8]
    let path: String

    /// Opens `path` for direct writes, continuing after `tail` (the bytes of the block holding the end of the
    /// data). Returns nil when the filesystem does not support O_DIRECT (tmpfs, some network filesystems).
    init?(path: String, tail: [UInt8]) {
        let plain = Glibc.open(path, O_WRONLY | O_CLOEXEC | Self.oDirect)
        guard plain >= 0 else { return nil }
        let durable = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_DSYNC | Self.oDirect)
        guard durable >= 0 else {
            Glibc.close(plain)
            return nil
        }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, Self.blockSize, 1 << 20) == 0, let memory else {
            Glibc.close(plain)
            Glibc.close(durable)
            return nil
        }
        self.plain = plain
        self.durable = durable
        self.buffer = memory
        self.capacity = 1 << 20
        self.tail = tail
        self.path = path
    }

    deinit {
        Glibc.close(plain)
        Glibc.close(durable)
        free(buffer)
    }

    /// Writes `frames`, which start at `offset` (the end of the data). With `durable`, the data is on stable
    /// storage when this returns.
    mutating func write(_ frames: [UInt8], at offset: Int, durable isDurable: Bool) throws {
        let start = offset - tail.count
        precondition(start % Self.blockSize == 0, "direct appends must continue from the kept tail")
        let length = tail.count + frames.count
        let padded = (length + Self.blockSize - 1) / Self.blockSize * Self.blockSize
        if padded > capacity {
            var memory: UnsafeMutableRawPointer?
            guard posix_memalign(&memory, Self.blockSize, padded) == 0, let memory else {
                throw EventLogError(.io, "cannot allocate \(padded) aligned bytes", path: path)
            }
            free(buffer)
            buffer = memory
            capacity = padded
        }
        tail.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        frames.withUnsafeBytes { (buffer + tail.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        (buffer + length).initializeMemory(as: UInt8.self, repeating: 0, count: padded - length)
        let fd = isDurable ? durable : plain
        var done = 0
        while done < padded {
            let n = pwrite(fd, buffer + done, padded - done, off_t(start + done))
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                if isDurable {
                    throw EventLogError(
                        .syncFailed,
                        "durable direct write failed: \(errnoText(code))",
                        path: path,
                        offset: Int64(start + done),
                        errno: code
                    )
                }
                throw EventLogError(
                    .io,
                    "cannot write: \(errnoText(code))",
                    path: path,
                    offset: Int64(start + done),
                    errno: code
                )
            }
            done += n
        }
        let keep = length % Self.blockSize
        let lastBlock = length - keep
        tail = keep == 0 ? [] : Array(UnsafeRawBufferPointer(start: buffer + lastBlock, count: keep))
    }

    /// The O_DIRECT flag, which Swift's Glibc module does not export (it is behind _GNU_SOURCE).
    static var oDirect: Int32 {
        #if arch(x86_64) || arch(i386)
        return 0o40000
        #elseif arch(arm64) || arch(arm)
        return 0o200000
        #else
        return 0o40000
        #endif
    }
}
