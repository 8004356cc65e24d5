import Foundation
import Testing

@testable import EventLog

/// The shared copy writes each byte once and reads it back once; a restart reads only the ends of the sealed
/// copies it verified before, and still notices a copy that was damaged or cut short in between.
@Suite(.serialized) struct MirrorCopyOnceTests {
    /// Segments of 64 KiB, batches of 1 KiB: a few sealed segments from a few thousand sample records.
    static var writerOptions: WriterOptions {
        var options = WriterOptions()
        options.segmentBytes = 64 << 10
        options.batchBytes = 1 << 10
        return options
    }

    /// Writes `rounds` rounds of records, running a mirror pass after each, so that every segment is copied
    /// while it is open and finished when it is sealed.
    static func writeAndMirror(_ local: String, _ mirror: SharedStorageMirror, rounds: Range<Int>) throws {
        for round in rounds {
            _ = try writeLog(local, sampleDrafts(400, seed: UInt64(round + 1)), options: writerOptions)
            #expect(mirror.passAndReport(), "round \(round)")
        }
    }

    static func sizes(_ directory: String) throws -> (sealed: [Int], open: Int) {
        let segments = try LogDirectory(directory).segments
        let size = { (segment: LogDirectory.Segment) in SystemDirectory.fileSize(segment.path) ?? 0 }
        return (segments.filter { !$0.isOpen }.map(size), segments.filter(\.isOpen).map(size).reduce(0, +))
    }

    /// What a restart reads of a marked copy: its header and its last `endCheckBytes`.
    static func endsRead(_ path: String) throws -> Int {
        let bytes = readFile(path)
        let (_, headerLength) = try bytes.withUnsafeBytes { try SegmentHeader.parse($0, path: path) }
        return headerLength + min(SharedStorageMirror.endCheckBytes, bytes.count - headerLength)
    }

    @Test func aSegmentMirroredWhileOpenIsWrittenOnceWhenSealed() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let recorder = EventRecorder()
        let mirror = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { recorder.record($0) }
        try Self.writeAndMirror(local.path, mirror, rounds: 0..<30)
        try expectIdenticalCopy(local.path, shared.file("node-a"))

        let (sealed, open) = try Self.sizes(local.path)
        try #require(sealed.count >= 3, "the test needs a few sealed segments")
        let stored = sealed.reduce(0, +) + open
        let status = mirror.status
        print(
            "copy once: \(sealed.count) sealed (\(sealed.reduce(0, +)) B) + open \(open) B;",
            "wrote \(status.bytesWritten) B, read \(status.bytesRead) B"
        )
        // Every byte of the log written to shared storage exactly once, and read back exactly once.
        #expect(status.bytesWritten == stored)
        #expect(status.bytesRead == stored)
        #expect(status.segmentsCopied == sealed.count)
        #expect(recorder.all.isEmpty)
        let copies = try SystemDirectory.list(shared.file("node-a"))
        #expect(copies.filter { $0.hasSuffix(".open") }.count == 1)
        #expect(!copies.contains { $0.hasSuffix(".copying") })
    }

    @Test func anOpenCopyLeftByARestartIsFinishedInPlace() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let before = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { _ in }
        try Self.writeAndMirror(local.path, before, rounds: 0..<4)
        #expect(try Self.sizes(local.path).sealed.isEmpty, "only an open segment so far")
        // The daemon stops; while it is down, the log grows past a seal.
        _ = try writeLog(local.path, sampleDrafts(3000, seed: 77), options: Self.writerOptions)
        let after = SharedStorageMirror(source: local.path, target: shared.file("node-a")) { _ in }
        #expect(after.passAndReport())
        try expectIdenticalCopy(local.path, shared.file("node-a"))

        let (sealed, open) = try Self.sizes(local.path)
        try #require(sealed.count >= 1)
        // The first segment's open copy was kept and only its missing frames appended: between the two
        // mirrors, every byte was written once.
        #expect(before.status.bytesWritten + after.status.bytesWritten == sealed.reduce(0, +) + open)
        #expect(after.status.segmentsCopied == sealed.count)
    }

    @Test func anOpenCopyChangedBetweenPassesIsNotFinishedInPlace() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let target = shared.file("node-a")
        let mirror = SharedStorageMirror(source: local.path, target: target) { _ in }
        try Self.writeAndMirror(local.path, mirror, rounds: 0..<4)
        let open = try #require(try LogDirectory(local.path).segments.last)
        #expect(open.isOpen)
        // Someone flips a byte of the open copy; its size stays the same.
        let copy = target + "/" + open.name
        var bytes = readFile(copy)
        bytes[bytes.count / 2] ^= 0x01
        writeFile(copy, bytes)
        // The segment is sealed; the mirror must not finish the damaged copy in place.
        _ = try writeLog(local.path, sampleDrafts(3000, seed: 78), options: Self.writerOptions)
        #expect(mirror.passAndReport())
        let sealedCopy = target + "/" + SegmentName.sealed(open.firstSequence)
        let finished = readFile(sealedCopy) == readFile(local.path + "/" + SegmentName.sealed(open.firstSequence))
        #expect(finished, "the sealed copy is byte-identical")
        try expectIdenticalCopy(local.path, target)
    }

    @Test func aRestartReadsOnlyTheEndsOfSealedCopies() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let target = shared.file("node-a")
        let first = SharedStorageMirror(source: local.path, target: target) { _ in }
        try Self.writeAndMirror(local.path, first, rounds: 0..<30)
        let (sealed, open) = try Self.sizes(local.path)
        try #require(sealed.count >= 3)

        let restarted = SharedStorageMirror(source: local.path, target: target) { _ in }
        #expect(restarted.passAndReport())
        let status = restarted.status
        let segments = try LogDirectory(local.path).segments
        let ends = try segments.filter { !$0.isOpen }.map { try Self.endsRead(target + "/" + $0.name) }.reduce(0, +)
        print(
            "restart: \(sealed.count) sealed copies (\(sealed.reduce(0, +)) B) + open \(open) B;",
            "read \(status.bytesRead) B, wrote \(status.bytesWritten) B"
        )
        // The open copy is still compared in full after a restart; each sealed copy only at its ends.
        #expect(status.bytesRead == open + ends)
        #expect(ends * 10 < sealed.reduce(0, +))
        #expect(status.bytesWritten == 0)
        #expect(status.segmentsCopied == 0)
        try expectIdenticalCopy(local.path, target)
    }

    @Test func aTruncatedOrFlippedSealedCopyIsCopiedAgainAfterARestart() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let target = shared.file("node-a")
        let first = SharedStorageMirror(source: local.path, target: target) { _ in }
        try Self.writeAndMirror(local.path, first, rounds: 0..<30)
        let sealed = try LogDirectory(local.path).segments.filter { !$0.isOpen }
        try #require(sealed.count >= 3)

        // One byte flipped in the middle of the first copy, far from the ends that a restart reads.
        let flipped = target + "/" + sealed[0].name
        var bytes = readFile(flipped)
        bytes[bytes.count / 2] ^= 0x01
        writeFile(flipped, bytes)
        // The second copy cut short by a few bytes.
        let cut = target + "/" + sealed[1].name
        #expect(truncate(cut, off_t(readFile(cut).count - 7)) == 0)

        let restarted = SharedStorageMirror(source: local.path, target: target) { _ in }
        #expect(restarted.passAndReport())
        #expect(restarted.status.segmentsCopied == 2, "the two damaged copies, and no other")
        let (flippedMended, cutMended) = (
            readFile(flipped) == readFile(sealed[0].path), readFile(cut) == readFile(sealed[1].path)
        )
        #expect(flippedMended, "the flipped copy is byte-identical again")
        #expect(cutMended, "the truncated copy is byte-identical again")
        try expectIdenticalCopy(local.path, target)
        #expect(
            restarted.status.bytesWritten
                == (SystemDirectory.fileSize(sealed[0].path) ?? 0) + (SystemDirectory.fileSize(sealed[1].path) ?? 0)
        )
    }

    @Test func aSealedCopyWithoutTheMarkIsComparedOnceThenMarked() throws {
        let local = TemporaryDirectory()
        let shared = TemporaryDirectory("servha-shared")
        defer {
            local.cleanup()
            shared.cleanup()
        }
        let target = shared.file("node-a")
        let first = SharedStorageMirror(source: local.path, target: target) { _ in }
        try Self.writeAndMirror(local.path, first, rounds: 0..<30)
        let sealed = try LogDirectory(local.path).segments.filter { !$0.isOpen }
        try #require(sealed.count >= 3)
        // A copy made by an older servha, or touched: the bytes are right, the mark is gone.
        let touched = target + "/" + sealed[2].name
        #expect(utimes(touched, nil) == 0)
        let size = SystemDirectory.fileSize(touched) ?? 0

        let second = SharedStorageMirror(source: local.path, target: target) { _ in }
        #expect(second.passAndReport())
        #expect(second.status.segmentsCopied == 0, "identical, so not copied again")
        #expect(second.status.bytesWritten == 0)
        #expect(second.status.bytesRead >= size, "read in full once")

        let third = SharedStorageMirror(source: local.path, target: target) { _ in }
        #expect(third.passAndReport())
        #expect(third.status.bytesRead < second.status.bytesRead - size / 2, "marked by the second, so cheap now")
        try expectIdenticalCopy(local.path, target)
    }
}
