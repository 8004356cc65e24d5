/// The segment files of one log directory, in order. Files that are not segments (the lock file, a
/// half-written copy) are ignored.
public struct LogDirectory: Sendable {
    public struct Segment: Sendable, Hashable {
        public var name: String
        public var path: String
        public var firstSequence: UInt64
        public var isOpen: Bool
    }

    public let path: String
    public let segments: [Segment]

    /// Lists `path`. Fails when it is not a directory, or when an open segment is followed by another segment.
    public init(_ path: String) throws {
        guard SystemDirectory.exists(path) else {
            if SystemDirectory.fileExists(path) {
                throw EventLogError(.invalidArgument, "not a directory", path: path)
            }
            throw EventLogError(.io, "log directory does not exist", path: path)
        }
        self.path = path
        var found: [Segment] = []
        for name in try SystemDirectory.list(path) {
            guard let parsed = SegmentName.parse(name) else { continue }
            found.append(
                Segment(name: name, path: path + "/" + name, firstSequence: parsed.firstSequence, isOpen: parsed.isOpen)
            )
        }
        found.sort { ($0.firstSequence, $0.isOpen ? 1 : 0) < ($1.firstSequence, $1.isOpen ? 1 : 0) }
        for (index, segment) in found.enumerated() where index > 0 {
            let before = found[index - 1]
            if before.firstSequence == segment.firstSequence {
                throw EventLogError(
                    .discontinuity,
                    "two segments start at sequence \(segment.firstSequence) (\(before.name) and \(segment.name))",
                    path: path
                )
            }
            if before.isOpen {
                throw EventLogError(
                    .discontinuity,
                    "open segment \(before.name) is followed by \(segment.name); only the last segment may be open",
                    path: path
                )
            }
        }
        segments = found
    }
}
