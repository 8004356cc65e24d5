import Coordinator
import Foundation
import Testing

@testable import Replay

/// Incidents as real daemons logged them in the end-to-end site (scripts/e2e/record-daemon-fixtures.sh): real
/// heartbeats, shared storage, the VIP and PostgreSQL. Each log replays to identical events, and the incident's
/// key decisions are there.
@Suite struct DaemonFixtureTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/daemons").path
    static let incidents = ["host-death-postgresql", "partition", "paused-active"]

    func decided(_ incident: String, _ node: String) throws -> [Decision] {
        decisions(try RecordedLog.load("\(Self.root)/\(incident)/\(node)"))
    }

    @Test(arguments: incidents)
    func theIncidentReplaysIdentically(incident: String) throws {
        for log in try expectReplaysIdentically(root: Self.root, incident: incident, cluster: "e2e") {
            #expect(log.resourceNames == ["vip", "postgresql"])
        }
    }

    @Test func theHostDeathIsTakenOverOnceTheLeaseRanOut() throws {
        let survivor = try decided("host-death-postgresql", "node-b")
        let takeOver = try #require(survivor.first { $0.kind == .takeOver })
        #expect(takeOver.reason.contains("node-a lost"), "\(takeOver.reason)")
        #expect(takeOver.epoch == 2)
        #expect(survivor.contains { $0.kind == .leaseAcquired && $0.epoch == 2 })
        // The dead node decided nothing after its own start: it was killed, not stopped.
        #expect(try decided("host-death-postgresql", "node-a").last?.kind == .leaseAcquired)
    }

    @Test func thePartitionIsDecidedByTheArbitrator() throws {
        let cut = try decided("partition", "node-a")
        let release = try #require(cut.first { $0.kind == .release })
        #expect(release.reason.contains("cannot reach the arbitrator"), "\(release.reason)")
        let other = try decided("partition", "node-b")
        let takeOver = try #require(other.first { $0.kind == .takeOver })
        #expect(takeOver.reason.contains("only this node reaches the arbitrator"), "\(takeOver.reason)")
        #expect(takeOver.epoch == release.epoch + 1, "one change of owner")
    }

    @Test func thePausedActiveFindsItsLeaseGoneWhenItResumes() throws {
        let paused = try decided("paused-active", "node-a")
        let fence = try #require(paused.first { $0.kind == .selfFence })
        #expect(fence.reason.contains("lease not renewed in time"), "\(fence.reason)")
        #expect(paused.contains { $0.kind == .becomeStandby && $0.epoch == 1 })
        let survivor = try decided("paused-active", "node-b")
        #expect(survivor.contains { $0.kind == .takeOver && $0.epoch == 2 && $0.reason.contains("node-a lost") })
    }
}
