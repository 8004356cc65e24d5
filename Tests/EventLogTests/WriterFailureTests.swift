import Foundation
import Testing

@testable import EventLog

/// A tmpfs of `size` mounted on a fresh directory (root only; CI runs as root).
struct SmallFilesystem {
    let dir: TemporaryDirectory

    init(size: String) throws {
        dir = TemporaryDirectory("servha-fs")
        try #require(run("mount -t tmpfs -o size=\(size) servha-test \(dir.path)") == 0, "mount tmpfs")
    }

    func remount(_ options: String) -> Bool { run("mount -o remount,\(options) \(dir.path)") == 0 }

    func cleanup() {
        _ = run("umount \(dir.path) 2>/dev/null")
        dir.cleanup()
    }
}

@Suite(.serialized) struct WriterFailureTests {
    @Test(arguments: [true, false])
    func durableAppendsWithAndWithoutDirectIO(directIO: Bool) async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.directIO = directIO
        options.segmentBytes = 16 << 10
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity, options: options)
        let drafts = sampleDrafts(400)
        for draft in drafts.prefix(200) { try await writer.appendDurable(draft) }
        for draft in drafts.dropFirst(200) { try writer.append(draft) }
        try await writer.flush()
        #expect(try LogReader(directory: dir.path).records().map(\.draft) == drafts)
        try writer.close()
        let reopened = try EventLogWriter(directory: dir.path, identity: testIdentity, options: options)
        try await reopened.appendDurable(drafts[0])
        try reopened.close()
        #expect(try LogReader(directory: dir.path).verify().records == 401)
    }

    @Test func blockingDurableAppendsFromThreads() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity)
        let drafts = sampleDrafts(4 * 50)
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread {
                for i in 0..<50 {
                    let sequence = try! writer.appendDurableBlocking(drafts[t * 50 + i])
                    precondition(writer.durableThrough >= sequence)
                }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(try LogReader(directory: dir.path).records().count == 200)
        try writer.close()
    }

    @Test(.enabled(if: isRoot, "needs root to mount a tmpfs (CI runs as root)"))
    func aFailedWriteStopsTheWriterForGood() async throws {
        let fs = try SmallFilesystem(size: "128k")
        defer { fs.cleanup() }
        var options = WriterOptions()
        options.preallocationBytes = 0
        let writer = try EventLogWriter(directory: fs.dir.path + "/log", identity: testIdentity, options: options)
        // Fill the filesystem: the writer's next write fails with ENOSPC.
        // dd stops with an error once the filesystem is full, which is the point.
        _ = run("dd if=/dev/zero of=\(fs.dir.path)/filler bs=4k count=64 2>/dev/null")
        var failure: Error?
        do {
            for draft in sampleDrafts(20_000) { try await writer.appendDurable(draft) }
        } catch {
            failure = error
        }
        let error = try #require(failure as? EventLogError, "the write must fail on a full filesystem")
        #expect(error.description.contains("No space left on device"))
        #expect(error.path?.hasPrefix(fs.dir.path) == true)
        // Not retried silently: every later append is refused with the cause.
        let later = #expect(throws: EventLogError.self) { try writer.append(sampleDrafts(1)[0]) }
        #expect(later?.code == .writerStopped)
        #expect(later?.description.contains("No space left on device") == true)
        await #expect(throws: EventLogError.self) { try await writer.flush() }
        #expect(throws: EventLogError.self) { try writer.close() }
        // What was acknowledged before the failure is intact and readable.
        _ = run("rm -f \(fs.dir.path)/filler")
        let summary = try LogReader(directory: fs.dir.path + "/log").verify()
        #expect(summary.records >= 1)
    }

    @Test(.enabled(if: isRoot, "needs root to mount a tmpfs (CI runs as root)"))
    func aReadOnlyDirectoryIsAClearErrorAndNothingIsCreated() throws {
        let fs = try SmallFilesystem(size: "1m")
        defer { fs.cleanup() }
        #expect(fs.remount("ro"))
        let error = #expect(throws: EventLogError.self) {
            try EventLogWriter(directory: fs.dir.path + "/log", identity: testIdentity)
        }
        #expect(error?.description.contains("\(fs.dir.path)/log") == true)
        #expect(error?.description.contains("Read-only file system") == true)
        #expect(error?.description.split(separator: "\n").count == 1)
    }

    @Test(.enabled(if: isRoot, "needs root to mount a tmpfs (CI runs as root)"))
    func onAFilesystemWithoutODirectTheWriterFallsBackToThePageCache() async throws {
        let fs = try SmallFilesystem(size: "64m")
        defer { fs.cleanup() }
        let writer = try EventLogWriter(directory: fs.dir.path + "/log", identity: testIdentity)
        for draft in sampleDrafts(300) { try await writer.appendDurable(draft) }
        try writer.close()
        #expect(try LogReader(directory: fs.dir.path + "/log").verify().records == 300)
    }
}
