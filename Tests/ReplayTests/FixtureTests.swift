import Coordinator
import EventLog
import Foundation
import Testing

@testable import Replay

let fixtureRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/incidents").path

func decisions(_ log: RecordedLog) -> [Decision] {
    log.events.compactMap { if case .decision(let decision) = $0 { decision } else { nil } }
}

/// Loads both nodes' logs of `incident` under `root`, checks they are that cluster's and node's, and that each
/// replays to identical events and state digests. Returns the logs (node-a first).
func expectReplaysIdentically(root: String, incident: String, cluster: String) throws -> [RecordedLog] {
    try ["node-a", "node-b"].map { node in
        let log = try RecordedLog.load("\(root)/\(incident)/\(node)")
        #expect(log.identity.cluster == cluster)
        #expect(log.identity.nodeName == node)
        let report = try ReplayVerifier.verify(log)
        #expect(report.divergence == nil, "\(incident)/\(node): \(report.divergence.map { "\($0.index)" } ?? "")")
        #expect(report.events == log.events.count)
        #expect(report.digests > 0, "the state digests were compared too")
        return log
    }
}

/// Every recorded incident replays to identical events, and its key decisions are there.
@Suite struct FixtureTests {
    static let incidents = ["host-death", "partition", "flapping-link", "monitor-failures", "switchover", "failback"]

    @Test(arguments: incidents)
    func theIncidentReplaysIdentically(incident: String) throws {
        _ = try expectReplaysIdentically(root: fixtureRoot, incident: incident, cluster: "sim")
    }

    /// A log written in event format version 1 still reads, record for record. (It is not re-run: the
    /// coordinator's rules have changed since, so today's core decides the same incident with other events, for
    /// example a digest after every decision; what must last is that old logs can be read and explained.)
    @Test func aLogOfTheFirstEventFormatStillReads() throws {
        let root = URL(fileURLWithPath: fixtureRoot).deletingLastPathComponent().appendingPathComponent("format-v1").path
        for node in ["node-a", "node-b"] {
            let old = try RecordedLog.load("\(root)/host-death/\(node)")
            #expect(old.events.count > 1000)
            let oldEchoes = old.events.compactMap { e -> UInt64? in
                if case .input(let s) = e, case .heartbeat(let h) = s.input { h.echo } else { nil }
            }
            #expect(!oldEchoes.isEmpty && oldEchoes.allSatisfy { $0 == 0 }, "version 1 has no echoed sequence")
        }
        let survivor = decisions(try RecordedLog.load("\(root)/host-death/node-b"))
        #expect(survivor.map(\.kind) == [.becomeStandby, .takeOver, .leaseAcquired])
        #expect(survivor[1].epoch == 2 && survivor[1].reason.contains("node-a lost"))
    }

    @Test func eachIncidentHasItsKeyDecisions() throws {
        func load(_ incident: String, _ node: String) throws -> [Decision] {
            decisions(try RecordedLog.load("\(fixtureRoot)/\(incident)/\(node)"))
        }
        let death = try load("host-death", "node-b")
        #expect(death.contains { $0.kind == .takeOver && $0.reason.contains("node-a lost") && $0.evidence.peerOwns })
        #expect(death.last?.kind == .leaseAcquired)

        let partitionA = try load("partition", "node-a")
        #expect(partitionA.contains { $0.kind == .release && $0.reason.contains("cannot reach the arbitrator") })
        #expect(try load("partition", "node-b").contains { $0.kind == .takeOver && $0.reason.contains("arbitrator") })

        #expect(
            try load("flapping-link", "node-b").allSatisfy { $0.kind == .becomeStandby },
            "a flapping link moves nothing"
        )

        let monitor = try load("monitor-failures", "node-a")
        #expect(monitor.filter { $0.kind == .restartResource }.count == 2)
        #expect(monitor.contains { $0.kind == .release && $0.reason.contains("failing the group over") })

        #expect(try load("switchover", "node-a").contains { $0.kind == .release && $0.reason.contains("switchover") })
        #expect(
            try load("switchover", "node-b").contains {
                $0.kind == .takeOver && $0.reason.contains("released the lease")
            }
        )

        let failbackA = try load("failback", "node-a")
        #expect(failbackA.filter { $0.kind == .leaseAcquired }.count == 2, "node-a runs the group again after repair")
        #expect(try load("failback", "node-b").contains { $0.kind == .release && $0.reason.contains("failback") })
    }

    @Test func aDeliberatelyAlteredDecisionIsReportedAtItsEvent() throws {
        var log = try RecordedLog.load("\(fixtureRoot)/host-death/node-b")
        guard
            let index = log.events.firstIndex(where: {
                if case .decision(let d) = $0 { d.kind == .takeOver } else { false }
            }),
            case .decision(var decision) = log.events[index]
        else {
            Issue.record("no takeover in the fixture")
            return
        }
        decision.epoch = 9
        log.events[index] = .decision(decision)
        let report = try ReplayVerifier.verify(log)
        #expect(report.divergence?.index == index)
        #expect(report.divergence?.sequence == log.sequences[index])
        guard case .decision(let replayed) = report.divergence?.replayed else {
            Issue.record("the replayed side should be the real decision")
            return
        }
        #expect(replayed.epoch == 2)
        #expect(report.divergence?.stateBefore.role == .standby)
    }

    @Test func replayInSeparateProcessesGivesIdenticalDigests() throws {
        // The digests in the log were computed by the process that recorded it; the replay here recomputes
        // them in this process (another hash seed): identical, so nothing depends on Dictionary order.
        let log = try RecordedLog.load("\(fixtureRoot)/monitor-failures/node-a")
        var core = Coordinator(node: log.identity.node)
        var replayedDigests: [[UInt8]] = []
        for event in log.events {
            guard let stamped = event.stampedInput else { continue }
            for produced in core.handle(stamped).events {
                if case .stateDigest(let digest) = produced { replayedDigests.append(digest) }
            }
        }
        let recorded = log.events.compactMap { if case .stateDigest(let digest) = $0 { digest } else { nil } }
        #expect(!recorded.isEmpty)
        #expect(replayedDigests == recorded)
    }
}
