import Coordinator
import Testing

@testable import Replay

/// `replay what-if` on the recorded incidents.
@Suite struct WhatIfTests {
    static func load(_ incident: String, _ node: String) throws -> RecordedLog {
        try RecordedLog.load("\(fixtureRoot)/\(incident)/\(node)")
    }

    static func run(_ incident: String, _ node: String, _ settings: String...) throws -> WhatIf.Report {
        try WhatIf.run(load(incident, node), overrides: settings.map(ConfigOverride.parse))
    }

    @Test(arguments: FixtureTests.incidents)
    func anUnchangedSettingReproducesEveryDecisionAtItsTime(incident: String) throws {
        for node in ["node-a", "node-b"] {
            let report = try Self.run(incident, node, "heartbeat.deadline=100ms")
            #expect(report.before == report.after)
            #expect(report.changes.isEmpty, "\(incident)/\(node): \(report.changes)")
            #expect(report.unchanged == report.recorded.count)
            #expect(report.replayed.map(\.at) == report.recorded.map(\.at), "to the nanosecond")
        }
    }

    @Test func aLongerLeaseMovesTheTakeoverLaterByTheDifference() throws {
        let report = try Self.run("host-death", "node-b", "lease.duration=400ms", "lease.safety_margin=100ms")
        // The standby waits lease + margin: 500 ms instead of 170 ms.
        let moved = report.changes.compactMap { change -> (WhatIf.Moment, WhatIf.Moment)? in
            if case .moved(let recorded, let replayed) = change { (recorded, replayed) } else { nil }
        }
        let takeover = try #require(moved.first { $0.0.kind == .takeOver })
        let later = Int64(takeover.1.at) - Int64(takeover.0.at)
        #expect(abs(later - 330_000_000) <= 20_000_000, "one heartbeat interval of slack: \(later)")
        #expect(takeover.1.reason.contains("lease 400.0 ms + margin 100.0 ms expired"))
        #expect(moved.contains { $0.0.kind == .leaseAcquired })
        let lines = report.lines(directory: "d", node: "node-b", overrides: [])
        #expect(lines.contains { $0.hasPrefix("  take-over (epoch 2): 330.0 ms later") })
    }

    @Test func noLocalRestartsFailsTheGroupOverAtTheFirstMonitorFailure() throws {
        let report = try Self.run("monitor-failures", "node-a", "restart.max_local=0")
        let missing = report.changes.compactMap { if case .missing(let m) = $0 { m } else { nil } }
        #expect(missing.map(\.kind) == [.restartResource, .restartResource])
        #expect(report.replayed.filter { $0.kind == .restartResource }.isEmpty)
        let release = try #require(report.replayed.first { $0.kind == .release })
        let recorded = try #require(report.recorded.first { $0.kind == .release })
        #expect(release.at < recorded.at, "the group moves at the first failure")
        #expect(release.reason.contains("after 0 local restarts"))
    }

    @Test func failbackNeverDropsTheRecordedFailback() throws {
        let report = try Self.run("failback", "node-b", "failback.mode=never")
        #expect(report.after.failback == .never)
        #expect(
            report.changes.contains {
                if case .missing(let m) = $0 { m.kind == .release && m.reason.contains("failback") } else { false }
            }
        )
        #expect(!report.replayed.contains { $0.kind == .release && $0.reason.contains("failback") })
    }

    @Test func badSettingsAreOneLineErrors() throws {
        func error(_ setting: String) -> String? {
            do {
                _ = try Self.run("host-death", "node-b", setting)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(error("heartbeat.dedline=300ms")?.contains("no setting heartbeat.dedline") == true)
        #expect(error("heartbeat.deadline=fast")?.contains("'fast' is not a duration") == true)
        #expect(error("restart.max_local=1.5")?.contains("is not a whole number") == true)
        #expect(error("failback.mode=sometimes")?.contains("is not auto, manual or never") == true)
        #expect(error("failback.preferred_node=node-z")?.contains("is not the name of a node") == true)
        #expect(error("heartbeat.deadline=10ms")?.contains("the changed configuration is not valid") == true)
        #expect(error("heartbeat.deadline")?.contains("expected KEY=VALUE") == true)
        for setting in ["heartbeat.dedline=1s", "heartbeat.deadline=fast", "heartbeat.deadline=10ms"] {
            #expect(error(setting)?.contains("\n") == false)
        }
    }
}
