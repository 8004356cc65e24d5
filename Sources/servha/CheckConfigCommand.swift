import ArgumentParser
import Runtime

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and report every problem with its line and column.",
        discussion:
            "Exit status 0 when the file is usable, 1 with one line per problem (FILE:LINE:COLUMN: what) otherwise."
    )

    @Argument(help: "The configuration file (YAML).") var file: String
    @Option(help: "Check it as this node (instead of its this_node key).") var node: String?

    func run() throws {
        switch ConfigLoader.load(path: file, thisNode: node) {
        case .success(let config):
            let resources = config.resources.map(\.name).joined(separator: ", ")
            print(
                "\(file): ok: cluster \(config.cluster.cluster), this node \(config.thisNodeName), "
                    + "\(config.channels.count) heartbeat channels, resources \(resources), failback \(config.cluster.failback)"
            )
        case .failure(let errors):
            for problem in errors.problems { printError(problem.description) }
            throw ExitCode(1)
        }
    }
}
