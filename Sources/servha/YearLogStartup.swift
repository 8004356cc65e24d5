import Coordinator
import EventLog
import EventRecords
import Foundation
import Glibc
import Runtime

/// `servha bench startup --days N`: the year-long mode (the command's discussion says how the log is made).
extension StartupBenchmark {
    /// What start-up from one log directory measured.
    struct YearStart {
        var label: String
        var newestSegmentBytes: UInt64
        var fold: (ms: Double, rssMB: Double, folded: Int)
        var daemon: [YearLogDaemonStart.Measurement]
    }

    func runYear(days: Double) throws {
        func say(_ text: String) { if !json { print(text) } }
        func progress(_ text: String) { if !json { FileHandle.standardError.write(Data((text + "\n").utf8)) } }
        guard let limit = ByteText.parse(maxBytes), limit >= 64 << 20 else {
            throw fail("--max-bytes must be a size of at least 64MiB (like 2GiB)")
        }
        var retention = LogRetentionSettings.default  // max_age 365d
        retention.maxBytes = .bytes(limit)
        let segmentBytes = segmentMib.map { $0 << 20 } ?? Daemon.writerOptions.segmentBytes
        // One fdatasync a batch (the daemon commits one a second): on tmpfs they cost nothing.
        let base = dir ?? "/dev/shm/servha-bench-year-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        defer { if !keep { try? FileManager.default.removeItem(atPath: base) } }
        let yearNanos = UInt64(days * 86_400e9)
        let started = monotonicNow()

        progress("simulating a healthy pair for \(periodMinutes) minutes after a 15-minute warm-up...")
        var history = try YearLogHistory(
            seed: 7,
            warmUpNanos: 900_000_000_000,
            periodNanos: UInt64(periodMinutes) * 60_000_000_000
        )
        // The year ends about now, so that the daemon, which goes by the real clock, finds it as recent as it is.
        history.wallOffset = wallNow() - Int64(yearNanos) - history.prologue[0].wall
        let simulated = monotonicNow()
        let period = Double(history.periodNanos)
        let rate = Double(history.period.count) / (period / 1e9)

        // How much to write: what retention keeps (max_bytes), a tenth more and two segments, measured by
        // writing one repetition of a short history first (the bytes it takes depend on the codec).
        var written = writtenDays.map { UInt64(($0 * 86_400e9 / period).rounded(.up)) }
        if written == nil {
            let probe = YearLogBuilder(
                history: history,
                directory: base + "/probe",
                yearNanos: history.period[0].at - history.prologue[0].at + 4 * history.periodNanos,
                retention: retention,
                segmentBytes: segmentBytes
            )
            _ = try probe.build(writtenPeriods: 1) { _ in }
            let perPeriod = try LogRetention.inventory(base + "/probe").reduce(0) { $0 + $1.bytes }
            try FileManager.default.removeItem(atPath: base + "/probe")
            let wanted = limit + limit / 10 + 2 * UInt64(segmentBytes)
            written = wanted / max(perPeriod, 1) + 2
        }
        progress(String(format: "writing the last %.1f days of %.0f...", Double(written!) * period / 86_400e9, days))
        let log = base + "/log"
        let yearEnd = base + "/year-end"
        var yearEndState: State?
        let builder = YearLogBuilder(
            history: history,
            directory: log,
            yearNanos: yearNanos,
            retention: retention,
            segmentBytes: segmentBytes
        )
        let year = try builder.build(
            writtenPeriods: written,
            atYearEnd: { state in
                try YearLogDaemonStart.link(log, into: yearEnd)
                yearEndState = state
            }
        ) { share in progress(String(format: "  %.0f %%", share * 100)) }
        let built = monotonicNow()
        let builderPeak = YearLogDaemonStart.highWaterMB(getpid())
        let writtenSeconds = Double(built - simulated) / 1e9

        // Checks: each log is intact and start-up's fold of it ends in the state of the core that wrote it; retention
        // reached its steady state within the written days (it removed written segments, so what came before would
        // have gone too); the log now starts past the first sequence written.
        let segments = try LogRetention.inventory(log)
        let bytes = segments.reduce(0) { $0 + $1.bytes }
        let firstSequence = segments.first?.firstSequence ?? 0
        // (The year-end copy shares its sealed segments with the final log, and its open segment is a prefix of one.)
        let intact = try verifies(log)
        let foldMatches =
            try StartupFold.rebuild(directory: yearEnd, node: history.node).core.state == yearEndState
            && StartupFold.rebuild(directory: log, node: history.node).core.state == year.filledState
        let steady = firstSequence > year.firstWrittenSequence && year.removedSegments >= 2
        let retainedSnapshots = year.snapshotSequences.filter { $0 >= firstSequence }.count

        // A year-old node's shared copy holds its log already, made and verified by the daemon's own mirror.
        for (source, target) in [(yearEnd, base + "/shared-year-end"), (log, base + "/shared-full")] {
            if target.hasSuffix("full") { try YearLogDaemonStart.link(base + "/shared-year-end", into: target) }
            let mirror = SharedStorageMirror(source: source, target: target) { _ in }
            guard mirror.passAndReport() else { throw fail("the shared copy of \(source) could not be made") }
        }
        let daemon = YearLogDaemonStart(
            executable: Self.executablePath,
            cluster: history.config.cluster,
            retentionBytes: maxBytes
        )
        let hours = Double(year.filledNanos) / 3_600e9
        var starts: [YearStart] = []
        for (label, directory, shared) in [
            ("the year's end", yearEnd, base + "/shared-year-end"),
            (String(format: "%.1f h on: newest segment nearly full", hours), log, base + "/shared-full"),
        ] {
            progress("starting from \(label)...")
            let newest = try LogRetention.inventory(directory).last?.bytes ?? 0
            let fold = try (0..<3).map { _ in try measure(["--fold-from", directory], node: history.node) }.min {
                $0.ms < $1.ms
            }!
            let runs = try (0..<3).map { run in
                let place = base + "/daemon-\(starts.count)-\(run)"
                defer { if !keep { try? FileManager.default.removeItem(atPath: place) } }
                return try daemon.measure(log: directory, sharedLog: shared, run: place)
            }
            starts.append(YearStart(label: label, newestSegmentBytes: newest, fold: fold, daemon: runs))
        }
        let worstReady = starts.flatMap { $0.daemon.map(\.readyMs) }.max()!
        let worstRSS = starts.flatMap { $0.daemon.map(\.peakRSSMB) }.max()!
        let total = Double(monotonicNow() - started) / 1e9

        let logDays = Double(year.logNanos) / 86_400e9
        let writtenDaysDone = Double(year.writtenPeriods) * period / 86_400e9
        let skippedDays = Double(year.skippedPeriods) * period / 86_400e9
        let bytesPerDay = Double(year.writtenBytes) / (writtenDaysDone + hours / 24)
        say(
            String(
                format:
                    "history: %.2f days of log time, %@ events (%.0f inputs a second: a %d-minute steady period of a simulated healthy pair, repeated)",
                logDays,
                Self.grouped(year.events),
                rate,
                periodMinutes
            )
        )
        say(
            String(
                format:
                    "written: the last %.2f days, %@ events in %@ batches, in %.1f s (simulation %.1f s; peak resident %.0f MB); %.2f days skipped (state extrapolated, events counted)",
                writtenDaysDone,
                Self.grouped(year.writtenEvents),
                Self.grouped(year.batches),
                writtenSeconds,
                Double(simulated - started) / 1e9,
                builderPeak,
                skippedDays
            )
        )
        say(
            "retention: max_age 365d, max_bytes \(maxBytes), after every snapshot at the log's time: \(year.removedSegments) segments removed (\(ByteText.render(year.removedBytes)))"
        )
        say(
            String(
                format: "log left: %d segments of %d MiB, %@, sequences %@ to %@, %d snapshots, %.0f MB a day",
                segments.count,
                segmentBytes >> 20,
                ByteText.render(bytes),
                Self.grouped(firstSequence),
                Self.grouped(year.filledEvents),
                retainedSnapshots,
                bytesPerDay / 1e6
            )
        )
        say(
            "checks: log verify \(intact ? "intact" : "FAILED"); start-up's fold equals the writing core's state \(foldMatches ? "yes" : "NO"); retention steady within the written days \(steady ? "yes" : "NO")"
        )
        say("")
        say(
            "| start-up from | newest segment | StartupFold.rebuild, child process (best of 3) | `servha daemon`, exec to READY=1 (3 runs) | its peak resident (VmHWM at READY; 1 s later) |"
        )
        say("| --- | --- | --- | --- | --- |")
        for start in starts {
            let ready = start.daemon.map { String(format: "%.0f", $0.readyMs) }.joined(separator: " / ")
            let rss = start.daemon.map { String(format: "%.1f", $0.peakRSSMB) }.joined(separator: " / ")
            let later = start.daemon.map { String(format: "%.1f", $0.peakRSSAfterMB) }.joined(separator: " / ")
            say(
                String(
                    format: "| %@ | %@ | %.1f ms, %.1f MB, %@ events folded | %@ ms | %@ MB; %@ MB |",
                    start.label,
                    ByteText.render(start.newestSegmentBytes),
                    start.fold.ms,
                    start.fold.rssMB,
                    Self.grouped(UInt64(start.fold.folded)),
                    ready,
                    rss,
                    later
                )
            )
        }
        for start in starts {
            say("daemon (\(start.label)): \(start.daemon[0].rebuilt), role \(start.daemon[0].role) at READY")
        }
        say(String(format: "total %.1f s", total))
        func list(_ values: [Double]) -> String { values.map { String(format: "%.1f", $0) }.joined(separator: ",") }
        let full = starts[1]
        var fields = [
            "\"bench\":\"startup\"", "\"events\":\(year.events)", String(format: "\"hours\":%.1f", logDays * 24),
            "\"segments\":\(segments.count)", "\"log_bytes\":\(bytes)", "\"snapshots\":\(retainedSnapshots)",
            String(format: "\"from_snapshot_ms\":%.1f", starts[0].fold.ms),
            String(format: "\"from_snapshot_rss_mb\":%.1f", starts[0].fold.rssMB),
            "\"folded_events\":\(starts[0].fold.folded)",
        ]
        fields += [
            String(format: "\"days\":%.2f", logDays), "\"period_minutes\":\(periodMinutes)",
            String(format: "\"inputs_per_second\":%.1f", rate),
            String(format: "\"events_per_second\":%.1f", Double(year.events) / (Double(year.logNanos) / 1e9)),
            String(format: "\"written_days\":%.2f", writtenDaysDone), "\"written_events\":\(year.writtenEvents)",
            String(format: "\"skipped_days\":%.2f", skippedDays), String(format: "\"build_s\":%.1f", writtenSeconds),
            String(format: "\"build_rss_mb\":%.1f", builderPeak),
            "\"max_bytes\":\(limit)", "\"segment_bytes\":\(segmentBytes)",
            "\"removed_segments\":\(year.removedSegments)",
            "\"first_sequence\":\(firstSequence)", String(format: "\"log_mb_per_day\":%.1f", bytesPerDay / 1e6),
            "\"log_verify\":\(intact)", "\"fold_matches\":\(foldMatches)", "\"retention_steady\":\(steady)",
            "\"newest_segment_bytes\":\(starts[0].newestSegmentBytes)",
            "\"daemon_ready_ms\":[\(list(starts[0].daemon.map(\.readyMs)))]",
            "\"daemon_peak_rss_mb\":[\(list(starts[0].daemon.map(\.peakRSSMB)))]",
        ]
        fields += [
            String(format: "\"full_segment_hours\":%.2f", hours), "\"full_segment_bytes\":\(full.newestSegmentBytes)",
            String(format: "\"full_segment_from_snapshot_ms\":%.1f", full.fold.ms),
            String(format: "\"full_segment_from_snapshot_rss_mb\":%.1f", full.fold.rssMB),
            "\"full_segment_folded_events\":\(full.fold.folded)",
            "\"full_segment_daemon_ready_ms\":[\(list(full.daemon.map(\.readyMs)))]",
            "\"full_segment_daemon_peak_rss_mb\":[\(list(full.daemon.map(\.peakRSSMB)))]",
            String(format: "\"daemon_ready_ms_max\":%.1f", worstReady),
            String(format: "\"daemon_peak_rss_mb_max\":%.1f", worstRSS),
            String(format: "\"total_s\":%.1f", total),
        ]
        print("{" + fields.joined(separator: ",") + "}")
        guard intact, foldMatches, steady else { throw fail("a check failed (see above)") }
        let worstFold = starts.map(\.fold).max { $0.ms < $1.ms }!
        let worstFoldRSS = starts.map(\.fold.rssMB).max()!
        if worstReady > 1000 || worstRSS > 50 || worstFold.ms > 1000 || worstFoldRSS > 50 {
            throw fail(
                String(
                    format:
                        "start-up target missed: the daemon ready in %.0f ms at worst with %.1f MB resident, the fold %.0f ms with %.1f MB (targets 1000 ms, 50 MB)",
                    worstReady,
                    worstRSS,
                    worstFold.ms,
                    worstFoldRSS
                )
            )
        }
    }

    /// `servha log verify DIR` in a child process.
    private func verifies(_ directory: String) throws -> Bool {
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: Self.executablePath)
        verify.arguments = ["log", "verify", directory]
        verify.standardOutput = FileHandle.nullDevice
        try verify.run()
        verify.waitUntilExit()
        return verify.terminationStatus == 0
    }

    static func grouped(_ value: UInt64) -> String {
        let digits = Array(String(value))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}
