import Coordinator
import EventLog
import EventRecords
import Foundation
import Logging
import Testing

@testable import Runtime

private let incidents = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/incidents").path

private let day: Int64 = 86_400_000_000_000
private let mib: UInt64 = 1 << 20

@Suite("Log retention: what goes, what stays")
struct LogRetentionPlanTests {
    /// Ten 100 MiB segments, sealed a day apart (the tenth open), none archived.
    static func segments(now: Int64) -> [LogRetention.Segment] {
        (0..<10).map { (i: Int) -> LogRetention.Segment in
            let first = UInt64(i * 1000 + 1)
            let written: Int64 = now - Int64(10 - i) * day
            return LogRetention.Segment(
                name: String(format: "%020d.seg", Int(first)), path: "/log/\(i)", firstSequence: first,
                bytes: 100 * mib, writtenAt: written, sealed: i < 9, archived: false
            )
        }
    }

    func settings(age: Int64 = 365 * day, bytes: UInt64 = 1 << 40, archive: String? = nil) -> LogRetentionSettings {
        LogRetentionSettings(maxAge: UInt64(age), maxBytes: .bytes(bytes), archiveCommand: archive)
    }

    @Test("by bytes: the oldest go until the log fits; by age: those sealed too long ago")
    func limits() {
        let now: Int64 = 1_800_000_000_000_000_000
        let all = Self.segments(now: now)
        let snapshot: UInt64 = 9_500  // in the open segment
        let bySize = LogRetention.plan(all, newestSnapshot: snapshot, settings: settings(bytes: 650 * mib), fileSystemBytes: 0, now: now)
        #expect(bySize.removals.map(\.segment.firstSequence) == [1, 1001, 2001, 3001])
        #expect(bySize.removals[0].reason.contains("over 650 MiB"))
        let byAge = LogRetention.plan(all, newestSnapshot: snapshot, settings: settings(age: 7 * day + 1), fileSystemBytes: 0, now: now)
        #expect(byAge.removals.map(\.segment.firstSequence) == [1, 1001, 2001])
        // A share of the file system: 25% of 2 GiB is 512 MiB.
        var share = settings()
        share.maxBytes = .share(percent: 25)
        let byShare = LogRetention.plan(all, newestSnapshot: snapshot, settings: share, fileSystemBytes: 2048 * mib, now: now)
        #expect(byShare.removals.count == 5 && byShare.byteLimit == 512 * mib)
    }

    @Test("never the newest snapshot's segment or later, never the open one, nothing without a snapshot")
    func whatStartUpNeedsStays() {
        let now: Int64 = 1_800_000_000_000_000_000
        let all = Self.segments(now: now)
        let tiny = settings(age: Int64(3_600_000_000_000), bytes: 64 * mib)
        let plan = LogRetention.plan(all, newestSnapshot: 4_200, settings: tiny, fileSystemBytes: 0, now: now)
        #expect(plan.neededFrom == 4)
        #expect(plan.removals.map(\.segment.firstSequence) == [1, 1001, 2001, 3001])
        #expect(LogRetention.plan(all, newestSnapshot: nil, settings: tiny, fileSystemBytes: 0, now: now).removals.isEmpty)
        let openOnly = LogRetention.plan(all, newestSnapshot: 9_001, settings: tiny, fileSystemBytes: 0, now: now)
        #expect(!openOnly.removals.contains { !$0.segment.sealed })
    }

    @Test("with an archive command, only archived segments go, and never past one that is not")
    func archivesFirst() {
        let now: Int64 = 1_800_000_000_000_000_000
        var all = Self.segments(now: now)
        for i in [0, 1, 3] { all[i].archived = true }
        let plan = LogRetention.plan(
            all, newestSnapshot: 9_500, settings: settings(bytes: 300 * mib, archive: "cp %p /a/%f"), fileSystemBytes: 0,
            now: now
        )
        #expect(plan.removals.map(\.segment.firstSequence) == [1, 1001])
        #expect(plan.waitingForArchive?.firstSequence == 2001)
        #expect(LogRetention.nextToArchive(all, settings: settings(archive: "x %p"))?.firstSequence == 2001)
        #expect(
            LogRetention.archiveCommand("cp %p /archive/%f && echo 100%% done", for: all[0])
                == "cp '/log/0' /archive/'00000000000000000001.seg' && echo 100% done"
        )
    }
}

@Suite("Log retention on a real log", .serialized)
struct LogKeeperTests {
    /// A log of the failback incident in 4 KiB segments with a snapshot every 300 events, and its shared copy.
    func makeLog() throws -> (root: String, identity: LogIdentity, events: [Event]) {
        var events: [Event] = []
        let summary = try LogReader(directory: incidents + "/failback/node-b").forEachRecord { view in
            events.append(try EventCodec.decode(view))
            return true
        }
        let identity = try #require(summary.identity)
        let root = NSTemporaryDirectory() + "servha-retention-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = WriterOptions()
        options.segmentBytes = 4096
        options.batchBytes = 1024
        options.directIO = false
        let writer = try EventLogWriter(directory: root + "/log", identity: identity, options: options)
        var state = State(me: identity.node)
        var with: [Event] = []
        for (index, event) in events.enumerated() {
            with.append(event)
            state.apply(event)
            if index % 300 == 299 { with.append(.snapshot(StateSnapshot.encode(state))) }
        }
        for draft in EventCodec.drafts(with, node: identity.node) { try writer.append(draft) }
        try writer.close()
        try FileManager.default.createDirectory(atPath: root + "/shared", withIntermediateDirectories: true)
        for segment in try LogDirectory(root + "/log").segments {
            try FileManager.default.copyItem(atPath: segment.path, toPath: root + "/shared/" + segment.name)
        }
        return (root, identity, events)
    }

    func newestSnapshot(_ directory: String) throws -> UInt64? {
        var newest: UInt64?
        try LogReader(directory: directory).forEachRecord { view in
            if view.type == EventCodec.RecordType.snapshot.rawValue { newest = view.sequence }
            return true
        }
        return newest
    }

    @Test("the oldest go here and in the shared copy; start-up still rebuilds the exact state afterwards")
    func removesAndStartUpStillWorks() async throws {
        let (root, identity, events) = try makeLog()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = try LogDirectory(root + "/log").segments
        let snapshot = try newestSnapshot(root + "/log")
        let settings = LogRetentionSettings(maxAge: 365 * 86_400_000_000_000, maxBytes: .bytes(8192), archiveCommand: nil)
        let outcomes = await LogKeeper.run(
            directory: root + "/log", sharedCopy: root + "/shared", newestSnapshot: snapshot, settings: settings,
            logger: Logger(label: "test")
        )
        #expect(outcomes.isEmpty)
        let after = try LogDirectory(root + "/log").segments
        #expect(after.count < before.count && after.first!.firstSequence > 1)
        let shared = try FileManager.default.contentsOfDirectory(atPath: root + "/shared").sorted()
        #expect(shared == after.map(\.name), "the shared copy lost the same segments")
        // What start-up needs stayed: the state is the whole history's.
        let rebuilt = try StartupFold.rebuild(directory: root + "/log", node: identity.node)
        #expect(rebuilt.core.state == Coordinator(node: identity.node, folding: events).state)
    }

    @Test("a failing archive command keeps the segment and says why; a working one archives, then retention removes")
    func archiveCommand() async throws {
        let (root, _, _) = try makeLog()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let snapshot = try newestSnapshot(root + "/log")
        let sealed = try LogDirectory(root + "/log").segments.filter { !$0.isOpen }
        var settings = LogRetentionSettings(
            maxAge: 365 * 86_400_000_000_000, maxBytes: .bytes(8192), archiveCommand: "echo disk full >&2; false %p"
        )
        let failed = await LogKeeper.run(
            directory: root + "/log", sharedCopy: nil, newestSnapshot: snapshot, settings: settings, logger: Logger(label: "t")
        )
        #expect(failed.count == 1 && !failed[0].succeeded && failed[0].segment == sealed[0].name)
        #expect(failed[0].detail.contains("disk full"), "\(failed[0].detail)")
        #expect(try LogDirectory(root + "/log").segments.first?.name == sealed[0].name, "nothing removed")

        try FileManager.default.createDirectory(atPath: root + "/archive", withIntermediateDirectories: true)
        settings.archiveCommand = "cp %p \(root)/archive/%f"
        let archived = await LogKeeper.run(
            directory: root + "/log", sharedCopy: nil, newestSnapshot: snapshot, settings: settings, logger: Logger(label: "t")
        )
        #expect(archived.count == sealed.count && archived.allSatisfy(\.succeeded))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/archive").sorted() == sealed.map(\.name))
        #expect(try LogDirectory(root + "/log").segments.first!.firstSequence > 1, "archived segments went")
    }
}
