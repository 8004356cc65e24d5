import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure servha on this machine (use a release build: swift build -c release).",
        subcommands: [LogBenchmark.self, ReplayBenchmark.self, StartupBenchmark.self]
    )
}
