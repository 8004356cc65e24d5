/// An error from the event log: what went wrong, where (file and byte offset when there is one), and the cause.
///
/// A struct rather than an enum so that new codes can be added without breaking callers.
public struct EventLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. Compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// The file does not start with a segment header.
        public static let notASegment = Code(name: "not-a-segment")
        /// The segment header is cut short or fails its checksum.
        public static let badHeader = Code(name: "bad-header")
        /// The file was written by a newer servha with a format this one cannot read.
        public static let newerFormat = Code(name: "newer-format")
        /// A batch in the middle of the log (or anywhere in a sealed segment) fails its checks.
        public static let corruption = Code(name: "corruption")
        /// The last batch of the active segment was cut short by a crash; it can be cut away.
        public static let tornTail = Code(name: "torn-tail")
        /// Sequence numbers or the digest chain do not continue from one batch or segment to the next.
        public static let discontinuity = Code(name: "discontinuity")
        /// A system call failed (open, read, write, rename).
        public static let io = Code(name: "io")
        /// fsync or fdatasync failed: the writer has stopped, since the kernel may have dropped dirty pages.
        public static let syncFailed = Code(name: "sync-failed")
        /// The writer stopped earlier (after a failed write or sync, or after close) and accepts no more records.
        public static let writerStopped = Code(name: "writer-stopped")
        /// A caller passed something unusable (an empty node name, a payload that is too large).
        public static let invalidArgument = Code(name: "invalid-argument")
        /// Another writer holds the log directory.
        public static let locked = Code(name: "locked")
    }

    public var code: Code
    public var message: String
    /// The file the error is about, when there is one.
    public var path: String?
    /// The byte offset in `path` where the problem starts, when known.
    public var offset: Int64?
    /// The errno of a failed system call, when there is one.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
    }

    /// One line: `path: offset N: message`.
    public var description: String {
        var where_ = ""
        if let path { where_ += "\(path): " }
        if let offset { where_ += "offset \(offset): " }
        return where_ + message
    }
}

extension EventLogError {
    /// `error` itself when it is an `EventLogError`, otherwise wrapped as an I/O error about `path`.
    public static func wrap(_ error: any Error, path: String? = nil) -> EventLogError {
        if let error = error as? EventLogError { return error }
        return EventLogError(.io, "\(error)", path: path)
    }
}
