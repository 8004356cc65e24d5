import Foundation
import Testing

/// `servha check-config` on a real file: what it accepts, what it shows, and what it refuses with the place.
@Suite struct CheckConfigCommandTests {
    let root = NSTemporaryDirectory() + "servha-check-\(getpid())-\(Int.random(in: 0...999_999))"

    func write(keyMode: Int, extra: String = "") throws -> String {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(
            atPath: root + "/key",
            contents: Data(repeating: 7, count: 32),
            attributes: [.posixPermissions: keyMode]
        )
        let file = root + "/servha.yaml"
        try """
        cluster: c
        this_node: a
        nodes: [ { name: a, id: 1 }, { name: b, id: 2 } ]
        heartbeat:
          key_file: \(root)/key
          channels:
            - { name: lan, port: 7400, addresses: { a: 192.0.2.1, b: 192.0.2.2 } }
            - { name: hb, port: 7401, addresses: { a: 192.0.2.3, b: 192.0.2.4 } }
        shared_storage: \(root)/shared
        resources:
          - { name: vip, type: vip, address: 192.0.2.100/24, interface: eth0 }
        \(extra)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func showsTheTimingsItWillRunBy() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = try write(keyMode: 0o600, extra: "profile: fast")
        let outcome = try servha(["check-config", file])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(
            outcome.stdout.contains(
                "timings: profile fast: heartbeat 10ms, deadline 40ms, lease 60ms, margin 20ms, disk-only lease 3s; SCHED_RR 40"
            ),
            "\(outcome.stdout)"
        )
    }

    @Test func aFastProfileWithoutRealTimePriorityIsWarnedAbout() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = try write(keyMode: 0o600, extra: "profile: fast\nrealtime: { priority: off }")
        let outcome = try servha(["check-config", file])
        #expect(outcome.status == 0)
        #expect(outcome.stderr.contains("warning: profile fast without real-time priority"), "\(outcome.stderr)")
    }

    /// The daemon refuses a key others can read; check-config says so first, with the key, not at start-up.
    @Test func aKeyFileOthersCanReadIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = try write(keyMode: 0o644)
        let outcome = try servha(["check-config", file])
        #expect(outcome.status == 1)
        #expect(
            outcome.stderr.contains(
                "\(file): heartbeat.key_file: key file \(root)/key: must not be readable by group or others (chmod 600)"
            ),
            "\(outcome.stderr)"
        )
    }

    /// A DNS alias: its summary on success; its key file checked like the heartbeat key, with the key's place.
    @Test func aDNSAliasIsShownAndItsKeyChecked() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let alias = """
              - { name: alias, type: dns, server: 192.0.2.53, zone: example.test, hostname: db.example.test, address: vip,
                  key_file: \(root)/dns.key }
            """
        let file = try write(keyMode: 0o600, extra: alias)
        try "key \"servha-key\" { algorithm hmac-sha256; secret \"bIQKDvgPtBR18ANZvHmSIRxpcIcCOPh+68EH+r5NOjY=\"; };\n"
            .write(toFile: root + "/dns.key", atomically: true, encoding: .utf8)
        let good = try servha(["check-config", file])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(
            good.stdout.contains(
                "alias alias: db.example.test. in example.test. on 192.0.2.53:53, TTL 5 s, a 192.0.2.100, b 192.0.2.100, on stop keep"
            ),
            "\(good.stdout)"
        )
        try "key \"servha-key\" { algorithm hmac-md5; secret \"bIQKDvgPtBR18ANZvHmSIRxpcIcCOPh+68EH+r5NOjY=\"; };\n"
            .write(toFile: root + "/dns.key", atomically: true, encoding: .utf8)
        let bad = try servha(["check-config", file])
        #expect(bad.status == 1)
        #expect(
            bad.stderr.contains(
                "\(file):13:17: resource alias: key_file: key file \(root)/dns.key: algorithm hmac-md5 is not supported"
            ),
            "\(bad.stderr)"
        )
    }
}
