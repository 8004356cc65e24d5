import Coordinator
import EventLog
import EventRecords
import Runtime

/// The configuration harness. Input: the YAML text (as `ConfigLoader.load` reads a file: refused unless UTF-8).
/// Without a `this_node` key the harness names node-a, so that the loader never asks for the host name.
///
/// Invariants: a configuration that loads loads again to an equal one; its cluster part (what the log records
/// and hashes) encodes and decodes to an equal value; `thisNode` is one of exactly two nodes. A refused one has at
/// least one problem, each with a line and column inside the text and a one-line message, sorted by position.
enum ConfigFuzzCheck {
    static let file = "fuzz.yaml"

    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        guard let text = String(validating: input, as: UTF8.self) else { return .rejected("not UTF-8") }
        let override: String? = text.contains("this_node") ? nil : "node-a"
        switch ConfigLoader.parse(text, file: file, thisNode: override) {
        case .failure(let errors):
            try require(!errors.problems.isEmpty, "a refused configuration has no problem to report")
            // YAML breaks lines at CR, LF, NEL, LS and PS: an upper bound on the number of lines libyaml counts.
            let lines = text.unicodeScalars.reduce(1) { $0 + ("\r\n\u{85}\u{2028}\u{2029}".unicodeScalars.contains($1) ? 1 : 0) }
            for problem in errors.problems {
                try require(problem.file == file, "problem names file \(problem.file)")
                try require(
                    problem.line >= 1 && problem.line <= lines + 1 && problem.column >= 1,
                    "problem at line \(problem.line) column \(problem.column) of a \(lines)-line text: \(problem)"
                )
                try require(
                    !problem.message.isEmpty
                        && !problem.message.unicodeScalars.contains {
                            ($0.value < 0x20 && $0 != "\t") || [0x7F, 0x85, 0x2028, 0x2029].contains($0.value)
                        },
                    "problem message is empty or not one line: \(problem)"
                )
            }
            let positions = errors.problems.map { [$0.line, $0.column] }
            try require(
                positions == positions.sorted { $0.lexicographicallyPrecedes($1) },
                "problems are not sorted by position"
            )
            return .rejected(errors.problems[0].message)
        case .success(let config):
            guard case .success(let again) = ConfigLoader.parse(text, file: file, thisNode: override), again == config
            else { throw FuzzViolation("the same configuration loads differently the second time") }
            try require(config.cluster.nodes.count == 2, "a loaded configuration has \(config.cluster.nodes.count) nodes")
            try require(
                config.cluster.nodes.contains { $0.id == config.thisNode },
                "this_node \(config.thisNode) is not one of the nodes"
            )
            let encoded = config.cluster.encoded()
            let decoded: ClusterConfig
            do {
                decoded = try encoded.withUnsafeBytes { raw in
                    var source = ByteSource(raw)
                    let value = try ClusterConfig.decode(from: &source)
                    guard source.isAtEnd else { throw CodecError("\(source.remaining) trailing bytes") }
                    return value
                }
            } catch {
                throw FuzzViolation("a loaded configuration's log encoding does not decode: \(error)")
            }
            try require(decoded == config.cluster, "a loaded configuration's log encoding decodes to another one")
            return .accepted
        }
    }
}
