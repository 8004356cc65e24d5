import Glibc

/// The segment the writer appends to, owned by the flusher thread: its file, how far it is written and
/// zero-filled, and where the digest chain stands.
struct ActiveSegment: ~Copyable {
    var file: SystemFile
    var firstSequence: UInt64
    var path: String
    let directory: String
    /// End of the last batch written.
    var writeOffset: Int
    /// End of the zero-filled area.
    var preallocatedEnd: Int
    var batchCount: Int
    var lastDigest: ChainDigest
    var nextSequence: UInt64
    /// Block-aligned direct writes, when the filesystem supports them and the options allow.
    var direct: DirectAppender?

    /// Creates a new open segment continuing from `previous`, durably (file and directory synced).
    static func create(
        directory: String,
        identity: LogIdentity,
        firstSequence: UInt64,
        previous: ChainDigest,
        directIO: Bool
    ) throws -> ActiveSegment {
        let path = directory + "/" + SegmentName.open(firstSequence)
        let file = try SystemFile.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        let header = SegmentHeader(
            identity: identity,
            firstSequence: firstSequence,
            createdWallNanos: wallNow(),
            previousDigest: previous
        ).encoded()
        try file.write(header, at: 0)
        try file.syncData()
        try SystemDirectory.sync(directory)
        return ActiveSegment(
            file: file,
            firstSequence: firstSequence,
            path: path,
            directory: directory,
            writeOffset: header.count,
            preallocatedEnd: header.count,
            batchCount: 0,
            lastDigest: previous,
            nextSequence: firstSequence,
            direct: directIO ? DirectAppender(path: path, tail: header) : nil
        )
    }

    /// Writes frames (already encoded, back to back) at the end, zero-filling ahead first when needed.
    /// Returns true when the frames are already durable (a direct write-through was asked for and done).
    @discardableResult
    mutating func append(
        _ frames: [UInt8],
        batches: Int,
        lastDigest: ChainDigest,
        nextSequence: UInt64,
        preallocation: Int,
        durable: Bool
    ) throws -> Bool {
        let end = writeOffset + frames.count
        let blockEnd = (end + DirectAppender.blockSize - 1) / DirectAppender.blockSize * DirectAppender.blockSize
        let needed = direct == nil ? end : blockEnd
        var wroteDurably = false
        if needed > preallocatedEnd {
            let target = max(needed, preallocatedEnd + preallocation)
            let zeros = [UInt8](repeating: 0, count: target - preallocatedEnd)
            try file.write(zeros, at: preallocatedEnd)
            preallocatedEnd = target
            if direct != nil {
                // The new size must be durable before direct write-throughs can be trusted, and the zero pages
                // must be clean so that direct writes do not have to flush them first.
                try file.syncData()
            }
        }
        if direct != nil {
            try direct!.write(frames, at: writeOffset, durable: durable)
            wroteDurably = durable
        } else {
            try file.write(frames, at: writeOffset)
        }
        writeOffset = end
        batchCount += batches
        self.lastDigest = lastDigest
        self.nextSequence = nextSequence
        return wroteDurably
    }

    /// Trims the zero fill, syncs, and renames the file to its sealed name (then syncs the directory).
    /// Returns the sealed path.
    func seal() throws -> String {
        try file.truncate(to: writeOffset)
        try file.syncData()
        let sealedPath = directory + "/" + SegmentName.sealed(firstSequence)
        try SystemDirectory.rename(path, sealedPath)
        try SystemDirectory.sync(directory)
        return sealedPath
    }

    /// Trims the zero fill and syncs, leaving the segment open (a clean shutdown).
    func trimAndSync() throws {
        try file.truncate(to: writeOffset)
        try file.syncData()
    }
}
