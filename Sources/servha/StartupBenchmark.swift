import ArgumentParser
import Coordinator
import EventLog
import EventRecords
import Foundation
import Glibc
import Runtime
import Simulation

/// `servha bench startup`: how long a daemon takes to rebuild its state from a long log, and how much memory it
/// needs meanwhile, folding from the newest snapshot (what the daemon does) against folding everything into
/// memory first (what it did before snapshots). Each fold runs in a process of its own, so that its peak resident
/// memory is its own.
struct StartupBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup",
        abstract: "Start-up from a long log: fold from the newest snapshot (targets: under 1 s, under 50 MB resident).",
        discussion: """
            The log is recorded from a long simulated run of one node (lossy links, about 290 events a second), \
            written as the daemon writes it (its writer options, a snapshot every 10 minutes of log time, \
            segments of --segment-mib). Exit status 1 when a target is missed.
            """
    )

    @Option(help: "Hours of log.") var hours = 6.0
    @Option(help: "Segment size in MiB (the daemon's is 64).") var segmentMib = 8
    @Option(help: "Directory for the log (removed afterwards).") var dir: String?
    @Flag(help: "Print only the JSON line.") var json = false
    @Option(help: .hidden) var foldFrom: String?
    @Option(help: .hidden) var foldAll: String?
    @Option(help: .hidden) var foldNode: UInt16 = 1

    func run() throws {
        if let directory = foldFrom { return try child { try StartupFold.rebuild(directory: directory, node: foldNode).folded } }
        if let directory = foldAll {
            return try child {
                var events: [Event] = []
                try LogReader(directory: directory).forEachRecord { view in
                    events.append(try EventCodec.decode(view))
                    return true
                }
                return Coordinator(node: foldNode, folding: events).state.inputsRecorded
            }
        }
        let base = dir ?? NSTemporaryDirectory() + "servha-bench-startup-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        func say(_ text: String) { if !json { print(text) } }

        var options = SimulationOptions(seed: 7, faults: [.loss])
        options.durationNanos = UInt64(hours * 3600e9)
        options.checkReplay = false
        let report = Simulator.run(options)
        let node = report.config.nodes[0]
        let events = report.logs[0]

        var writerOptions = Daemon.writerOptions
        writerOptions.segmentBytes = segmentMib << 20
        writerOptions.directIO = false
        let writer = try EventLogWriter(
            directory: base,
            identity: LogIdentity(
                cluster: report.config.cluster, nodeName: node.name, node: node.id, servhaVersion: ServhaVersion.current,
                configHash: report.config.hash
            ),
            options: writerOptions
        )
        var state = State(me: node.id)
        var nextSnapshot: Instant?
        var snapshots = 0
        var withSnapshots: [Event] = []
        withSnapshots.reserveCapacity(events.count + 1024)
        var now: Instant = 0
        for (index, event) in events.enumerated() {
            withSnapshots.append(event)
            state.apply(event)
            if let stamped = event.stampedInput { now = stamped.at }
            // Between one input's events and the next input, as the daemon writes them.
            guard index + 1 == events.count || events[index + 1].stampedInput != nil else { continue }
            if nextSnapshot == nil { nextSnapshot = now + 600_000_000_000 }
            if let due = nextSnapshot, now >= due {
                withSnapshots.append(.snapshot(StateSnapshot.encode(state)))
                snapshots += 1
                nextSnapshot = due + 600_000_000_000
            }
        }
        for draft in EventCodec.drafts(withSnapshots, node: node.id) { try writer.append(draft) }
        try writer.close()
        let segments = try LogDirectory(base).segments.count
        let bytes = try LogRetention.inventory(base).reduce(0) { $0 + $1.bytes }
        say(
            "log: \(events.count) events over \(hours) h of log time, \(snapshots) snapshots, \(segments) segments, \(ByteText.render(bytes))"
        )

        let fromSnapshot = try (0..<3).map { _ in try measure(["--fold-from", base], node: node.id) }.min { $0.ms < $1.ms }!
        let whole = try measure(["--fold-all", base], node: node.id)
        say(String(format: "from the newest snapshot: %.1f ms, %.1f MB peak resident (%d events folded)", fromSnapshot.ms, fromSnapshot.rssMB, fromSnapshot.folded))
        say(String(format: "everything, into memory: %.1f ms, %.1f MB peak resident", whole.ms, whole.rssMB))
        print(
            String(
                format:
                    "{\"bench\":\"startup\",\"events\":%d,\"hours\":%.1f,\"segments\":%d,\"log_bytes\":%llu,\"snapshots\":%d,\"from_snapshot_ms\":%.1f,\"from_snapshot_rss_mb\":%.1f,\"folded_events\":%d,\"whole_fold_ms\":%.1f,\"whole_fold_rss_mb\":%.1f}",
                events.count, hours, segments, bytes, snapshots, fromSnapshot.ms, fromSnapshot.rssMB, fromSnapshot.folded,
                whole.ms, whole.rssMB
            )
        )
        if fromSnapshot.ms > 1000 || fromSnapshot.rssMB > 50 {
            throw fail("start-up target missed: \(fromSnapshot.ms) ms, \(fromSnapshot.rssMB) MB (targets 1000 ms, 50 MB)")
        }
    }

    /// In the child: runs `fold`, then prints its time, its peak resident memory and what it returned.
    private func child(_ fold: () throws -> Int) throws {
        let t0 = monotonicNow()
        let folded = try fold()
        let ms = Double(monotonicNow() - t0) / 1e6
        // VmHWM, not getrusage's ru_maxrss: Linux keeps that across exec, so it would count the parent's memory.
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? "0"
        print("\(ms) \(peak) \(folded)")
    }

    private func measure(_ arguments: [String], node: NodeID) throws -> (ms: Double, rssMB: Double, folded: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0].hasPrefix("/")
            ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0])
        process.arguments = ["bench", "startup"] + arguments + ["--fold-node", "\(node)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard process.terminationStatus == 0, fields.count == 3, let ms = Double(fields[0]), let kib = Double(fields[1]),
            let folded = Int(fields[2])
        else { throw fail("the fold process failed: \(output)") }
        return (ms, kib / 1024, folded)
    }
}
