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

    /// Creates a new open segment continuing from `previous`, durably (file and directory synced).
    static func create(
        directory: String,
        identity: LogIdentity,
        firstSequence: UInt64,
        previous: ChainDigest
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
            nextSequence: firstSequence
        )
    }

    /// Writes frames (already encoded, back to back) at the end, zero-filling ahead first when needed.
    mutating func append(_ frames: [UInt8], batches: Int, lastDigest: ChainDigest, nextSequence: UInt64, preallocation: Int)
        throws
    {
        let end = writeOffset + frames.count
        if end > preallocatedEnd && preallocation > 0 {
            let target = max(end, preallocatedEnd + preallocation)
            let zeros = [UInt8](repeating: 0, count: target - preallocatedEnd)
            try file.write(zeros, at: preallocatedEnd)
            preallocatedEnd = target
        }
        try file.write(frames, at: writeOffset)
        writeOffset = end
        preallocatedEnd = max(preallocatedEnd, end)
        batchCount += batches
        self.lastDigest = lastDigest
        self.nextSequence = nextSequence
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
