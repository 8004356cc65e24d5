import Coordinator
import EventRecords
import EventLog
import Foundation
import Synchronization

extension ReplayVerifier {
    /// Reads, decodes and verifies a log directory in a pipeline: a thread of its own reads and decodes the
    /// segments while the calling thread re-runs the inputs, so the two halves (about equal in cost) overlap on
    /// two cores. Returns the log's identity and the verification.
    public static func verify(directory: String) throws -> (identity: LogIdentity, report: Report) {
        // The node comes from the first segment's header, read before the pipeline starts.
        let identity: LogIdentity
        do {
            guard let first = try LogDirectory(directory).segments.first else {
                throw ReplayError("\(directory): no log segments here")
            }
            let head = Array(
                (FileManager.default.contents(atPath: first.path) ?? Data()).prefix(SegmentHeaderLimit.bytes)
            )
            identity = try head.withUnsafeBytes { try SegmentHeader.parse($0, path: first.path) }.0.identity
        } catch let error as ReplayError {
            throw error
        } catch {
            throw ReplayError("\(EventLogError.wrap(error, path: directory))")
        }
        let feed = DecodedFeed()
        Thread {
            do {
                var chunk = DecodedChunk.empty()
                let summary = try LogReader(directory: directory).forEachRecord { view in
                    do {
                        chunk.events.append(try EventCodec.decode(view))
                    } catch {
                        throw ReplayError("\(directory): record \(view.sequence): \(error)")
                    }
                    chunk.sequences.append(view.sequence)
                    chunk.walls.append(view.wallNanos)
                    // Small chunks keep both threads busy (measured: 32k-event chunks left them waiting on each
                    // other, 1.03 s for a million events; 8k-event chunks, 0.85-0.98 s).
                    if chunk.events.count >= DecodedChunk.capacity {
                        feed.push(chunk)
                        chunk = DecodedChunk.empty()
                    }
                    return true
                }
                feed.push(chunk)
                if let torn = summary.tornTail {
                    feed.finish(
                        identity: summary.identity,
                        error: ReplayError(
                            "\(torn.path): offset \(torn.offset): torn tail; run `servha log recover` on a copy first"
                        )
                    )
                } else if summary.identity == nil {
                    feed.finish(identity: nil, error: ReplayError("\(directory): no log segments here"))
                } else {
                    feed.finish(identity: summary.identity, error: nil)
                }
            } catch let error as ReplayError {
                feed.finish(identity: nil, error: error)
            } catch {
                feed.finish(identity: nil, error: ReplayError("\(EventLogError.wrap(error, path: directory))"))
            }
        }.start()

        // The decoded chunks are kept as they arrive (handing a chunk over moves three array references; copying
        // its events into one flat array cost a tenth of the replay), read through a cursor that only moves
        // forward, and let go once it has passed them (holding the whole log cost a tenth of the replay in page
        // faults, and memory in proportion to the log). A divergence reads the log again to report its context.
        var chunks: [DecodedChunk] = []
        var starts: [Int] = []
        var available = 0
        var current = 0
        /// Makes at least `count` events available, unless the log is shorter. Returns false at the end.
        func ensure(_ count: Int) -> Bool {
            while available < count {
                guard let chunk = feed.next() else { return false }
                if chunk.events.isEmpty { continue }
                starts.append(available)
                available += chunk.events.count
                chunks.append(chunk)
            }
            return true
        }
        /// The chunk and offset of event `index` (at or after the last one asked for).
        func locate(_ index: Int) -> (Int, Int) {
            while index >= starts[current] + chunks[current].events.count { current += 1 }
            return (current, index - starts[current])
        }
        /// Lets go of the chunks the cursor has passed.
        func release() {
            guard current > 0 else { return }
            chunks.removeFirst(current)
            starts.removeFirst(current)
            current = 0
        }
        func divergence(at index: Int, recorded: Event?, replayed: Event?, inputIndex: Int) -> Divergence {
            let all: (events: [Event], sequences: [UInt64], walls: [Int64]) =
                (try? RecordedLog.load(directory)).map { ($0.events, $0.sequences, $0.walls) } ?? ([], [], [])
            return Divergence(
                index: index,
                sequence: index < all.sequences.count ? all.sequences[index] : nil,
                wall: index < all.walls.count ? all.walls[index] : nil,
                recorded: recorded,
                replayed: replayed,
                stateBefore: ReplayVerifier.state(before: inputIndex, of: all.events, node: identity.node)
            )
        }

        var report = Report()
        var core = Coordinator(node: identity.node)
        var index = 0
        // A log whose oldest segments retention removed starts mid-history: replay starts at its first snapshot
        // (the state it holds is what the removed history folded to), and checks everything after it.
        if ensure(1), chunks[0].sequences.first.map({ $0 > 1 }) == true {
            while ensure(index + 1) {
                let (c, o) = locate(index)
                if case .snapshot(let bytes) = chunks[c].events[o] {
                    do {
                        core = Coordinator(resuming: try StateSnapshot.decode(bytes))
                    } catch {
                        throw ReplayError("\(directory): the snapshot at sequence \(chunks[c].sequences[o]) cannot be read: \(error)")
                    }
                    report.resumedAt = chunks[c].sequences[o]
                    index += 1
                    break
                }
                index += 1
            }
            guard report.resumedAt != nil else {
                throw ReplayError(
                    "\(directory): the log starts at sequence \(chunks[0].sequences[0]) (older segments were removed) and holds no state snapshot to start from"
                )
            }
            report.skipped = index - 1
        }
        while ensure(index + 1) {
            let (c, o) = locate(index)
            if c > 0 {
                release()
                continue
            }
            if case .snapshot(let bytes) = chunks[c].events[o] {
                // Written by the shell, not derived by the core: it must be the state replay has rebuilt.
                guard core.state.canonicalEncoding() == bytes else {
                    report.divergence = divergence(
                        at: index,
                        recorded: chunks[c].events[o],
                        replayed: .snapshot(core.state.canonicalEncoding()),
                        inputIndex: index
                    )
                    while feed.next() != nil {}
                    return (identity, report)
                }
                report.snapshots += 1
                index += 1
                report.events = index
                continue
            }
            guard let stamped = chunks[c].events[o].stampedInput else {
                report.divergence = divergence(
                    at: index,
                    recorded: chunks[c].events[o],
                    replayed: nil,
                    inputIndex: index
                )
                while feed.next() != nil {}
                return (identity, report)
            }
            let inputIndex = index
            let produced = core.handle(stamped).events
            _ = ensure(index + produced.count)
            for offset in produced.indices {
                let at = index + offset
                // Compared where they lie: copying each recorded event out (into an optional) cost a tenth of the
                // re-run.
                var same = false
                if at < available {
                    let (rc, ro) = locate(at)
                    same = chunks[rc].events[ro] == produced[offset]
                }
                if !same {
                    let recorded = at < available ? { let (rc, ro) = locate(at); return chunks[rc].events[ro] }() : nil
                    report.divergence = divergence(
                        at: at, recorded: recorded, replayed: produced[offset], inputIndex: inputIndex
                    )
                    while feed.next() != nil {}
                    return (identity, report)
                }
                report.count(produced[offset])
            }
            index += produced.count
            report.events = index
        }
        if let error = feed.error { throw error }
        return (identity, report)
    }
}

/// How much of a segment's start to read for its header.
enum SegmentHeaderLimit {
    static let bytes = 4096
}

/// Decoded events handed from the reading thread to the replaying one.
struct DecodedChunk: Sendable {
    var events: [Event] = []
    var sequences: [UInt64] = []
    var walls: [Int64] = []

    static let capacity = 8_192

    /// An empty chunk with room for a whole one: grown by appending, its events (over a hundred bytes each) were
    /// copied a dozen times over.
    static func empty() -> DecodedChunk {
        var chunk = DecodedChunk()
        chunk.events.reserveCapacity(capacity)
        chunk.sequences.reserveCapacity(capacity)
        chunk.walls.reserveCapacity(capacity)
        return chunk
    }
}

/// A bounded hand-over of decoded chunks between two threads (at most sixteen in flight).
final class DecodedFeed: Sendable {
    private struct Shared: Sendable {
        var chunks: [DecodedChunk] = []
        var done = false
        var identity: LogIdentity?
        var error: ReplayError?
    }

    private let shared = Mutex(Shared())
    private let available = DispatchSemaphore(value: 0)
    private let room = DispatchSemaphore(value: 16)

    func push(_ chunk: DecodedChunk) {
        room.wait()
        shared.withLock { $0.chunks.append(chunk) }
        available.signal()
    }

    func finish(identity: LogIdentity?, error: ReplayError?) {
        shared.withLock {
            $0.done = true
            if $0.identity == nil { $0.identity = identity }
            $0.error = error
        }
        available.signal()
    }

    /// The next chunk, waiting for it; nil once the reader has finished and everything was taken.
    func next() -> DecodedChunk? {
        while true {
            available.wait()
            let (chunk, done) = shared.withLock { s -> (DecodedChunk?, Bool) in
                if !s.chunks.isEmpty { return (s.chunks.removeFirst(), false) }
                return (nil, s.done)
            }
            if let chunk {
                room.signal()
                return chunk
            }
            if done {
                available.signal()  // keep later calls from blocking
                return nil
            }
        }
    }

    var identity: LogIdentity? { shared.withLock { $0.identity } }
    var error: ReplayError? { shared.withLock { $0.error } }
}
