import Coordinator
import EventRecords
import EventLog
import Foundation
import Logging
import Synchronization

/// A start-up failure: one line naming the item (the daemon exits 2 and leaves nothing running).
public struct StartupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A running daemon: everything `Daemon.start` opened, and how to stop it.
public final class Daemon: Sendable {
    public let shell: NodeShell
    private let transport: HeartbeatTransport
    private let log: EventLogWriter
    private let mirror: any SharedLogCopy
    private let admin: AdminServer
    private let guardLink: GuardLink
    /// The read-only console, when `http:` is configured.
    public let console: ConsoleServer?

    init(
        shell: NodeShell,
        transport: HeartbeatTransport,
        log: EventLogWriter,
        mirror: any SharedLogCopy,
        admin: AdminServer,
        guardLink: GuardLink,
        console: ConsoleServer?
    ) {
        self.console = console
        self.guardLink = guardLink
        self.shell = shell
        self.transport = transport
        self.log = log
        self.mirror = mirror
        self.admin = admin
    }

    /// Checks everything, opens everything, and starts. Nothing stays half-started when it throws.
    public static func start(config: DaemonConfig, dryRunVIP: Bool, logger: Logger) async throws -> Daemon {
        var undo: [() async -> Void] = []
        func fail(_ message: String) async -> StartupError {
            for step in undo.reversed() { await step() }
            return StartupError(message)
        }
        let key: [UInt8]
        do {
            key = try HeartbeatAuthenticator.loadKey(path: config.keyFile)
        } catch {
            throw await fail("\(error)")
        }
        let shared: SharedStorageAccess
        do {
            shared = try SharedStorageAccess.open(config) { event in
                switch event {
                case .failing(let error):
                    logger.error("shared copy of the log failing", metadata: ["servha.error": "\(error)"])
                case .recovered: logger.notice("shared copy of the log caught up")
                }
            }
        } catch {
            throw await fail("shared storage: \(error)")
        }
        let (slots, mirror) = (shared.slots, shared.logCopy)
        let vipDriver: any VIPDriver = dryRunVIP ? DryRunVIPDriver() : LinuxVIPDriver()
        // The guard: the group's processes in a cgroup of their own, and a process apart that takes the group down
        // if this one stops renewing the lease (paused, starved, hung).
        var cgroup: GroupCgroup?
        switch GroupCgroup.prepare(cluster: config.cluster.cluster, node: config.thisNodeName) {
        case .success(let made): cgroup = made
        case .failure(let problem):
            logger.warning(
                "guard: \(problem); if this daemon is paused, its guard removes the group's addresses but cannot kill the group's processes"
            )
        }
        var guardArguments = ["--name", config.thisNodeName]
        if let cgroup { guardArguments += ["--cgroup", cgroup.path] }
        if dryRunVIP { guardArguments.append("--dry-run-vip") }
        let guardScheduling = config.realtime.forGuard
        if let priority = guardScheduling.priority { guardArguments += ["--realtime-priority", "\(priority)"] }
        if guardScheduling.lockMemory { guardArguments.append("--lock-memory") }
        if let watchdog = config.watchdog {
            guardArguments += ["--watchdog", watchdog, "--watchdog-timeout", "\(config.watchdogTimeout)"]
            logger.notice("guard: feeding the hardware watchdog \(watchdog) (timeout \(config.watchdogTimeout) s)")
        } else {
            logger.notice("guard: no hardware watchdog (none at \(ConfigDefaults.watchdog), or guard.watchdog: off)")
        }
        for spec in config.resources {
            if case .vip(let address, let prefixLength, let interface, _, _) = spec.kind {
                guardArguments += ["--address", "\(address)/\(prefixLength)@\(interface)"]
            }
        }
        let guardLink: GuardLink
        do {
            guardLink = try GuardLink.start(executable: GuardLink.currentExecutable(), arguments: guardArguments)
        } catch {
            throw await fail("\(error)")
        }
        undo.append { guardLink.stop() }
        let hold = GroupHold()
        var agents: [any ResourceAgent] = []
        for spec in config.resources {
            do {
                agents.append(
                    try ResourceAgents.make(
                        spec, vipDriver: vipDriver, cgroup: cgroup, hold: hold, node: config.thisNodeName,
                        alias: config.alias
                    )
                )
            } catch {
                throw await fail("\(error)")
            }
        }
        guard let peer = config.peer else { throw await fail("the configuration names no peer node") }
        if let fencing = config.fencing, let problem = await FenceAgent.problem(with: fencing, node: peer.name) {
            throw await fail("\(fencing.locations[peer.name] ?? "fencing"): fencing.nodes.\(peer.name): \(problem)")
        }
        if let warning = config.fencingWarning { logger.warning("\(warning)") }

        // The log: opened (a torn tail cut away), then folded to rebuild the state.
        let identity = LogIdentity(
            cluster: config.cluster.cluster,
            nodeName: config.thisNodeName,
            node: config.thisNode,
            servhaVersion: Daemon.version,
            configHash: config.cluster.hash
        )
        let log: EventLogWriter
        // The shell, once it exists: each sealed segment is followed by a state snapshot.
        let snapshotTaker = Mutex<NodeShell?>(nil)
        do {
            log = try EventLogWriter(
                directory: config.logDirectory,
                identity: identity,
                options: Daemon.writerOptions,
                onSegmentSealed: { _ in
                    if let shell = snapshotTaker.withLock({ $0 }) { Task { await shell.requestSnapshot() } }
                },
                onBatchesWritten: { mirror.nudge() }
            )
        } catch {
            throw await fail("\(EventLogError.wrap(error, path: config.logDirectory))")
        }
        undo.append { try? log.close() }
        if let torn = log.recovery.tornTail {
            logger.warning(
                "cut a torn last batch from the log",
                metadata: ["eventlog.segment": "\(torn.path)", "eventlog.offset": "\(torn.offset)"]
            )
        }
        let rebuilt: StartupFold.Result
        do {
            rebuilt = try StartupFold.rebuild(directory: config.logDirectory, node: config.thisNode)
        } catch {
            throw await fail("cannot rebuild the state from the log: \(error)")
        }
        let core = rebuilt.core
        logger.info(
            "state rebuilt from the log",
            metadata: [
                "servha.events": "\(rebuilt.folded)",
                "servha.snapshot": "\(rebuilt.snapshot.map { "sequence \($0)" } ?? "none: folded from the beginning")",
                "servha.segments": "\(rebuilt.segmentsRead)", "servha.role": "\(core.state.role)",
            ]
        )

        // The network edge.
        var authenticator = HeartbeatAuthenticator(
            key: key,
            cluster: config.cluster.cluster,
            thisNode: config.thisNode,
            peer: peer.id,
            channelCount: config.channels.count
        )
        authenticator.restartAfterSilence = config.cluster.channelDeadline
        // The shell's thread polls the heartbeat sockets itself, and steps each datagram as it reads it: a datagram
        // wakes one thread, the one that acts on it, and reaches the core in the order it arrived, with no task
        // or queue between. (The shell is made first: nothing arrives before the transport starts.)
        let executor = ShellExecutor(name: "servha shell")
        let receiver = DatagramReceiver()
        let transport = HeartbeatTransport(
            channels: config.channels, thisNode: config.thisNode, peer: peer.id, loop: executor
        ) { channel, bytes, source in
            let at = StampClock.monotonic()
            receiver.shell?.assumeIsolated { $0.received(bytes, channel: channel, source: source, at: at) }
        }
        let shell = NodeShell(
            executor: executor,
            config: config,
            core: core,
            log: log,
            slots: slots,
            agents: agents,
            authenticator: authenticator,
            send: { bytes, channel in transport.send(bytes, channel: channel) },
            guardLink: guardLink,
            hold: hold,
            logger: logger
        )
        snapshotTaker.withLock { $0 = shell }
        receiver.shell = shell
        do {
            try await transport.start()
        } catch {
            throw await fail("\(error)")
        }
        undo.append { await transport.stop() }
        await shell.startedFromSnapshot(rebuilt.snapshot)
        let admin: AdminServer
        do {
            admin = try AdminServer(path: config.adminSocket, shell: shell)
        } catch {
            throw await fail("\(error)")
        }
        admin.start()
        undo.append { admin.close() }
        var console: ConsoleServer?
        if let http = config.http {
            let credentials: ConsoleCredentials
            do {
                credentials = try ConsoleCredentials.load(http)
            } catch {
                throw await fail("\(error)")
            }
            let metrics = ConsoleMetrics(config: config)
            let feed = ConsoleFeed(state: await shell.state, metrics: metrics)
            await shell.attachConsole(feed)
            do {
                console = try await ConsoleServer.start(
                    settings: http,
                    credentials: credentials,
                    sources: ConsoleServer.Sources(
                        feed: feed, config: config, identity: identity,
                        logCounters: { log.counters }, mirror: { mirror.status }
                    ),
                    logger: logger
                )
            } catch {
                throw await fail("\(error)")
            }
            logger.notice("console: \(http.url(port: console?.port))\(credentials.token == nil ? "" : " (bearer token asked)")")
        }
        mirror.start()
        await shell.deliver(
            .started(
                NodeStart(
                    node: config.thisNode,
                    servhaVersion: Daemon.version,
                    bootID: Self.bootID(),
                    configHash: config.cluster.hash
                )
            )
        )
        await shell.deliver(.configLoaded(config.cluster))
        await shell.recordLateNotes()
        await shell.startAlarms()
        await shell.startPeriodicWork()
        await shell.notifySystemd("READY=1\nSTATUS=\(config.thisNodeName) running, \(await shell.state.role)")
        return Daemon(
            shell: shell,
            transport: transport,
            log: log,
            mirror: mirror,
            admin: admin,
            guardLink: guardLink,
            console: console
        )
    }

    /// Returns when this node stopped deciding because its log failed (the group is already down here), with why.
    public func fatalFailure() async -> String? {
        for await reason in shell.fatalFailures { return reason }
        return nil
    }

    /// Graceful stop: hand the group over (stop resources, release the lease), then close everything.
    public func stop(handOver: Bool, logger: Logger) async {
        await shell.notifySystemd("STOPPING=1\nSTATUS=handing the group over and stopping")
        let failed = await shell.hasStopped
        if handOver && !failed {
            await shell.deliver(.admin(AdminCommand(verb: .standby, source: "SIGTERM")))
            let deadline = monotonicNow() + 120_000_000_000
            while monotonicNow() < deadline {
                let state = await shell.state
                if !state.anyResourceUp && state.role != .releasing { break }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        let handedOver = !(await shell.state.anyResourceUp)
        await shell.stop()
        if failed {
            guardLink.detach()  // it has taken the group down already
        } else if handedOver {
            guardLink.stop()
        } else {
            // Resources still run here and nothing renews the lease from now on: the guard takes them down at
            // its deadline.
            logger.critical("stopping with resources still running; the guard takes them down when the lease runs out")
            guardLink.detach()
        }
        admin.close()
        await console?.stop()
        await transport.stop()
        mirror.stop()
        do {
            try log.close()
        } catch {
            logger.error("closing the log failed", metadata: ["servha.error": "\(error)"])
        }
        // One last copy once the log is closed, so that the shared copy holds everything, the hand-over's own
        // decisions included: stopping the mirror thread runs no further pass, and closing writes the last batch.
        // (Not after the log failed: what it holds is already copied, and the exit must not wait on it.)
        if !failed { mirror.passAndReport() }
    }

    /// Applies a new configuration (SIGHUP) after validating it; a bad one is refused and the old one kept.
    public func reload(_ result: Result<DaemonConfig, ConfigErrors>, logger: Logger) async {
        switch result {
        case .failure(let errors):
            for problem in errors.problems { logger.error("reload refused: \(problem)") }
        case .success(let config):
            let current = shell.config
            if config.channels != current.channels || config.resources != current.resources
                || config.thisNode != current.thisNode
            {
                logger.error("reload refused: heartbeat channels, resources and this_node change only with a restart")
                return
            }
            await shell.deliver(.configLoaded(config.cluster))
            logger.notice("configuration reloaded")
        }
    }

    public static let version = "0.2.0"

    /// How the daemon's log writes. Routine events (heartbeats, echoes, renewals) reach the file in one batch a
    /// second: one frame, checksum and chain digest, and one LZ4 block, for two hundred events instead of a few
    /// each tick. The length is what LZ4 needs: it finds repeats only in the batch's own history, and an idle node
    /// stored 145 MB a day in quarter-second batches, 100 in half-second ones and 80 in one-second ones
    /// (docs/benchmarks.md). Whatever changes who runs what is flushed at once (`NodeDriver`), so the bound only
    /// decides how much routine history a crash can cost: a second and a quarter at most (docs/log-format.md,
    /// "What a tick writes").
    public static var writerOptions: WriterOptions {
        var options = WriterOptions()
        options.maxBufferDelayNanos = 1_000_000_000
        options.syncIntervalNanos = 250_000_000
        options.compressionLevel = 9
        // Zero-filled ahead by about a minute of routine events (about 1 KB/s), not 1 MiB (a quarter of an hour): a
        // sync still never changes the file's size, and a full disk is met (and the group given up) within about a
        // minute.
        options.preallocationBytes = 64 << 10
        // Start-up reads the newest segment that holds a snapshot whole (and the mirror compares the open one with its
        // copy): at 64 MiB a year-old daemon needed up to 1.2 s and 110 MB to start (`servha bench startup --days
        // 365`). 8 MiB is about two hours of an idle node's log, and 256 files for 2 GiB of history.
        options.segmentBytes = 8 << 20
        // Tests seal segments in seconds rather than hours.
        if let bytes = ProcessInfo.processInfo.environment["SERVHA_TEST_SEGMENT_BYTES"].flatMap(Int.init), bytes >= 4096 {
            options.segmentBytes = bytes
        }
        return options
    }

    static func bootID() -> String {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown"
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Where the transport's socket handler finds the shell, which is made after the transport (it sends through it).
/// Set once, before the transport starts; read on the shell's thread only.
private final class DatagramReceiver: @unchecked Sendable {
    weak var shell: NodeShell?
}
