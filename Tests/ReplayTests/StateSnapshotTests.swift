import Coordinator
import EventLog
import EventRecords
import Foundation
import Testing

@testable import Replay

/// A state snapshot holds the exact state: read back, it equals the state it was taken of (and so hashes to the
/// same digest), and folding the rest of the history onto it ends where folding the whole history ends.
@Suite struct StateSnapshotTests {
    static var logs: [String] {
        FixtureTests.incidents.flatMap { incident in ["node-a", "node-b"].map { "\(fixtureRoot)/\(incident)/\($0)" } }
            + DaemonFixtureTests.incidents.flatMap { incident in
                ["node-a", "node-b"].map { "\(DaemonFixtureTests.root)/\(incident)/\($0)" }
            }
    }

    @Test("at every event of every recorded incident, the snapshot reads back as the state", arguments: logs)
    func everyStepRoundTrips(_ path: String) throws {
        let log = try RecordedLog.load(path)
        var state = State(me: log.identity.node)
        for (index, event) in log.events.enumerated() {
            state.apply(event)
            let restored = try StateSnapshot.decode(StateSnapshot.encode(state))
            guard restored == state else {
                Issue.record("\(path): the snapshot after event \(index) reads back as another state")
                return
            }
        }
        #expect(try StateSnapshot.decode(StateSnapshot.encode(state)).digest() == state.digest())
    }

    @Test("folding the rest onto a snapshot taken midway ends where folding everything ends", arguments: logs)
    func foldingFromASnapshot(_ path: String) throws {
        let log = try RecordedLog.load(path)
        let whole = Coordinator(node: log.identity.node, folding: log.events).state
        for cut in [1, log.events.count / 3, log.events.count / 2, log.events.count - 1] {
            let before = Coordinator(node: log.identity.node, folding: log.events.prefix(cut)).state
            var resumed = try StateSnapshot.decode(StateSnapshot.encode(before))
            for event in log.events.dropFirst(cut) { resumed.apply(event) }
            #expect(resumed == whole, "\(path), snapshot after \(cut) events")
        }
    }

    /// (A changed byte inside a stored snapshot is the batch CRC's to catch; here the reader must not trap, and must
    /// refuse every truncation.)
    @Test("a snapshot cut short is an error; a changed byte never crashes the reader")
    func damagedSnapshots() throws {
        let log = try RecordedLog.load("\(fixtureRoot)/failback/node-a")
        let state = Coordinator(node: log.identity.node, folding: log.events).state
        let bytes = StateSnapshot.encode(state)
        for cut in 0..<bytes.count {
            #expect(throws: (any Error).self) { try StateSnapshot.decode(Array(bytes.prefix(cut))) }
        }
        #expect(throws: (any Error).self) { try StateSnapshot.decode(bytes + [0]) }
        var decoded = 0
        for offset in bytes.indices {
            for mask: UInt8 in [0x01, 0x80, 0xff] {
                var changed = bytes
                changed[offset] ^= mask
                if (try? StateSnapshot.decode(changed)) != nil { decoded += 1 }
            }
        }
        #expect(decoded < bytes.count * 3)
    }

    /// `log` with a snapshot of the state after each of `cuts` events inserted (sequences and times carried over).
    static func withSnapshots(_ log: RecordedLog, after cuts: [Int], tamper: Bool = false) -> RecordedLog {
        var out = log
        for cut in cuts.sorted(by: >) {
            var state = Coordinator(node: log.identity.node, folding: log.events.prefix(cut)).state
            if tamper { state.takeovers += 1 }
            out.events.insert(.snapshot(StateSnapshot.encode(state)), at: cut)
            out.sequences.insert(log.sequences[cut - 1], at: cut)
            out.walls.insert(log.walls[cut - 1], at: cut)
        }
        return out
    }

    /// The index of an input event near `fraction` of the log (a snapshot goes between one input's events and
    /// the next input, never inside them).
    static func inputBoundary(_ log: RecordedLog, near fraction: Double) -> Int {
        var index = Int(Double(log.events.count) * fraction)
        while log.events[index].stampedInput == nil { index += 1 }
        return index
    }

    @Test("replay verify checks every snapshot against the state it rebuilt, and can start at one")
    func replayWithSnapshots() throws {
        let log = try RecordedLog.load("\(fixtureRoot)/switchover/node-a")
        let cuts = [0.25, 0.5, 0.75].map { Self.inputBoundary(log, near: $0) }
        let with = Self.withSnapshots(log, after: cuts)
        let report = try ReplayVerifier.verify(with)
        #expect(report.divergence == nil)
        #expect(report.snapshots == 3 && report.events == with.events.count)

        // From the second snapshot on: the events before it are not needed.
        let second = cuts[1] + 1
        guard case .snapshot = with.events[second] else {
            Issue.record("no snapshot at \(second)")
            return
        }
        let resumed = try ReplayVerifier.verify(with, resuming: second)
        #expect(resumed.divergence == nil && resumed.snapshots == 2)
        #expect(throws: ReplayError.self) { try ReplayVerifier.verify(with, resuming: 0) }

        // A snapshot that is not the state its history folds to is named at its place.
        let tampered = Self.withSnapshots(log, after: [cuts[0]], tamper: true)
        #expect(try ReplayVerifier.verify(tampered).divergence?.index == cuts[0])
    }

    @Test("replay verify of a log whose oldest segments retention removed starts at its first snapshot")
    func replayOfATrimmedLog() throws {
        let log = try RecordedLog.load("\(fixtureRoot)/failback/node-b")
        let directory = NSTemporaryDirectory() + "servha-trimmed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = WriterOptions()
        options.segmentBytes = 4096
        options.batchBytes = 1024
        options.directIO = false
        let writer = try EventLogWriter(directory: directory, identity: log.identity, options: options)
        let cuts = stride(from: 0.1, to: 1.0, by: 0.1).map { Self.inputBoundary(log, near: $0) }
        let with = Self.withSnapshots(log, after: cuts)
        for draft in EventCodec.drafts(with.events, node: log.identity.node) { try writer.append(draft) }
        try writer.close()
        let segments = try LogDirectory(directory).segments
        #expect(segments.count > 4)
        for segment in segments.prefix(2) { try FileManager.default.removeItem(atPath: segment.path) }
        let (_, report) = try ReplayVerifier.verify(directory: directory)
        #expect(report.divergence == nil)
        #expect(report.resumedAt != nil && report.snapshots > 0)
        // A trimmed log with no snapshot at all: nothing to start from, and replay says so rather than guess.
        let bare = directory + "-bare"
        defer { try? FileManager.default.removeItem(atPath: bare) }
        let plain = try EventLogWriter(directory: bare, identity: log.identity, options: options)
        for draft in EventCodec.drafts(log.events, node: log.identity.node) { try plain.append(draft) }
        try plain.close()
        try FileManager.default.removeItem(atPath: try LogDirectory(bare).segments[0].path)
        #expect {
            try ReplayVerifier.verify(directory: bare)
        } throws: { error in
            "\(error)".contains("holds no state snapshot to start from")
        }
    }
}
