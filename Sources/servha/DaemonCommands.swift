import ArgumentParser
import CLZ4
import Coordinator
import Dispatch
import Foundation
import Logging
import Runtime
import ServiceLifecycle

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the servha daemon for this node.",
        discussion: """
            Checks everything first (configuration, key file, shared storage, resource agents, ports, admin \
            socket) and exits 2 with a one-line error naming the item if anything is wrong, leaving nothing \
            running. SIGTERM hands the group over to the peer and exits; SIGHUP reloads the configuration after \
            checking it (a bad one is refused and the old one kept).
            """
    )

    @Option(help: "The configuration file.") var config: String
    @Option(help: "Run as this node (instead of the file's this_node).") var node: String?
    @Flag(help: "Do not touch real network interfaces: log what the VIP would do (tests, laptops).")
    var dryRunVip = false

    func run() async throws {
        // Buffers of 256 KiB and more (a segment read at start-up, the mirror's pieces) get pages of their own,
        // given back to the system when freed. By default glibc raises this threshold to the largest buffer freed,
        // after which a start-up's 8 MiB reads stay in the heap and count in the daemon's memory for good.
        _ = servha_set_mmap_threshold(256 << 10)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "servha")
        let loaded: DaemonConfig
        switch ConfigLoader.load(path: config, thisNode: node) {
        case .success(let value):
            loaded = value
        case .failure(let errors):
            for problem in errors.problems { printError("servha: \(problem)") }
            throw ExitCode(2)
        }
        // Before the daemon's threads start, so that they inherit it; and again after, for any that did not.
        let realtime = RealtimeScheduling.apply(loaded.realtime)
        for problem in realtime.problems { logger.warning("\(problem)") }
        let daemon: Daemon
        do {
            daemon = try await Daemon.start(config: loaded, dryRunVIP: dryRunVip, logger: logger)
        } catch {
            printError("servha: \(error)")
            throw ExitCode(2)
        }
        if realtime.problems.isEmpty { _ = RealtimeScheduling.apply(loaded.realtime) }
        logger.notice("scheduling: \(RealtimeScheduling.observed().summary) (profile \(loaded.profile.rawValue))")
        if dryRunVip { logger.notice("VIP driver is a dry run: addresses and gratuitous ARP are only logged") }
        logger.notice(
            "servha daemon running",
            metadata: ["servha.node": "\(loaded.thisNodeName)", "servha.cluster": "\(loaded.cluster.cluster)"]
        )

        // The daemon is a ServiceGroup: the coordinator (handing the group over on SIGTERM or SIGINT) and the
        // reloader (SIGHUP). Either ending ends the other.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: CoordinatorService(daemon: daemon, logger: logger)),
                    .init(service: ReloadService(daemon: daemon, config: config, node: node, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch let failure as DaemonFailure {
            printError("servha: \(loaded.thisNodeName) stopped deciding: \(failure.reason)")
            throw ExitCode(3)
        }
    }
}

/// The daemon stopped deciding (its log failed): exit 3.
struct DaemonFailure: Error {
    var reason: String
}

/// Runs until a graceful shutdown, then hands the group over to the peer and closes everything.
struct CoordinatorService: Service {
    let daemon: Daemon
    let logger: Logger

    func run() async throws {
        let daemon = daemon
        let fatal = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                return nil
            }
            group.addTask { await daemon.fatalFailure() }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let fatal {
            // The group is down here already; give the alarm sinks a moment, close what can be closed, and exit
            // non-zero so that systemd restarts the daemon (which folds its log again, if the disk is back).
            try? await Task.sleep(nanoseconds: 500_000_000)
            await daemon.stop(handOver: false, logger: logger)
            throw DaemonFailure(reason: fatal)
        }
        logger.notice("shutting down: handing the group over to the peer")
        await daemon.stop(handOver: true, logger: logger)
    }
}

/// Reloads the configuration on SIGHUP (checked first; a bad one is refused and the old one kept).
struct ReloadService: Service {
    let daemon: Daemon
    let config: String
    let node: String?
    let logger: Logger

    func run() async throws {
        let signals = SignalStream([SIGHUP])
        for await _ in signals.stream.cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading \(config)")
            await daemon.reload(ConfigLoader.load(path: config, thisNode: node), logger: logger)
        }
    }
}

/// Signals as an async stream (their default handlers are switched off).
final class SignalStream {
    let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: [Int32]) {
        var continuation: AsyncStream<Int32>.Continuation!
        stream = AsyncStream { continuation = $0 }
        let sink = continuation!
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { sink.yield(number) }
            source.resume()
            return source
        }
    }
}

/// The socket of the local daemon: from --socket, or from the configuration, or the default.
struct AdminSocketOptions: ParsableArguments {
    @Option(help: "The daemon's admin socket.") var socket: String?
    @Option(help: "Find the admin socket in this configuration file.") var config: String?

    func path() -> String {
        if let socket { return socket }
        if let config, case .success(let loaded) = ConfigLoader.load(path: config) { return loaded.adminSocket }
        return ConfigDefaults.adminSocket
    }

    /// Sends a request and prints the reply; refused or failed requests exit 1.
    func request(_ line: String) throws {
        let reply: AdminClient.Reply
        do {
            reply = try AdminClient.send(line, socket: path())
        } catch {
            throw fail("\(error)")
        }
        switch reply {
        case .ok(let body): print(body, terminator: "")
        case .refused(let reason): throw fail("refused: \(reason)")
        case .error(let reason): throw fail(reason)
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each node's role and epoch, every channel's health, resources, open alarms, last failover."
    )
    @OptionGroup var admin: AdminSocketOptions
    @Flag(help: "One JSON object.") var json = false
    func run() throws { try admin.request(json ? "status-json" : "status") }
}

/// An admin command that sends one fixed request to the local daemon.
protocol AdminVerbCommand: ParsableCommand {
    static var request: String { get }
    var admin: AdminSocketOptions { get }
}

extension AdminVerbCommand {
    func run() throws { try admin.request(Self.request) }
}

struct SwitchoverCommand: AdminVerbCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "Move the group to the peer gracefully (run it on the active node)."
    )
    static let request = "switchover"
    @OptionGroup var admin: AdminSocketOptions
}

struct FailbackCommand: AdminVerbCommand {
    static let configuration = CommandConfiguration(
        commandName: "failback",
        abstract: "Move the group back to the preferred node (run it on the active node)."
    )
    static let request = "failback"
    @OptionGroup var admin: AdminSocketOptions
}

struct StandbyCommand: AdminVerbCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby",
        abstract: "This node refuses to run the group (an active node hands it over)."
    )
    static let request = "standby"
    @OptionGroup var admin: AdminSocketOptions
}

struct UnstandbyCommand: AdminVerbCommand {
    static let configuration = CommandConfiguration(commandName: "unstandby", abstract: "Leave standby.")
    static let request = "unstandby"
    @OptionGroup var admin: AdminSocketOptions
}

struct MaintenanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance",
        abstract: "on: leave the resources as they are and decide nothing; off: resume."
    )
    @OptionGroup var admin: AdminSocketOptions
    @Argument(help: "on or off.") var mode: String
    func validate() throws {
        guard mode == "on" || mode == "off" else {
            throw ValidationError("maintenance takes 'on' or 'off', not '\(mode)'")
        }
    }
    func run() throws { try admin.request("maintenance-\(mode)") }
}
