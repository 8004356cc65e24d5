import ArgumentParser
import Runtime

/// The guard process the daemon starts for itself (see `LeaseGuard`): not for operators to run.
struct GuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "Take the group down when the daemon stops renewing its lease (started by the daemon).",
        shouldDisplay: false
    )

    @Option(help: "The node's name (for the log).") var name: String
    @Option(help: "The group's cgroup directory, whose cgroup.kill ends every process of the group.") var cgroup: String?
    @Option(name: .customLong("address"), help: "ADDRESS/PREFIX@INTERFACE to remove first (repeatable).")
    var addresses: [String] = []
    @Flag(name: .customLong("dry-run-vip"), help: "Addresses are the daemon's dry-run ones: nothing to remove.")
    var dryRunVIP = false
    @Option(help: "A watchdog device to feed (the host resets if this guard stops, or cannot take the group down).")
    var watchdog: String?
    @Option(help: "The watchdog's timeout in seconds.") var watchdogTimeout: Int32 = 10
    @Option(help: "Run at this SCHED_RR priority (the daemon's plus one).") var realtimePriority: Int32?
    @Flag(help: "Lock the guard's memory.") var lockMemory = false

    func validate() throws {
        for text in addresses where GuardedAddress(text) == nil {
            throw ValidationError("--address \(text): expected ADDRESS/PREFIX@INTERFACE, for example 192.0.2.100/24@eth0")
        }
    }

    func run() async throws {
        // The guard must act on time when the daemon cannot: at least the daemon's priority.
        let scheduling = RealtimeScheduling.apply(RealtimeSettings(priority: realtimePriority, lockMemory: lockMemory))
        for problem in scheduling.problems { printError("servha guard (\(name)): \(problem)") }
        var device: HardwareWatchdog?
        if let watchdog {
            do {
                device = try HardwareWatchdog(path: watchdog, timeout: watchdogTimeout)
            } catch {
                // Another guard (of a daemon that died and was restarted) may still hold it: go on without.
                printError("servha guard (\(name)): \(error); going on without a hardware watchdog")
            }
        }
        let status = await LeaseGuard.run(
            input: 0,
            addresses: addresses.compactMap(GuardedAddress.init),
            cgroup: cgroup.map(GroupCgroup.init(path:)),
            vipDriver: dryRunVIP ? DryRunVIPDriver() : LinuxVIPDriver(),
            name: name,
            watchdog: device
        )
        if status != 0 { throw ExitCode(status) }
    }
}
