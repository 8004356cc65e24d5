import ArgumentParser
import Coordinator
import EventLog
import Glibc
import Replay
import Runtime

struct DiskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk",
        abstract: "Lay out and inspect servha's shared LUN (shared_storage: { device: ... }).",
        subcommands: [DiskInit.self, DiskDump.self]
    )
}

struct DiskInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Lay out a raw block device (a small LUN both hosts see) for a cluster's disk slots and logs.",
        discussion: """
            Writes the header, empties both nodes' slots and log areas, and prints the layout. Refuses a device \
            that is mounted, or holds a filesystem, a partition table, another volume or an earlier servha \
            layout, unless --force (never a mounted one). Run it once, on one host, with both daemons stopped.
            """
    )

    @Argument(help: "The block device, e.g. /dev/disk/by-id/... (a file stands in for one in tests).")
    var device: String
    @Option(help: "The cluster's name, as in the configuration's `cluster:`.") var cluster: String
    @Flag(help: "Lay out over what the device holds (not over a mounted device).") var force = false

    func run() throws {
        do {
            try initialize()
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail("\(EventLogError.wrap(error, path: device))")
        }
    }

    private func initialize() throws {
        if let mount = Self.mountPoint(of: device) {
            throw fail("\(device): mounted on \(mount); servha never lays out a mounted device")
        }
        let opened = try SharedDevice(path: device)
        let layout = try SharedDeviceLayout(
            cluster: cluster,
            deviceBytes: opened.size,
            createdWallNanos: wallNow()
        )
        let head = try opened.read(block: 0, count: min(opened.blockCount, 17))
        if !force {
            for copy in 0..<2 {
                switch SharedDeviceLayout.decode(Array(head[(copy * 4096)..<((copy + 1) * 4096)])) {
                case .layout(let found):
                    throw fail(
                        "\(device): already laid out for cluster '\(found.cluster)' (created \(rfc3339(found.createdWallNanos))); --force lays it out again and erases both nodes' slots and logs there"
                    )
                case .newerFormat(let version):
                    throw fail("\(device): holds a servha layout of format \(version), newer than this servha; not touched")
                case .damaged, .foreign: continue
                }
            }
            if let what = DeviceSignature.detect(head) {
                throw fail("\(device): holds \(what); --force lays servha over it (its data is lost)")
            }
        }
        // Empty the slots and the log areas first, the header last: an init cut short leaves a device without a
        // header, which the daemon refuses, never a header over stale slots.
        try opened.write([UInt8](repeating: 0, count: 4096), block: 0)
        let end = layout.logStart + 2 * layout.logBlocks
        let chunk = 256
        var block = 1
        while block < end {
            let count = min(chunk, end - block)
            try opened.write([UInt8](repeating: 0, count: count * 4096), block: block)
            block += count
        }
        let header = layout.encoded()
        try opened.write(header, block: 1)
        try opened.write(header, block: 0)
        let area = layout.logBlocks * SharedDevice.blockSize
        print(
            "\(device): laid out for cluster '\(cluster)': \(humanBytes(layout.blocks * SharedDevice.blockSize)), slots at blocks 2-5, two log areas of \(humanBytes(area)) (from block \(layout.logStart))\(opened.direct ? "" : "; this file does not take O_DIRECT here, so reads go through the page cache")"
        )
    }

    /// Where a device is mounted (by /proc/mounts, the device's real path compared), or nil.
    static func mountPoint(of device: String) -> String? {
        guard let resolved = realpath(device, nil) else { return nil }
        defer { free(resolved) }
        let target = String(cString: resolved)
        guard let file = fopen("/proc/mounts", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            guard fields.count >= 2, fields[0].hasPrefix("/") else { continue }
            if let source = realpath(String(fields[0]), nil) {
                defer { free(source) }
                if String(cString: source) == target { return String(fields[1]) }
            }
        }
        return nil
    }
}

struct DiskDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Show what a shared LUN holds: its layout, both nodes' slots, and their log areas.",
        discussion: """
            Reads only. Exit status 1 when the device is not laid out for servha or its header is damaged. \
            A node's log on the device is read with `servha log ... DEVICE:NODE` and `servha replay ... DEVICE:NODE`.
            """
    )

    @Argument(help: "The block device (or file) laid out by `servha disk init`.") var device: String

    func run() throws {
        do {
            try dump()
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail("\(EventLogError.wrap(error, path: device))")
        }
    }

    private func dump() throws {
        let opened = try SharedDevice(path: device, writable: false)
        let layout = try SharedDeviceLayout.read(from: opened)
        print("device     \(device) (\(opened.isBlockDevice ? "block device" : "file"), \(humanBytes(opened.size)))")
        print("cluster    \(layout.cluster)")
        print("created    \(rfc3339(layout.createdWallNanos))")
        print("layout     format \(SharedDeviceLayout.formatVersion), \(layout.blocks) blocks of 4 KiB, log areas of \(layout.logBlocks) blocks from block \(layout.logStart)")
        let slotBlocks = try opened.read(block: layout.slotBlock(rank: 0, copy: 0), count: 4)
        var problems: [String] = []
        for rank in 0..<2 {
            let owner = try DeviceLogRing.owner(device: opened, layout: layout, rank: rank)
            print("")
            print("node rank \(rank)\(owner.map { ": \($0.name) (id \($0.node))" } ?? " (its log area was never written)")")
            for copy in 0..<2 {
                let at = (2 * rank + copy) * SharedDevice.blockSize
                let offset = layout.slotBlock(rank: rank, copy: copy) * SharedDevice.blockSize
                let bytes = Array(slotBlocks[at..<(at + DiskSlotStore.recordSize)])
                if let record = DiskSlotStore.decode(bytes) {
                    let view = record.view
                    print(
                        "  slot copy \(copy) @\(offset): counter \(record.counter), node \(record.node), written \(rfc3339(record.wall)): \(view.role), epoch \(view.epoch)\(view.owns ? ", holds the lease" : "")\(view.diskOnlyLease ? ", disk-only lease \(view.diskOnlyRemaining / 1_000_000) ms" : ""), resources up \(String(view.resourcesUp, radix: 2))"
                    )
                } else if bytes.allSatisfy({ $0 == 0 }) {
                    print("  slot copy \(copy) @\(offset): never written")
                } else {
                    print("  slot copy \(copy) @\(offset): damaged or torn (checksum or magic does not match)")
                    problems.append("\(device): offset \(offset): slot copy \(copy) of rank \(rank) is damaged or torn")
                }
            }
            let (entries, damaged) = try DeviceLogRing.scan(device: opened, layout: layout, rank: rank)
            for damage in damaged { problems.append("\(damage) (rank \(rank)'s log ring)") }
            let chain = DeviceLogRing.newestChain(entries)
            guard let first = chain.first, let last = chain.last else {
                print("  log area: no batches")
                continue
            }
            let blocks = chain.reduce(0) { $0 + $1.blocks }
            print(
                "  log area: \(chain.count) entries in the newest chain (\(entries.count) valid in all), records \(first.firstSequence)-\(last.lastFrame.lastSequence), up to \(rfc3339(last.lastFrame.lastWall)), \(humanBytes(blocks * SharedDevice.blockSize)) of \(humanBytes((layout.logBlocks - 1) * SharedDevice.blockSize))"
            )
        }
        // A torn copy of a slot is expected after a crash mid-write (the other copy serves), and so is a torn
        // newest ring entry; they are shown, and the exit status says that something on the device is damaged.
        for problem in problems { printError("servha: \(problem)") }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
