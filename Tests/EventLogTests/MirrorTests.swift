import Foundation
import Synchronization
import Testing

@testable import EventLog

/// Collects mirror events for assertions.
final class EventRecorder: Sendable {
    private let events = Mutex<[MirrorEvent]>([])
    func record(_ event: MirrorEvent) { events.withLock { $0.append(event) } }
    var all: [MirrorEvent] { events.withLock { $0 } }
    var failures: [EventLogError] {
        all.compactMap { if case .failing(let e) = $0 { return e } else { return nil } }
    }
}

/// Every local segment has an identical copy in `target` (open segments may only lag, never differ).
func expectIdenticalCopy(_ source: String, _ target: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let local = try LogDirectory(source).segments
    for segment in local {
        let copy = readFile(target + "/" + segment.name)
        #expect(
            copy == readFile(segment.path).prefix(copy.count).map { $0 },
            "\(segment.name)",
            sourceLocation: sourceLocation
        )
        #expect(
            copy.count == readFile(segment.path).count,
            "\(segment.name) fully copied",
            sourceLocation: sourceLocation
        )
    }
    #expect(try LogReader(directory: target).verify().records == LogReader(directory: source).verify().records)
}

func run(_ command: String) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    try? process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

let isRoot = getuid() == 0

@Suite(.serialized) struct MirrorTests {
    @Test func copiesSealedAndOpenSegmentsAndVerifiesThem() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let recorder = EventRecorder()
        let mirror = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { recorder.record($0) }
        var options = WriterOptions()
        options.segmentBytes = 8 << 10
        options.batchBytes = 1 << 10
        _ = try writeLog(local.path, sampleDrafts(2000), options: options)
        #expect(mirror.passAndReport())
        try expectIdenticalCopy(local.path, shared.file("node-a"))
        #expect(recorder.all.isEmpty)
        // More records, including a seal: the open copy is replaced by the sealed one.
        _ = try writeLog(local.path, sampleDrafts(2000, seed: 5), options: options)
        #expect(mirror.passAndReport())
        try expectIdenticalCopy(local.path, shared.file("node-a"))
        let copies = try SystemDirectory.list(shared.file("node-a"))
        #expect(copies.filter { $0.hasSuffix(".open") }.count == 1)
        #expect(!copies.contains { $0.hasSuffix(".copying") })
    }

    @Test func aMissingSharedDirectoryIsReportedOnceAndCaughtUpLater() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let mount = shared.file("mnt")  // does not exist yet: "the mount is gone"
        let recorder = EventRecorder()
        let mirror = SharedStorageMirror(source: local.path, target: mount + "/node-a") { recorder.record($0) }
        _ = try writeLog(local.path, sampleDrafts(500))
        #expect(!mirror.passAndReport())
        #expect(!mirror.passAndReport())
        #expect(recorder.failures.count == 1, "reported once, not on every retry")
        #expect(recorder.failures.first?.description.contains("shared storage is not available") == true)
        #expect(!FileManager.default.fileExists(atPath: mount), "the mirror must not create the mount point")
        // Local logging goes on meanwhile.
        _ = try writeLog(local.path, sampleDrafts(500, seed: 3))
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: false)
        #expect(mirror.passAndReport())
        #expect(recorder.all.last == .recovered)
        try expectIdenticalCopy(local.path, mount + "/node-a")
    }

    @Test func aSlowSharedStorageNeverDelaysLocalAppends() async throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let gate = Wakeup()
        let blocked = Mutex(false)
        var options = MirrorOptions()
        options.retryIntervalNanos = 10_000_000
        // The shared storage "hangs" on its first write until the gate opens.
        options.beforeWrite = { _ in
            let first = blocked.withLock { b in
                defer { b = true }
                return !b
            }
            if first { gate.wait() }
        }
        let mirror = SharedStorageMirror(source: local.path, target: shared.file("node-a"), options: options) { _ in }
        let writer = try EventLogWriter(
            directory: local.path,
            identity: testIdentity,
            onBatchesWritten: { mirror.nudge() }
        )
        mirror.start()
        let stuckBy = monotonicNow() + 10_000_000_000
        while !blocked.withLock({ $0 }) && monotonicNow() < stuckBy { usleep(1000) }
        try #require(blocked.withLock { $0 }, "the mirror should be stuck in the shared write")
        // Durable appends complete while the mirror is stuck in its write.
        for draft in sampleDrafts(300) { try await writer.appendDurable(draft) }
        #expect(try LogReader(directory: local.path).records().count == 300)
        gate.signal()
        try writer.close()
        // Wait for the catch-up with a deadline.
        let deadline = monotonicNow() + 10_000_000_000
        while monotonicNow() < deadline {
            mirror.nudge()
            if let copied = try? LogReader(directory: shared.file("node-a")).verify().records, copied == 300 { break }
            usleep(2000)
        }
        mirror.stop()
        try expectIdenticalCopy(local.path, shared.file("node-a"))
    }

    @Test(.enabled(if: isRoot, "needs root to mount a tmpfs (CI runs as root)"))
    func aReadOnlyOrFullSharedStorageIsReportedAndCaughtUp() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            _ = run("umount \(shared.path) 2>/dev/null")
            local.cleanup()
            shared.cleanup()
        }
        #expect(run("mount -t tmpfs -o size=64k servha-test \(shared.path)") == 0)
        let recorder = EventRecorder()
        let mirror = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { recorder.record($0) }
        var options = WriterOptions()
        options.compress = false  // make it big enough to fill 64 KiB
        options.segmentBytes = 32 << 10
        _ = try writeLog(local.path, sampleDrafts(3000), options: options)

        // Full.
        #expect(!mirror.passAndReport())
        #expect(recorder.failures.last?.description.contains("No space left") == true)
        #expect(run("mount -o remount,size=16m \(shared.path)") == 0)
        #expect(mirror.passAndReport())
        #expect(recorder.all.last == .recovered)
        try expectIdenticalCopy(local.path, shared.file("node-a"))

        // Read-only.
        #expect(run("mount -o remount,ro \(shared.path)") == 0)
        _ = try writeLog(local.path, sampleDrafts(3000, seed: 4), options: options)
        #expect(!mirror.passAndReport())
        #expect(recorder.failures.last?.description.contains("Read-only") == true)
        #expect(run("mount -o remount,rw \(shared.path)") == 0)
        #expect(mirror.passAndReport())
        try expectIdenticalCopy(local.path, shared.file("node-a"))
        #expect(recorder.failures.count == 2)
    }

    @Test func aCopyDamagedBehindTheMirrorsBackIsRewritten() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        _ = try writeLog(local.path, sampleDrafts(400))
        let first = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { _ in }
        #expect(first.passAndReport())
        let copy = shared.file("node-a") + "/" + (try LogDirectory(local.path).segments[0].name)
        var bytes = readFile(copy)
        bytes[bytes.count / 2] ^= 0xFF
        writeFile(copy, bytes)
        // A new mirror (a restarted daemon) does not trust the copy it finds.
        let second = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { _ in }
        #expect(second.passAndReport())
        try expectIdenticalCopy(local.path, shared.file("node-a"))
    }
}
