import Coordinator
import Foundation
import Testing

@testable import Runtime

/// The repository's annotated example (also in the README).
let exampleConfigPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("contrib/servha.example.yaml").path

func problems(_ yaml: String) -> [String] {
    switch ConfigLoader.parse(yaml, file: "test.yaml") {
    case .success: return []
    case .failure(let errors): return errors.problems.map(\.description)
    }
}

/// A minimal valid configuration, with `extra` lines appended at top level.
func minimal(_ extra: String = "", heartbeat: String = "", resources: String? = nil) -> String {
    """
    cluster: c
    this_node: a
    nodes:
      - name: a
        id: 1
      - name: b
        id: 2
    heartbeat:
      key_file: /etc/servha/key
    \(heartbeat.isEmpty ? "" : heartbeat + "\n")  channels:
        - name: lan
          port: 7400
          addresses: { a: 192.0.2.1, b: 192.0.2.2 }
        - name: backup
          port: 7401
          addresses: { a: 192.0.2.3, b: 192.0.2.4 }
    shared_storage: /srv/shared
    resources:
    \(resources ?? "  - { name: svc, type: script, start: /bin/true, stop: /bin/true, monitor: /bin/true }")
    \(extra)
    """
}

@Suite struct ConfigLoaderTests {
    /// Found by the config fuzz harness (Fuzz/Crashes/config/crash-5fa2f9...): a node name with a line break in it
    /// (a quoted key spans lines) made a problem of two lines.
    @Test func problemsStayOnOneLineWhateverTheyQuote() {
        let yaml = minimal().replacingOccurrences(
            of: "addresses: { a: 192.0.2.1, b: 192.0.2.2 }",
            with: "addresses: { a: 192.0.2.1, \"b\\nc\\u0085d\\u2028e\": 192.0.2.2 }"
        )
        let found = problems(yaml)
        let quoting = found.filter { $0.contains("b\\nc") }
        #expect(quoting.count == 1, "\(found)")
        #expect(quoting.first?.contains("b\\nc\\u{85}d\\u{2028}e") == true, "\(quoting)")
        for problem in found {
            #expect(!problem.unicodeScalars.contains { $0.value < 0x20 || [0x85, 0x2028, 0x2029].contains($0.value) })
        }
    }

    /// Found by the config fuzz harness (Fuzz/Crashes/config/crash-87a912...): Yams composes recursively, and a text
    /// of nested brackets overflowed the stack. Now a one-line problem at the place, before Yams sees it.
    @Test(arguments: [
        String(repeating: "[", count: 2_000),
        "cluster: " + String(repeating: "{a: ", count: 150),
        "nodes:\n" + String(repeating: "- ", count: 150) + "x",
        (0..<120).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n"),
    ])
    func deeplyNestedTextIsRefusedNotACrash(text: String) {
        let found = problems(text)
        #expect(found.count == 1, "\(found.prefix(2))")
        #expect(found.first?.contains("nested more than 100 levels deep") == true, "\(found.prefix(2))")
        #expect(found.first?.hasPrefix("test.yaml:") == true)
    }

    @Test func theExampleAndEveryFixtureConfigAreFarFromTheNestingLimit() throws {
        let text = try String(contentsOfFile: exampleConfigPath, encoding: .utf8)
        #expect(YAMLNesting.tooDeep(text) == nil)
    }

    @Test func theAnnotatedExampleLoads() throws {
        let config = try ConfigLoader.load(path: exampleConfigPath).get()
        #expect(config.cluster.cluster == "pg-pair")
        #expect(config.thisNodeName == "node-a")
        #expect(config.peer?.name == "node-b")
        #expect(config.channels.map(\.name) == ["lan", "backup"])
        #expect(config.channels[0].addresses == [1: "192.0.2.11", 2: "192.0.2.12"])
        #expect(config.cluster.heartbeatInterval == 20_000_000)
        #expect(config.cluster.failback == .manual)
        #expect(config.cluster.preferredNode == 1)
        #expect(config.cluster.failbackStability == 300_000_000_000)
        #expect(config.resources.map(\.name) == ["vip", "alias", "postgresql"])
        #expect(
            config.resources[0].kind
                == .vip(
                    address: "192.0.2.100",
                    prefixLength: 24,
                    interface: "eth0",
                    garpCount: 5,
                    garpInterval: 200_000_000
                )
        )
        guard case .dns(let alias) = config.resources[1].kind else {
            Issue.record("alias should be a dns resource")
            return
        }
        #expect(alias.addresses == ["node-a": "192.0.2.100", "node-b": "192.0.2.100"])
        #expect(config.alias == "db.example.test")
        guard case .ocf(let agent, let params) = config.resources[2].kind else {
            Issue.record("postgresql should be an OCF resource")
            return
        }
        #expect(agent == "heartbeat/pgsql")
        #expect(params["pgdata"] == "/srv/shared/pgdata")
        #expect(config.resources[2].startTimeout == 60_000_000_000)
        #expect(config.alarms.count == 2)
        #expect(config.cluster.arbitrator)
        #expect(config.cluster.problems().isEmpty)
        // The same file serves the other host with --node.
        #expect(try ConfigLoader.load(path: exampleConfigPath, thisNode: "node-b").get().thisNode == 2)
    }

    @Test func defaultsApplyWhenKeysAreLeftOut() throws {
        let config = try ConfigLoader.parse(minimal(), file: "t").get()
        #expect(config.cluster.heartbeatInterval == ConfigDefaults.heartbeatInterval)
        #expect(config.cluster.channelDeadline == ConfigDefaults.channelDeadline)
        #expect(config.cluster.leaseDuration == ConfigDefaults.leaseDuration)
        #expect(config.cluster.failback == .manual)
        #expect(config.logDirectory == "/var/lib/servha/log")
        #expect(config.adminSocket == "/run/servha/admin.sock")
        #expect(!config.cluster.arbitrator)
    }

    @Test func theFastProfileSetsTheTimingsAndSingleKeysOverrideIt() throws {
        let fast = try ConfigLoader.parse(minimal("profile: fast"), file: "t").get()
        #expect(fast.profile == .fast)
        #expect(fast.cluster.heartbeatInterval == 10_000_000)
        #expect(fast.cluster.channelDeadline == 40_000_000)
        #expect(fast.cluster.leaseDuration == 60_000_000)
        #expect(fast.cluster.safetyMargin == 20_000_000)
        #expect(fast.cluster.problems().isEmpty)
        let tuned = try ConfigLoader.parse(minimal("profile: fast\nlease: { duration: 80ms }"), file: "t").get()
        #expect(tuned.cluster.leaseDuration == 80_000_000)
        #expect(tuned.cluster.heartbeatInterval == 10_000_000)
        #expect(try ConfigLoader.parse(minimal(), file: "t").get().profile == .standard)
        #expect(problems(minimal("profile: turbo")) == ["test.yaml:20:10: 'profile' must be one of default, fast (found 'turbo')"])
    }

    @Test func realTimeSchedulingIsOnByDefaultAndCanBeSwitchedOff() throws {
        let standard = try ConfigLoader.parse(minimal(), file: "t").get()
        #expect(standard.realtime == .default)
        #expect(standard.realtime.priority == 40)
        #expect(standard.realtime.forGuard.priority == 41)
        let off = try ConfigLoader.parse(minimal("realtime: { priority: off, lock_memory: false }"), file: "t").get()
        #expect(off.realtime == .off)
        let chosen = try ConfigLoader.parse(minimal("realtime: { priority: 99 }"), file: "t").get()
        #expect(chosen.realtime.priority == 99)
        #expect(chosen.realtime.forGuard.priority == 99)
        #expect(
            problems(minimal("realtime: { priority: 0 }")) == [
                "test.yaml:20:23: 'realtime.priority' must be off or a whole number from 1 to 99 (found '0')"
            ]
        )
        #expect(
            problems(minimal("realtime: { lock_memory: yes }")) == [
                "test.yaml:20:26: 'realtime.lock_memory' must be one of true, false (found 'yes')"
            ]
        )
    }

    @Test func unknownKeysAreErrorsWithLineAndColumn() {
        #expect(problems(minimal("colour: blue")) == ["test.yaml:20:1: unknown key 'colour'"])
        #expect(
            problems(minimal(heartbeat: "  intervall: 20ms")) == [
                "test.yaml:10:3: unknown key 'intervall' in 'heartbeat'"
            ]
        )
    }

    @Test func durationsNeedUnits() {
        #expect(
            problems(minimal(heartbeat: "  interval: 20")) == [
                "test.yaml:10:13: 'heartbeat.interval' must be a duration with a unit, like 200ms, 3s or 5m (found '20')"
            ]
        )
        #expect(DurationText.parse("200ms") == .success(200_000_000))
        #expect(DurationText.parse("1.5s") == .success(1_500_000_000))
        #expect(DurationText.parse("5m") == .success(300_000_000_000))
        for bad in ["", "ms", "-1s", "3 parsecs", "1e3s", "abc"] {
            #expect((try? DurationText.parse(bad).get()) == nil, "\(bad)")
        }
    }

    @Test func crossFieldChecksPointAtTheField() {
        #expect(
            problems(minimal(heartbeat: "  interval: 60ms\n  deadline: 100ms")) == [
                "test.yaml:11:3: heartbeat.deadline (100ms) must be at least twice heartbeat.interval (60ms)"
            ]
        )
        #expect(
            problems(minimal("lease: { duration: 100ms, safety_margin: 60ms }")).first?.contains(
                "lease.safety_margin must be positive and less than half"
            ) == true
        )
        #expect(
            problems(minimal("failback: { mode: auto }")) == [
                "test.yaml:20:13: failback mode auto needs failback.preferred_node"
            ]
        )
        #expect(
            problems(minimal("failback: { mode: sometimes }")).first?.contains(
                "must be one of auto, manual, never (found 'sometimes')"
            ) == true
        )
        #expect(
            problems(minimal("failback: { preferred_node: c }")).first?.contains(
                "preferred_node 'c' is not one of the nodes (a, b)"
            ) == true
        )
    }

    @Test func resourcesAreChecked() {
        let vip = "  - { name: vip, type: vip, address: 192.0.2.300/24, interface: eth0 }"
        #expect(
            problems(minimal(resources: vip)).first?.contains("must be an IPv4 address with a prefix length") == true
        )
        let ocf = "  - { name: db, type: ocf, agent: pgsql }"
        #expect(problems(minimal(resources: ocf)).first?.contains("must be PROVIDER/TYPE") == true)
        let script = "  - { name: svc, type: script, start: /bin/true }"
        #expect(
            problems(minimal(resources: script)) == [
                "test.yaml:19:5: missing key 'resources[].stop'", "test.yaml:19:5: missing key 'resources[].monitor'",
            ]
        )
        #expect(problems(minimal(resources: "  []")) == ["test.yaml:18:1: the group needs at least one resource"])
    }

    @Test func structuralProblemsAreAllReportedAtOnce() {
        let yaml = """
            cluster: c
            this_node: a
            nodes:
              - name: a
                id: 1
              - name: a
                id: 1
            heartbeat:
              key_file: /k
              channels:
                - { name: lan, port: 70000, addresses: { a: 192.0.2.1 } }
            shared_storage: /s
            resources: []
            """
        let found = problems(yaml)
        #expect(found.contains("test.yaml:6:5: node name 'a' is used twice"))
        #expect(found.contains("test.yaml:7:5: node id 1 is used twice"))
        #expect(
            found.contains {
                $0.hasPrefix("test.yaml:11:")
                    && $0.contains("'heartbeat.channels[].port' must be a whole number from 1 to 65535")
            }
        )
        #expect(found.contains { $0.contains("at least 2 heartbeat channels") })
        #expect(found.count >= 5)
    }

    @Test func yamlSyntaxErrorsAndMissingFilesAreOneLine() {
        let broken = problems("cluster: [unclosed\nnodes: 1\n")
        #expect(broken.count == 1)
        #expect(broken[0].hasPrefix("test.yaml:"))
        #expect(broken[0].contains("not valid YAML"))
        #expect(problems("") == ["test.yaml:1:1: configuration is empty"])
        guard case .failure(let missing) = ConfigLoader.load(path: "/nonexistent/servha.yaml") else {
            Issue.record("a missing file must fail")
            return
        }
        #expect(missing.description == "/nonexistent/servha.yaml:1:1: configuration file does not exist")
    }
}
