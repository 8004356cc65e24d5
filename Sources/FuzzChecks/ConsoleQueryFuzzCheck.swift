import Runtime

/// The console's query harness. Input: the query part of a request to `/api/events` (after `?`), as a client
/// sent it.
///
/// Invariants: an accepted query has its values in range, and its canonical form (`since=S&limit=L&routine=R`)
/// parses to the same query; the same parameters in another order parse to the same query; a refusal is one
/// line of at most 200 characters (it quotes at most 40 of the client's).
enum ConsoleQueryFuzzCheck {
    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        let text = String(decoding: input, as: UTF8.self)
        let parsed: ConsoleQuery
        do {
            parsed = try ConsoleQuery.parse(text)
        } catch {
            let message = error.description
            try require(!message.contains("\n") && !message.contains("\r"), "a refusal spans lines: \(message)")
            try require(message.count <= 200, "a refusal of \(message.count) characters")
            return .rejected(message)
        }
        do {
            let query = parsed
            try require((1...ConsoleQuery.maximumLimit).contains(query.limit), "limit \(query.limit) accepted")
            let canonical = "since=\(query.since)&limit=\(query.limit)&routine=\(query.routine)"
            try require((try? ConsoleQuery.parse(canonical)) == query, "'\(canonical)' parses to another query")
            let reversed = text.split(separator: "&").reversed().joined(separator: "&")
            try require((try? ConsoleQuery.parse(reversed)) == query, "the same parameters in another order differ")
            return .accepted
        }
    }
}
