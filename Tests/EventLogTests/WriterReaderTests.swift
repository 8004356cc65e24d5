import Foundation
import Testing

@testable import EventLog

@Suite struct WriterReaderTests {
    @Test func recordsComeBackInOrderAcrossRotatedSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.segmentBytes = 16 << 10
        options.batchBytes = 2 << 10
        let written = try writeLog(dir.path, sampleDrafts(5000), options: options)
        let reader = try LogReader(directory: dir.path)
        #expect(reader.directory.segments.count > 3)
        #expect(reader.directory.segments.dropLast().allSatisfy { !$0.isOpen })
        #expect(reader.directory.segments.last?.isOpen == true)
        #expect(try reader.records() == written)
        let summary = try reader.verify()
        #expect(summary.records == 5000)
        #expect(summary.tornTail == nil)
        #expect(summary.identity == testIdentity)
    }

    @Test func readingFromAnySequence() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.segmentBytes = 8 << 10
        options.batchBytes = 1 << 10
        let written = try writeLog(dir.path, sampleDrafts(2000), options: options)
        let reader = try LogReader(directory: dir.path)
        for from in [0, 1, 2, 77, 500, 1234, 1999, 2000] as [UInt64] {
            let expected = written.filter { $0.sequence >= from }
            #expect(try reader.records(from: from) == expected, "from \(from)")
        }
        #expect(try reader.records(from: 2001).isEmpty)
        #expect(try reader.records(from: 100, limit: 5).map(\.sequence) == [100, 101, 102, 103, 104])
    }

    @Test func reopeningContinuesTheSequenceAndTheChain() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let first = try writeLog(dir.path, sampleDrafts(300, seed: 1))
        let second = try writeLog(dir.path, sampleDrafts(300, seed: 2))
        #expect(second.first?.sequence == 301)
        let reader = try LogReader(directory: dir.path)
        #expect(try reader.records() == first + second)
        #expect(try reader.verify().records == 600)
    }

    @Test func aNewConfigHashStartsANewSegment() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        _ = try writeLog(dir.path, sampleDrafts(10))
        var changed = testIdentity
        changed.configHash = [UInt8](repeating: 9, count: 32)
        let writer = try EventLogWriter(directory: dir.path, identity: changed)
        try writer.append(sampleDrafts(1)[0])
        try writer.close()
        let reader = try LogReader(directory: dir.path)
        #expect(reader.directory.segments.count == 2)
        let summary = try reader.verify()
        #expect(summary.scans.map(\.header.identity.configHash) == [testIdentity.configHash, changed.configHash])
        #expect(summary.records == 11)
    }

    @Test func anotherNodesLogIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        _ = try writeLog(dir.path, sampleDrafts(3))
        var other = testIdentity
        other.nodeName = "node-b"
        other.node = 2
        let error = #expect(throws: EventLogError.self) { try EventLogWriter(directory: dir.path, identity: other) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.description.contains("node-a") == true)
    }

    @Test func aSecondWriterIsLockedOut() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity)
        let error = #expect(throws: EventLogError.self) {
            try EventLogWriter(directory: dir.path, identity: testIdentity)
        }
        #expect(error?.code == .locked)
        try writer.close()
    }

    @Test func durableAppendsFromManyProducersAreAllOnDiskWhenAcknowledged() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity)
        let drafts = sampleDrafts(8 * 100)
        let acknowledged = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for producer in 0..<8 {
                group.addTask {
                    var sequences: [UInt64] = []
                    for i in 0..<100 {
                        let sequence = try await writer.appendDurable(drafts[producer * 100 + i])
                        // Acknowledged means readable from the file now, before close.
                        #expect(writer.durableThrough >= sequence)
                        sequences.append(sequence)
                    }
                    return sequences
                }
            }
            var all: [UInt64] = []
            for try await sequences in group { all += sequences }
            return all
        }
        #expect(Set(acknowledged).count == 800)
        let onDisk = try LogReader(directory: dir.path).records()
        #expect(onDisk.map(\.sequence) == Array(1...800))
        #expect(writer.counters.syncs < 800, "group commit should share syncs: \(writer.counters.syncs)")
        try writer.close()
    }

    @Test func flushIsABarrier() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.maxBufferDelayNanos = 60_000_000_000  // only the barrier may write these
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity, options: options)
        for draft in sampleDrafts(50) { try writer.append(draft) }
        try await writer.flush()
        #expect(try LogReader(directory: dir.path).records().count == 50)
        try writer.close()
    }

    @Test func bufferedAppendsReachTheFileWithinTheDelayBound() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        var options = WriterOptions()
        options.maxBufferDelayNanos = 2_000_000
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity, options: options)
        for draft in sampleDrafts(10) { try writer.append(draft) }
        // Wait on the condition with a deadline rather than sleeping a fixed time.
        let deadline = monotonicNow() + 5_000_000_000
        var seen = 0
        while monotonicNow() < deadline {
            seen = (try? LogReader(directory: dir.path).records().count) ?? 0
            if seen == 10 { break }
            usleep(1000)
        }
        #expect(seen == 10)
        try writer.close()
    }

    @Test func appendsAfterCloseAreRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let writer = try EventLogWriter(directory: dir.path, identity: testIdentity)
        try writer.close()
        let error = #expect(throws: EventLogError.self) { try writer.append(sampleDrafts(1)[0]) }
        #expect(error?.code == .writerStopped)
    }

    @Test func aMissingParentDirectoryIsAClearError() throws {
        let error = #expect(throws: EventLogError.self) {
            try EventLogWriter(directory: "/nonexistent-servha/a/b", identity: testIdentity)
        }
        #expect(error?.description.contains("/nonexistent-servha/a/b") == true)
        let readError = #expect(throws: EventLogError.self) { try LogReader(directory: "/nonexistent-servha") }
        #expect(readError?.description == "/nonexistent-servha: log directory does not exist")
    }
}
