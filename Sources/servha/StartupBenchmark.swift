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

            With --days N (a year: --days 365), the log is the one node-a of a healthy pair would have after N days \
            with retention applied (max_age 365d, max_bytes --max-bytes), and a real `servha daemon` is started on \
            it. How the log is made, and what is exact:

            - History: the simulator runs a healthy pair (seed 7, no faults) for 15 minutes and one steady period \
            (--period-minutes, cut at a multiple of the core's digest interval). Node-a's recorded inputs are its \
            start and those 15 minutes, then the period repeated to fill N days, each repetition shifted by the \
            period in time and by what the period adds to the peer's heartbeat sequences, echoes and slot counter. \
            Every input is folded through one core (Coordinator.handle, as replay does) and the events it derives \
            are what is written, at once: each snapshot is the true state of that fold. The wall clock is shifted \
            so that the N days end when the command runs.

            - Written: by the daemon's writer (Daemon.writerOptions: LZ4HC; segments of 8 MiB unless \
            --segment-mib), on tmpfs; each batch ended as the daemon's are (a second of log time after its first \
            record, and after each snapshot); a snapshot every 10 minutes of log time and after each sealed segment \
            (a few batches later than the daemon's: the writing runs behind the core); after each snapshot, the \
            daemon's retention (LogRetention.plan and apply, as LogKeeper runs them) at the log's own time, each \
            sealed segment's modification time set to when it was sealed in log time (what max_age goes by).

            - Skipped: only the last --written-days are written (by default what max_bytes keeps, a tenth more \
            and two segments, sized by writing a short probe log first); the run fails unless retention removed \
            written segments too, so all that came before would have gone as well. Of the repetitions before \
            those, the first three are folded; over the rest the state is extrapolated (every instant and counter \
            moved on by what it moved in one repetition), which is used only once it predicted the third from the \
            first two exactly. The sequence numbers count the skipped events exactly (every repetition derives the \
            same events, checked for each one folded; timed snapshots go by the clock), except the snapshots after \
            the seals of segments that were never made.

            - Not as a full run of the year would leave them: batch and segment boundaries (they depend on every \
            byte before), hence the digest chain (the first segment written continues a stand-in digest; retention \
            removes it), the segment headers' creation times (when this command ran), and which segment retention \
            stops at (within one).

            Checks: `servha log verify` of what is left; StartupFold.rebuild of it ends in the state of the core \
            that wrote it; retention removed written segments. Start-up is measured twice: at the end of the N \
            days, and after the history went on until the newest segment was nearly full, up to just before the \
            next timed snapshot (start-up reads the newest segment that holds a snapshot whole, then folds what \
            follows the snapshot: the most of both). Each time: StartupFold.rebuild in a child process (best of 3), \
            and three starts of `servha daemon` (node-a of a loopback pair whose peer never comes, dry-run VIP, \
            its shared copy already made and verified by the daemon's own mirror, as a year-old node's is) on hard \
            links to the log, timed from exec to systemd's READY=1 (sent once the state is rebuilt and the sockets \
            listen), its peak resident memory the VmHWM then. Its configuration is not the simulated one, so it \
            starts as after a configuration change (sealing the open segment). Exit status 1 when a check fails or \
            the slowest start misses a target (1 s, 50 MB).
            """
    )

    @Option(help: "Hours of log.") var hours = 6.0
    @Option(help: "Segment size in MiB (default: the daemon's, 8).") var segmentMib: Int?
    @Option(help: "Days of log, with retention and a real daemon's start (a year: 365); instead of --hours.")
    var days: Double?
    @Option(help: "With --days: log.retention.max_bytes (a small disk's share).") var maxBytes = "2GiB"
    @Option(help: "With --days: how many of the last days to write (default: what max_bytes keeps, and more).")
    var writtenDays: Double?
    @Option(help: "With --days: the repeated period of simulated history, in minutes.") var periodMinutes = 60
    @Flag(help: "With --days: keep the directory (default /dev/shm/servha-bench-year-PID, about twice max_bytes).")
    var keep = false
    @Option(help: "Directory for the log (removed afterwards, unless --keep).") var dir: String?
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
        if let days { return try runYear(days: days) }
        let segmentMib = segmentMib ?? 8
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
        print("\(ms) \(Int(YearLogDaemonStart.highWaterMB(getpid()) * 1024)) \(folded)")
    }

    /// This servha binary, for the child processes.
    static var executablePath: String {
        CommandLine.arguments[0].hasPrefix("/")
            ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    }

    func measure(_ arguments: [String], node: NodeID) throws -> (ms: Double, rssMB: Double, folded: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executablePath)
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
