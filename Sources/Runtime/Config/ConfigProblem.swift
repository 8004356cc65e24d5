/// One thing wrong with a configuration file: where (line and column, 1-based) and what.
public struct ConfigProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = Self.oneLine(message)
    }

    /// `text` on one line, whatever it quotes from the file (a key can span lines, and YAML breaks lines at CR,
    /// NEL, LS and PS too): line breaks and other control characters become escapes such as `\n` and `\u{85}`.
    /// Found by the config fuzz harness: a node name with a line break in it made a two-line problem.
    static func oneLine(_ text: String) -> String {
        func breaks(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.value < 0x20 && scalar != "\t") || scalar.value == 0x7F || scalar.value == 0x85
                || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        guard text.unicodeScalars.contains(where: breaks) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case _ where breaks(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `FILE:LINE:COLUMN: message`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// All the problems of a configuration file (never just the first one).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
