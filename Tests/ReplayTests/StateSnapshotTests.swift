import Coordinator
import EventRecords
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
}
