import Coordinator
import EventRecords
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

    /// An incident directory (one log per node under it) verifies every log under it; a directory with no log in
    /// it or under it is a one-line error that names it.
    @Test func verifyTakesAnIncidentDirectory() throws {
        let result = try servha(["replay", "verify", "\(fixtures)/partition"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("\(fixtures)/partition/node-a: ok:") == true, "\(result.stdout)")
        #expect(lines.last?.hasPrefix("\(fixtures)/partition/node-b: ok:") == true, "\(result.stdout)")

        let empty = NSTemporaryDirectory() + "servha-empty-incident-\(getpid())"
        try FileManager.default.createDirectory(atPath: empty + "/node-a", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let refused = try servha(["replay", "verify", empty])
        #expect(refused.status == 1)
        #expect(
            refused.stderr == "servha: \(empty): neither a log directory nor an incident directory (no log segments in it or in a subdirectory of it)\n",
            "\(refused.stderr)"
        )
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

/// `replay what-if`, `replay merge`, `timeline` and `audit` as an operator runs them.
@Suite struct IncidentCommandTests {
    @Test func whatIfPrintsHowTheTakeoverMoves() throws {
        let result = try servha([
            "replay", "what-if", "\(fixtures)/host-death/node-b", "--set", "lease.duration=400ms", "--set",
            "lease.safety_margin=100ms",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines[0].hasSuffix("lease.duration 130ms -> 400ms, lease.safety_margin 40ms -> 100ms"))
        #expect(lines.contains { $0.hasPrefix("  take-over (epoch 2): 330.0 ms later") })
        let same = try servha(["replay", "what-if", "\(fixtures)/switchover/node-a", "--set", "heartbeat.interval=20ms"])
        #expect(same.stdout.contains("no decision changes"))
    }

    @Test func whatIfBadSettingsAreOneLineErrorsWithExitOne() throws {
        for (setting, message) in [
            ("heartbeat.dedline=300ms", "no setting heartbeat.dedline"),
            ("heartbeat.deadline=soon", "'soon' is not a duration such as 300ms or 1.5s"),
            ("restart.max_local=many", "'many' is not a whole number from 0 to 100"),
            ("lease.safety_margin=100ms", "the changed configuration is not valid"),
        ] {
            let result = try servha(["replay", "what-if", "\(fixtures)/host-death/node-b", "--set", setting])
            #expect(result.status == 1, "\(setting)")
            #expect(result.stderr.hasPrefix("servha: --set \(setting): "), "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func mergePutsBothNodesOnOneClock() throws {
        let result = try servha(["replay", "merge", "\(fixtures)/failback/node-a", "\(fixtures)/failback/node-b"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines[1].hasPrefix("clock offset of node-b: +3.0 ms ahead of node-a"))
        let times = lines.dropFirst(2).map { $0.prefix(30) }
        #expect(times == times.sorted(), "ordered by time")
        #expect(lines.contains { $0.contains("  node-a  ") } && lines.contains { $0.contains("  node-b  ") })
    }

    @Test func mergingTwoClustersIsAOneLineError() throws {
        let dir = TemporaryDirectory("servha-other-cluster")
        defer { dir.cleanup() }
        let recorded = try servha([
            "simulate", "--seed", "3", "--faults", "crash", "--cluster", "other", "--log-dir", dir.path,
        ])
        #expect(recorded.status == 0, "\(recorded.stderr)")
        let other = "\(dir.path)/seed-3/node-b"
        let result = try servha(["replay", "merge", "\(fixtures)/host-death/node-a", other])
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "servha: \(fixtures)/host-death/node-a is a log of cluster sim and \(other) of cluster other: logs of two different clusters cannot be merged\n"
        )
        let twice = try servha(["replay", "merge", "\(fixtures)/host-death/node-a", "\(fixtures)/partition/node-a"])
        #expect(twice.status == 1)
        #expect(twice.stderr.contains("are both logs of node-a: give one log of each node"))
    }

    @Test func timelineWritesTheHTMLPage() throws {
        let dir = TemporaryDirectory("servha-timeline")
        defer { dir.cleanup() }
        let page = dir.path + "/incident.html"
        let result = try servha([
            "timeline", "\(fixtures)/host-death/node-a", "\(fixtures)/host-death/node-b", "--html", page,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("summary:"))
        #expect(result.stdout.contains("client-visible outage: "))
        #expect(result.stdout.hasSuffix("HTML time line: \(page)\n"))
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("</html>"))
        let unwritable = try servha(["timeline", "\(fixtures)/host-death/node-a", "--html", "/nonexistent/dir/x.html"])
        #expect(unwritable.status == 1)
        #expect(unwritable.stderr.hasPrefix("servha: /nonexistent/dir/x.html: cannot write the HTML time line"))
    }

    @Test func auditExportThenVerifyAndATamperedLineIsNamed() throws {
        let dir = TemporaryDirectory("servha-audit")
        defer { dir.cleanup() }
        for format in ["jsonl", "csv"] {
            let file = "\(dir.path)/trail.\(format)"
            let export = try servha([
                "audit", "export", "\(fixtures)/switchover/node-a", "--format", format, "--output", file,
            ])
            #expect(export.status == 0, "\(export.stderr)")
            let ok = try servha(["audit", "verify", file])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stdout.contains("hash chain intact"))
            var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            lines[99] = Substring(lines[99].replacingOccurrences(of: "node-a", with: "node-x"))
            try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let tampered = try servha(["audit", "verify", file])
            #expect(tampered.status == 1)
            #expect(tampered.stderr.hasPrefix("servha: \(file):100: hash does not match"), "\(tampered.stderr)")
            #expect(tampered.stderr.split(separator: "\n").count == 1)
        }
        let badTime = try servha(["audit", "export", "\(fixtures)/switchover/node-a", "--from", "noon"])
        #expect(badTime.status == 1)
        #expect(badTime.stderr.contains("--from noon: not a time"))
        let badFormat = try servha(["audit", "export", "\(fixtures)/switchover/node-a", "--format", "xml"])
        #expect(badFormat.status == 1)
        #expect(badFormat.stderr == "servha: --format xml: expected jsonl or csv\n")
    }
}

@Suite struct ReplayGapTests {
    /// A log missing a segment in the middle (its events re-written from a fixture in small segments).
    @Test func aGapInTheSequenceNumbersIsAOneLineError() throws {
        let dir = TemporaryDirectory("servha-gap")
        defer { dir.cleanup() }
        let log = try RecordedLog.load("\(fixtures)/host-death/node-b")
        var options = WriterOptions()
        options.segmentBytes = 4096
        options.batchBytes = 1024
        let writer = try EventLogWriter(directory: dir.path, identity: log.identity, options: options)
        for draft in EventCodec.drafts(log.events, node: log.identity.node) { try writer.append(draft) }
        try writer.close()
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".seg") }.sorted()
        #expect(segments.count >= 3)
        let whole = try servha(["replay", "verify", dir.path])
        #expect(whole.status == 0, "\(whole.stderr)")
        try FileManager.default.removeItem(atPath: "\(dir.path)/\(segments[1])")
        let result = try servha(["replay", "verify", dir.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains(segments[2]), "names the file after the gap: \(result.stderr)")
        #expect(result.stderr.contains("a gap or overlap"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
