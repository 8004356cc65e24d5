import Coordinator
import EventRecords
import Crypto
import EventLog

/// `servha audit export` and `servha audit verify`: a log as one line per event, for auditors, each line
/// chained to the one before by SHA-256 so that an altered, inserted, removed or reordered line is found.
///
/// Every line (after the CSV column names) ends in its `hash`: the SHA-256, in hex, of the previous line's hash,
/// a newline, and the line itself up to the hash (its `prev` field included). The first chained line is a header
/// naming the log; the last is an end record with the number of event lines, so that a cut-short file is found
/// too. The first `prev` is 64 zeros.
public enum AuditTrail {
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, csv
    }

    static let genesis = String(repeating: "0", count: 64)
    static let csvColumns = "line,seq,time,mono,node,cluster,type,event,prev,hash"

    /// Writes the export line by line through `emit` (each without its newline); returns the number of events.
    @discardableResult
    public static func export(
        _ log: RecordedLog,
        format: Format,
        from: Int64? = nil,
        to: Int64? = nil,
        emit: (String) throws -> Void
    ) rethrows -> Int {
        var chain = Chain()
        let node = log.identity.nodeName
        let cluster = log.identity.cluster
        if format == .csv { try emit(csvColumns) }
        let range = "from \(from.map(rfc3339) ?? "the start") to \(to.map(rfc3339) ?? "the end")"
        try emit(
            chain.seal(
                format: format,
                fields: [
                    ("line", .number(0)), ("seq", .none), ("time", .none), ("mono", .none),
                    ("node", .text(node)), ("cluster", .text(cluster)), ("type", .text("audit-header")),
                    ("event", .text("servha audit trail of \(log.directory), \(range)")),
                ]
            )
        )
        var count = 0
        let instants = Explanation.instants(log)
        let names = log.resourceNames
        for (index, event) in log.events.enumerated() {
            let wall = log.walls[index]
            if let from, wall < from { continue }
            if let to, wall > to { continue }
            count += 1
            let type = EventCodec.typeName(of: event)
            try emit(
                chain.seal(
                    format: format,
                    fields: [
                        ("line", .number(UInt64(count))), ("seq", .number(log.sequences[index])),
                        ("time", .text(rfc3339(wall))), ("mono", .number(instants[index])), ("node", .text(node)),
                        ("cluster", .text(cluster)), ("type", .text(type)),
                        ("event", .text(EventDescription.line(event, resources: names))),
                    ]
                )
            )
        }
        try emit(
            chain.seal(
                format: format,
                fields: [
                    ("line", .number(UInt64(count + 1))), ("seq", .none), ("time", .none), ("mono", .none),
                    ("node", .text(node)), ("cluster", .text(cluster)), ("type", .text("audit-end")),
                    ("event", .text("\(count) events")),
                ]
            )
        )
        return count
    }

    public struct Verified: Sendable {
        public var format: Format
        public var events: Int
    }

    /// Checks the chain of an export's lines. Throws a one-line error naming `path` and the first broken line
    /// (1-based, as editors count).
    public static func verify(lines: [Substring], path: String) throws -> Verified {
        guard let first = lines.first else { throw ReplayError("\(path): empty file, not a servha audit export") }
        let format: Format = first.hasPrefix("{") ? .jsonl : .csv
        var start = 0
        if format == .csv {
            guard first == csvColumns else {
                throw ReplayError("\(path):1: not a servha audit export (expected the columns \(csvColumns), or JSON lines)")
            }
            start = 1
        }
        var previous = genesis
        var events = 0
        var sawEnd = false
        for number in start..<lines.count {
            let line = lines[number]
            let where_ = "\(path):\(number + 1)"
            if sawEnd {
                if line.isEmpty && number == lines.count - 1 { break }
                throw ReplayError("\(where_): a line after the end record (lines were added)")
            }
            let marker = format == .jsonl ? ",\"hash\":\"" : ","
            guard let cut = line.ranges(of: marker).last else {
                throw ReplayError("\(where_): no hash on this line (the line was altered, or the file is not an audit export)")
            }
            let body = line[..<cut.lowerBound]
            var hash = line[cut.upperBound...]
            if format == .jsonl {
                guard hash.hasSuffix("\"}") else { throw ReplayError("\(where_): malformed hash field") }
                hash = hash.dropLast(2)
            }
            let expected = Chain.hash(previous: previous, body: body)
            guard hash == expected else {
                throw ReplayError(
                    "\(where_): hash does not match: this line was altered, or a line just before it was inserted, removed or reordered"
                )
            }
            guard body.contains(format == .jsonl ? "\"prev\":\"\(previous)\"" : ",\(previous)") else {
                throw ReplayError("\(where_): its prev field is not the previous line's hash")
            }
            previous = String(hash)
            let fields = format == .csv ? csvFields(body) : []
            let type = { (name: String) in
                format == .jsonl ? body.contains("\"type\":\"\(name)\"") : fields.count == 9 && fields[6] == name
            }
            let isHeader = type("audit-header")
            let isEnd = type("audit-end")
            if number == start && !isHeader {
                throw ReplayError("\(where_): the header record is missing (lines were removed from the start)")
            }
            if isEnd {
                let counted =
                    format == .jsonl ? body.contains("\"event\":\"\(events) events\"") : fields[7] == "\(events) events"
                guard counted else {
                    throw ReplayError("\(where_): the end record does not count \(events) events")
                }
                sawEnd = true
            } else if !isHeader {
                events += 1
            }
        }
        guard sawEnd else {
            throw ReplayError("\(path): ends at line \(lines.count) without its end record: the file was cut short")
        }
        return Verified(format: format, events: events)
    }

    enum Field {
        case number(UInt64)
        case text(String)
        /// JSON null, an empty CSV field.
        case none
    }

    struct Chain {
        var previous = AuditTrail.genesis

        static func hash(previous: String, body: Substring) -> String {
            var hasher = SHA256()
            hasher.update(data: Array(previous.utf8))
            hasher.update(data: [10])
            hasher.update(data: Array(body.utf8))
            return hex(Array(hasher.finalize()))
        }

        /// The line for `fields`, with `prev` and `hash` appended; advances the chain.
        mutating func seal(format: Format, fields: [(String, Field)]) -> String {
            var body: String
            switch format {
            case .jsonl:
                body =
                    "{"
                    + fields.map { name, value in
                        switch value {
                        case .number(let n): "\"\(name)\":\(n)"
                        case .text(let t): "\"\(name)\":\(jsonQuote(t))"
                        case .none: "\"\(name)\":null"
                        }
                    }.joined(separator: ",")
                    + ",\"prev\":\"\(previous)\""
            case .csv:
                body =
                    fields.map { _, value in
                        switch value {
                        case .number(let n): String(n)
                        case .text(let t): csvField(t)
                        case .none: ""
                        }
                    }.joined(separator: ",") + ",\(previous)"
            }
            let hash = Self.hash(previous: previous, body: Substring(body))
            previous = hash
            return format == .jsonl ? body + ",\"hash\":\"\(hash)\"}" : body + ",\(hash)"
        }
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break, with quotes doubled.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var out = "\""
        for c in text {
            if c == "\"" { out += "\"\"" } else { out.append(c) }
        }
        return out + "\""
    }

    /// The fields of one CSV line (RFC 4180 quoting).
    static func csvFields(_ line: Substring) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var iterator = line.makeIterator()
        var pendingQuote = false
        while let c = iterator.next() {
            if quoted {
                if pendingQuote {
                    pendingQuote = false
                    if c == "\"" {
                        field.append("\"")
                        continue
                    }
                    quoted = false
                } else if c == "\"" {
                    pendingQuote = true
                    continue
                } else {
                    field.append(c)
                    continue
                }
            }
            if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return fields
    }
}
