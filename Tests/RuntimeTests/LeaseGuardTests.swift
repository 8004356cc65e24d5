import Coordinator
import EventLog
import Foundation
import Glibc
import Testing

@testable import Runtime

@Suite struct LeaseGuardMessageTests {
    @Test func linesRoundTripAndNonsenseIsIgnored() {
        for message in [LeaseGuard.Message.arm(123_456_789), .disarm, .exit] {
            let line = LeaseGuard.line(for: message)
            #expect(LeaseGuard.parse(Substring(line.dropLast())) == message)
        }
        for nonsense in ["", "arm", "arm x", "arm 1 2", "disarm now", "reboot"] {
            #expect(LeaseGuard.parse(Substring(nonsense)) == nil, "\(nonsense)")
        }
    }

    @Test func theGuardIsDueAtTheDeadlineOnlyWhileArmed() {
        var state = LeaseGuard()
        #expect(!state.isDue(at: .max))
        state.receive(.arm(100))
        #expect(!state.isDue(at: 99) && state.isDue(at: 100))
        state.receive(.arm(200))
        #expect(!state.isDue(at: 150), "a renewal moves the deadline")
        state.receive(.disarm)
        #expect(!state.isDue(at: .max))
    }

    @Test func addressesParse() {
        #expect(GuardedAddress("192.0.2.100/24@eth0") == GuardedAddress(address: "192.0.2.100", prefixLength: 24, interface: "eth0"))
        for bad in ["192.0.2.100/24", "192.0.2.100@eth0", "192.0.2.100/33@eth0", "x/y@z"] {
            #expect(GuardedAddress(bad) == nil, "\(bad)")
        }
    }
}

/// The guard's loop blocks its thread in poll(2), as it may in its own process: one guard loop at a time in this
/// test process, so that the loops never take every thread of the cooperative pool (2 on this machine) and the
/// tests that drive them starve. Both suites that run a loop are inside this one serialized suite.
@Suite(.serialized) struct GuardLoopTests {

/// The guard for real: a cgroup, processes in it, a pipe from the "daemon", and a deadline that is not renewed.
/// Needs root and cgroup v2 with cgroup.kill; anywhere else it fails, naming what is missing.
@Suite struct LeaseGuardProcessTests {
    static func cgroup(_ name: String) throws -> GroupCgroup {
        switch GroupCgroup.prepare(cluster: "guard-test", node: name) {
        case .success(let cgroup): return cgroup
        case .failure(let problem):
            Issue.record("this test needs root and cgroup v2 with cgroup.kill: \(problem)")
            throw problem
        }
    }

    /// Starts `count` sleeps inside the cgroup (through the same wrapper the agents use) and returns their pids.
    static func startSleepers(in cgroup: GroupCgroup, count: Int) async throws -> [Int32] {
        let script = (0..<count).map { _ in "sleep 300 >/dev/null 2>&1 & echo $!" }.joined(separator: "; ")
        let outcome = await ProcessRunner.run(cgroup.wrap(.shell(script)), timeout: 5_000_000_000)
        let pids = outcome.output.split(separator: "\n").compactMap { Int32($0) }
        #expect(pids.count == count, "started: \(outcome.output) \(outcome.termination)")
        return pids
    }

    static func alive(_ pid: Int32) -> Bool {
        // A killed child of the (exited) wrapper shell is reaped by init; until then it is a zombie.
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !status.contains(") Z ")
    }

    static func waitUntil(_ deadline: Instant, _ condition: () -> Bool) async -> Bool {
        while monotonicNow() < deadline {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        return condition()
    }

    @Test func aDeadlineThatIsNotRenewedTakesTheGroupDownAddressesFirst() async throws {
        let cgroup = try Self.cgroup("fire")
        let pids = try await Self.startSleepers(in: cgroup, count: 3)
        #expect(Set(cgroup.processes()).isSuperset(of: pids), "the wrapper puts what it starts in the cgroup")
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let driver = DryRunVIPDriver()
        try await driver.add(address: "192.0.2.100", prefixLength: 24, interface: "eth9")
        let readEnd = fds[0]
        let guardTask = Task {
            await LeaseGuard.run(
                input: readEnd,
                addresses: [GuardedAddress(address: "192.0.2.100", prefixLength: 24, interface: "eth9")],
                cgroup: cgroup,
                vipDriver: driver,
                name: "test"
            )
        }
        func send(_ message: LeaseGuard.Message) {
            let line = Array(LeaseGuard.line(for: message).utf8)
            _ = line.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        }
        // Renewed once before the first deadline: the group stays up past it. (The first deadline leaves the
        // renewal 340 ms of slack, so that a busy machine running other tests cannot make it late.)
        let first = monotonicNow() + 400_000_000
        send(.arm(first))
        try await Task.sleep(nanoseconds: 60_000_000)
        let second = first + 200_000_000
        send(.arm(second))
        #expect(await !Self.waitUntil(first + 30_000_000) { !pids.allSatisfy(Self.alive) }, "renewed: nothing killed")
        // No more renewals: down at the second deadline, all at once.
        #expect(await Self.waitUntil(second + 500_000_000) { !pids.contains(where: Self.alive) })
        let downAt = monotonicNow()
        #expect(downAt >= second, "not before the deadline")
        #expect(downAt < second + 200_000_000, "acted \((downAt - second) / 1_000_000) ms after the deadline")
        #expect(driver.actions.contains(.remove(address: "192.0.2.100", prefixLength: 24, interface: "eth9")))
        #expect(await !driver.isPresent(address: "192.0.2.100", interface: "eth9"))
        send(.exit)
        #expect(await guardTask.value == 0)
        close(fds[1])
        close(fds[0])
    }

    @Test func aDisarmedGuardKillsNothingAndADaemonThatDiesLeavesTheDeadlineStanding() async throws {
        let cgroup = try Self.cgroup("disarm")
        let pids = try await Self.startSleepers(in: cgroup, count: 1)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let readEnd = fds[0]
        let guardTask = Task {
            await LeaseGuard.run(input: readEnd, addresses: [], cgroup: cgroup, vipDriver: DryRunVIPDriver(), name: "test")
        }
        func send(_ message: LeaseGuard.Message) {
            let line = Array(LeaseGuard.line(for: message).utf8)
            _ = line.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        }
        send(.arm(monotonicNow() + 50_000_000))
        send(.disarm)
        #expect(await !Self.waitUntil(monotonicNow() + 150_000_000) { !Self.alive(pids[0]) }, "disarmed: nothing killed")
        // The daemon arms and dies (its end of the pipe closes): the guard still acts at the deadline, then exits.
        let deadline = monotonicNow() + 80_000_000
        send(.arm(deadline))
        close(fds[1])
        #expect(await Self.waitUntil(deadline + 500_000_000) { !Self.alive(pids[0]) })
        #expect(monotonicNow() >= deadline)
        #expect(await guardTask.value == 0)
        close(fds[0])
    }
}

/// The guard feeds a hardware watchdog (here a file standing in for /dev/watchdog: every write lands in it) while
/// all is well, stops it with the magic close on a clean exit, and stops feeding, leaving it armed, once it could
/// not take the group down: the host then resets.
@Suite struct GuardWatchdogTests {
    static func device() throws -> String {
        var template = Array("/tmp/servha-watchdog-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let path = dir + "/watchdog"
        FileManager.default.createFile(atPath: path, contents: nil)
        return path
    }

    static func written(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    static func send(_ fd: Int32, _ message: LeaseGuard.Message) {
        let line = Array(LeaseGuard.line(for: message).utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    @Test func fedWhileWellStoppedOnACleanExit() async throws {
        let path = try Self.device()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let readEnd = fds[0]
        let watchdog = try HardwareWatchdog(path: path, timeout: 10)
        let guardTask = Task {
            await LeaseGuard.run(input: readEnd, addresses: [], cgroup: nil, vipDriver: DryRunVIPDriver(), name: "test", watchdog: watchdog)
        }
        for _ in 0..<6 {
            Self.send(fds[1], .arm(monotonicNow() + 1_000_000_000))
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        #expect(Self.written(path).filter { $0 == 0 }.count >= 2, "fed about every half second")
        Self.send(fds[1], .exit)
        #expect(await guardTask.value == 0)
        #expect(Self.written(path).last == UInt8(ascii: "V"), "the magic close stops it")
        close(fds[1])
        close(fds[0])
    }

    @Test func notFedOnceTheGroupCouldNotBeTakenDown() async throws {
        let path = try Self.device()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let readEnd = fds[0]
        let watchdog = try HardwareWatchdog(path: path, timeout: 10)
        // A cgroup that is not there: the kill fails.
        let broken = GroupCgroup(path: "/nonexistent/servha-test")
        let guardTask = Task {
            await LeaseGuard.run(input: readEnd, addresses: [], cgroup: broken, vipDriver: DryRunVIPDriver(), name: "test", watchdog: watchdog)
        }
        Self.send(fds[1], .arm(monotonicNow() + 100_000_000))
        try await Task.sleep(nanoseconds: 400_000_000)
        let afterFailure = Self.written(path).count
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(Self.written(path).count == afterFailure, "no feeding after the failed kill")
        Self.send(fds[1], .exit)
        #expect(await guardTask.value == 0)
        #expect(!Self.written(path).contains(UInt8(ascii: "V")), "left armed: the host resets")
        close(fds[1])
        close(fds[0])
    }
}
}
