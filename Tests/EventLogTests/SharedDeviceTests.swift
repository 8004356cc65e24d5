import Foundation
import Testing

@testable import EventLog

/// The shared LUN's layout and the log ring on it, on a file standing in for the device.
@Suite struct SharedDeviceTests {
    /// A zeroed file of `bytes`, laid out for `cluster` (as `servha disk init` does).
    static func laidOutDevice(_ dir: TemporaryDirectory, bytes: Int = 1 << 20, cluster: String = "test-cluster")
        throws -> (SharedDevice, SharedDeviceLayout)
    {
        let path = dir.file("lun.img")
        #expect(truncate(path, off_t(bytes)) == 0 || creat(path, 0o644) >= 0)
        _ = truncate(path, off_t(bytes))
        let device = try SharedDevice(path: path)
        let layout = try SharedDeviceLayout(cluster: cluster, deviceBytes: device.size, createdWallNanos: 42)
        try device.write(layout.encoded(), block: 1)
        try device.write(layout.encoded(), block: 0)
        return (device, layout)
    }

    @Test func theHeaderRoundTripsAndEitherCopyServes() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let (device, layout) = try Self.laidOutDevice(dir, bytes: 16 << 20)
        #expect(try SharedDeviceLayout.read(from: device) == layout)
        #expect(layout.logBlocks == (4096 - 8) / 2)
        #expect(layout.logArea(rank: 1) + layout.logBlocks <= layout.blocks)
        // A bad sector in block 0: the copy in block 1 serves.
        var damaged = try device.read(block: 0, count: 1)
        damaged[50] ^= 0xFF
        try device.write(damaged, block: 0)
        #expect(try SharedDeviceLayout.read(from: device) == layout)
        // Both damaged: refused, naming the device.
        try device.write(damaged, block: 1)
        let error = try #require(throws: EventLogError.self) { try SharedDeviceLayout.read(from: device) }
        #expect("\(error)".hasPrefix(device.path + ": "))
        #expect("\(error)".contains("both header copies are damaged"))
        #expect("\(error)".contains("offset 0: header checksum does not match"))
    }

    @Test func aDeviceNotLaidOutOrOfAnotherClusterIsRefusedInOneLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("blank.img")
        _ = creat(path, 0o644)
        _ = truncate(path, off_t(2 << 20))
        let blank = try SharedDevice(path: path)
        let error = try #require(throws: EventLogError.self) { try SharedDeviceLayout.read(from: blank) }
        #expect("\(error)" == "\(path): offset 0: not laid out for servha (run `servha disk init \(path) --cluster NAME`)")
        let (device, layout) = try Self.laidOutDevice(dir, cluster: "prod")
        let other = try #require(throws: EventLogError.self) { try layout.check(cluster: "test", device: device.path) }
        #expect("\(other)" == "\(device.path): offset 40: the device belongs to cluster 'prod', not 'test'")
        #expect(throws: EventLogError.self) {
            try SharedDeviceLayout(cluster: "c", deviceBytes: 512 << 10, createdWallNanos: 0)
        }
    }

    @Test func filesystemsAndPartitionTablesAreRecognised() {
        var ext4 = [UInt8](repeating: 0, count: 70_000)
        ext4[1080] = 0x53
        ext4[1081] = 0xEF
        #expect(DeviceSignature.detect(ext4) == "an ext2/3/4 filesystem")
        var xfs = [UInt8](repeating: 0, count: 70_000)
        xfs.replaceSubrange(0..<4, with: Array("XFSB".utf8))
        #expect(DeviceSignature.detect(xfs) == "an XFS filesystem")
        var gpt = [UInt8](repeating: 0, count: 70_000)
        gpt.replaceSubrange(512..<520, with: Array("EFI PART".utf8))
        #expect(DeviceSignature.detect(gpt) == "a GPT partition table")
        #expect(DeviceSignature.detect([UInt8](repeating: 0, count: 70_000)) == nil)
    }

    /// A log of `count` records in many small batches.
    static func writeBatches(_ directory: String, count: Int, seed: UInt64 = 1) throws -> [LogRecord] {
        var options = WriterOptions()
        options.batchBytes = 2048
        options.directIO = false
        return try writeLog(directory, sampleDrafts(count, seed: seed), options: options)
    }

    @Test func theRingHoldsTheNewestBatchesAndReadsBackAsALog() async throws {
        let dir = TemporaryDirectory()
        let local = TemporaryDirectory()
        let out = TemporaryDirectory()
        defer {
            dir.cleanup()
            local.cleanup()
            out.cleanup()
        }
        let (device, layout) = try Self.laidOutDevice(dir)  // 1 MiB: two rings of 503 blocks
        let owner = DeviceLogRing.Owner(node: 1, name: "node-a")
        let ring = DeviceLogRingWriter(
            source: local.path, device: device, layout: layout, rank: 0, owner: owner
        ) { _ in }
        // Written in steps, as the daemon nudges it: more than the ring holds, so it wraps.
        var written: [LogRecord] = []
        var options = WriterOptions()
        options.batchBytes = 2048
        options.directIO = false
        let writer = try EventLogWriter(directory: local.path, identity: testIdentity, options: options)
        for step in 0..<120 {
            for draft in sampleDrafts(500, seed: UInt64(step + 1)) {
                written.append(LogRecord(sequence: try writer.append(draft), draft: draft))
            }
            try await writer.flush()
            #expect(ring.passAndReport())
        }
        try writer.close()
        #expect(ring.passAndReport())
        #expect(ring.status.lagBytes == 0)

        let entries = try DeviceLogRing.entries(device: device, layout: layout, rank: 0)
        let chain = DeviceLogRing.newestChain(entries)
        #expect(chain.count > 1)
        let read0 = try DeviceLogRing.materialize(device: device, layout: layout, node: "node-a", into: out.path)
        let records = read0.records
        #expect(read0.owner == owner)
        #expect(read0.damaged.isEmpty, "overwritten entries are not damage: \(read0.damaged)")
        // The ring wrapped: it holds the newest records, up to the very last one, not all 60,000.
        let read = try LogReader(directory: out.path).records()
        #expect(UInt64(read.count) == records)
        #expect(read.count < written.count)
        #expect(read.count > 2_000)
        #expect(read.last?.sequence == written.last?.sequence)
        #expect(Array(read) == Array(written.suffix(read.count)))
        #expect(try LogReader(directory: out.path).verify().records == records)
        // Nothing in the other node's area.
        #expect(throws: EventLogError.self) {
            try DeviceLogRing.materialize(device: device, layout: layout, node: "node-b", into: out.path)
        }
    }

    @Test func aDamagedEntryCutsTheChainAndIsNamedNowhereElse() async throws {
        let dir = TemporaryDirectory()
        let local = TemporaryDirectory()
        let out = TemporaryDirectory()
        defer {
            dir.cleanup()
            local.cleanup()
            out.cleanup()
        }
        let (device, layout) = try Self.laidOutDevice(dir, bytes: 4 << 20)
        let ring = DeviceLogRingWriter(
            source: local.path, device: device, layout: layout, rank: 1,
            owner: DeviceLogRing.Owner(node: 1, name: "node-a")
        ) { _ in }
        var options = WriterOptions()
        options.batchBytes = 2048
        options.directIO = false
        let writer = try EventLogWriter(directory: local.path, identity: testIdentity, options: options)
        var written: [LogRecord] = []
        for step in 0..<6 {
            for draft in sampleDrafts(300, seed: UInt64(step + 7)) {
                written.append(LogRecord(sequence: try writer.append(draft), draft: draft))
            }
            try await writer.flush()
            #expect(ring.passAndReport())
        }
        try writer.close()
        let before = DeviceLogRing.newestChain(try DeviceLogRing.entries(device: device, layout: layout, rank: 1))
        #expect(before.count == 6)
        // A flipped byte inside the third entry's frames: that entry fails its checksum; the chain the ring
        // still proves is the three entries after it.
        let third = before[2]
        let block = layout.logArea(rank: 1) + 1 + third.block
        var bytes = try device.read(block: block, count: 1)
        bytes[400] ^= 0x01
        try device.write(bytes, block: block)
        let after = DeviceLogRing.newestChain(try DeviceLogRing.entries(device: device, layout: layout, rank: 1))
        #expect(after.map(\.number) == before.suffix(3).map(\.number))
        let materialized = try DeviceLogRing.materialize(device: device, layout: layout, node: "node-a", into: out.path)
        let records = materialized.records
        // The damage is named with the device and the entry's offset on it.
        #expect(materialized.damaged.map(\.description) == [
            "\(device.path): offset \(block * SharedDevice.blockSize): entry checksum does not match"
        ])
        let read = try LogReader(directory: out.path).records()
        #expect(UInt64(read.count) == records)
        #expect(Array(read) == Array(written.suffix(read.count)))
        #expect(read.first?.sequence == before[3].firstSequence)
    }

    @Test func aRestartedWriterContinuesTheChain() throws {
        let dir = TemporaryDirectory()
        let local = TemporaryDirectory()
        let out = TemporaryDirectory()
        defer {
            dir.cleanup()
            local.cleanup()
            out.cleanup()
        }
        let (device, layout) = try Self.laidOutDevice(dir, bytes: 4 << 20)
        let owner = DeviceLogRing.Owner(node: 1, name: "node-a")
        var options = WriterOptions()
        options.batchBytes = 2048
        options.directIO = false
        var written: [LogRecord] = []
        for run in 0..<3 {
            // A new writer and a new ring writer each time, as after a daemon restart.
            let ring = DeviceLogRingWriter(source: local.path, device: device, layout: layout, rank: 0, owner: owner) {
                _ in
            }
            let writer = try EventLogWriter(directory: local.path, identity: testIdentity, options: options)
            for draft in sampleDrafts(400, seed: UInt64(run + 20)) {
                written.append(LogRecord(sequence: try writer.append(draft), draft: draft))
            }
            try writer.close()
            #expect(ring.passAndReport())
        }
        let chain = DeviceLogRing.newestChain(try DeviceLogRing.entries(device: device, layout: layout, rank: 0))
        #expect(chain.map(\.number) == Array(1...UInt64(chain.count)))
        try DeviceLogRing.materialize(device: device, layout: layout, node: "node-a", into: out.path)
        #expect(try LogReader(directory: out.path).records() == written)
    }
}
