/// The query of `GET /api/events` and `/api/events/stream`: `since=SEQ` (events after that record sequence; 0,
/// the default, means from the oldest held), `limit=N` (1 to 10,000, default 1,000) and `routine=false` (leave out
/// heartbeats, timers and slot writes and reads: what the live page shows). Pure, so that the fuzz harness
/// reaches it.
public struct ConsoleQuery: Sendable, Hashable {
    public var since: UInt64 = 0
    public var limit = 1000
    public var routine = true

    public static let maximumLimit = 10_000

    public init(since: UInt64 = 0, limit: Int = 1000, routine: Bool = true) {
        self.since = since
        self.limit = limit
        self.routine = routine
    }

    /// Parses the part of a URL after `?` (percent-encoding is not needed by any valid value, and refused).
    /// Throws a one-line message naming the parameter and the value found.
    public static func parse(_ query: String) throws(ConsoleQueryError) -> ConsoleQuery {
        var result = ConsoleQuery()
        var seen: Set<String> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            guard seen.insert(name).inserted else { throw ConsoleQueryError("'\(shown(name))' is given twice") }
            switch name {
            case "since":
                guard let sequence = UInt64(value), value.allSatisfy(\.isASCII) else {
                    throw ConsoleQueryError("since must be a record sequence number (found '\(shown(value))')")
                }
                result.since = sequence
            case "limit":
                guard let limit = Int(value), (1...maximumLimit).contains(limit), value.allSatisfy(\.isASCII) else {
                    throw ConsoleQueryError("limit must be a whole number from 1 to \(maximumLimit) (found '\(shown(value))')")
                }
                result.limit = limit
            case "routine":
                switch value {
                case "true": result.routine = true
                case "false": result.routine = false
                default: throw ConsoleQueryError("routine must be true or false (found '\(shown(value))')")
                }
            default:
                throw ConsoleQueryError("unknown parameter '\(shown(name))'; known: since, limit, routine")
            }
        }
        return result
    }

    /// A value as quoted back in an error: at most 40 characters, on one line.
    static func shown(_ text: String) -> String {
        String(text.prefix(40).map { $0.isNewline || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true ? "?" : $0 })
    }
}

public struct ConsoleQueryError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
