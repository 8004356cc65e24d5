import Coordinator
import EventLog
import EventRecords
import Foundation
import Simulation
import Testing

/// `servha simulate` as an engineer runs it: seeds, faults, real logs written and replayed.
@Suite struct SimulateCommandTests {
    @Test func aSeedWritesRealLogsThatVerifyAndReplay() throws {
        let dir = TemporaryDirectory("servha-sim")
        defer { dir.cleanup() }
        let result = try servha(["simulate", "--seed", "3", "--faults", "crash", "--log-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0 violations"))
        for node in ["node-a", "node-b"] {
            let path = "\(dir.path)/seed-3/\(node)"
            #expect(try servha(["log", "verify", path]).status == 0)
            // Read back through the binary codec and replay through a fresh core.
            var events: [Event] = []
            try LogReader(directory: path).forEachRecord { view in
                events.append(try EventCodec.decode(view))
                return true
            }
            #expect(!events.isEmpty)
            let id: NodeID = node == "node-a" ? 1 : 2
            #expect(ReplayCheck.firstDivergence(node: id, log: events) == nil)
        }
    }

    @Test func aSweepPrintsItsFiguresAsJSON() throws {
        let result = try servha(["simulate", "--seeds", "20", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("{\"bench\":\"simulate\",\"seeds\":20,\"violations\":0"))
    }

    /// A wall clock stepped back by NTP, and a host reboot (its monotonic clock started again), in a real log: it
    /// verifies, and replays through a fresh core.
    @Test func logsWithClockJumpsAndRebootsVerifyAndReplay() throws {
        let dir = TemporaryDirectory("servha-sim-clocks")
        defer { dir.cleanup() }
        let result = try servha(["simulate", "--seed", "5", "--faults", "restart,clockJump", "--log-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        for (node, id) in [("node-a", NodeID(1)), ("node-b", NodeID(2))] {
            let path = "\(dir.path)/seed-5/\(node)"
            #expect(try servha(["log", "verify", path]).status == 0)
            var events: [Event] = []
            try LogReader(directory: path).forEachRecord { view in
                events.append(try EventCodec.decode(view))
                return true
            }
            #expect(ReplayCheck.firstDivergence(node: id, log: events) == nil)
        }
    }

    @Test func aLongSweepRunsAMinuteOfSeveralFaultsPerSeed() throws {
        let result = try servha(["simulate", "--long", "--seeds", "4", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("{\"bench\":\"simulate\",\"seeds\":4,\"violations\":0"), "\(result.stdout)")
        #expect(result.stdout.contains("\"long\":true"))
        let seconds = result.stdout.split(separator: ",").first { $0.hasPrefix("\"cluster_seconds\":") }
            .flatMap { Int($0.dropFirst("\"cluster_seconds\":".count).prefix { $0.isNumber }) }
        #expect((seconds ?? 0) >= 4 * 60, "\(result.stdout)")
    }

    @Test func anUnknownFaultIsAClearError() throws {
        let result = try servha(["simulate", "--faults", "crash,meteor"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown fault 'meteor'"))
    }
}
