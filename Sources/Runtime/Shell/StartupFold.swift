import Coordinator
import EventLog
import EventRecords

/// Rebuilds the core's state from a node's log at start-up, from the newest state snapshot on: the segments
/// before the one holding it are not read, and no event is kept once folded, so start-up costs what the newest
/// segment costs, whatever the history behind it. (That each snapshot is the state its history folds to is what
/// `servha replay verify` checks.)
public enum StartupFold {
    public struct Result: Sendable {
        public var core: Coordinator
        /// Events folded after the snapshot (all of them when there was none).
        public var folded = 0
        /// The sequence of the snapshot the fold started from (nil: from the beginning).
        public var snapshot: UInt64?
        public var segmentsRead = 0
    }

    public static func rebuild(directory: String, node: NodeID) throws -> Result {
        let reader = try LogReader(directory: directory)
        let segments = reader.directory.segments
        let snapshotType = EventCodec.RecordType.snapshot.rawValue
        // Newest segment first: the last snapshot in the newest segment that has one.
        var start: (segment: Int, sequence: UInt64)?
        for index in segments.indices.reversed() {
            var last: UInt64?
            try reader.forEachRecord(depth: .checksums, segments: index..<index + 1) { view in
                if view.type == snapshotType { last = view.sequence }
                return true
            }
            if let last {
                start = (index, last)
                break
            }
        }
        if start == nil, let first = segments.first, first.firstSequence > 1 {
            // Retention removed the oldest segments: only a snapshot can stand in for them.
            throw CodecError(
                "the log starts at sequence \(first.firstSequence) (older segments were removed) and holds no state snapshot to start from"
            )
        }
        var result = Result(core: Coordinator(node: node), snapshot: start?.sequence)
        var resumed = start == nil
        let range = (start?.segment ?? 0)..<segments.count
        result.segmentsRead = range.count
        try reader.forEachRecord(segments: range) { view in
            if !resumed {
                guard view.sequence == start?.sequence else { return true }
                guard case .snapshot(let bytes) = try EventCodec.decode(view) else { return true }
                result.core = Coordinator(resuming: try StateSnapshot.decode(bytes))
                guard result.core.state.me == node else {
                    throw CodecError("the snapshot at sequence \(view.sequence) is of node \(result.core.state.me), not \(node)")
                }
                resumed = true
                return true
            }
            result.core.fold(try EventCodec.decode(view))
            result.folded += 1
            return true
        }
        return result
    }
}
