import Coordinator
import EventLog
import EventRecords
import Foundation
import Testing

@testable import Runtime

private let incidents = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/incidents").path

/// Start-up folds from the newest state snapshot: the same state as folding everything, reading only the segments
/// from the snapshot's on.
@Suite("Start-up from the newest snapshot")
struct StartupFoldTests {
    /// The events of a recorded incident.
    func recorded(_ path: String) throws -> (identity: LogIdentity, events: [Event]) {
        var events: [Event] = []
        let summary = try LogReader(directory: path).forEachRecord { view in
            events.append(try EventCodec.decode(view))
            return true
        }
        return (try #require(summary.identity), events)
    }

    /// Writes `events` into a new log of small segments, with a snapshot of the state after every `every` events.
    func write(_ events: [Event], identity: LogIdentity, every: Int?) throws -> String {
        let directory = NSTemporaryDirectory() + "servha-startup-\(UUID().uuidString)"
        var options = WriterOptions()
        options.segmentBytes = 4096
        options.batchBytes = 1024
        options.directIO = false
        let writer = try EventLogWriter(directory: directory, identity: identity, options: options)
        var state = State(me: identity.node)
        var withSnapshots: [Event] = []
        for (index, event) in events.enumerated() {
            withSnapshots.append(event)
            state.apply(event)
            if let every, index % every == every - 1 {
                withSnapshots.append(.snapshot(StateSnapshot.encode(state)))
            }
        }
        for draft in EventCodec.drafts(withSnapshots, node: identity.node) { try writer.append(draft) }
        try writer.close()
        return directory
    }

    @Test("the state is the whole fold's; only the segments from the newest snapshot on are read")
    func fromTheNewestSnapshot() throws {
        let (identity, events) = try recorded(incidents + "/failback/node-b")
        let whole = Coordinator(node: identity.node, folding: events).state
        let directory = try write(events, identity: identity, every: 500)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let segments = try LogDirectory(directory).segments.count
        #expect(segments > 4, "small segments: \(segments)")

        let rebuilt = try StartupFold.rebuild(directory: directory, node: identity.node)
        #expect(rebuilt.core.state == whole)
        #expect(rebuilt.snapshot != nil)
        #expect(rebuilt.folded == events.count % 500)
        #expect(rebuilt.segmentsRead < segments)
    }

    @Test("a log without snapshots (written before them) is folded from the beginning")
    func withoutSnapshots() throws {
        let (identity, events) = try recorded(incidents + "/partition/node-a")
        let directory = try write(events, identity: identity, every: nil)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rebuilt = try StartupFold.rebuild(directory: directory, node: identity.node)
        #expect(rebuilt.core.state == Coordinator(node: identity.node, folding: events).state)
        #expect(rebuilt.snapshot == nil && rebuilt.folded == events.count)
    }
}
