import ArgumentParser
import EventLog

@main
struct Servha: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servha",
        abstract: "High-availability coordinator for a pair of Linux hosts, with an event-sourced log.",
        version: ServhaVersion.current,
        subcommands: [
            DaemonCommand.self, StatusCommand.self, SwitchoverCommand.self, FailbackCommand.self, StandbyCommand.self,
            UnstandbyCommand.self, MaintenanceCommand.self, CheckConfigCommand.self, LogCommand.self,
            ReplayCommand.self, ExplainCommand.self, TimelineCommand.self, AuditCommand.self,
            SimulateCommand.self, DemoCommand.self, GuardCommand.self,
            BenchCommand.self, DiskCommand.self,
        ]
    )
}

enum ServhaVersion {
    static let current = "0.1.0"
}

/// Prints `servha: <message>` to standard error and exits with `code`: the one way commands report failure.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    printError("servha: \(message)")
    return ExitCode(code)
}

func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.write(string, to: 2)
    }
}
