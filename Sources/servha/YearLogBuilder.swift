import Coordinator
import Crypto
import EventLog
import EventRecords
import Foundation
import Glibc
import Runtime
import Synchronization

/// Writes the log directory node-a of a healthy pair would have after a year (`YearLogHistory`), with retention
/// applied as it is written, in bounded memory: each input is handled by one core (`Coordinator.handle`, as
/// `servha replay verify` re-runs a log) and its events are written at once, nothing is kept.
///
/// Only the last `writtenPeriods` repetitions are written: the ones before are past what retention keeps (checked
/// by the caller: retention must have removed written segments too). Of those, the first three are handled (to
/// check that the state moves on steadily from one repetition to the next) and the rest are skipped: the state is
/// extrapolated over them (`State.extrapolated`), and the sequence numbers count their events exactly (each
/// repetition derives the same events), but for the snapshots the daemon writes after each sealed segment, which
/// are written only where segments are. The first segment written continues a stand-in digest, in place of the
/// chain of the batches that were not written (retention removes it, as everything before it).
struct YearLogBuilder {
    var history: YearLogHistory
    var directory: String
    var yearNanos: UInt64
    var retention: LogRetentionSettings
    var segmentBytes: Int
    /// The daemon's batches: routine events go to the file this long after the first of them was buffered.
    static let batchNanos = Daemon.writerOptions.maxBufferDelayNanos
    /// The daemon's snapshot interval (it also writes one after each sealed segment).
    static let snapshotNanos: UInt64 = 600_000_000_000

    struct Outcome {
        var periods: UInt64 = 0
        var skippedPeriods: UInt64 = 0
        var writtenPeriods: UInt64 = 0
        /// Events of the year (its last sequence number), and those written.
        var events: UInt64 = 0
        var writtenEvents: UInt64 = 0
        var firstWrittenSequence: UInt64 = 1
        var snapshotSequences: [UInt64] = []
        var removedSegments = 0
        var removedBytes: UInt64 = 0
        /// Bytes the writer wrote (frames), for the log's size a day.
        var writtenBytes: UInt64 = 0
        /// The state after the year's last event, and the log time the year covers.
        var state: State?
        var logNanos: UInt64 = 0
        var batches: UInt64 = 0
        /// After the year, the history went on until the newest segment was nearly full: for how long, and the
        /// state and last sequence then.
        var filledNanos: UInt64 = 0
        var filledState: State?
        var filledEvents: UInt64 = 0
    }

    /// Writes the year. `writtenPeriods`: how many of the last repetitions are written (all of them when nil).
    /// `atYearEnd`: called with the state once the year is written and on disk (the writer still open); when
    /// given, the history then goes on until the newest segment is nearly full, the most start-up reads.
    /// `progress`: called now and then with the share done.
    func build(
        writtenPeriods: UInt64?,
        atYearEnd: ((State) throws -> Void)? = nil,
        progress: (Double) -> Void
    ) throws -> Outcome {
        let h = history
        let origin = h.prologue.first?.at ?? 0
        let periodStart = h.period[0].at
        let total = (yearNanos > periodStart - origin ? yearNanos - (periodStart - origin) : 0) / h.periodNanos
        guard total >= 4 else { throw fail("the year is too short for the method (4 repetitions at least)") }
        let firstWritten = total - min(total, writtenPeriods ?? total)
        var out = Outcome(periods: total)
        var core = Coordinator(node: h.node)
        var sequence: UInt64 = 0  // the last sequence the history has reached, written or not
        var derived: UInt64 = 0  // of those, the events the core derived (all but the snapshots)
        var snapshotsDue: UInt64 = 1  // the next timed snapshot is due at origin + snapshotsDue * 10 min
        var log: YearLogSink?
        var checked: [State] = []
        var perPeriod: [UInt64] = []
        var periodBytes: UInt64 = 0  // what the last repetition added to the log (the writing runs a little behind)

        /// One input: handled, its events written (or only counted), then a snapshot if one is due (10 minutes of log
        /// time, or a segment sealed). Returns whether it wrote a snapshot.
        func run(_ stamped: StampedInput) throws -> Bool {
            let events = core.handle(stamped).events
            for event in events where event.isRejected {
                throw fail("the repeated history had an input refused at \(stamped.at): \(event)")
            }
            sequence += UInt64(events.count)
            derived += UInt64(events.count)
            try log?.append(events, at: stamped)
            let timed = stamped.at >= origin + snapshotsDue * Self.snapshotNanos
            if timed { snapshotsDue = (stamped.at - origin) / Self.snapshotNanos + 1 }
            guard timed || log?.segmentSealed == true else { return false }
            sequence += 1
            try log?.snapshot(core.state, sequence: sequence)
            return log != nil
        }

        if firstWritten == 0 {
            log = try YearLogSink(
                directory: directory,
                history: h,
                firstSequence: 1,
                segmentBytes: segmentBytes,
                retention: retention
            )
        }
        for index in h.prologue.indices { _ = try run(h.prologueInput(index)) }
        var k: UInt64 = 0
        while k < total {
            if k == 3 && firstWritten > 3 {
                // Skip to the written part: three handled repetitions show the state moving on steadily.
                let predicted = checked[1].extrapolated(from: checked[0], by: 1)
                guard checked[2] == predicted, perPeriod[1] == perPeriod[2] else {
                    let differing = zip(Mirror(reflecting: checked[2]).children, Mirror(reflecting: predicted).children)
                        .filter { "\($0.value)" != "\($1.value)" }.compactMap(\.0.label)
                    throw fail(
                        "the repeated period does not move the state on steadily, so it cannot be skipped (\(perPeriod) events a period; state properties not as extrapolated: \(differing.joined(separator: ", ")))"
                    )
                }
                let m = firstWritten - 3
                core = Coordinator(resuming: checked[2].extrapolated(from: checked[1], by: m))
                let lastSkipped = h.input(h.period.count - 1, repetition: firstWritten - 1).at
                let due = (lastSkipped - origin) / Self.snapshotNanos + 1
                sequence += m * perPeriod[2] + (due - snapshotsDue)
                snapshotsDue = due
                out.skippedPeriods = m
                k = firstWritten
            }
            if k == firstWritten && log == nil {
                log = try YearLogSink(
                    directory: directory,
                    history: h,
                    firstSequence: sequence + 1,
                    segmentBytes: segmentBytes,
                    retention: retention
                )
                out.firstWrittenSequence = sequence + 1
            }
            let before = derived
            let bytesBefore = log?.writer.counters.bytesWritten ?? 0
            for index in h.period.indices { _ = try run(h.input(index, repetition: k)) }
            periodBytes = (log?.writer.counters.bytesWritten ?? 0) - bytesBefore
            if k < 3 { checked.append(core.state) }
            perPeriod.append(derived - before)
            // Every repetition after the first derives the same events (what counting the skipped ones relies on).
            if k > 1 && perPeriod[perPeriod.count - 1] != perPeriod[1] {
                throw fail("repetition \(k) derived \(perPeriod.last!) events, the second \(perPeriod[1])")
            }
            k += 1
            if k % 24 == 0 { progress(Double(k - out.skippedPeriods) / Double(total - out.skippedPeriods)) }
        }
        out.events = sequence
        out.writtenPeriods = total - firstWritten
        out.state = core.state
        out.logNanos = core.state.now - origin
        guard let log else { return out }
        if let atYearEnd {
            try log.sync()
            try atYearEnd(core.state)
            // On until the newest segment is as full as it gets before it is sealed, and then to just before the
            // next timed snapshot: the most start-up ever reads (the whole segment) and folds (10 minutes).
            let yearEnd = core.state.now
            // What the log grows by between two timed snapshots, and a quarter more.
            let step = periodBytes * (Self.snapshotNanos / 1_000_000) / (h.periodNanos / 1_000_000) * 5 / 4
            var full = false
            filling: while true {
                for index in h.period.indices {
                    let stamped = h.input(index, repetition: k)
                    if full && stamped.at >= origin + snapshotsDue * Self.snapshotNanos { break filling }
                    guard try run(stamped), !full else { continue }
                    try log.sync()
                    // Full when two more snapshot intervals could seal it, but one cannot (that one is left to run).
                    let open = log.openSegmentBytes
                    full = open + 2 * step >= UInt64(segmentBytes) && open + step < UInt64(segmentBytes)
                }
                k += 1
            }
            try log.sync()
            out.filledNanos = core.state.now - yearEnd
            out.filledState = core.state
            out.filledEvents = sequence
        }
        try log.close()
        out.writtenEvents = log.records
        out.snapshotSequences = log.snapshotSequences
        out.writtenBytes = log.writer.counters.bytesWritten
        out.removedSegments = log.removedSegments
        out.removedBytes = log.removedBytes
        out.batches = log.batches
        return out
    }
}

extension Event {
    var isRejected: Bool { if case .rejected = self { true } else { false } }
}

/// The writing end of `YearLogBuilder`: the daemon's writer, batches cut as the daemon's are, snapshots, and
/// retention (`LogRetention`, the daemon's rules and code) after each snapshot, at the log's own time.
///
/// The core hands batches over a few at a time (`groupSize`: each hand-over wakes a thread); a thread of the
/// sink's own appends each and waits until the writer has written it (a durable append, which is what ends a
/// batch there), so that folding the next batches overlaps with compressing these. At most `queueDepth` groups
/// wait: memory stays bounded.
final class YearLogSink: @unchecked Sendable {
    struct Batch {
        var drafts: [RecordDraft]
        /// The batch ends with a snapshot: its sequence as the history counted it, and the log's wall time.
        var snapshot: (sequence: UInt64, wall: Int64)?
    }

    let directory: String
    let node: NodeID
    let writer: EventLogWriter
    let retention: LogRetentionSettings
    static let groupSize = 16
    static let queueDepth = 4

    // The core's side.
    private var pending: [RecordDraft] = []
    private var batchStart: Instant?
    private var group: [Batch] = []

    /// A segment was sealed since the last snapshot: the daemon writes one after each (`NodeShell`).
    private(set) var segmentSealed = false
    private var sealedSeen = 0

    // Between the two: batches, a barrier (signalled once everything before it is written), or the end.
    private enum Item {
        case batches([Batch])
        case barrier(DispatchSemaphore)
    }
    private let queue = Mutex<[Item?]>([])
    private let queued = DispatchSemaphore(value: 0)
    private let room = DispatchSemaphore(value: YearLogSink.queueDepth)
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<(any Error)?>(nil)

    // The writing thread's (read once it has finished).
    private(set) var records: UInt64 = 0
    private(set) var batches: UInt64 = 0
    private(set) var snapshotSequences: [UInt64] = []
    private(set) var removedSegments = 0
    private(set) var removedBytes: UInt64 = 0
    /// Segments the writer sealed (it says so on its flusher thread), and how many of them have their time set.
    final class Sealed: Sendable { let paths = Mutex<[String]>([]) }
    let sealed = Sealed()
    private var stamped = 0

    /// The digest the first segment written continues, instead of the chain of the batches never written.
    static let standInDigest = ChainDigest(
        bytes: Array(
            SHA256.hash(data: Array("servha bench startup: the history before this segment was not written".utf8))
        )
    )

    init(
        directory: String,
        history: YearLogHistory,
        firstSequence: UInt64,
        segmentBytes: Int,
        retention: LogRetentionSettings
    ) throws {
        self.directory = directory
        self.retention = retention
        node = history.node
        let identity = LogIdentity(
            cluster: history.config.cluster,
            nodeName: history.config.node(history.node)?.name ?? "node-a",
            node: history.node,
            servhaVersion: Daemon.version,
            configHash: history.config.hash
        )
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if firstSequence > 1 {
            // The writer's first segment, begun as the writer begins one (its header alone), but at the sequence the
            // history has reached and continuing a stand-in for the chain of the batches that were not written. The
            // writer continues in it as in any open segment.
            let header = SegmentHeader(
                identity: identity,
                firstSequence: firstSequence,
                createdWallNanos: wallNow(),
                previousDigest: Self.standInDigest
            )
            let path = directory + "/" + SegmentName.open(firstSequence)
            guard FileManager.default.createFile(atPath: path, contents: Data(header.encoded())) else {
                throw fail("cannot write \(path)")
            }
        }
        var options = Daemon.writerOptions
        options.segmentBytes = segmentBytes
        // Only how a blocked append waits (it would spin 200 µs, taking a CPU from the core and the flusher).
        options.durableSpinNanos = 0
        let sealed = self.sealed
        writer = try EventLogWriter(
            directory: directory,
            identity: identity,
            options: options,
            onSegmentSealed: { path in sealed.paths.withLock { $0.append(path) } }
        )
        Thread { [self] in
            drain()
            finished.signal()
        }.start()
    }

    /// The events one input derived, all stamped with its time (as `EventCodec.drafts` stamps them).
    func append(_ events: [Event], at stamped: StampedInput) throws {
        guard !events.isEmpty else { return }
        if let start = batchStart, stamped.at >= start + YearLogBuilder.batchNanos { try cut() }
        if batchStart == nil { batchStart = stamped.at }
        for event in events {
            pending.append(EventCodec.draft(event, node: node, monotonicNanos: stamped.at, wallNanos: stamped.wall))
        }
    }

    /// The state as the daemon appends it (after every event the core derived, then flushed); retention runs once
    /// it is written, as the daemon's `LogKeeper` runs once a snapshot is durable.
    func snapshot(_ state: State, sequence: UInt64) throws {
        segmentSealed = false
        pending.append(
            EventCodec.draft(
                .snapshot(StateSnapshot.encode(state)),
                node: node,
                monotonicNanos: state.now,
                wallNanos: state.wall
            )
        )
        try cut(snapshot: (sequence, state.wall))
    }

    /// Ends the batch being gathered; hands the group over when it is complete, or ends with a snapshot (so that
    /// retention is not held back).
    private func cut(snapshot: (sequence: UInt64, wall: Int64)? = nil) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        guard !pending.isEmpty else { return }
        group.append(Batch(drafts: pending, snapshot: snapshot))
        pending.removeAll(keepingCapacity: true)
        batchStart = nil
        if group.count >= Self.groupSize || snapshot != nil { handOver(.batches(group)) }
    }

    private func handOver(_ item: Item) {
        if case .batches = item { group.removeAll() }
        room.wait()
        queue.withLock { $0.append(item) }
        queued.signal()
        // The writing thread runs a few groups behind: the snapshot after a seal comes that much later than the
        // daemon's (seconds of log time at most).
        let count = sealed.paths.withLock { $0.count }
        if count > sealedSeen {
            sealedSeen = count
            segmentSealed = true
        }
    }

    /// Returns once everything handed over so far is written (and the writer's segment is on disk to that point).
    func sync() throws {
        try cut()
        if !group.isEmpty { handOver(.batches(group)) }
        let done = DispatchSemaphore(value: 0)
        handOver(.barrier(done))
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// The size of the open segment (after `sync`, all that was handed over).
    var openSegmentBytes: UInt64 {
        let open = (try? LogRetention.inventory(directory))?.last { !$0.sealed }
        return open?.bytes ?? 0
    }

    /// Writes what is left, stops the writing thread and closes the writer.
    func close() throws {
        try cut()
        if !group.isEmpty { handOver(.batches(group)) }
        queue.withLock { $0.append(nil) }
        queued.signal()
        finished.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        try writer.close()
    }

    private func drain() {
        while true {
            queued.wait()
            guard let item = queue.withLock({ $0.removeFirst() }) else { return }
            room.signal()
            switch item {
            case .barrier(let done):
                done.signal()
            case .batches(let batches):
                guard failure.withLock({ $0 }) == nil else { continue }
                do {
                    for batch in batches { try write(batch) }
                } catch {
                    failure.withLock { $0 = error }
                }
            }
        }
    }

    private func write(_ batch: Batch) throws {
        for draft in batch.drafts.dropLast() { try writer.append(draft) }
        try writer.appendDurableBlocking(batch.drafts[batch.drafts.count - 1])
        records += UInt64(batch.drafts.count)
        batches += 1
        // A segment sealed within this batch: its modification time is when it was sealed, in the log's time (what
        // `max_age` goes by).
        let wall = batch.drafts[batch.drafts.count - 1].wallNanos
        let sealedCount = sealed.paths.withLock { $0.count }
        while stamped < sealedCount {
            let path = sealed.paths.withLock { $0[stamped] }
            var times = [timespec](
                repeating: timespec(tv_sec: Int(wall / 1_000_000_000), tv_nsec: Int(wall % 1_000_000_000)),
                count: 2
            )
            utimensat(AT_FDCWD, path, &times, 0)
            stamped += 1
        }
        guard let (sequence, now) = batch.snapshot else { return }
        guard writer.nextSequence - 1 == sequence else {
            throw fail("the snapshot got sequence \(writer.nextSequence - 1), the history counted \(sequence)")
        }
        snapshotSequences.append(sequence)
        var info = statvfs()
        let fileSystem = statvfs(directory, &info) == 0 ? UInt64(info.f_blocks) * UInt64(info.f_frsize) : 0
        let plan = LogRetention.plan(
            try LogRetention.inventory(directory),
            newestSnapshot: sequence,
            settings: retention,
            fileSystemBytes: fileSystem,
            now: now
        )
        removedBytes += plan.removals.reduce(0) { $0 + $1.segment.bytes }
        removedSegments += try LogRetention.apply(plan, sharedCopy: nil).count
    }
}
