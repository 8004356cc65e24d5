import Coordinator
import EventLog

/// The nodes' disk slots on the shared LUN (`SharedDeviceLayout`): the same 512-byte records as in directory
/// mode, each copy in a 4 KiB block of its own, written and read with O_DIRECT (so a read sees the array, not a
/// page cache) and O_DSYNC. A node's slot blocks follow the rank of its id (0 for the lower id).
public struct DeviceSlotStore: SlotStore {
    public let device: SharedDevice
    public let layout: SharedDeviceLayout
    private let ranks: [NodeID: Int]

    public init(device: SharedDevice, layout: SharedDeviceLayout, nodes: [NodeID]) {
        self.device = device
        self.layout = layout
        var ranks: [NodeID: Int] = [:]
        for (rank, id) in nodes.sorted().enumerated() { ranks[id] = rank }
        self.ranks = ranks
    }

    /// The rank whose slot and log area a node uses.
    public func rank(of node: NodeID) -> Int? { ranks[node] }

    public func write(nodeName: String, node: NodeID, counter: UInt64, wall: Int64, view: Advertisement) throws {
        guard let rank = ranks[node] else {
            throw EventLogError(.invalidArgument, "node \(node) has no slot on the device", path: device.path)
        }
        let record = DiskSlotStore.record(node: node, counter: counter, wall: wall, view: view)
        try device.write(record, block: layout.slotBlock(rank: rank, copy: Int(counter % 2)))
    }

    public func read(nodeName: String, node: NodeID, startedAt: Instant) -> SlotReading {
        guard let rank = ranks[node],
            let blocks = try? device.read(block: layout.slotBlock(rank: rank, copy: 0), count: 2)
        else {
            return SlotReading(node: node, readable: false, counter: 0, view: .unknown, startedAt: startedAt)
        }
        let size = SharedDevice.blockSize
        let copies = (0..<2).map { Array(blocks[($0 * size)..<($0 * size + DiskSlotStore.recordSize)]) }
        return DiskSlotStore.newest(of: copies, node: node, startedAt: startedAt)
    }
}
