import Coordinator
import EventLog
import Foundation
import Testing

@testable import Runtime

/// The disk slots on a shared LUN (a file standing in for it), and the configuration that names one.
@Suite struct DeviceSlotTests {
    let view = Advertisement(
        role: .active,
        epoch: 9,
        owns: true,
        resourcesUp: 1,
        arbitratorReachable: nil,
        acknowledgesPeer: false,
        yields: false,
        healthy: true,
        maintenance: false
    )

    /// A laid-out 1 MiB device file, as `servha disk init` leaves it.
    func device(cluster: String = "c") throws -> (String, SharedDevice, SharedDeviceLayout) {
        let path = NSTemporaryDirectory() + "servha-lun-\(UInt64.random(in: 0...UInt64.max)).img"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 1 << 20)))
        let device = try SharedDevice(path: path)
        let layout = try SharedDeviceLayout(cluster: cluster, deviceBytes: device.size, createdWallNanos: 1)
        try device.write(layout.encoded(), block: 1)
        try device.write(layout.encoded(), block: 0)
        return (path, device, layout)
    }

    @Test func eachNodeWritesItsOwnBlocksAndTheNewestCopyIsRead() throws {
        let (path, device, layout) = try device()
        defer { unlink(path) }
        let store = DeviceSlotStore(device: device, layout: layout, nodes: [7, 3])
        #expect(store.rank(of: 3) == 0 && store.rank(of: 7) == 1)
        #expect(store.read(nodeName: "b", node: 7, startedAt: 1) == SlotReading(
            node: 7, readable: true, counter: 0, view: .unknown, startedAt: 1))
        for counter in 1...4 as ClosedRange<UInt64> {
            try store.write(nodeName: "a", node: 3, counter: counter, wall: 5, view: view)
            try store.write(nodeName: "b", node: 7, counter: counter + 100, wall: 5, view: .unknown)
            let a = store.read(nodeName: "a", node: 3, startedAt: 2)
            #expect(a.readable && a.counter == counter && a.view == view)
            #expect(store.read(nodeName: "b", node: 7, startedAt: 2).counter == counter + 100)
        }
        // Counter 4 sits in copy 0 of rank 0; counter 3 in copy 1. A torn write of copy 0, cut at any 512-byte
        // sector, leaves the reader on counter 3.
        let block = layout.slotBlock(rank: 0, copy: 0)
        let intact = try device.read(block: block, count: 1)
        for cut in stride(from: 16, to: DiskSlotStore.recordSize, by: 61) {
            var torn = intact
            for i in cut..<DiskSlotStore.recordSize { torn[i] = 0 }
            try device.write(torn, block: block)
            let reading = store.read(nodeName: "a", node: 3, startedAt: 3)
            #expect(reading.readable && reading.counter == 3, "cut at \(cut)")
        }
        #expect(throws: EventLogError.self) {
            try store.write(nodeName: "x", node: 99, counter: 1, wall: 0, view: view)
        }
    }

    @Test func theConfigurationNamesADeviceOrADirectory() throws {
        let onDevice = try ConfigLoader.parse(
            minimal().replacingOccurrences(
                of: "shared_storage: /srv/shared", with: "shared_storage: { device: /dev/disk/by-id/lun-7 }"),
            file: "t"
        ).get()
        #expect(onDevice.sharedStorage == .device("/dev/disk/by-id/lun-7"))
        #expect(onDevice.sharedStorage.logCopy(node: "a") == nil)
        let inDirectory = try ConfigLoader.parse(minimal(), file: "t").get()
        #expect(inDirectory.sharedStorage == .directory("/srv/shared"))
        #expect(inDirectory.sharedStorage.logCopy(node: "a") == "/srv/shared/logs/a")
        #expect(
            problems(minimal().replacingOccurrences(
                of: "shared_storage: /srv/shared", with: "shared_storage: { devise: /dev/sdb }")) == [
                "test.yaml:17:17: missing key 'shared_storage.device'",
                "test.yaml:17:19: unknown key 'devise' in 'shared_storage'",
            ]
        )
    }

    @Test func startUpRefusesADeviceOfAnotherClusterOrNotLaidOut() throws {
        let (path, _, _) = try device(cluster: "prod")
        defer { unlink(path) }
        var config = try ConfigLoader.parse(minimal(), file: "t").get()
        config.sharedStorage = .device(path)
        let other = try #require(throws: EventLogError.self) { try SharedStorageAccess.open(config) { _ in } }
        #expect("\(other)" == "\(path): offset 40: the device belongs to cluster 'prod', not 'c'")
        // Zeroed: not laid out.
        try SharedDevice(path: path).write([UInt8](repeating: 0, count: 8192), block: 0)
        let blank = try #require(throws: EventLogError.self) { try SharedStorageAccess.open(config) { _ in } }
        #expect("\(blank)".contains("not laid out for servha (run `servha disk init \(path) --cluster NAME`)"))
        config.sharedStorage = .device("/nonexistent/lun")
        let missing = try #require(throws: EventLogError.self) { try SharedStorageAccess.open(config) { _ in } }
        #expect("\(missing)".hasPrefix("/nonexistent/lun: cannot open the shared device"))
    }
}
