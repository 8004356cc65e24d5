import ArgumentParser
import EventLog

@main
struct Servha: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servha",
        abstract: "High-availability coordinator for a pair of Linux hosts, with an event-sourced log.",
        version: ServhaVersion.current,
        subcommands: []
    )
}

enum ServhaVersion {
    static let current = "0.1.0"
}
