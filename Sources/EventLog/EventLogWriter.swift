import Foundation
import Glibc
import Synchronization

/// The single writer of a log directory.
///
/// Producers call `append` (returns once the record is buffered) or `appendDurable` (returns once it is on
/// disk). A flusher thread group-commits: it takes every record buffered so far, frames it into batches, writes
/// them with one `pwrite`, and runs one `fdatasync` for all the producers waiting on durability. A failed write
/// or sync stops the writer for good: every waiter and every later append gets the error.
public final class EventLogWriter: Sendable {
    public let directory: String
    public let identity: LogIdentity
    public let options: WriterOptions
    /// What opening the log had to repair.
    public let recovery: RecoveryReport

    private let state: Mutex<WriterState>
    private let active: Mutex<ActiveSegment?>
    private let wakeup = Wakeup()
    private let exited = Wakeup()
    private let gate = DurabilityGate()
    /// The number of durability waiters, readable without the state lock while the flusher lingers.
    private let waitingCount = Atomic<Int>(0)
    private let lockFile: SystemFile
    private let onSegmentSealed: (@Sendable (String) -> Void)?
    private let onBatchesWritten: (@Sendable () -> Void)?

    /// Opens (creating when allowed) the log in `directory`, cuts away a torn last batch, and starts the
    /// flusher thread.
    ///
    /// - Parameters:
    ///   - onSegmentSealed: called on the flusher thread with each sealed segment's path (the mirror uses it).
    ///   - onBatchesWritten: called on the flusher thread after each round of writes.
    public init(
        directory: String,
        identity: LogIdentity,
        options: WriterOptions = WriterOptions(),
        onSegmentSealed: (@Sendable (String) -> Void)? = nil,
        onBatchesWritten: (@Sendable () -> Void)? = nil
    ) throws {
        guard !identity.nodeName.isEmpty, !identity.cluster.isEmpty else {
            throw EventLogError(.invalidArgument, "a log needs a cluster and a node name", path: directory)
        }
        if !SystemDirectory.exists(directory) {
            if SystemDirectory.fileExists(directory) {
                throw EventLogError(.invalidArgument, "not a directory", path: directory)
            }
            guard options.createDirectory else {
                throw EventLogError(.io, "log directory does not exist", path: directory)
            }
            try SystemDirectory.create(directory)
        }
        self.directory = directory
        self.identity = identity
        self.options = options
        self.onSegmentSealed = onSegmentSealed
        self.onBatchesWritten = onBatchesWritten
        lockFile = try SystemFile.open(directory + "/LOCK", flags: O_RDWR | O_CREAT)
        try lockFile.lockExclusive()

        var report = RecoveryReport()
        let segment = try Self.recover(
            directory: directory,
            identity: identity,
            directIO: options.directIO,
            report: &report
        )
        recovery = report
        active = Mutex(segment)
        state = Mutex(WriterState(nextSequence: report.nextSequence))
        let thread = Thread { [self] in self.runFlusher() }
        thread.start()
    }

    // MARK: - Producers

    /// Appends a record and returns its sequence number once it is buffered. It reaches the file within
    /// `maxBufferDelayNanos` and the disk within `syncIntervalNanos` after that (or at the next durable append).
    @discardableResult
    public func append(_ draft: RecordDraft) throws -> UInt64 {
        try draft.payload.withUnsafeBytes { (payload) in
            try append(
                monotonicNanos: draft.monotonicNanos,
                wallNanos: draft.wallNanos,
                node: draft.node,
                type: draft.type,
                payload: payload
            )
        }
    }

    /// `append` without an intermediate array, for callers that encode into a reusable buffer.
    @discardableResult
    public func append(
        monotonicNanos: UInt64,
        wallNanos: Int64,
        node: UInt16,
        type: UInt16,
        payload: UnsafeRawBufferPointer
    ) throws -> UInt64 {
        let (sequence, wake) = try state.withLock { (s) in
            try s.append(
                monotonicNanos: monotonicNanos,
                wallNanos: wallNanos,
                node: node,
                type: type,
                payload: payload,
                batchBytes: options.batchBytes
            )
        }
        if wake { wakeup.signal() }
        return sequence
    }

    /// Appends a record and returns its sequence number once it is on disk (written and fdatasync'ed).
    @discardableResult
    public func appendDurable(_ draft: RecordDraft) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UInt64, Error>) in
            do {
                let (_, wake) = try appendWaiting(draft, continuation: continuation)
                if wake { wakeup.signal() }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// `appendDurable` for callers on their own threads: blocks the calling thread (never call it from an async
    /// task) until the record is on disk.
    @discardableResult
    public func appendDurableBlocking(_ draft: RecordDraft) throws -> UInt64 {
        let (sequence, wake) = try appendWaiting(draft, continuation: nil)
        if wake { wakeup.signal() }
        try gate.wait(for: sequence, spinNanos: options.durableSpinNanos)
        return sequence
    }

    /// Appends `draft` and registers its producer as waiting for durability. Returns the sequence and whether
    /// the flusher must be woken: while a sync lingers for its group, only the arrival completing it wakes it.
    private func appendWaiting(
        _ draft: RecordDraft,
        continuation: CheckedContinuation<UInt64, Error>?
    ) throws -> (UInt64, Bool) {
        try state.withLock { s in
            let (sequence, _) = try draft.payload.withUnsafeBytes { (payload) in
                try s.append(
                    monotonicNanos: draft.monotonicNanos,
                    wallNanos: draft.wallNanos,
                    node: draft.node,
                    type: draft.type,
                    payload: payload,
                    batchBytes: options.batchBytes
                )
            }
            s.addWaiter(DurabilityWaiter(sequence: sequence, continuation: continuation))
            waitingCount.store(s.waiters.count, ordering: .relaxed)
            return (sequence, s.wakesFlusherForDurability)
        }
    }

    /// A barrier: returns once every record appended before the call is on disk.
    public func flush() async throws {
        _ = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UInt64, Error>) in
            let result: Result<UInt64?, EventLogError> = state.withLock { s in
                if let failure = s.failure { return .failure(failure) }
                let last = s.nextSequence - 1
                if last <= s.durableThrough { return .success(last) }
                s.addWaiter(DurabilityWaiter(sequence: last, continuation: continuation))
                waitingCount.store(s.waiters.count, ordering: .relaxed)
                return .success(nil)
            }
            switch result {
            case .success(let done?): continuation.resume(returning: done)
            case .success(nil): wakeup.signal()
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// The sequence the next record will get.
    public var nextSequence: UInt64 { state.withLock { $0.nextSequence } }

    /// The last sequence known to be on disk.
    public var durableThrough: UInt64 { state.withLock { $0.durableThrough } }

    public var counters: WriterCounters { state.withLock { $0.counters } }

    /// Writes and syncs everything buffered, trims the zero fill, stops the flusher and releases the directory.
    /// The active segment stays open (it is sealed when it fills up, or by the next writer if the version or
    /// configuration changed). Throws the error that stopped the writer, if one did.
    public func close() throws {
        let alreadyClosing = state.withLock { s in
            defer { s.closing = true }
            return s.closing
        }
        if !alreadyClosing {
            wakeup.signal()
            exited.wait()
        }
        defer { lockFile.unlock() }
        if let failure = state.withLock({ $0.failure }) { throw failure }
        try active.withLock { (segment) in try segment?.trimAndSync() }
        state.withLock { s in
            if s.failure == nil {
                s.failure = EventLogError(.writerStopped, "the log writer is closed", path: directory)
            }
        }
    }

    // MARK: - Flusher

    private enum Step {
        case wait(until: UInt64?)
        /// Waiting for a group of durable appends to gather.
        case linger(until: UInt64, group: Int)
        case work([BatchBody], sync: Bool)
        case exit
    }

    private func runFlusher() {
        var scratch: [UInt8] = []
        var lastSync = monotonicNow()
        var unsynced = false
        var groupSizes = GroupSizeWindow()
        // After a sync that released a group of producers, expect them back until this instant.
        var expectGroupUntil: UInt64 = 0
        flushing: while true {
            let now = monotonicNow()
            let groupTarget = groupSizes.recentMaximum
            let step = state.withLock { s -> Step in
                s.flusherIdle = false
                if s.failure != nil { return .exit }
                if !s.closing, s.waiters.count < groupTarget, s.syncRequested || s.waiters.isEmpty {
                    // Linger for the group: from the end of the last group sync, or from the first arrival.
                    let deadline = max(expectGroupUntil, (s.firstWaiterAt ?? 0) &+ options.syncLingerNanos)
                    if now < deadline && (s.syncRequested || now < expectGroupUntil) {
                        return .linger(until: deadline, group: groupTarget)
                    }
                }
                let overdue = s.bufferedSince.map { now >= $0 &+ options.maxBufferDelayNanos } ?? false
                if !s.building.isEmpty && (s.syncRequested || s.closing || overdue || !s.pending.isEmpty) {
                    s.sealBuilding()
                }
                let syncDue = unsynced && now >= lastSync &+ options.syncIntervalNanos
                if s.pending.isEmpty {
                    if (s.syncRequested && !s.waiters.isEmpty) || syncDue || (s.closing && unsynced) {
                        s.syncRequested = false
                        return .work([], sync: true)
                    }
                    s.syncRequested = false
                    if s.closing { return .exit }
                    s.flusherIdle = true
                    var deadline = s.bufferedSince.map { $0 &+ options.maxBufferDelayNanos }
                    if unsynced { deadline = min(deadline ?? .max, lastSync &+ options.syncIntervalNanos) }
                    return .wait(until: deadline)
                }
                let bodies = s.pending
                s.pending.removeAll(keepingCapacity: true)
                let sync = s.syncRequested || syncDue || s.closing
                s.syncRequested = false
                return .work(bodies, sync: sync)
            }
            switch step {
            case .exit:
                break flushing
            case .wait(let deadline):
                wakeup.wait(until: deadline)
            case .linger(let deadline, let group):
                // The producers need the CPU to come back; yield it to them and look again, rather than sleep
                // and pay for being woken (as much again as a producer's whole turnaround).
                while waitingCount.load(ordering: .relaxed) < group && monotonicNow() < deadline {
                    sched_yield()
                }
            case .work(var bodies, let sync):
                do {
                    let t0 = monotonicNow()
                    let written = try write(&bodies, durable: sync, scratch: &scratch)
                    let t1 = monotonicNow()
                    var t2 = t1
                    if sync {
                        if !written.durable {
                            try active.withLock { (segment) in try segment?.file.syncData() }
                        }
                        t2 = monotonicNow()
                        lastSync = t2
                        unsynced = false
                    } else if !bodies.isEmpty {
                        unsynced = true
                    }
                    let ready = state.withLock { s in
                        s.counters.writeNanos += t1 - t0
                        s.counters.syncNanos += t2 - t1
                        let ready = s.completeRound(bodies: &bodies, written: written, synced: sync)
                        waitingCount.store(s.waiters.count, ordering: .relaxed)
                        return ready
                    }
                    if sync && !ready.isEmpty {
                        groupSizes.record(ready.count)
                        let target = groupSizes.recentMaximum
                        state.withLock { $0.groupTarget = target }
                        expectGroupUntil = target > 1 ? monotonicNow() &+ options.syncLingerNanos : 0
                    }
                    var blocked = false
                    for waiter in ready {
                        if let continuation = waiter.continuation {
                            continuation.resume(returning: waiter.sequence)
                        } else {
                            blocked = true
                        }
                    }
                    if blocked, let last = ready.map(\.sequence).max() { gate.publish(durableThrough: last) }
                    if !bodies.isEmpty || written.batches > 0 { onBatchesWritten?() }
                } catch {
                    let error = EventLogError.wrap(error, path: directory)
                    let waiters = state.withLock { s in
                        s.failure = error
                        defer { s.waiters.removeAll() }
                        return s.waiters
                    }
                    for waiter in waiters { waiter.continuation?.resume(throwing: error) }
                    gate.fail(error)
                    break flushing
                }
            }
        }
        exited.signal()
    }

    /// Frames and writes `bodies` in order, rotating segments as they fill up.
    private func write(_ bodies: inout [BatchBody], durable: Bool, scratch: inout [UInt8]) throws -> WrittenRound {
        var round = WrittenRound()
        guard !bodies.isEmpty else { return round }
        var sealedPaths: [String] = []
        try active.withLock { (slot) in
            guard slot != nil else { throw EventLogError(.writerStopped, "no active segment", path: directory) }
            try write(
                &bodies,
                durable: durable,
                into: &slot!,
                scratch: &scratch,
                round: &round,
                sealedPaths: &sealedPaths
            )
        }
        for path in sealedPaths { onSegmentSealed?(path) }
        return round
    }

    private func write(
        _ bodies: inout [BatchBody],
        durable: Bool,
        into segment: inout ActiveSegment,
        scratch: inout [UInt8],
        round: inout WrittenRound,
        sealedPaths: inout [String]
    ) throws {
        var frames: [UInt8] = []
        var frameBatches = 0
        var digest = segment.lastDigest
        var next = segment.nextSequence
        for body in bodies {
            let (frame, header) = BatchFrame.encode(
                body,
                previous: digest,
                compress: options.compress,
                compressionLevel: options.compressionLevel,
                scratch: &scratch
            )
            let pendingEnd = segment.writeOffset + frames.count + frame.count
            if pendingEnd > options.segmentBytes && segment.batchCount + frameBatches > 0 {
                try segment.append(
                    frames,
                    batches: frameBatches,
                    lastDigest: digest,
                    nextSequence: next,
                    preallocation: 0,
                    durable: false
                )
                frames.removeAll(keepingCapacity: true)
                frameBatches = 0
                sealedPaths.append(try segment.seal())
                segment = try ActiveSegment.create(
                    directory: directory,
                    identity: identity,
                    firstSequence: segment.nextSequence,
                    previous: digest,
                    directIO: options.directIO
                )
                round.sealed += 1
            }
            frames.append(contentsOf: frame)
            frameBatches += 1
            digest = header.chainDigest
            next = header.lastSequence + 1
            round.batches += 1
            round.bytes += frame.count
            round.uncompressed += Int(header.uncompressedLength)
            round.lastSequence = header.lastSequence
        }
        if !frames.isEmpty {
            round.durable = try segment.append(
                frames,
                batches: frameBatches,
                lastDigest: digest,
                nextSequence: next,
                preallocation: options.preallocationBytes,
                durable: durable
            )
        }
    }
}

/// What one flusher round wrote.
struct WrittenRound {
    /// The frames were written through to stable storage (no fdatasync needed).
    var durable = false
    var batches = 0
    var bytes = 0
    var uncompressed = 0
    var sealed = 0
    var lastSequence: UInt64?
}

/// How many durable appends recent syncs carried: a sync lingers briefly until about that many have joined.
struct GroupSizeWindow {
    private var sizes = [Int](repeating: 1, count: 32)
    private var next = 0
    private(set) var recentMaximum = 1

    mutating func record(_ size: Int) {
        sizes[next] = size
        next = (next + 1) % sizes.count
        recentMaximum = sizes.max() ?? 1
    }
}

/// A producer waiting for its record to be durable.
struct DurabilityWaiter: Sendable {
    var sequence: UInt64
    /// nil for a thread blocked in `appendDurableBlocking`, which waits on the writer's `DurabilityGate`.
    var continuation: CheckedContinuation<UInt64, Error>?
}

/// Everything producers and the flusher share, guarded by the writer's mutex.
struct WriterState: Sendable {
    var building = BatchBody()
    var pending: [BatchBody] = []
    var spares: [BatchBody] = []
    var nextSequence: UInt64
    var durableThrough: UInt64
    var waiters: [DurabilityWaiter] = []
    var syncRequested = false
    /// When the batch being built got its first record (monotonic ns).
    var bufferedSince: UInt64?
    /// When the oldest durability waiter started waiting (monotonic ns).
    var firstWaiterAt: UInt64?
    /// How many durability waiters recent syncs carried (the flusher's `GroupSizeWindow`).
    var groupTarget = 1
    /// The flusher is asleep with nothing to do (rather than lingering for a group of durable appends).
    var flusherIdle = false

    /// Whether a durable append just added must wake the flusher: when its group is complete, or when the
    /// flusher is idle and would otherwise not notice. While it lingers for a group, arrivals let it sleep.
    var wakesFlusherForDurability: Bool {
        waiters.count >= groupTarget || (waiters.count == 1 && flusherIdle)
    }
    var failure: EventLogError?
    var closing = false
    var counters = WriterCounters()
    /// The last sequence written to the file (durable or not).
    var writtenThrough: UInt64

    init(nextSequence: UInt64) {
        self.nextSequence = nextSequence
        durableThrough = nextSequence - 1
        writtenThrough = nextSequence - 1
    }

    /// Adds a record to the batch being built. Returns its sequence and whether the flusher must be woken.
    mutating func append(
        monotonicNanos: UInt64,
        wallNanos: Int64,
        node: UInt16,
        type: UInt16,
        payload: UnsafeRawBufferPointer,
        batchBytes: Int
    ) throws -> (UInt64, Bool) {
        if let failure {
            throw EventLogError(.writerStopped, "the log writer has stopped: \(failure)", path: failure.path)
        }
        guard payload.count <= BatchFrame.maximumLength / 2 else {
            throw EventLogError(.invalidArgument, "record payload of \(payload.count) bytes is too large")
        }
        let sequence = nextSequence
        nextSequence += 1
        var wake = false
        if building.isEmpty {
            bufferedSince = monotonicNow()
            wake = true
        }
        building.append(
            sequence: sequence,
            monotonicNanos: monotonicNanos,
            wallNanos: wallNanos,
            node: node,
            type: type,
            payload: payload
        )
        counters.records += 1
        if building.byteCount >= batchBytes {
            sealBuilding()
            wake = true
        }
        return (sequence, wake)
    }

    /// Registers a producer waiting for durability and asks the flusher for a sync.
    mutating func addWaiter(_ waiter: DurabilityWaiter) {
        if waiters.isEmpty { firstWaiterAt = monotonicNow() }
        waiters.append(waiter)
        syncRequested = true
    }

    /// Moves the batch being built to the queue of batches to write.
    mutating func sealBuilding() {
        pending.append(building)
        building = spares.popLast() ?? BatchBody()
        bufferedSince = nil
    }

    /// Records what a round wrote, recycles its bodies, and returns the waiters that are now durable.
    mutating func completeRound(bodies: inout [BatchBody], written: WrittenRound, synced: Bool) -> [DurabilityWaiter] {
        counters.batches += UInt64(written.batches)
        counters.bytesWritten += UInt64(written.bytes)
        counters.uncompressedBytes += UInt64(written.uncompressed)
        counters.segmentsSealed += UInt64(written.sealed)
        if synced { counters.syncs += 1 }
        for var body in bodies where spares.count < 4 {
            body.removeAll()
            spares.append(body)
        }
        bodies.removeAll()
        if synced, let last = written.lastSequence ?? Optional(writtenThrough) {
            durableThrough = max(durableThrough, last)
        }
        if let last = written.lastSequence { writtenThrough = max(writtenThrough, last) }
        guard !waiters.isEmpty else { return [] }
        var ready: [DurabilityWaiter] = []
        waiters.removeAll { waiter in
            if waiter.sequence <= durableThrough {
                ready.append(waiter)
                return true
            }
            return false
        }
        firstWaiterAt = waiters.isEmpty ? nil : monotonicNow()
        return ready
    }
}
