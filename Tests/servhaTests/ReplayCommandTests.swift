import Coordinator
import EventLog
import Foundation
import Replay
import Testing

let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/incidents").path

@Suite struct ReplayCommandTests {
    @Test func verifyPassesOnTheFixtures() throws {
        let result = try servha(["replay", "verify", "\(fixtures)/host-death/node-a", "\(fixtures)/host-death/node-b"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == 2)
        #expect(result.stdout.contains("replay identically"))
    }

    /// A log whose decision was altered (and rewritten as a valid log): the first divergent event is named,
    /// recorded and replayed side by side, with the state before it.
    @Test func verifyNamesTheFirstAlteredDecision() throws {
        let log = try RecordedLog.load("\(fixtures)/host-death/node-b")
        let dir = TemporaryDirectory("servha-altered")
        defer { dir.cleanup() }
        let writer = try EventLogWriter(directory: dir.path, identity: log.identity)
        var altered: UInt64?
        for (index, event) in log.events.enumerated() {
            var event = event
            if altered == nil, case .decision(var decision) = event, decision.kind == .takeOver {
                decision.reason = "because the moon was full"
                event = .decision(decision)
                altered = writer.nextSequence
            }
            let stamp = event.stampedInput
            _ = try writer.append(
                EventCodec.draft(
                    event,
                    node: log.identity.node,
                    monotonicNanos: stamp?.at ?? 0,
                    wallNanos: log.walls[index]
                )
            )
        }
        try writer.close()
        let result = try servha(["replay", "verify", dir.path])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("replay diverges at event") == true)
        #expect(lines.first?.contains("sequence \(altered ?? 0)") == true)
        #expect(lines.contains { $0.hasPrefix("  recorded: decision take-over") && $0.contains("moon") })
        #expect(lines.contains { $0.hasPrefix("  replayed: decision take-over") && $0.contains("node-a lost") })
        #expect(lines.contains { $0.hasPrefix("  state before: role standby") })
    }

    @Test func replayInThreeProcessesPrintsTheSame() throws {
        let outputs = try (0..<3).map { _ in try servha(["replay", "verify", "\(fixtures)/partition/node-a"]).stdout }
        #expect(Set(outputs).count == 1)
    }

    @Test func badInputIsAOneLineError() throws {
        let missing = try servha(["replay", "verify", "/nonexistent/servha-log"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "servha: /nonexistent/servha-log: log directory does not exist\n")
        // A segment from a newer format.
        let dir = TemporaryDirectory("servha-newer")
        defer { dir.cleanup() }
        let source = "\(fixtures)/switchover/node-a/00000000000000000001.seg.open"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        bytes[16] = 7
        try bytes.write(to: URL(fileURLWithPath: dir.path + "/00000000000000000001.seg.open"))
        let newer = try servha(["replay", "verify", dir.path])
        #expect(newer.status == 1)
        #expect(newer.stderr.contains("format version 7 is newer than this servha reads"))
        #expect(newer.stderr.split(separator: "\n").count == 1)
    }
}
