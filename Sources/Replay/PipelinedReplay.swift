import Coordinator
import EventLog
import Foundation
import Synchronization

extension ReplayVerifier {
    /// Reads, decodes and verifies a log directory in a pipeline: a thread of its own reads and decodes the
    /// segments while the calling thread re-runs the inputs, so the two halves (about equal in cost) overlap on
    /// two cores. Returns the log as read (for reports) and the verification.
    public static func verify(directory: String) throws -> (log: RecordedLog, report: Report) {
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
                var chunk = DecodedChunk()
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
                    if chunk.events.count >= 8_192 {
                        feed.push(chunk)
                        chunk = DecodedChunk()
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

        var events: [Event] = []
        var sequences: [UInt64] = []
        var walls: [Int64] = []
        events.reserveCapacity(1 << 16)
        /// Makes at least `count` events available, unless the log is shorter. Returns false at the end.
        func ensure(_ count: Int) -> Bool {
            while events.count < count {
                guard let chunk = feed.next() else { return false }
                events += chunk.events
                sequences += chunk.sequences
                walls += chunk.walls
            }
            return true
        }

        var report = Report()
        var core = Coordinator(node: identity.node)
        var index = 0
        func log() -> RecordedLog {
            RecordedLog(directory: directory, identity: identity, events: events, sequences: sequences, walls: walls)
        }
        while ensure(index + 1) {
            guard let stamped = events[index].stampedInput else {
                report.divergence = Divergence(
                    index: index,
                    sequence: sequences[index],
                    wall: walls[index],
                    recorded: events[index],
                    replayed: nil,
                    stateBefore: core.state
                )
                return (log(), report)
            }
            let inputIndex = index
            let produced = core.handle(stamped).events
            _ = ensure(index + produced.count)
            for (offset, event) in produced.enumerated() {
                let at = index + offset
                let recorded = at < events.count ? events[at] : nil
                if recorded != event {
                    report.divergence = Divergence(
                        index: at,
                        sequence: at < sequences.count ? sequences[at] : nil,
                        wall: at < walls.count ? walls[at] : nil,
                        recorded: recorded,
                        replayed: event,
                        stateBefore: ReplayVerifier.state(before: inputIndex, of: events, node: identity.node)
                    )
                    while feed.next() != nil {}
                    return (log(), report)
                }
                switch event {
                case .input, .rejected: report.inputs += 1
                case .decision: report.decisions += 1
                case .stateDigest: report.digests += 1
                default: break
                }
            }
            index += produced.count
            report.events = index
        }
        if let error = feed.error { throw error }
        return (log(), report)
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
