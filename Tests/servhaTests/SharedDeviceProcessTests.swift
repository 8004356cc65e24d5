import Foundation
import Glibc
import Testing

/// Two real daemons on loopback whose slots, lease and log copies are on a shared LUN (a file laid out by
/// `servha disk init`), not in a shared directory.
@Suite(.serialized) struct SharedDeviceProcessTests {
    @Test func aHostDeathOnASharedLUNAndTheDeadNodesLogReadFromIt() throws {
        let cluster = try LoopbackCluster(onDevice: true)
        defer { cluster.tearDown() }
        let lun = try #require(cluster.device)
        try cluster.start("node-a")
        #expect(
            cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() },
            "\(cluster.output("node-a"))"
        )
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("node-b standby") { cluster.role("node-b") == "standby" && cluster.peerHealthy("node-b") },
            "\(cluster.output("node-b"))"
        )
        // node-a's log reaches its area on the LUN (the ring is written at most every half second).
        #expect(cluster.waitUntil("node-a's log on the LUN") {
            (try? servha(["disk", "dump", lun]).stdout)?.contains("node rank 0: node-a (id 1)") == true
                && (try? servha(["disk", "dump", lun]).stdout)?.contains("log area: no batches") == false
        })
        cluster.killHost("node-a")
        #expect(
            cluster.waitUntil("node-b active") { cluster.role("node-b") == "active" && cluster.serviceAnswers() },
            "\(cluster.output("node-b"))"
        )
        let dump = try servha(["disk", "dump", lun])
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("cluster    loop"))
        #expect(dump.stdout.contains("node rank 1: node-b (id 2)"), "\(dump.stdout)")
        // node-b now holds the lease in its slot, with a new epoch.
        #expect(dump.stdout.contains("node 2, written") && dump.stdout.contains("active, epoch 2, holds the lease"),
            "\(dump.stdout)")

        // On node-b alone: node-a's last events, read from the LUN, replay and merge with node-b's own log.
        let verify = try servha(["replay", "verify", lun + ":node-a"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains(": ok: "), "\(verify.stdout)")
        #expect(verify.stderr.contains("node-a's log read from \(lun)"), "\(verify.stderr)")
        let both = try servha(["replay", "verify", lun])
        #expect(both.status == 0, "\(both.stdout)\(both.stderr)")
        #expect(both.stdout.components(separatedBy: ": ok: ").count == 3, "\(both.stdout)")
        let timeline = try servha(["timeline", cluster.root + "/node-b-log", lun + ":node-a"])
        #expect(timeline.status == 0, "\(timeline.stderr)")
        #expect(timeline.stdout.contains("node-a") && timeline.stdout.contains("node-b"), "\(timeline.stdout)")
        // A node the LUN does not know, and a LUN of another cluster: one line each, status 1.
        let unknown = try servha(["log", "stats", lun + ":node-c"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "servha: \(lun): no log of node 'node-c' on the device (it holds node-a, node-b)\n")
    }

    @Test func aDaemonRefusesALUNOfAnotherClusterInOneLine() throws {
        let cluster = try LoopbackCluster(onDevice: true)
        defer { cluster.tearDown() }
        let lun = try #require(cluster.device)
        #expect(try servha(["disk", "init", lun, "--cluster", "other", "--force"]).status == 0)
        let run = try servha(["daemon", "--config", cluster.root + "/node-a.yaml", "--dry-run-vip"])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("shared storage: \(lun): offset 40: the device belongs to cluster 'other', not 'loop'"),
            "\(run.stderr)")
    }

    @Test func diskInitRefusesWhatHoldsDataAndDumpNamesDamage() throws {
        let dir = TemporaryDirectory("servha-disk")
        defer { dir.cleanup() }
        let lun = dir.file("lun.img")
        var bytes = Data(count: 2 << 20)
        bytes[1080] = 0x53  // an ext4 superblock's magic
        bytes[1081] = 0xEF
        #expect(FileManager.default.createFile(atPath: lun, contents: bytes))
        let refused = try servha(["disk", "init", lun, "--cluster", "c"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "servha: \(lun): holds an ext2/3/4 filesystem; --force lays servha over it (its data is lost)\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: lun)) == bytes, "nothing written")
        #expect(try servha(["disk", "init", lun, "--cluster", "c", "--force"]).status == 0)
        let again = try servha(["disk", "init", lun, "--cluster", "d"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already laid out for cluster 'c'"), "\(again.stderr)")
        #expect(try servha(["disk", "dump", lun]).status == 0)
        // Garbage in a slot copy: shown, named with its offset, exit status 1.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: lun))
        try handle.seek(toOffset: 8192)
        handle.write(Data(repeating: 0xA5, count: 512))
        try handle.close()
        let dump = try servha(["disk", "dump", lun])
        #expect(dump.status == 1)
        #expect(dump.stderr == "servha: \(lun): offset 8192: slot copy 0 of rank 0 is damaged or torn\n", "\(dump.stderr)")
        #expect(dump.stdout.contains("slot copy 0 @8192: damaged or torn"))
    }

    /// The LUN fails under both nodes (every read and write through its loop device ends in EIO, as when the array
    /// or both paths to it go): the disk channel goes down on both, the alarm says so, and nothing moves, since the
    /// network still renews the lease. When the LUN is back, the alarm clears.
    @Test(.enabled(if: getuid() == 0, "needs root for a loop device: NOT CHECKED on this machine"))
    func aFailingLUNRaisesTheAlarmAndMovesNothing() throws {
        let cluster = try LoopbackCluster(onDevice: true)
        defer { cluster.tearDown() }
        let image = try #require(cluster.device)
        let attach = try run("/sbin/losetup", ["--find", "--show", image])
        let loop = attach.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(loop.hasPrefix("/dev/loop"), "losetup: \(attach)")
        defer {
            for node in cluster.processes.keys { cluster.killHost(node) }
            _ = try? run("/sbin/losetup", ["--detach", loop])
        }
        try expectDiskAlarmAndNothingMoves(cluster, on: loop, harm: { try LoopWindow.cut(loop) }, heal: { try LoopWindow.restore(loop) })
    }

    /// The LUN stalls under both nodes (its backing file system frozen: every write waits, reads go on), for three
    /// seconds: a slow disk is not a dead peer. The disk channel goes down and the alarm says so, nothing moves
    /// (the network renews the lease), and after the thaw the alarm clears and the writes that waited complete.
    @Test(.enabled(if: getuid() == 0, "needs root for loop devices, mount and fsfreeze: NOT CHECKED on this machine"))
    func aStalledLUNRaisesTheAlarmAndMovesNothing() throws {
        let cluster = try LoopbackCluster(onDevice: true)
        defer { cluster.tearDown() }
        // The LUN's backing file on a small ext4 of its own, which fsfreeze can stall.
        let outer = cluster.root + "/outer.img"
        let mount = cluster.root + "/array"
        #expect(FileManager.default.createFile(atPath: outer, contents: nil))
        #expect(truncate(outer, 64 << 20) == 0)
        _ = try run("/sbin/mkfs.ext4", ["-q", outer])
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        _ = try run("/bin/mount", ["-o", "loop", outer, mount])
        var loop = ""
        // In this order, whatever happened: the daemons hold the inner loop device open, which keeps the file
        // system busy, so they go first; then the loop device, the thaw, the unmount.
        defer {
            for node in cluster.processes.keys { cluster.killHost(node) }
            if !loop.isEmpty { _ = try? run("/sbin/losetup", ["--detach", loop]) }
            _ = try? run("/sbin/fsfreeze", ["--unfreeze", mount])
            _ = try? run("/bin/umount", [mount])
            #expect(!((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(mount),
                "the test's file system is still mounted at \(mount)")
        }
        let image = mount + "/lun.img"
        #expect(FileManager.default.createFile(atPath: image, contents: Data(count: 16 << 20)))
        #expect(try servha(["disk", "init", image, "--cluster", "loop"]).status == 0)
        loop = try run("/sbin/losetup", ["--find", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(loop.hasPrefix("/dev/loop"), "losetup: \(loop)")
        try expectDiskAlarmAndNothingMoves(
            cluster, on: loop,
            harm: { _ = try run("/sbin/fsfreeze", ["--freeze", mount]) },
            heal: { _ = try run("/sbin/fsfreeze", ["--unfreeze", mount]) }
        )
    }

    /// Starts the pair on `device`, then `harm`s the LUN under both nodes: node-b raises the disk channel alarm,
    /// both keep their roles for 3 s (one owner, no failover: the network renews the lease) and the service
    /// answers; after `heal` the alarm clears and the roles are as they were.
    func expectDiskAlarmAndNothingMoves(
        _ cluster: LoopbackCluster,
        on device: String,
        harm: () throws -> Void,
        heal: () throws -> Void
    ) throws {
        cluster.device = device
        for node in ["node-a", "node-b"] {
            try cluster.config(for: node).write(toFile: cluster.root + "/\(node).yaml", atomically: true, encoding: .utf8)
        }
        try cluster.start("node-a")
        #expect(cluster.waitUntil("node-a active") { cluster.role("node-a") == "active" && cluster.serviceAnswers() })
        try cluster.start("node-b")
        #expect(cluster.waitUntil("node-b standby") { cluster.role("node-b") == "standby" && cluster.peerHealthy("node-b") })

        try harm()
        let alarms = cluster.root + "/node-b-alarms.txt"
        #expect(
            cluster.waitUntil("the disk channel alarm on node-b", seconds: 10) {
                ((try? String(contentsOfFile: alarms, encoding: .utf8)) ?? "").contains("raised channel-down")
            },
            "\(cluster.output("node-b"))"
        )
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            #expect(cluster.role("node-a") == "active")
            #expect(cluster.role("node-b") == "standby")
            usleep(100_000)
        }
        #expect(cluster.serviceAnswers())
        #expect(cluster.status("node-b").contains("disk"), "\(cluster.status("node-b"))")

        try heal()
        #expect(
            cluster.waitUntil("the alarm cleared", seconds: 10) {
                ((try? String(contentsOfFile: alarms, encoding: .utf8)) ?? "").contains("cleared channel-down")
            },
            "\(cluster.output("node-b"))"
        )
        #expect(cluster.role("node-a") == "active" && cluster.role("node-b") == "standby")
    }
}

/// Moves a loop device's window past the end of its file (every I/O through it fails) and back, with
/// LOOP_SET_STATUS64, as the e2e site's lunpath.py does for one host's path.
enum LoopWindow {
    static func cut(_ device: String) throws { try setOffset(device, 1 << 40) }
    static func restore(_ device: String) throws { try setOffset(device, 0) }

    private static func setOffset(_ device: String, _ offset: UInt64) throws {
        let fd = open(device, O_RDWR)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var info = [UInt8](repeating: 0, count: 232)  // struct loop_info64
        guard info.withUnsafeMutableBytes({ ioctl(fd, 0x4C05, $0.baseAddress!) }) == 0 else { throw POSIXError(.EIO) }
        info.withUnsafeMutableBytes {
            $0.storeBytes(of: offset.littleEndian, toByteOffset: 24, as: UInt64.self)  // lo_offset
            $0.storeBytes(of: UInt64(0), toByteOffset: 32, as: UInt64.self)  // lo_sizelimit
        }
        guard info.withUnsafeMutableBytes({ ioctl(fd, 0x4C04, $0.baseAddress!) }) == 0 else { throw POSIXError(.EIO) }
    }
}

/// Runs a program and returns its standard output (its standard error on failure, in the thrown error).
func run(_ program: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
