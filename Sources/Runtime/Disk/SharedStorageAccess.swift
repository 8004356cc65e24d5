import Coordinator
import EventLog
import Glibc

/// The shared storage a configuration names, opened and checked at start: where the slots are written and
/// read, and what keeps this node's log where the peer can read it.
public struct SharedStorageAccess: Sendable {
    public let slots: any SlotStore
    public let logCopy: any SharedLogCopy

    /// Checks and opens it. Throws a one-line error naming the directory or device (and the offset, for a
    /// device whose layout is wrong); nothing is left open then.
    public static func open(
        _ config: DaemonConfig,
        onEvent: @escaping @Sendable (MirrorEvent) -> Void
    ) throws -> SharedStorageAccess {
        switch config.sharedStorage {
        case .directory(let path):
            let slots = DiskSlotStore(sharedStorage: path)
            try slots.prepare()
            // The shared copies of the logs go under `logs/`. The mirror creates its node's directory but never
            // that directory's parent (a missing mount must be noticed), so on a fresh shared storage it is made
            // here, once the mount is known to be there.
            let sharedLogs = path + "/logs"
            if mkdir(sharedLogs, 0o755) != 0 && errno != EEXIST {
                throw EventLogError.system("cannot create the directory for the log copies", path: sharedLogs)
            }
            let mirror = SharedStorageMirror(
                source: config.logDirectory,
                target: sharedLogs + "/" + config.thisNodeName,
                onEvent: onEvent
            )
            return SharedStorageAccess(slots: slots, logCopy: mirror)
        case .device(let path):
            let device = try SharedDevice(path: path)
            let layout = try SharedDeviceLayout.read(from: device)
            try layout.check(cluster: config.cluster.cluster, device: path)
            let slots = DeviceSlotStore(device: device, layout: layout, nodes: config.cluster.nodes.map(\.id))
            guard let rank = slots.rank(of: config.thisNode) else {
                throw EventLogError(.invalidArgument, "this node has no slot on the device", path: path)
            }
            // Another node's name in this rank's area means two clusters' configurations disagree about the ids.
            if let owner = try DeviceLogRing.owner(device: device, layout: layout, rank: rank),
                owner.name != config.thisNodeName
            {
                throw EventLogError(
                    .invalidArgument,
                    "the log area of node id \(config.thisNode) belongs to '\(owner.name)', not '\(config.thisNodeName)' (node ids changed?)",
                    path: path,
                    offset: Int64(layout.logArea(rank: rank) * SharedDevice.blockSize)
                )
            }
            let ring = DeviceLogRingWriter(
                source: config.logDirectory,
                device: device,
                layout: layout,
                rank: rank,
                owner: DeviceLogRing.Owner(node: config.thisNode, name: config.thisNodeName),
                onEvent: onEvent
            )
            return SharedStorageAccess(slots: slots, logCopy: ring)
        }
    }
}
