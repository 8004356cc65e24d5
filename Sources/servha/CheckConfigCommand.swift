import ArgumentParser
import Coordinator
import Runtime

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and report every problem with its line and column.",
        discussion: """
            Exit status 0 when the file is usable, 1 with one line per problem (FILE:LINE:COLUMN: what) otherwise. \
            With fencing configured, the fence agent checks each node's parameters (validate-all, without touching \
            the devices); with --probe it also asks each device for the node's power status.
            """
    )

    @Argument(help: "The configuration file (YAML).") var file: String
    @Option(help: "Check it as this node (instead of its this_node key).") var node: String?
    @Flag(help: "Ask each node's fence device for its power status (runs the fence agent's status action).")
    var probe = false

    func run() async throws {
        let config: DaemonConfig
        switch ConfigLoader.load(path: file, thisNode: node) {
        case .success(let loaded):
            config = loaded
        case .failure(let errors):
            for problem in errors.problems { printError(problem.description) }
            throw ExitCode(1)
        }
        var failed = false
        // The daemon refuses a key it cannot use; say so here rather than at its start.
        do {
            _ = try HeartbeatAuthenticator.loadKey(path: config.keyFile)
        } catch {
            printError("\(file): heartbeat.key_file: \(error)")
            failed = true
        }
        // So would it a DNS alias's key.
        for spec in config.resources {
            guard case .dns(let alias) = spec.kind else { continue }
            do {
                _ = try TSIGKey.load(path: alias.keyFile)
            } catch {
                printError("\(alias.keyFileLocation): resource \(spec.name): key_file: \(error)")
                failed = true
            }
        }
        // And the console's token and certificate.
        if let http = config.http {
            do {
                _ = try ConsoleCredentials.load(http)
            } catch {
                printError("\(error)")
                failed = true
            }
        }
        if let fencing = config.fencing {
            for name in config.cluster.nodes.map(\.name) {
                if let problem = await FenceAgent.problem(with: fencing, node: name) {
                    printError("\(fencing.locations[name] ?? file): fencing.nodes.\(name): \(problem)")
                    failed = true
                }
            }
        }
        if failed { throw ExitCode(1) }
        let resources = config.resources.map(\.name).joined(separator: ", ")
        let fencing = config.fencing.map { "fencing \($0.agent) (\($0.action))" } ?? "no fencing"
        print(
            "\(file): ok: cluster \(config.cluster.cluster), this node \(config.thisNodeName), "
                + "\(config.channels.count) heartbeat channels, resources \(resources), failback \(config.cluster.failback), \(fencing)"
        )
        let cluster = config.cluster
        print(
            "\(file): timings: profile \(config.profile.rawValue): heartbeat \(DurationText.render(cluster.heartbeatInterval)), "
                + "deadline \(DurationText.render(cluster.channelDeadline)), lease \(DurationText.render(cluster.leaseDuration)), "
                + "margin \(DurationText.render(cluster.safetyMargin)), disk-only lease \(DurationText.render(cluster.diskOnlyLease)); "
                + (config.realtime.priority.map { "SCHED_RR \($0)" } ?? "normal scheduling")
                + (config.realtime.lockMemory ? ", memory locked" : "")
        )
        for spec in config.resources {
            guard case .dns(let alias) = spec.kind else { continue }
            let addresses = config.cluster.nodes.map { "\($0.name) \(alias.addresses[$0.name] ?? "?")" }
            print(
                "\(file): alias \(spec.name): \(alias.name) in \(alias.zone) on \(alias.server), TTL \(alias.ttl) s, "
                    + "\(addresses.joined(separator: ", ")), on stop \(alias.onStop.rawValue)"
            )
        }
        if let http = config.http {
            print(
                "\(file): console: \(http.url()), read-only, "
                    + (http.tokenFile == nil ? "no token asked (anyone who reaches the address can read it)" : "bearer token from \(http.tokenFile!)")
            )
        }
        if let warning = config.fencingWarning { printError("\(file): \(warning)") }
        if config.profile == .fast && config.realtime.priority == nil {
            printError(
                "\(file): warning: profile fast without real-time priority: a loaded host misses a \(DurationText.render(cluster.leaseDuration)) lease and self-fences (README: Real-time scheduling)"
            )
        }
        guard probe else { return }
        guard let spec = config.fencing else {
            printError("\(file): --probe: no fencing configured, nothing to probe")
            throw ExitCode(1)
        }
        for name in config.cluster.nodes.map(\.name) {
            let result = await FenceAgent.run(spec, action: "status", node: name)
            let state: String
            switch result.exitCode {
            case 0: state = "power on"
            case 2: state = "power off"
            default: state = "UNREACHABLE or refused"
            }
            print("fence probe \(name): \(state): \(result.detail)")
            if result.exitCode != 0 && result.exitCode != 2 { failed = true }
        }
        if failed { throw ExitCode(1) }
    }
}
