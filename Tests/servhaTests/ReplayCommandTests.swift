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

@Suite struct ExplainCommandTests {
    @Test func theLastFailoverIsExplainedFromEvidenceToAction() throws {
        let result = try servha(["explain", "\(fixtures)/host-death/node-b", "--last-failover"])
        #expect(result.status == 0, "\(result.stderr)")
        let text = result.stdout
        #expect(text.contains(": take-over, epoch 2"))
        #expect(text.contains("rule: node-a lost"))
        #expect(text.contains("udp0: DOWN, last heard"))
        #expect(text.contains("disk: DOWN"))
        #expect(text.contains("peer declared dead"))
        #expect(text.contains("decision lease-acquired"))
        #expect(text.contains("postgresql start: ok (took 60.0 ms)"))
        let partition = try servha(["explain", "\(fixtures)/partition/node-a", "--last-failover"]).stdout
        #expect(partition.contains("arbitrator: from here UNREACHABLE, from the peer reachable"))
        #expect(partition.contains("stop postgresql"))
    }

    @Test func aNamedEventIsExplainedAndBadInputIsAOneLineError() throws {
        let decisions = try servha(["replay", "decisions", "\(fixtures)/switchover/node-a"]).stdout
        let release = decisions.split(separator: "\n").first { $0.contains("decision release") }
        let sequence = release.flatMap { $0.split(separator: " ").first { $0.hasPrefix("#") } }.map {
            String($0.dropFirst())
        }
        let explained = try servha(["explain", "\(fixtures)/switchover/node-a", "--event", sequence ?? "0"])
        #expect(explained.status == 0)
        #expect(explained.stdout.contains("switchover to node-b requested"))
        let missing = try servha(["explain", "\(fixtures)/switchover/node-a", "--event", "999999999"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no event with sequence 999999999"))
        let neither = try servha(["explain", "\(fixtures)/switchover/node-a"])
        #expect(neither.status != 0)
        #expect(neither.stderr.contains("give exactly one of --event SEQ and --last-failover"))
    }
}
