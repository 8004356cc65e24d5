import Glibc

extension EventLogWriter {
    /// Finds where the log ends, cuts away a torn last batch, and returns the segment to append to.
    ///
    /// Only the last segment is scanned (by checksum); the reader checks the whole chain. A new segment is
    /// started when the last one is sealed, or when it was written under another servha version or config.
    static func recover(
        directory: String,
        identity: LogIdentity,
        directIO: Bool,
        report: inout RecoveryReport
    ) throws -> ActiveSegment {
        let listing = try LogDirectory(directory)
        report.segments = listing.segments.count
        // A log with no segment (or only one whose header never reached the disk) starts at sequence 1.
        func freshStart() throws -> ActiveSegment {
            try ActiveSegment.create(
                directory: directory,
                identity: identity,
                firstSequence: 1,
                previous: .zero,
                directIO: directIO
            )
        }
        guard var last = listing.segments.last else { return try freshStart() }
        if last.isOpen, try removeIfHeaderNeverWritten(last) {
            // A crash between creating a segment and syncing its header: it holds no records.
            report.bytesCut = SystemDirectory.fileSize(last.path) ?? 0
            try SystemDirectory.remove(last.path)
            try SystemDirectory.sync(directory)
            report.segments -= 1
            guard listing.segments.count >= 2 else { return try freshStart() }
            last = listing.segments[listing.segments.count - 2]
        }
        let file = try SystemFile.open(last.path, flags: last.isOpen ? O_RDWR : O_RDONLY)
        let bytes = try file.readAll()
        let scan = try bytes.withUnsafeBytes { (raw) in
            do {
                return try SegmentScanner.scan(
                    raw,
                    path: last.path,
                    isOpen: last.isOpen,
                    mayEndTorn: last.isOpen,
                    expectedFirst: nil,
                    expectedPrevious: nil,
                    depth: .checksums
                )
            } catch let error as EventLogError {
                throw error
            } catch {
                throw EventLogError(.io, "\(error)", path: last.path)
            }
        }
        let owner = scan.header.identity
        guard owner.cluster == identity.cluster, owner.nodeName == identity.nodeName, owner.node == identity.node else {
            throw EventLogError(
                .invalidArgument,
                "log belongs to node \(owner.nodeName) (id \(owner.node)) of cluster \(owner.cluster), "
                    + "not node \(identity.nodeName) (id \(identity.node)) of cluster \(identity.cluster)",
                path: last.path
            )
        }
        report.nextSequence = scan.nextSequence
        if let torn = scan.tornTail {
            report.tornTail = torn
            report.bytesCut = scan.fileSize - scan.validEnd
            try file.truncate(to: scan.validEnd)
            try file.syncData()
        }
        guard last.isOpen else {
            let segment = try ActiveSegment.create(
                directory: directory,
                identity: identity,
                firstSequence: scan.nextSequence,
                previous: scan.lastDigest,
                directIO: directIO
            )
            return segment
        }
        let tailStart = scan.validEnd / DirectAppender.blockSize * DirectAppender.blockSize
        let tail = Array(bytes[tailStart..<scan.validEnd])
        var segment = ActiveSegment(
            file: file,
            firstSequence: last.firstSequence,
            path: last.path,
            directory: directory,
            writeOffset: scan.validEnd,
            preallocatedEnd: scan.tornTail == nil ? scan.fileSize : scan.validEnd,
            batchCount: scan.batches.count,
            lastDigest: scan.lastDigest,
            nextSequence: scan.nextSequence,
            direct: directIO ? DirectAppender(path: last.path, tail: tail) : nil
        )
        if owner.servhaVersion != identity.servhaVersion || owner.configHash != identity.configHash {
            // Each segment records the version and config it was written under, so start a new one.
            _ = try segment.seal()
            segment = try ActiveSegment.create(
                directory: directory,
                identity: identity,
                firstSequence: scan.nextSequence,
                previous: scan.lastDigest,
                directIO: directIO
            )
        }
        return segment
    }

    /// True when an open segment is shorter than a header, or its header was never completely written (all
    /// zeros after the magic): the crash came between creating the file and syncing its header.
    private static func removeIfHeaderNeverWritten(_ segment: LogDirectory.Segment) throws -> Bool {
        let file = try SystemFile.open(segment.path, flags: O_RDONLY)
        let size = try file.size()
        if size >= SegmentHeader.maximumSize { return false }
        let bytes = try file.read(count: size, at: 0)
        do {
            _ = try bytes.withUnsafeBytes { (raw) in try SegmentHeader.parse(raw, path: segment.path) }
            return false
        } catch {
            let code = EventLogError.wrap(error).code
            guard code == .badHeader || code == .notASegment else { return false }
            let magic = SegmentHeader.magic
            let isMagicPrefix = Array(bytes.prefix(magic.count)) == Array(magic.prefix(min(magic.count, bytes.count)))
            let restZero = bytes.dropFirst(magic.count).allSatisfy { $0 == 0 }
            return size < SegmentHeader.fixedSize
                ? (isMagicPrefix || bytes.allSatisfy { $0 == 0 }) : (isMagicPrefix && restZero)
        }
    }
}
