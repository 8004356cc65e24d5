import Coordinator
import Yams

/// A YAML node with where it came from, and the problems found while reading it. Every read of a mapping
/// marks its key as known, so that `finish()` can report every unknown key with its line and column.
final class YAMLReader {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    func problem(_ message: String, at mark: Mark?) {
        problem(message, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func problem(_ message: String, line: Int, column: Int) {
        problems.append(ConfigProblem(file: file, line: line, column: column, message: message))
    }
}

/// A mapping being read: known keys are consumed; the rest are reported as unknown.
final class YAMLMap {
    let reader: YAMLReader
    let path: String
    let mark: Mark?
    private var entries: [(key: String, keyMark: Mark?, value: Node)] = []
    private var used: Set<String> = []

    init?(_ node: Node?, path: String, reader: YAMLReader, required: Bool = true, at parentMark: Mark?) {
        self.reader = reader
        self.path = path
        guard let node else {
            if required { reader.problem("missing section '\(path)'", at: parentMark) }
            return nil
        }
        mark = node.mark
        guard let mapping = node.mapping else {
            reader.problem("'\(path)' must be a mapping (key: value lines)", at: node.mark)
            return nil
        }
        var seen: Set<String> = []
        for (key, value) in mapping {
            guard let name = key.string else {
                reader.problem("keys in '\(path)' must be strings", at: key.mark)
                continue
            }
            if !seen.insert(name).inserted {
                reader.problem("duplicate key '\(name)' in '\(path)'", at: key.mark)
                continue
            }
            entries.append((name, key.mark, value))
        }
    }

    func node(_ key: String) -> Node? {
        used.insert(key)
        return entries.first { $0.key == key }?.value
    }

    func keyMark(_ key: String) -> Mark? { entries.first { $0.key == key }?.keyMark ?? mark }

    /// The keys present, in file order, with their marks (for maps keyed by names, such as node names).
    var keys: [(key: String, keyMark: Mark?)] { entries.map { ($0.key, $0.keyMark) } }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func string(_ key: String, required: Bool = false, default value: String? = nil) -> String? {
        guard let node = node(key) else {
            if required { reader.problem("missing key '\(name(key))'", at: mark) }
            return value
        }
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            reader.problem("'\(name(key))' must be a non-empty string", at: node.mark)
            return value
        }
        return scalar.string
    }

    func int(_ key: String, required: Bool = false, default value: Int? = nil, range: ClosedRange<Int>) -> Int? {
        guard let node = node(key) else {
            if required { reader.problem("missing key '\(name(key))'", at: mark) }
            return value
        }
        guard case .scalar(let scalar) = node, let number = Int(scalar.string), range.contains(number) else {
            reader.problem(
                "'\(name(key))' must be a whole number from \(range.lowerBound) to \(range.upperBound)",
                at: node.mark
            )
            return value
        }
        return number
    }

    func duration(_ key: String, default value: UInt64) -> UInt64 {
        guard let node = node(key) else { return value }
        guard case .scalar(let scalar) = node, case .success(let nanos) = DurationText.parse(scalar.string) else {
            reader.problem(
                "'\(name(key))' must be a duration with a unit, like 200ms, 3s or 5m (found '\(node.string ?? "")')",
                at: node.mark
            )
            return value
        }
        return nanos
    }

    func oneOf(_ key: String, _ choices: [String], default value: String) -> String {
        guard let text = string(key, default: value) else { return value }
        guard choices.contains(text) else {
            reader.problem(
                "'\(name(key))' must be one of \(choices.joined(separator: ", ")) (found '\(text)')",
                at: node(key)?.mark
            )
            return value
        }
        return text
    }

    func map(_ key: String, required: Bool = false) -> YAMLMap? {
        YAMLMap(node(key), path: name(key), reader: reader, required: required, at: mark)
    }

    /// The elements of a sequence under `key` (each as a node), or [] with a problem when it is not a sequence.
    func sequence(_ key: String, required: Bool = false) -> [Node] {
        guard let node = node(key) else {
            if required { reader.problem("missing key '\(name(key))'", at: mark) }
            return []
        }
        guard let sequence = node.sequence else {
            reader.problem("'\(name(key))' must be a list (lines starting with '- ')", at: node.mark)
            return []
        }
        return Array(sequence)
    }

    /// String values of a flat mapping (`addresses`, `params`), with their marks.
    func stringMap(_ key: String) -> [(key: String, value: String, mark: Mark?)] {
        guard let inner = map(key) else { return [] }
        var out: [(String, String, Mark?)] = []
        for entry in inner.entries {
            inner.used.insert(entry.key)
            guard case .scalar(let scalar) = entry.value else {
                reader.problem("'\(inner.path).\(entry.key)' must be a string", at: entry.value.mark)
                continue
            }
            out.append((entry.key, scalar.string, entry.keyMark))
        }
        return out
    }

    /// Reports every key that nothing read.
    func finish() {
        for entry in entries where !used.contains(entry.key) {
            let known = path.isEmpty ? "" : " in '\(path)'"
            reader.problem("unknown key '\(entry.key)'\(known)", at: entry.keyMark)
        }
    }
}
