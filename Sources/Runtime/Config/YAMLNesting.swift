/// A bound on how deeply a YAML text nests, found before the text reaches the YAML parser: Yams composes a
/// document recursively, a level of the stack per level of nesting, so a text of nothing but `[[[[...` (found by the
/// config fuzz harness, Fuzz/Crashes/config/crash-87a912...) overflowed the stack and killed the process instead of
/// getting a one-line problem.
///
/// The bound counts, at each point, the open flow brackets (`[`, `{` not yet closed), the line's indentation, and
/// the compact indicators on the line (`- `, `? `, `: `), which is never less than the real depth (brackets inside
/// quoted strings are counted too, so a text can only be over-estimated). A servha configuration nests a few
/// levels; the limit is far above that and far below what a thread's stack holds.
enum YAMLNesting {
    static let limit = 100

    /// Where the bound first passes `limit` (1-based line and column), or nil.
    static func tooDeep(_ text: String) -> (line: Int, column: Int)? {
        var flow = 0
        var line = 1
        var column = 0
        var indentation = 0
        var atLineStart = true
        var indicators = 0
        var previous: Unicode.Scalar = "\n"
        for scalar in text.unicodeScalars {
            column += 1
            switch scalar {
            case "\n":
                line += 1
                column = 0
                indentation = 0
                indicators = 0
                atLineStart = true
                previous = scalar
                continue
            case " " where atLineStart:
                indentation += 1
            case "[", "{":
                flow += 1
                atLineStart = false
            case "]", "}":
                flow = max(0, flow - 1)
                atLineStart = false
            case " ", "\t":
                if previous == "-" || previous == "?" || previous == ":" { indicators += 1 }
            default:
                atLineStart = false
            }
            previous = scalar
            if flow + indentation + indicators > limit { return (line, column) }
        }
        return nil
    }
}
