import Coordinator
import Foundation
import Glibc
import Synchronization
import Testing

@testable import Runtime

// MARK: - Helpers

/// A fresh directory under the system's temporary directory.
private func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "servha-agents-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Whether `pid` is a running process (a zombie is not: it has ended and only waits to be reaped).
private func isAlive(_ pid: Int32) -> Bool {
    guard let stat = ProcessStat(pid: String(pid)) else { return false }
    return stat.state != "Z" && stat.state != "X"
}

/// Whether `pid` is an unreaped child of this test process.
private func isOurZombie(_ pid: Int32) -> Bool {
    guard let stat = ProcessStat(pid: String(pid)) else { return false }
    return stat.state == "Z" && stat.parent == getpid()
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
private func eventually(within seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return condition()
}

/// The pid a test script wrote to `path`, once it is there.
private func pid(in path: String) async -> Int32? {
    var found: Int32?
    _ = await eventually {
        found = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return found != nil
    }
    return found
}

/// Runs a program to completion, synchronously (for setting up and tearing down test fixtures, also from `defer`).
@discardableResult
private func runNow(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

private func spec(_ name: String, _ kind: ResourceKind) -> ResourceSpec {
    ResourceSpec(
        name: name,
        kind: kind,
        startTimeout: 5_000_000_000,
        stopTimeout: 5_000_000_000,
        monitorTimeout: 5_000_000_000,
        monitorInterval: 10_000_000_000
    )
}

/// Collects log lines from a `@Sendable` closure.
private final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

private let seconds: UInt64 = 1_000_000_000

/// One script case: the command for `operation` (the other commands would exit 99), and what it should mean.
struct ScriptCase: Sendable, CustomTestStringConvertible {
    var operation: ResourceOperation
    var command: String
    var expected: ResourceResult

    var testDescription: String { "\(operation) `\(command)` → \(expected)" }
}

/// One OCF case: the code the fake agent exits with for `operation`, what it should mean, and the name the output
/// should carry.
struct OCFCase: Sendable, CustomTestStringConvertible {
    var operation: ResourceOperation
    var code: Int32
    var expected: ResourceResult
    var name: String?

    var testDescription: String { "\(operation) exit \(code) → \(expected)" }
}

@Suite struct ResourceAgentTests {
    // MARK: - Scripts

    @Test(arguments: [
        ScriptCase(operation: .start, command: "exit 0", expected: .succeeded),
        ScriptCase(operation: .start, command: "exit 1", expected: .failed(exitCode: 1)),
        ScriptCase(operation: .start, command: "exit 3", expected: .failed(exitCode: 3)),
        ScriptCase(operation: .stop, command: "exit 0", expected: .succeeded),
        ScriptCase(operation: .stop, command: "exit 7", expected: .succeeded),
        ScriptCase(operation: .stop, command: "exit 3", expected: .failed(exitCode: 3)),
        ScriptCase(operation: .stop, command: "exit 1", expected: .failed(exitCode: 1)),
        ScriptCase(operation: .monitor, command: "exit 0", expected: .succeeded),
        ScriptCase(operation: .monitor, command: "exit 3", expected: .notRunning),
        ScriptCase(operation: .monitor, command: "exit 1", expected: .failed(exitCode: 1)),
        ScriptCase(operation: .monitor, command: "exit 7", expected: .failed(exitCode: 7)),
        ScriptCase(operation: .monitor, command: "kill -KILL $$", expected: .failed(exitCode: 128 + 9)),
        ScriptCase(operation: .kill, command: "exit 0", expected: .succeeded),
        ScriptCase(operation: .kill, command: "exit 1", expected: .failed(exitCode: 1)),
    ])
    func scriptExitCodesHaveTheirLSBMeaning(_ test: ScriptCase) async {
        let other = "exit 99"
        let agent = ScriptAgent(
            name: "svc",
            start: test.operation == .start ? test.command : other,
            stop: test.operation == .stop || test.operation == .kill ? test.command : other,
            monitor: test.operation == .monitor ? test.command : other
        )
        let outcome = await agent.perform(test.operation, timeout: 5 * seconds)
        #expect(outcome.result == test.expected)
    }

    @Test func scriptsSeeTheirResourceAndOperation() async {
        let command = "echo \"$SERVHA_RESOURCE $SERVHA_OPERATION\""
        let agent = ScriptAgent(name: "svc", start: command, stop: command, monitor: command)
        #expect(await agent.perform(.monitor, timeout: 5 * seconds).output == "svc monitor\n")
        // A kill is the stop command, told that it is a kill.
        #expect(await agent.perform(.kill, timeout: 5 * seconds).output == "svc kill\n")
    }

    @Test func standardOutputAndErrorAreCaptured() async {
        let agent = ScriptAgent(name: "svc", start: "echo out; echo err >&2; exit 2", stop: "true", monitor: "true")
        let outcome = await agent.perform(.start, timeout: 5 * seconds)
        #expect(outcome.result == .failed(exitCode: 2))
        #expect(outcome.output == "out\nerr\n")
        #expect(outcome.tookNanos > 0 && outcome.tookNanos < 5 * seconds)
    }

    @Test func longOutputKeepsItsHeadAndTailWithinFourKiB() async {
        let command = "i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done"
        let agent = ScriptAgent(name: "svc", start: command, stop: "true", monitor: "true")
        let outcome = await agent.perform(.start, timeout: 10 * seconds)
        #expect(outcome.result == .succeeded)
        #expect(outcome.output.utf8.count <= 4096)
        #expect(outcome.output.contains("[truncated]"))
        #expect(outcome.output.hasPrefix("line 0\nline 1\n"))
        #expect(outcome.output.hasSuffix("line 2998\nline 2999\n"))
    }

    @Test func truncationNeverSplitsACharacter() {
        let text = String(repeating: "é€", count: 3000)  // 2- and 3-byte characters
        let truncated = OutputText.truncated(text)
        #expect(truncated.utf8.count <= 4096)
        #expect(truncated.contains("[truncated]"))
        #expect(!truncated.contains("\u{FFFD}"))
        var stream = BoundedOutput(limit: 100)
        for _ in 0..<50 { stream.append(Array("é€é€".utf8)[...]) }
        #expect(stream.text.utf8.count <= 100)
        #expect(!stream.text.contains("\u{FFFD}"))
        // AgentOutcome applies the same bound to any output.
        #expect(AgentOutcome(result: .succeeded, output: text, tookNanos: 0).output == truncated)
    }

    @Test func aTimeoutEndsTheWholeProcessGroup() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let command = "echo $$ > \(directory)/parent; sleep 100 & echo $! > \(directory)/child; wait"
        let agent = ScriptAgent(name: "svc", start: command, stop: "true", monitor: "true")
        let outcome = await agent.perform(.start, timeout: 500_000_000)
        #expect(outcome.result == .timedOut)
        #expect(outcome.output.contains("timed out"))
        // SIGTERM was enough: no wait for SIGKILL.
        #expect(outcome.tookNanos >= 500_000_000 && outcome.tookNanos < 2 * seconds)
        let parent = try #require(await pid(in: "\(directory)/parent"))
        let child = try #require(await pid(in: "\(directory)/child"))
        #expect(await eventually { !isAlive(parent) && !isAlive(child) })
        #expect(!isOurZombie(parent))
    }

    @Test func aGroupThatIgnoresSIGTERMGetsSIGKILLTwoSecondsLater() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The ignored SIGTERM is inherited by the child sleep too.
        let command = "trap '' TERM; echo $$ > \(directory)/parent; sleep 100 & echo $! > \(directory)/child; wait"
        let outcome = await ProcessRunner.run(shell: command, timeout: 300_000_000)
        #expect(outcome.termination == .timedOut(cancelled: false, killed: true))
        #expect(outcome.result == .timedOut)
        #expect(outcome.tookNanos >= 2_300_000_000 && outcome.tookNanos < 5 * seconds)
        let parent = try #require(await pid(in: "\(directory)/parent"))
        let child = try #require(await pid(in: "\(directory)/child"))
        #expect(outcome.pid == parent)
        #expect(await eventually { !isAlive(parent) && !isAlive(child) })
        #expect(!isOurZombie(parent))
    }

    @Test func cancellingTheTaskEndsTheProcessGroup() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let task = Task {
            await ProcessRunner.run(shell: "echo $$ > \(directory)/pid; exec sleep 100", timeout: 100 * seconds)
        }
        let sleeper = try #require(await pid(in: "\(directory)/pid"))
        task.cancel()
        let outcome = await task.value
        #expect(outcome.termination == .timedOut(cancelled: true, killed: false))
        #expect(outcome.tookNanos < 5 * seconds)
        #expect(await eventually { !isAlive(sleeper) })
    }

    @Test func aRunCancelledBeforeItBeginsStartsNothing() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await ProcessRunner.run(shell: "touch \(directory)/ran", timeout: 5 * seconds)
        }.value
        #expect(outcome.termination == .timedOut(cancelled: true, killed: false))
        #expect(outcome.pid == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/ran"))
    }

    @Test func theRunEndsWhenTheCommandExitsEvenIfSomethingItStartedHoldsTheOutput() async throws {
        // A start command that leaves a daemon behind (here one that keeps the output pipe open).
        let outcome = await ProcessRunner.run(shell: "sleep 30 & echo $!", timeout: 10 * seconds)
        #expect(outcome.result == .succeeded)
        #expect(outcome.tookNanos < 5 * seconds)
        let daemon = try #require(Int32(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isAlive(daemon))
        kill(daemon, SIGKILL)
    }

    @Test func noZombiesAreLeft() async throws {
        let outcomes = await withTaskGroup(of: ProcessOutcome.self) { group in
            for index in 0..<24 {
                let command = ["true", "exit 3", "echo hi", "sleep 5"][index % 4]
                group.addTask { await ProcessRunner.run(shell: command, timeout: 300_000_000) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0.result == .timedOut }.count == 6)
        for outcome in outcomes {
            let pid = try #require(outcome.pid)
            #expect(!isOurZombie(pid), "pid \(pid) was not reaped")
        }
    }

    @Test func standardInputIsWritten() async {
        let echoed = await ProcessRunner.run(shell: "cat", stdin: Array("hello\n".utf8), timeout: 5 * seconds)
        #expect(echoed.output == "hello\n")
        // More than a pipe holds.
        let counted = await ProcessRunner.run(
            shell: "wc -c",
            stdin: [UInt8](repeating: 65, count: 300_000),
            timeout: 5 * seconds
        )
        #expect(counted.output.trimmingCharacters(in: .whitespacesAndNewlines) == "300000")
        // A command that does not read its input: the write fails with EPIPE, and nothing dies of SIGPIPE.
        let ignored = await ProcessRunner.run(
            shell: "exit 0",
            stdin: [UInt8](repeating: 65, count: 300_000),
            timeout: 5 * seconds
        )
        #expect(ignored.result == .succeeded)
    }

    @Test func aProgramThatCannotStartIsAResultNotACrash() async {
        let outcome = await ProcessRunner.run(executable: "/nonexistent/servha-test", arguments: [], timeout: seconds)
        guard case .couldNotStart(let reason) = outcome.termination else {
            Issue.record("expected couldNotStart, got \(outcome.termination)")
            return
        }
        #expect(reason.contains("No such file"))
        #expect(outcome.result == .failed(exitCode: 127))
        #expect(outcome.annotatedOutput.contains("could not start"))
    }

    @Test func environmentAndArgumentsReachAnExecutable() async {
        let outcome = await ProcessRunner.run(
            executable: "/bin/sh",
            arguments: ["-c", "echo \"$1 $SERVHA_TEST_VALUE\"", "sh", "first argument"],
            environment: ["SERVHA_TEST_VALUE": "from the environment"],
            timeout: 5 * seconds
        )
        #expect(outcome.output == "first argument from the environment\n")
        // The daemon's own environment is passed on.
        let path = await ProcessRunner.run(shell: "echo \"$PATH\"", timeout: 5 * seconds)
        #expect(path.output == (ProcessInfo.processInfo.environment["PATH"] ?? "") + "\n")
    }

    // MARK: - OCF

    /// A fake OCF agent, `test/fake` under a temporary OCF_ROOT, that prints its action and OCF environment and
    /// exits with OCF_RESKEY_rc.
    private func fakeOCFRoot() throws -> String {
        let root = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/resource.d/test", withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            echo "action=$1"
            env | grep '^OCF_' | sort
            exit "${OCF_RESKEY_rc:-0}"

            """
        let path = root + "/resource.d/test/fake"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return root
    }

    @Test func theOCFAgentGetsItsEnvironment() async throws {
        let root = try fakeOCFRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let agent = try ResourceAgents.make(
            spec("db", .ocf(agent: "test/fake", parameters: ["rc": "0", "state": "/tmp/x y"])),
            vipDriver: DryRunVIPDriver(),
            ocfRoot: root
        )
        let outcome = await agent.perform(.monitor, timeout: 5 * seconds)
        #expect(outcome.result == .succeeded)
        let lines = Set(outcome.output.split(separator: "\n").map(String.init))
        for expected in [
            "action=monitor", "OCF_ROOT=\(root)", "OCF_RESOURCE_INSTANCE=db", "OCF_RESOURCE_PROVIDER=test",
            "OCF_RESOURCE_TYPE=fake", "OCF_RA_VERSION_MAJOR=1", "OCF_RESKEY_rc=0", "OCF_RESKEY_state=/tmp/x y",
            "OCF_RESKEY_CRM_meta_timeout=5000",
        ] {
            #expect(lines.contains(expected), "missing \(expected) in \(outcome.output)")
        }
        // OCF has no kill: it is a stop, with a short timeout.
        let killed = await agent.perform(.kill, timeout: 60 * seconds)
        #expect(killed.output.contains("action=stop"))
        #expect(killed.output.contains("OCF_RESKEY_CRM_meta_timeout=5000"))
    }

    @Test(arguments: [
        OCFCase(operation: .start, code: 0, expected: .succeeded),
        OCFCase(operation: .monitor, code: 0, expected: .succeeded),
        OCFCase(operation: .monitor, code: 7, expected: .notRunning),
        OCFCase(operation: .stop, code: 7, expected: .succeeded),
        OCFCase(operation: .start, code: 7, expected: .failed(exitCode: 7), name: "OCF_NOT_RUNNING"),
        OCFCase(operation: .start, code: 1, expected: .failed(exitCode: 1), name: "OCF_ERR_GENERIC"),
        OCFCase(operation: .start, code: 2, expected: .failed(exitCode: 2), name: "OCF_ERR_ARGS"),
        OCFCase(operation: .monitor, code: 3, expected: .failed(exitCode: 3), name: "OCF_ERR_UNIMPLEMENTED"),
        OCFCase(operation: .start, code: 4, expected: .failed(exitCode: 4), name: "OCF_ERR_PERM"),
        OCFCase(operation: .start, code: 5, expected: .failed(exitCode: 5), name: "OCF_ERR_INSTALLED"),
        OCFCase(operation: .monitor, code: 6, expected: .failed(exitCode: 6), name: "OCF_ERR_CONFIGURED"),
        OCFCase(operation: .monitor, code: 8, expected: .failed(exitCode: 8), name: "OCF_RUNNING_PROMOTED"),
        OCFCase(operation: .monitor, code: 9, expected: .failed(exitCode: 9), name: "OCF_FAILED_PROMOTED"),
        OCFCase(operation: .stop, code: 1, expected: .failed(exitCode: 1), name: "OCF_ERR_GENERIC"),
    ])
    func ocfExitCodesHaveTheirOCFMeaning(_ test: OCFCase) async throws {
        let root = try fakeOCFRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let agent = OCFAgent(name: "db", agent: "test/fake", parameters: ["rc": String(test.code)], root: root)
        let outcome = await agent.perform(test.operation, timeout: 5 * seconds)
        #expect(outcome.result == test.expected)
        #expect(outcome.output.contains("action=\(test.operation)"))
        if let name = test.name {
            #expect(outcome.output.hasPrefix("\(name) (exit \(test.code))\n"))
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy")))
    func debiansDummyAgentStartsMonitorsAndStops() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = directory + "/dummy.state"
        let agent = try ResourceAgents.make(
            spec("dummy", .ocf(agent: "heartbeat/Dummy", parameters: ["state": state])),
            vipDriver: DryRunVIPDriver()
        )
        #expect(await agent.perform(.monitor, timeout: 20 * seconds).result == .notRunning)
        let started = await agent.perform(.start, timeout: 20 * seconds)
        #expect(started.result == .succeeded, "\(started.output)")
        #expect(FileManager.default.fileExists(atPath: state))
        #expect(await agent.perform(.monitor, timeout: 20 * seconds).result == .succeeded)
        #expect(await agent.perform(.stop, timeout: 20 * seconds).result == .succeeded)
        #expect(await agent.perform(.monitor, timeout: 20 * seconds).result == .notRunning)
        #expect(await agent.perform(.stop, timeout: 20 * seconds).result == .succeeded)  // already stopped
    }

    // MARK: - Start-up checks

    private func setupError(
        _ spec: ResourceSpec,
        driver: any VIPDriver = DryRunVIPDriver(),
        ocfRoot: String = "/"
    )
        -> String?
    {
        do {
            _ = try ResourceAgents.make(spec, vipDriver: driver, ocfRoot: ocfRoot)
            return nil
        } catch let error as ResourceSetupError {
            #expect(!error.message.contains("\n"), "not one line: \(error.message)")
            return error.message
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func scriptProgramsAreCheckedAtStartUp() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = directory + "/plain"
        try "#!/bin/sh\n".write(toFile: plain, atomically: true, encoding: .utf8)
        chmod(plain, 0o644)

        #expect(
            setupError(spec("svc", .script(start: "/x/y --now", stop: "true", monitor: "true")))
                == "resource svc: start command /x/y: no such file"
        )
        #expect(
            setupError(spec("svc", .script(start: "true", stop: "\(plain) stop", monitor: "true")))
                == "resource svc: stop command \(plain): not executable"
        )
        #expect(
            setupError(spec("svc", .script(start: "true", stop: "true", monitor: "servha-no-such-program status")))
                == "resource svc: monitor command servha-no-such-program: not found in PATH"
        )
        #expect(
            setupError(spec("svc", .script(start: "true", stop: "/tmp", monitor: "true")))
                == "resource svc: stop command /tmp: is a directory"
        )
        #expect(
            setupError(spec("svc", .script(start: "  ", stop: "true", monitor: "true")))
                == "resource svc: start command is empty"
        )
        // Built-ins, assignments, exec and substitutions are not programs to look for.
        #expect(
            setupError(
                spec("svc", .script(start: "FOO=1 exec /bin/true", stop: "exit 0", monitor: "test -f /etc/passwd"))
            )
                == nil
        )
        #expect(setupError(spec("svc", .script(start: "$HOME/bin/x", stop: "sh -c true", monitor: "true"))) == nil)
    }

    @Test func ocfAgentsAreCheckedAtStartUp() throws {
        let root = try fakeOCFRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(
            setupError(spec("db", .ocf(agent: "heartbeat/pgsql", parameters: [:])), ocfRoot: root)
                == "resource db: OCF agent heartbeat/pgsql is not installed (\(root)/resource.d/heartbeat/pgsql); "
                + "apt-get install resource-agents"
        )
        #expect(
            setupError(spec("db", .ocf(agent: "other/thing", parameters: [:])), ocfRoot: root)
                == "resource db: OCF agent other/thing is not installed (\(root)/resource.d/other/thing)"
        )
        #expect(
            setupError(spec("db", .ocf(agent: "pgsql", parameters: [:])), ocfRoot: root)
                == "resource db: OCF agent 'pgsql' is not of the form provider/type"
        )
        #expect(
            setupError(spec("db", .ocf(agent: "../../bin/sh", parameters: [:])), ocfRoot: root)
                == "resource db: OCF agent '../../bin/sh' is not of the form provider/type"
        )
        #expect(
            setupError(spec("db", .ocf(agent: "test/fake", parameters: ["bad-name": "1"])), ocfRoot: root)
                == "resource db: OCF parameter 'bad-name' is not a valid name (letters, digits and _)"
        )
        #expect(setupError(spec("db", .ocf(agent: "test/fake", parameters: ["rc": "0"])), ocfRoot: root) == nil)
    }

    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/sys/class/net/eth9")))
    func vipInterfacesAreCheckedWhenTheDriverIsReal() {
        let vip = spec(
            "vip",
            .vip(address: "192.0.2.200", prefixLength: 24, interface: "eth9", garpCount: 5, garpInterval: 200_000_000)
        )
        if LinuxVIPDriver().ipCommand != nil {
            #expect(setupError(vip, driver: LinuxVIPDriver()) == "resource vip: interface eth9 does not exist")
        }
        #expect(setupError(vip, driver: DryRunVIPDriver()) == nil)
        let bad = spec(
            "vip",
            .vip(address: "192.0.2.300", prefixLength: 24, interface: "eth9", garpCount: 5, garpInterval: 200_000_000)
        )
        #expect(setupError(bad) == "resource vip: 192.0.2.300 is not an IPv4 address")
    }

    // MARK: - VIP

    @Test func gratuitousARPFrameLayout() {
        let mac: [UInt8] = [0x02, 0x42, 0xAC, 0x11, 0x00, 0x07]
        let ip: [UInt8] = [192, 0, 2, 200]
        let expected: [UInt8] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // Ethernet destination: broadcast
            0x02, 0x42, 0xAC, 0x11, 0x00, 0x07,  // Ethernet source
            0x08, 0x06,  // EtherType ARP
            0x00, 0x01,  // hardware type Ethernet
            0x08, 0x00,  // protocol type IPv4
            0x06, 0x04,  // address lengths
            0x00, 0x01,  // request
            0x02, 0x42, 0xAC, 0x11, 0x00, 0x07,  // sender MAC
            192, 0, 2, 200,  // sender IP
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC
            192, 0, 2, 200,  // target IP
        ]
        let frame = GratuitousARP.frame(mac: mac, ip: ip)
        #expect(frame.count == 42)
        #expect(frame == expected)
    }

    @Test func ipv4AddressesParse() {
        #expect(GratuitousARP.ipv4("192.0.2.200") == [192, 0, 2, 200])
        #expect(GratuitousARP.ipv4("0.0.0.0") == [0, 0, 0, 0])
        for bad in ["192.0.2", "192.0.2.256", "192.0.2.1.5", "192..2.1", "a.b.c.d", "192.0.2.+1", "", "1922.0.2.1"] {
            #expect(GratuitousARP.ipv4(bad) == nil, "\(bad)")
        }
    }

    @Test func ipShowOutputIsParsed() {
        let output = """
            7: servha-test0    inet 192.0.2.200/24 scope global servha-test0\\  valid_lft forever preferred_lft forever
            7: servha-test0    inet 192.0.2.201/32 scope global servha-test0\\  valid_lft forever preferred_lft forever

            """
        #expect(LinuxVIPDriver.addresses(inShowOutput: output) == ["192.0.2.200", "192.0.2.201"])
    }

    @Test func theDryRunDriverRecordsStartMonitorStopAndTouchesNothing() async throws {
        let lines = Lines()
        let driver = DryRunVIPDriver(log: { lines.append($0) })
        let agent = try ResourceAgents.make(
            spec(
                "vip",
                .vip(
                    address: "192.0.2.200",
                    prefixLength: 24,
                    interface: "servha-none0",
                    garpCount: 3,
                    garpInterval: 1_000_000
                )
            ),
            vipDriver: driver
        )
        #expect(await agent.perform(.monitor, timeout: seconds).result == .notRunning)
        let started = await agent.perform(.start, timeout: seconds)
        #expect(started.result == .succeeded)
        #expect(started.output.hasPrefix("dry run: "))
        #expect(started.output.contains("sent a gratuitous ARP (2 more follow, 1 ms apart)"))
        // The start returned after the first announcement; the repeats follow on their own, each after checking
        // that the address is still there.
        let vip = (address: "192.0.2.200", interface: "servha-none0")
        let repeats = DryRunVIPDriver.Action.announce(address: vip.address, interface: vip.interface, count: 1, interval: 0)
        let deadline = ContinuousClock.now + .seconds(5)
        while driver.actions.filter({ $0 == repeats }).count < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(await agent.perform(.monitor, timeout: seconds).result == .succeeded)
        #expect(await agent.perform(.stop, timeout: seconds).result == .succeeded)
        #expect(await agent.perform(.monitor, timeout: seconds).result == .notRunning)
        #expect(await agent.perform(.kill, timeout: seconds).result == .succeeded)

        #expect(
            driver.actions == [
                .check(address: vip.address, interface: vip.interface),
                .add(address: vip.address, prefixLength: 24, interface: vip.interface),
                .announce(address: vip.address, interface: vip.interface, count: 1, interval: 1_000_000),
                .check(address: vip.address, interface: vip.interface),
                repeats,
                .check(address: vip.address, interface: vip.interface),
                repeats,
                .check(address: vip.address, interface: vip.interface),
                .remove(address: vip.address, prefixLength: 24, interface: vip.interface),
                .check(address: vip.address, interface: vip.interface),
                .remove(address: vip.address, prefixLength: 24, interface: vip.interface),
            ]
        )
        #expect(lines.all == driver.lines)
        #expect(lines.all.allSatisfy { $0.hasPrefix("dry run: ") })
        #expect(driver.description.contains("dry-run"))
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/servha-none0"))
    }

    /// A driver whose every change takes ten seconds.
    private struct SlowDriver: VIPDriver {
        func interfaceProblem(_ interface: String) -> String? { nil }
        func add(address: String, prefixLength: Int, interface: String) async throws {
            try await Task.sleep(nanoseconds: 10 * seconds)
        }
        func remove(address: String, prefixLength: Int, interface: String) async throws {
            try await Task.sleep(nanoseconds: 10 * seconds)
        }
        func isPresent(address: String, interface: String) async -> Bool { false }
        func announce(address: String, interface: String, count: Int, interval: UInt64) async throws {}
    }

    @Test func aVIPOperationPastItsTimeoutTimesOut() async {
        let agent = VIPAgent(
            name: "vip",
            address: "192.0.2.200",
            prefixLength: 24,
            interface: "eth0",
            garpCount: 1,
            garpInterval: 0,
            driver: SlowDriver()
        )
        let outcome = await agent.perform(.start, timeout: 200_000_000)
        #expect(outcome.result == .timedOut)
        #expect(outcome.tookNanos < 5 * seconds)
    }

    /// Root only: a test interface of the test's own (a dummy, or a veth pair where the kernel has no dummy
    /// driver, both ends in this namespace), 192.0.2.200/24, deleted afterwards whatever happens.
    @Test(.enabled(if: getuid() == 0 && LinuxVIPDriver().ipCommand != nil))
    func theLinuxDriverAddsAnnouncesAndRemovesOnATestInterface() async throws {
        let ip = try #require(LinuxVIPDriver().ipCommand)
        let name = "servha-test0"
        runNow(ip, ["link", "del", name])  // left over from an interrupted run
        defer { runNow(ip, ["link", "del", name]) }  // deletes a veth peer with it
        if runNow(ip, ["link", "add", name, "type", "dummy"]) != 0 {
            try #require(runNow(ip, ["link", "add", name, "type", "veth", "peer", "name", name + "p"]) == 0)
            try #require(runNow(ip, ["link", "set", name + "p", "up"]) == 0)
        }
        try #require(runNow(ip, ["link", "set", name, "up"]) == 0)

        let driver = LinuxVIPDriver()
        #expect(driver.interfaceProblem(name) == nil)
        let address = "192.0.2.200"
        #expect(await driver.isPresent(address: address, interface: name) == false)
        try await driver.add(address: address, prefixLength: 24, interface: name)
        #expect(await driver.isPresent(address: address, interface: name))
        try await driver.add(address: address, prefixLength: 24, interface: name)  // already there: success
        try await driver.announce(address: address, interface: name, count: 2, interval: 10_000_000)
        try await driver.remove(address: address, prefixLength: 24, interface: name)
        #expect(await driver.isPresent(address: address, interface: name) == false)
        try await driver.remove(address: address, prefixLength: 24, interface: name)  // already gone: success

        // The same through the agent.
        let agent = try ResourceAgents.make(
            spec(
                "vip",
                .vip(address: address, prefixLength: 24, interface: name, garpCount: 2, garpInterval: 10_000_000)
            ),
            vipDriver: driver
        )
        let started = await agent.perform(.start, timeout: 10 * seconds)
        #expect(started.result == .succeeded)
        #expect(!started.output.contains("warning"), "\(started.output)")
        #expect(await agent.perform(.monitor, timeout: 10 * seconds).result == .succeeded)
        #expect(await agent.perform(.stop, timeout: 10 * seconds).result == .succeeded)
        #expect(await agent.perform(.monitor, timeout: 10 * seconds).result == .notRunning)
    }
}
