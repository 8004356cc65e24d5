import Coordinator
import Foundation

/// How this node fences its peer: a standard fence agent (Debian's fence-agents: `fence_ipmilan`,
/// `fence_redfish`, `fence_virsh`, ...), driven through the fence-agent API: its parameters as `key=value` lines on
/// standard input, the action among them (`action=off`, `reboot`, `status`, `monitor`, `metadata`). Exit 0 is
/// success; for `status`, 0 is on and 2 is off.
public struct FenceSpec: Sendable, Hashable {
    /// The agent's executable (a name is looked up in /usr/sbin, /sbin, /usr/bin, /bin).
    public var agent: String
    /// `off` (the default: a fenced host stays down until someone looks at it) or `reboot`.
    public var action: String
    /// A fence that has not finished by then has failed (the agent is killed).
    public var timeout: UInt64
    /// After a failed fence, the next attempt comes this much later (the core waits; it never takes over).
    public var retry: UInt64
    /// Per node (by name): the agent's parameters for fencing that node.
    public var nodes: [String: [String: String]]
    /// Per node: where its parameters are in the configuration file (`FILE:LINE:COLUMN`), for error lines.
    public var locations: [String: String] = [:]

    public init(agent: String, action: String, timeout: UInt64, retry: UInt64, nodes: [String: [String: String]]) {
        self.agent = agent
        self.action = action
        self.timeout = timeout
        self.retry = retry
        self.nodes = nodes
    }

    public static let actions = ["off", "reboot"]
    public static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    /// The agent's full path, if it exists and can be run.
    public var executable: String? {
        let candidates = agent.contains("/") ? [agent] : Self.searchPath.map { "\($0)/\(agent)" }
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// The standard input for one action against one node: the node's parameters, sorted, then the action.
    public func input(action: String, node: String) -> [UInt8] {
        let parameters = (nodes[node] ?? [:]).filter { $0.key != "action" }
        let lines = parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" } + ["action=\(action)"]
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }
}

/// One run of the fence agent, and what came of it.
public struct FenceResult: Sendable, Hashable {
    public var succeeded: Bool
    /// The agent's exit (or how it ended), how long it took, and its last words: for the log and the alarm.
    public var detail: String
    public var exitCode: Int32?
    public var tookNanos: UInt64
}

public enum FenceAgent {
    /// Runs the agent for `action` against `node`. Never throws: a missing agent, a timeout or a failure is a
    /// result that says so.
    public static func run(_ spec: FenceSpec, action: String, node: String) async -> FenceResult {
        guard let path = spec.executable else {
            return FenceResult(succeeded: false, detail: "fence agent \(spec.agent) not found", exitCode: nil, tookNanos: 0)
        }
        let outcome = await ProcessRunner.run(
            ProcessCommand(executable: path, arguments: []),
            stdin: spec.input(action: action, node: node),
            timeout: spec.timeout
        )
        var code: Int32?
        if case .exited(let exit) = outcome.termination { code = exit }
        let words = outcome.output.split(separator: "\n")
            .filter { !$0.contains("DeprecationWarning") && !$0.contains("import pipes") && !$0.isEmpty }
            .suffix(2).joined(separator: " / ")
        let took = String(format: "%.2f s", Double(outcome.tookNanos) / 1e9)
        let detail = "\(spec.agent) \(action) \(node): \(outcome.termination) in \(took)" + (words.isEmpty ? "" : ": \(words)")
        return FenceResult(succeeded: code == 0, detail: detail, exitCode: code, tookNanos: outcome.tookNanos)
    }

    /// Why the agent refuses `node`'s parameters, asked without touching the device (`action=validate-all`:
    /// a missing address or login, an unknown parameter), or nil when it accepts them.
    public static func problem(with spec: FenceSpec, node: String) async -> String? {
        guard let path = spec.executable else {
            return "fence agent '\(spec.agent)' not found (looked in \(FenceSpec.searchPath.joined(separator: ", ")))"
        }
        guard spec.nodes[node] != nil else { return "no fence parameters for \(node) (fencing.nodes.\(node))" }
        let outcome = await ProcessRunner.run(
            ProcessCommand(executable: path, arguments: []),
            stdin: spec.input(action: "validate-all", node: node),
            timeout: 20_000_000_000
        )
        return Self.problem(inValidation: outcome.output, succeeded: outcome.result == .succeeded, node: node, agent: spec.agent)
    }

    /// What a fence agent's `validate-all` said was wrong: its `Failed: ...` line, or the options it ignored.
    static func problem(inValidation output: String, succeeded: Bool, node: String, agent: String) -> String? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let ignored = lines.compactMap { line -> String? in
            guard let range = line.range(of: "Ignoring unknown option '") else { return nil }
            return String(line[range.upperBound...].prefix { $0 != "'" }.split(separator: "=").first ?? "")
        }
        if !ignored.isEmpty {
            return "\(agent) does not know the parameter(s) \(ignored.joined(separator: ", ")) given for \(node)"
        }
        guard !succeeded else { return nil }
        let failed = lines.first { $0.contains("Failed:") }.map { line in
            String(line[line.range(of: "Failed:")!.lowerBound...])
        }
        return "\(agent) refuses the parameters for \(node): \(failed ?? lines.last ?? "validate-all failed")"
    }
}
