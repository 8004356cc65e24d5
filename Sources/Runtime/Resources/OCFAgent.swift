import Coordinator
import Foundation

/// A resource run by an OCF resource agent: `$OCF_ROOT/resource.d/PROVIDER/TYPE ACTION`.
///
/// The agent gets what Pacemaker would give it: OCF_ROOT, OCF_RA_VERSION_MAJOR/MINOR, OCF_RESOURCE_INSTANCE (the
/// resource's name), OCF_RESOURCE_TYPE, OCF_RESOURCE_PROVIDER, OCF_RESKEY_name=value for each parameter, and
/// OCF_RESKEY_CRM_meta_timeout (the operation's timeout in milliseconds). OCF_RESKEY_CRM_meta_interval is not
/// set, so ocf-shellfuncs takes every monitor for a probe; agents then report a resource whose software is
/// missing as not running rather than as an error, which is what the coordinator needs to know either way.
///
/// Exit codes: 0 (OCF_SUCCESS) succeeds; 7 (OCF_NOT_RUNNING) is `notRunning` for a monitor and success for a
/// stop (it is stopped); 190 (OCF_DEGRADED) from a monitor is running. Anything else fails with its code, and the
/// output starts with the code's name (`OCF_ERR_CONFIGURED (exit 6)`). OCF has no kill: `kill` runs `stop`
/// with at most `ScriptAgent.killTimeout`.
public struct OCFAgent: ResourceAgent {
    public static let defaultRoot = "/usr/lib/ocf"

    public let name: String
    /// `provider/type`, as configured.
    public let agent: String
    public let parameters: [String: String]
    /// OCF_ROOT: `defaultRoot` except in tests.
    public let root: String
    /// The group's cgroup, which the start action enters before it runs (see `ScriptAgent.cgroup`).
    public var cgroup: GroupCgroup?
    /// The name clients reach the group by (`ScriptAgent.alias`), as SERVHA_ALIAS.
    public var alias: String?

    public init(name: String, agent: String, parameters: [String: String], root: String = OCFAgent.defaultRoot) {
        self.name = name
        self.agent = agent
        self.parameters = parameters
        self.root = root
    }

    /// The agent's executable.
    public var path: String { "\(root)/resource.d/\(agent)" }

    public func perform(_ operation: ResourceOperation, timeout: UInt64) async -> AgentOutcome {
        var limit = timeout
        let action: String
        switch operation {
        case .start: action = "start"
        case .stop: action = "stop"
        case .monitor: action = "monitor"
        case .kill:
            action = "stop"
            limit = min(timeout, ScriptAgent.killTimeout)
        }
        let command = ProcessCommand(executable: path, arguments: [action], environment: environment(timeout: limit))
        let contained = operation == .start ? cgroup?.wrap(command) : nil
        let run = await ProcessRunner.run(contained ?? command, timeout: limit)
        let result = Self.result(of: run.termination, for: operation)
        var output = run.annotatedOutput
        if case .exited(let code) = run.termination, code != 0 {
            let note = "\(Self.codeName(code)) (exit \(code))"
            output = output.isEmpty ? note : note + "\n" + output
        }
        return AgentOutcome(result: result, output: output, tookNanos: run.tookNanos)
    }

    /// The variables the agent runs with (added to the daemon's environment).
    func environment(timeout: UInt64) -> [String: String] {
        let parts = agent.split(separator: "/", maxSplits: 1)
        var environment = [
            "OCF_ROOT": root,
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "1",
            "OCF_RESOURCE_INSTANCE": name,
            "OCF_RESOURCE_PROVIDER": parts.first.map(String.init) ?? "",
            "OCF_RESOURCE_TYPE": parts.count > 1 ? String(parts[1]) : "",
            "OCF_RESKEY_CRM_meta_timeout": String(timeout / 1_000_000),
        ]
        for (key, value) in parameters { environment["OCF_RESKEY_\(key)"] = value }
        if let alias { environment["SERVHA_ALIAS"] = alias }
        return environment
    }

    /// The OCF meaning of how the agent ended.
    static func result(of termination: ProcessTermination, for operation: ResourceOperation) -> ResourceResult {
        guard case .exited(let code) = termination else {
            return ProcessOutcome(termination: termination, output: "", tookNanos: 0, pid: nil).result
        }
        switch (operation, code) {
        case (_, 0): return .succeeded
        case (.monitor, 7): return .notRunning
        case (.stop, 7), (.kill, 7): return .succeeded
        case (.monitor, 190): return .succeeded
        default: return .failed(exitCode: code)
        }
    }

    /// The name of an OCF exit code (with the OCF 1.1 names for 8 and 9, formerly `..._MASTER`).
    public static func codeName(_ code: Int32) -> String {
        switch code {
        case 0: "OCF_SUCCESS"
        case 1: "OCF_ERR_GENERIC"
        case 2: "OCF_ERR_ARGS"
        case 3: "OCF_ERR_UNIMPLEMENTED"
        case 4: "OCF_ERR_PERM"
        case 5: "OCF_ERR_INSTALLED"
        case 6: "OCF_ERR_CONFIGURED"
        case 7: "OCF_NOT_RUNNING"
        case 8: "OCF_RUNNING_PROMOTED"
        case 9: "OCF_FAILED_PROMOTED"
        case 190: "OCF_DEGRADED"
        case 191: "OCF_DEGRADED_PROMOTED"
        default: "exit code \(code), not an OCF code"
        }
    }

    // MARK: - Start-up checks

    /// Why the agent cannot run as configured (not `provider/type`, not installed, a parameter name that cannot
    /// be an environment variable), or nil.
    func installationProblem() -> String? {
        let parts = agent.split(separator: "/", omittingEmptySubsequences: false)
        let nameCharacters = { (part: Substring) in
            !part.isEmpty && part != "." && part != ".."
                && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        }
        guard parts.count == 2, parts.allSatisfy(nameCharacters) else {
            return "OCF agent '\(agent)' is not of the form provider/type"
        }
        switch executableProblem(path) {
        case nil: break
        case "no such file":
            let hint = parts[0] == "heartbeat" ? "; apt-get install resource-agents" : ""
            return "OCF agent \(agent) is not installed (\(path))\(hint)"
        case let problem?:
            return "OCF agent \(agent) cannot be run (\(path): \(problem))"
        }
        for key in parameters.keys.sorted() {
            let valid =
                key.first.map { !$0.isNumber } ?? false
                && key.allSatisfy { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }
            if !valid { return "OCF parameter '\(key)' is not a valid name (letters, digits and _)" }
        }
        return nil
    }
}
