import Foundation
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
}
