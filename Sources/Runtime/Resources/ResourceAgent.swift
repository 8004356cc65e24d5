import Coordinator
import Foundation
import Glibc

/// Carries out the operations the coordinator asks of one resource.
///
/// `perform` never throws and always returns within about `timeout` (plus the 2 s between SIGTERM and SIGKILL
/// for agents that run programs): every problem, including one the agent could not even start, is a result.
public protocol ResourceAgent: Sendable {
    /// The resource's name, from the configuration.
    var name: String { get }
    /// Runs `operation`, giving it `timeout` nanoseconds.
    func perform(_ operation: ResourceOperation, timeout: UInt64) async -> AgentOutcome
    /// Tells the network again that this node holds the resource (a VIP re-sends its gratuitous ARPs), when
    /// the node re-asserts itself after its peer was lost and came back. Nothing for other resources.
    func reassert() async
}

extension ResourceAgent {
    public func reassert() async {}
}

/// What an operation came to, what it printed, and how long it took.
public struct AgentOutcome: Sendable, Hashable {
    public let result: ResourceResult
    /// Standard output and standard error (or the agent's own account), at most 4 KiB: the head and the tail
    /// around a `[truncated]` marker when there was more.
    public let output: String
    public let tookNanos: UInt64

    public init(result: ResourceResult, output: String, tookNanos: UInt64) {
        self.result = result
        self.output = OutputText.truncated(output)
        self.tookNanos = tookNanos
    }
}

/// A resource that cannot be run as configured, found at start-up rather than at the first failover.
public struct ResourceSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One line, naming the resource (`resource db: OCF agent heartbeat/pgsql is not installed (...)`).
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Builds the agent for each configured resource.
public enum ResourceAgents {
    /// The agent for `spec`, after checking that it can run here: that a script's programs exist and are
    /// executable, that an OCF agent is installed under `ocfRoot`, and that a VIP's interface exists (as far as
    /// `vipDriver` cares: the dry-run driver accepts any), that a DNS alias has this node's address and a usable
    /// key. Throws a `ResourceSetupError` naming the resource. `alias` is the group's name for SERVHA_ALIAS.
    public static func make(
        _ spec: ResourceSpec,
        vipDriver: any VIPDriver,
        ocfRoot: String = OCFAgent.defaultRoot,
        cgroup: GroupCgroup? = nil,
        hold: GroupHold? = nil,
        node: String = "",
        alias: String? = nil
    ) throws -> any ResourceAgent {
        switch spec.kind {
        case .dns(let alias):
            return try DNSAliasAgent(name: spec.name, spec: alias, node: node, hold: hold)

        case .script(let start, let stop, let monitor):
            for (operation, command) in [("start", start), ("stop", stop), ("monitor", monitor)] {
                if let problem = ScriptAgent.programProblem(command) {
                    throw ResourceSetupError("resource \(spec.name): \(operation) command \(problem)")
                }
            }
            var agent = ScriptAgent(name: spec.name, start: start, stop: stop, monitor: monitor)
            agent.cgroup = cgroup
            agent.alias = alias
            return agent

        case .ocf(let agent, let parameters):
            var made = OCFAgent(name: spec.name, agent: agent, parameters: parameters, root: ocfRoot)
            made.cgroup = cgroup
            made.alias = alias
            if let problem = made.installationProblem() {
                throw ResourceSetupError("resource \(spec.name): \(problem)")
            }
            return made

        case .vip(let address, let prefixLength, let interface, let garpCount, let garpInterval):
            guard GratuitousARP.ipv4(address) != nil else {
                throw ResourceSetupError("resource \(spec.name): \(address) is not an IPv4 address")
            }
            guard (1...32).contains(prefixLength) else {
                throw ResourceSetupError("resource \(spec.name): prefix length \(prefixLength) is not between 1 and 32")
            }
            if let problem = vipDriver.interfaceProblem(interface) {
                throw ResourceSetupError("resource \(spec.name): \(problem)")
            }
            return VIPAgent(
                name: spec.name,
                address: address,
                prefixLength: prefixLength,
                interface: interface,
                garpCount: garpCount,
                garpInterval: garpInterval,
                driver: vipDriver,
                hold: hold
            )
        }
    }
}

/// Why `path` cannot be run (`no such file`, `is a directory`, `not executable`), or nil if it can.
func executableProblem(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else {
        return errno == ENOENT || errno == ENOTDIR ? "no such file" : errnoText(errno)
    }
    if info.st_mode & S_IFMT == S_IFDIR { return "is a directory" }
    guard access(path, X_OK) == 0 else { return "not executable" }
    return nil
}
