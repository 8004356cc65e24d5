import ArgumentParser
import Coordinator
import EventLog
import EventRecords
import Foundation
import Simulation

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run both coordinators against a simulated network, disk, clock and crashes, and check invariants.",
        discussion: """
            Every run is driven by its seed alone. After every step the simulator checks: never two nodes running \
            resources; after the active is lost, the standby runs the group within the bound; no takeover while \
            the peer is heard on any channel; at most one failover per fault; the group runs somewhere once \
            faults heal; and every node's log replays to identical decisions. Failing seeds are printed with \
            the command that reproduces them. Exit status 1 when any run breaks an invariant. With --long, each \
            seed runs a minute of cluster time with three to five different faults at random times, overlapping \
            now and then.
            """
    )

    @Option(help: "Number of seeds to run (1, 2, ...).") var seeds: Int = 1000
    @Option(help: "Run only this seed.") var seed: UInt64?
    @Option(help: "First seed when running several.") var firstSeed: UInt64 = 1
    @Option(
        help:
            "Comma-separated faults instead of the seed's choice: \(FaultKind.allCases.map(\.rawValue).joined(separator: ","))."
    )
    var faults: String?
    @Flag(help: "Long runs: 60 s of cluster time with 3 to 5 faults each, at random times.") var long = false
    @Option(help: "Write each run's two logs as real event logs under this directory.") var logDir: String?
    @Option(help: "The simulated cluster's name (in its logs).") var cluster = "sim"
    @Flag(help: "Print the summary as one JSON line.") var json = false

    func validate() throws {
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if let faults {
            for name in faults.split(separator: ",") where FaultKind(rawValue: String(name)) == nil {
                throw ValidationError(
                    "unknown fault '\(name)'; known: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }
    }

    func run() async throws {
        let chosen = faults.map { $0.split(separator: ",").compactMap { FaultKind(rawValue: String($0)) } }
        let list: [UInt64] = seed.map { [$0] } ?? (0..<UInt64(seeds)).map { firstSeed + $0 }
        let started = monotonicNow()
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let keepLogs = logDir != nil
        let reports = try await withThrowingTaskGroup(of: [SimulationSummary].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var mine: [SimulationSummary] = []
                    for index in stride(from: worker, to: list.count, by: workers) {
                        var options =
                            long
                            ? SimulationOptions.long(seed: list[index], faults: chosen)
                            : SimulationOptions(seed: list[index], faults: chosen)
                        options.cluster = cluster
                        let report = Simulator.run(options)
                        mine.append(SimulationSummary(report, keepLogs: keepLogs))
                    }
                    return mine
                }
            }
            var all: [SimulationSummary] = []
            for try await part in group { all += part }
            return all.sorted { $0.seed < $1.seed }
        }
        let elapsed = Double(monotonicNow() - started) / 1e9
        if let logDir {
            for report in reports { try writeLogs(report, under: logDir) }
        }
        let failing = reports.filter { !$0.violations.isEmpty }
        let violations = failing.reduce(0) { $0 + $1.violations.count }
        let inputs = reports.reduce(0) { $0 + $1.inputs }
        let takeovers = reports.reduce(0) { $0 + $1.takeovers }
        var faultCounts: [String: Int] = [:]
        for report in reports { for fault in report.faults { faultCounts[fault.rawValue, default: 0] += 1 } }
        for report in failing {
            for violation in report.violations.prefix(3) { printError("FAIL \(violation)") }
            printError("  reproduce: \(report.reproduce)")
        }
        if json {
            var line = JSONLine()
            line.add("bench", "simulate")
            line.add("seeds", reports.count)
            line.add("violations", violations)
            line.add("failing_seeds", failing.count)
            line.add("seconds", elapsed, decimals: 2)
            line.add("inputs", inputs)
            line.add("takeovers", takeovers)
            line.add("workers", workers)
            line.add("long", long)
            line.add("cluster_seconds", Int(reports.reduce(0) { $0 + $1.durationNanos } / 1_000_000_000))
            print(line.text)
        } else {
            let mix = faultCounts.keys.sorted().map { "\($0) \(faultCounts[$0]!)" }.joined(separator: ", ")
            let clusterSeconds = reports.reduce(0) { $0 + $1.durationNanos } / 1_000_000_000
            print(
                "simulated \(reports.count) \(long ? "long " : "")seeds (\(clusterSeconds) s of cluster time) in \(fixed(elapsed, 2)) s on \(workers) workers: \(inputs) inputs, \(takeovers) takeovers"
            )
            print("faults: \(mix)")
            print(failing.isEmpty ? "0 violations" : "\(violations) violations in \(failing.count) seeds")
        }
        if !failing.isEmpty { throw ExitCode(1) }
    }

    private func writeLogs(_ report: SimulationSummary, under base: String) throws {
        guard let logs = report.logs else { return }
        for (index, log) in logs.enumerated() {
            let node = report.config.nodes[index]
            let directory = "\(base)/seed-\(report.seed)/\(node.name)"
            try FileManager.default.createDirectory(
                atPath: "\(base)/seed-\(report.seed)",
                withIntermediateDirectories: true
            )
            _ = try writeEventLog(log, config: report.config, node: node, to: directory)
        }
    }
}

/// What the command keeps of a run (the logs only when they are to be written).
struct SimulationSummary: Sendable {
    var seed: UInt64
    var faults: [FaultKind]
    var violations: [Violation]
    var inputs: Int
    var takeovers: Int
    var durationNanos: UInt64
    var reproduce: String
    var config: ClusterConfig
    var logs: [[Event]]?

    init(_ report: SimulationReport, keepLogs: Bool) {
        seed = report.seed
        faults = report.faults
        violations = report.violations
        inputs = report.inputs
        takeovers = report.takeovers
        durationNanos = report.durationNanos
        reproduce = report.reproduce
        config = report.config
        logs = keepLogs ? report.logs : nil
    }
}

/// Writes a node's events (as the core produced them) to a real event log in `directory`, under the identity
/// of that node and configuration. Returns the writer's counters.
func writeEventLog(
    _ events: [Event],
    config: ClusterConfig,
    node: NodeConfig,
    to directory: String
) throws
    -> WriterCounters
{
    let writer = try EventLogWriter(
        directory: directory,
        identity: LogIdentity(
            cluster: config.cluster,
            nodeName: node.name,
            node: node.id,
            servhaVersion: ServhaVersion.current,
            configHash: config.hash
        )
    )
    for draft in EventCodec.drafts(events, node: node.id) { try writer.append(draft) }
    try writer.close()
    return writer.counters
}
