import Coordinator
import Foundation

/// A resource run by three shell commands (`/bin/sh -c`), read with LSB init-script exit codes.
///
/// - start: 0 is success; anything else fails with its code.
/// - stop: 0 is success, and so is 7 (LSB "program is not running": an already stopped resource is stopped, which
///   LSB says a stop should report as 0 anyway). Anything else fails, 3 included: for an action, LSB 3 means
///   "unimplemented", and taking that for stopped could leave the resource running on both nodes.
/// - monitor: the command is a status action: 0 is running, 3 is not running, anything else fails (LSB 1 and 2,
///   "dead but a pid or lock file remains", need a person or a stop).
/// - kill: runs the stop command, with at most `killTimeout`, and that is all: a script has no way of saying
///   "without grace", and anything more (killing its processes) is for the script to do. The command sees
///   `SERVHA_OPERATION=kill` so that it can be harsher.
///
/// Each command runs in its own process group with `SERVHA_RESOURCE` (the resource's name) and
/// `SERVHA_OPERATION` (start, stop, monitor or kill) in its environment. A start command that leaves a daemon
/// running must redirect the daemon's output: the output pipe is closed once the command has exited.
public struct ScriptAgent: ResourceAgent {
    public let name: String
    public let start: String
    public let stop: String
    public let monitor: String
    /// The group's cgroup, which the start command enters before it runs, so that whatever it leaves running is
    /// in it (nil: none). Stops, kills and monitors run outside it: the guard's kill of the cgroup must not kill
    /// the very stop that is taking the resource down.
    public var cgroup: GroupCgroup?
    /// The name clients reach the group by (a `dns` resource's), given to the commands as SERVHA_ALIAS.
    public var alias: String?

    /// The longest a kill's stop command may take.
    public static let killTimeout: UInt64 = 5_000_000_000

    public init(name: String, start: String, stop: String, monitor: String) {
        self.name = name
        self.start = start
        self.stop = stop
        self.monitor = monitor
    }

    public func perform(_ operation: ResourceOperation, timeout: UInt64) async -> AgentOutcome {
        let command: String
        var limit = timeout
        switch operation {
        case .start: command = start
        case .stop: command = stop
        case .monitor: command = monitor
        case .kill:
            command = stop
            limit = min(timeout, Self.killTimeout)
        }
        var environment = ["SERVHA_RESOURCE": name, "SERVHA_OPERATION": operation.description]
        if let alias { environment["SERVHA_ALIAS"] = alias }
        let shell = ProcessCommand.shell(command, environment: environment)
        let contained = operation == .start ? cgroup?.wrap(shell) : nil
        let run = await ProcessRunner.run(contained ?? shell, timeout: limit)
        return AgentOutcome(
            result: Self.result(of: run.termination, for: operation),
            output: run.annotatedOutput,
            tookNanos: run.tookNanos
        )
    }

    /// The LSB meaning of how a command ended.
    static func result(of termination: ProcessTermination, for operation: ResourceOperation) -> ResourceResult {
        guard case .exited(let code) = termination else {
            return ProcessOutcome(termination: termination, output: "", tookNanos: 0, pid: nil).result
        }
        switch (operation, code) {
        case (_, 0): return .succeeded
        case (.monitor, 3): return .notRunning
        case (.stop, 7), (.kill, 7): return .succeeded
        default: return .failed(exitCode: code)
        }
    }

    // MARK: - Start-up checks

    /// Words a command may start with that are not programs: the shell runs them itself.
    private static let shellWords: Set<String> = [
        // Special and regular built-ins.
        ":", ".", "break", "continue", "eval", "exit", "export", "readonly", "return", "set", "shift", "times",
        "trap", "unset", "cd", "echo", "printf", "test", "[", "true", "false", "kill", "read", "wait", "type",
        "umask", "ulimit", "alias", "unalias", "getopts", "jobs", "fg", "bg", "hash", "pwd", "local",
        // Reserved words.
        "!", "{", "(", "case", "for", "if", "until", "while",
    ]

    /// Why `command`'s program cannot run (`/x/y: no such file`, `foo: not found in PATH`), or nil if it can or
    /// if it cannot be told without running the shell (a built-in, a variable, a substitution).
    static func programProblem(_ command: String) -> String? {
        var words = command.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })[...]
        guard !words.isEmpty else { return "is empty" }
        // `VAR=value program` and `exec program`: the program is further on.
        while let word = words.first, isAssignment(word) || word == "exec" { words = words.dropFirst() }
        guard var program = words.first.map(String.init) else { return nil }
        if program.count >= 2, let quote = program.first, quote == "'" || quote == "\"", program.last == quote {
            program = String(program.dropFirst().dropLast())
        }
        if shellWords.contains(program) { return nil }
        if program.contains(where: { "$`\"'(){};&|<>*?~\\".contains($0) }) { return nil }
        if program.contains("/") {
            return executableProblem(program).map { "\(program): \($0)" }
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? defaultPath
        for directory in path.split(separator: ":") where executableProblem("\(directory)/\(program)") == nil {
            return nil
        }
        return "\(program): not found in PATH"
    }

    private static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    private static func isAssignment(_ word: Substring) -> Bool {
        guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { return false }
        return word[..<equals].allSatisfy { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }
    }
}
