import Coordinator
import EventLog
import Foundation
import Glibc
import Testing

@testable import Runtime

/// The `fencing:` section, and the fence agent driven through the fence-agent API (parameters on stdin).
@Suite struct FencingConfigTests {
    static let fencing = """
        fencing:
          agent: /bin/true
          action: off
          timeout: 10s
          retry: 3s
          nodes:
            a: { ip: 192.0.2.250, username: fence, password: s3cret, lanplus: "1" }
            b: { ip: 192.0.2.251, username: fence, password: s3cret, lanplus: "1" }
        """

    @Test func aFencingSectionLoads() throws {
        let config = try ConfigLoader.parse(minimal(Self.fencing), file: "test.yaml").get()
        let spec = try #require(config.fencing)
        #expect(spec.agent == "/bin/true" && spec.action == "off")
        #expect(spec.timeout == 10_000_000_000 && spec.retry == 3_000_000_000)
        #expect(spec.nodes["b"] == ["ip": "192.0.2.251", "username": "fence", "password": "s3cret", "lanplus": "1"])
        #expect(spec.locations["b"]?.hasPrefix("test.yaml:") == true)
        #expect(config.cluster.fencing && config.cluster.fenceRetry == 3_000_000_000)
        #expect(config.fencingWarning == nil)
        // What the agent reads: the node's parameters, sorted, the action last.
        #expect(
            String(decoding: spec.input(action: "off", node: "b"), as: UTF8.self)
                == "ip=192.0.2.251\nlanplus=1\npassword=s3cret\nusername=fence\naction=off\n"
        )
    }

    @Test func mistakesAreOneLineEachWithTheirPlace() {
        let unknownAgent = Self.fencing.replacingOccurrences(of: "/bin/true", with: "fence_nosuchthing")
        #expect(problems(minimal(unknownAgent)).contains { $0.hasPrefix("test.yaml:") && $0.contains("no fence agent 'fence_nosuchthing'") })
        let strangerNode = Self.fencing.replacingOccurrences(of: "    b: {", with: "    c: {")
        let found = problems(minimal(strangerNode))
        #expect(found.contains { $0.contains("fencing.nodes.c: not a node of this cluster") })
        #expect(found.contains { $0.contains("no fence parameters for node b") })
        let badAction = Self.fencing.replacingOccurrences(of: "action: off", with: "action: on")
        #expect(problems(minimal(badAction)).contains { $0.contains("'fencing.action' must be one of off, reboot") })
        let actionInParams = Self.fencing.replacingOccurrences(of: "lanplus: \"1\" }", with: "lanplus: \"1\", action: reboot }")
        #expect(problems(minimal(actionInParams)).contains { $0.contains("set the action with fencing.action") })
        #expect(problems(minimal("fencing:\n  agent: /bin/true\n  colour: red\n  nodes: { a: {}, b: {} }")).contains { $0.contains("unknown key 'colour'") })
    }

    @Test func withoutFencingAResourceThatKeepsDataIsWarnedAbout() throws {
        let config = try ConfigLoader.parse(minimal(), file: "test.yaml").get()
        let warning = try #require(config.fencingWarning)
        #expect(warning.contains("a host that freezes whole") && warning.contains("svc"))
        #expect(!warning.contains("\n"), "one line")
        let vipOnly = minimal(resources: "  - { name: vip, type: vip, address: 192.0.2.100/24, interface: lo }")
        #expect(try ConfigLoader.parse(vipOnly, file: "test.yaml").get().fencingWarning == nil, "an address keeps nothing")
    }
}

/// A stand-in fence agent: a shell script that reads its parameters as the API says, logs them, and answers as
/// its `behave` parameter tells it.
@Suite(.serialized) struct FenceAgentTests {
    static func agent() throws -> (path: String, log: String) {
        var template = Array("/tmp/servha-fence-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let path = dir + "/fence_test"
        let log = dir + "/calls.log"
        let script = """
            #!/bin/sh
            # Reads key=value lines like a fence agent; behave=ok|fail|hang|unknown-option.
            while IFS='=' read -r key value; do
              case $key in action) action=$value ;; behave) behave=$value ;; esac
              echo "$key=$value" >> \(log)
            done
            echo "---" >> \(log)
            case $action in
              validate-all) [ "$behave" = unknown-option ] && echo "WARNING:root:Parse error: Ignoring unknown option 'colour=red'" >&2
                            [ -n "$behave" ] || { echo "ERROR: Failed: You have to enter fence address" >&2; exit 1; }; exit 0 ;;
            esac
            case $behave in
              ok) echo "Success: Powered OFF"; exit 0 ;;
              fail) echo "ERROR: Failed: Unable to obtain correct plug status" >&2; exit 1 ;;
              hang) sleep 30 ;;
            esac
            exit 1
            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return (path, log)
    }

    static func spec(_ path: String, behave: String?, timeout: UInt64 = 5_000_000_000) -> FenceSpec {
        FenceSpec(
            agent: path,
            action: "off",
            timeout: timeout,
            retry: 1_000_000_000,
            nodes: ["b": behave.map { ["behave": $0, "ip": "192.0.2.251"] } ?? ["ip": "192.0.2.251"]]
        )
    }

    @Test func aSuccessfulFenceSaysWhatAndHowLong() async throws {
        let (path, log) = try Self.agent()
        let result = await FenceAgent.run(Self.spec(path, behave: "ok"), action: "off", node: "b")
        #expect(result.succeeded && result.exitCode == 0)
        #expect(result.detail.contains("off b: exit 0 in") && result.detail.contains("Success: Powered OFF"))
        let calls = try String(contentsOfFile: log, encoding: .utf8)
        #expect(calls.contains("behave=ok\nip=192.0.2.251\naction=off\n"), "parameters on stdin, the action last")
    }

    @Test func aFailedOrHungFenceIsAFailureNeverASuccess() async throws {
        let (path, _) = try Self.agent()
        let failed = await FenceAgent.run(Self.spec(path, behave: "fail"), action: "off", node: "b")
        #expect(!failed.succeeded && failed.exitCode == 1)
        #expect(failed.detail.contains("Unable to obtain correct plug status"))
        let started = monotonicNow()
        let hung = await FenceAgent.run(Self.spec(path, behave: "hang", timeout: 300_000_000), action: "off", node: "b")
        #expect(!hung.succeeded)
        #expect(hung.detail.contains("timed out"), "\(hung.detail)")
        #expect(monotonicNow() - started < 5_000_000_000, "the agent is killed at its timeout")
        let missing = await FenceAgent.run(Self.spec("/nonexistent/fence_x", behave: "ok"), action: "off", node: "b")
        #expect(!missing.succeeded && missing.detail.contains("not found"))
    }

    @Test func validationNamesWhatTheAgentRefused() async throws {
        let (path, _) = try Self.agent()
        #expect(await FenceAgent.problem(with: Self.spec(path, behave: "ok"), node: "b") == nil)
        let missing = await FenceAgent.problem(with: Self.spec(path, behave: nil), node: "b")
        #expect(missing?.contains("refuses the parameters for b: Failed: You have to enter fence address") == true, "\(missing ?? "")")
        let unknown = await FenceAgent.problem(with: Self.spec(path, behave: "unknown-option"), node: "b")
        #expect(unknown?.contains("does not know the parameter(s) colour") == true, "\(unknown ?? "")")
        #expect(await FenceAgent.problem(with: Self.spec(path, behave: "ok"), node: "c")?.contains("no fence parameters for c") == true)
    }

    /// Debian's fence_ipmilan (fence-agents), checked without any device: its validate-all.
    @Test func theRealFenceIpmilanValidatesParameters() async throws {
        guard FenceSpec(agent: "fence_ipmilan", action: "off", timeout: 0, retry: 0, nodes: [:]).executable != nil else {
            Issue.record("fence_ipmilan is not installed: make test installs fence-agents (scripts/install-deps.sh test)")
            return
        }
        var spec = FenceSpec(agent: "fence_ipmilan", action: "off", timeout: 20_000_000_000, retry: 0, nodes: [:])
        spec.nodes["b"] = ["ip": "192.0.2.251", "username": "fence", "password": "s3cret", "lanplus": "1", "cipher": "3"]
        #expect(await FenceAgent.problem(with: spec, node: "b") == nil)
        spec.nodes["b"] = ["username": "fence", "password": "s3cret"]
        #expect(await FenceAgent.problem(with: spec, node: "b")?.contains("You have to enter fence address") == true)
        spec.nodes["b"] = ["ip": "192.0.2.251", "username": "fence", "password": "s3cret", "colour": "red"]
        #expect(await FenceAgent.problem(with: spec, node: "b")?.contains("colour") == true)
    }
}
