import Coordinator
import Foundation
import Testing

@testable import Runtime

@Suite struct DiskSlotTests {
    func temporaryShared() -> String {
        let path = NSTemporaryDirectory() + "servha-slots-\(UInt64.random(in: 0...UInt64.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    let view = Advertisement(
        role: .active,
        epoch: 7,
        owns: true,
        resourcesUp: 3,
        arbitratorReachable: true,
        acknowledgesPeer: false,
        yields: false,
        healthy: true,
        maintenance: false
    )

    @Test func writesAreReadBackWithTheNewestCounter() throws {
        let shared = temporaryShared()
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let store = DiskSlotStore(sharedStorage: shared)
        try store.prepare()
        #expect(
            store.read(nodeName: "a", node: 1, startedAt: 5)
                == SlotReading(node: 1, readable: true, counter: 0, view: .unknown, startedAt: 5)
        )
        for counter in 1...5 as ClosedRange<UInt64> {
            try store.write(nodeName: "a", node: 1, counter: counter, wall: 0, view: view)
            let reading = store.read(nodeName: "a", node: 1, startedAt: 9)
            #expect(reading.readable && reading.counter == counter && reading.view == view)
        }
    }

    @Test func aTornWriteOfOneCopyFallsBackToTheOther() throws {
        let shared = temporaryShared()
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let store = DiskSlotStore(sharedStorage: shared)
        try store.prepare()
        try store.write(nodeName: "a", node: 1, counter: 6, wall: 0, view: view)
        try store.write(nodeName: "a", node: 1, counter: 7, wall: 0, view: view)
        // Tear the newer copy (counter 7 lives in the second record) at every offset: the reader keeps 6.
        let path = store.path(for: "a")
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for cut in stride(from: DiskSlotStore.recordSize, to: 2 * DiskSlotStore.recordSize, by: 37) {
            var torn = original
            for i in cut..<(2 * DiskSlotStore.recordSize) { torn[i] = 0 }
            try torn.write(to: URL(fileURLWithPath: path))
            let reading = store.read(nodeName: "a", node: 1, startedAt: 0)
            #expect(reading.readable && reading.counter == 6, "torn at \(cut)")
        }
    }

    @Test func anotherNodesRecordOrGarbageIsNotTakenForTheSlot() throws {
        let shared = temporaryShared()
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let store = DiskSlotStore(sharedStorage: shared)
        try store.prepare()
        try store.write(nodeName: "a", node: 2, counter: 3, wall: 0, view: view)
        #expect(store.read(nodeName: "a", node: 1, startedAt: 0).counter == 0)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: store.path(for: "b")))
        #expect(store.read(nodeName: "b", node: 2, startedAt: 0).counter == 0)
    }

    @Test func missingSharedStorageIsAClearErrorAndUnreadable() {
        let store = DiskSlotStore(sharedStorage: "/nonexistent/servha-shared")
        #expect(throws: Error.self) { try store.prepare() }
        #expect(String(describing: (try? store.prepare()).map { _ in "" } ?? "fails").isEmpty == false)
        do {
            try store.prepare()
        } catch {
            #expect(
                "\(error)"
                    == "/nonexistent/servha-shared: shared storage /nonexistent/servha-shared does not exist (is it mounted?)"
            )
        }
        #expect(!store.read(nodeName: "b", node: 2, startedAt: 0).readable)
    }
}
