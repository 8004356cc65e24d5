import Foundation
import Glibc

/// The cgroup (v2) that every process of the resource group runs in, so that one write to `cgroup.kill` ends
/// them all at once (a database and every backend it forked), whatever they did to their process groups.
///
/// It is made beside the daemon's own cgroup (`servha-<cluster>-<node>` under the daemon's cgroup; with
/// systemd that needs `Delegate=yes`, which the shipped unit sets). Agents enter it before they run: the command
/// is wrapped in a shell that writes its own pid to `cgroup.procs` and then execs the agent, so that nothing the
/// agent starts is ever outside it.
public struct GroupCgroup: Sendable, Hashable, CustomStringConvertible {
    /// The cgroup's directory.
    public let path: String

    public init(path: String) { self.path = path }

    public var description: String { path }

    /// Makes (or reuses) the group's cgroup, or says why it cannot (no cgroup v2 here, not root): the caller warns,
    /// and the guard then removes the addresses but cannot kill the group's processes.
    public static func prepare(cluster: String, node: String) -> Result<GroupCgroup, GuardSetupError> {
        guard let mount = cgroup2Mount() else {
            return .failure(GuardSetupError("no cgroup v2 file system is mounted (see /proc/self/mountinfo)"))
        }
        let own = ownCgroup() ?? "/"
        let name = "servha-\(safe(cluster))-\(safe(node))"
        let parent = own == "/" ? mount : mount + own
        let path = parent + "/" + name
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            return .failure(GuardSetupError("cannot create the group's cgroup \(path): \(String(cString: strerror(errno)))"))
        }
        guard access(path + "/cgroup.kill", W_OK) == 0 else {
            return .failure(GuardSetupError("\(path)/cgroup.kill is not writable (kernel before 5.14, or not root)"))
        }
        return .success(GroupCgroup(path: path))
    }

    /// The command, run so that it enters this cgroup before it starts.
    public func wrap(_ command: ProcessCommand) -> ProcessCommand {
        ProcessCommand(
            executable: "/bin/sh",
            arguments: [
                "-c", "echo $$ > \"$0/cgroup.procs\" || exit 126; exec \"$@\"", path, command.executable,
            ] + command.arguments,
            environment: command.environment
        )
    }

    /// SIGKILL to every process in the cgroup at once.
    @discardableResult
    public func killAll() -> Bool {
        let fd = open(path + "/cgroup.kill", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "1", 1) == 1
    }

    /// The pids in the cgroup now.
    public func processes() -> [Int32] {
        guard let text = try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    static func cgroup2Mount() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            // ... MOUNTPOINT ... - FSTYPE SOURCE OPTIONS
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }

    /// This process's cgroup v2 path ("0::/PATH" in /proc/self/cgroup).
    static func ownCgroup() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return nil
    }

    private static func safe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}

public struct GuardSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
