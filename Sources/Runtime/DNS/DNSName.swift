/// A domain name as its labels, absolute (the root is no labels). Equality ignores ASCII case, as DNS does.
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// The labels, each 1 to 63 bytes, as written (case kept for display).
    public let labels: [[UInt8]]

    public init(labels: [[UInt8]]) { self.labels = labels }

    /// Parses `db.example.test.` or `db.example.test` (both absolute: servha has no search domain), or nil with
    /// the reason in `problem`.
    public init?(_ text: String, problem: inout String) {
        var trimmed = Substring(text)
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty {
            if text == "." {
                labels = []
                return
            }
            problem = "the name is empty"
            return nil
        }
        var labels: [[UInt8]] = []
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty else {
                problem = "'\(text)' has an empty label"
                return nil
            }
            guard bytes.count <= 63 else {
                problem = "'\(text)' has a label longer than 63 bytes"
                return nil
            }
            guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") }) else {
                problem = "'\(text)' has a character that is not printable ASCII"
                return nil
            }
            labels.append(bytes)
        }
        self.labels = labels
        guard wireLength <= 255 else {
            problem = "'\(text)' is longer than 255 bytes in wire form"
            return nil
        }
    }

    /// For names known to be valid (tests, constants).
    public init(_ text: String) {
        var problem = ""
        guard let name = DNSName(text, problem: &problem) else { preconditionFailure(problem) }
        self = name
    }

    /// `db.example.test.`
    public var description: String {
        labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") + "."
    }

    /// Without the root's dot, as applications and `dig` users write it: `db.example.test`.
    public var relativeText: String { String(description.dropLast()) }

    /// Bytes in wire form: each label with its length byte, then the root's zero.
    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// Whether this name is `zone` or below it.
    public func isWithin(_ zone: DNSName) -> Bool {
        guard labels.count >= zone.labels.count else { return false }
        return DNSName(labels: Array(labels.suffix(zone.labels.count))) == zone
    }

    /// Uncompressed wire form; lowercased in canonical form (RFC 4034 §6.2), which TSIG's MAC covers.
    public func write(to bytes: inout [UInt8], canonical: Bool = false) {
        for label in labels {
            bytes.append(UInt8(label.count))
            bytes.append(contentsOf: canonical ? label.map(Self.lower) : label)
        }
        bytes.append(0)
    }

    public static func == (a: DNSName, b: DNSName) -> Bool {
        a.labels.count == b.labels.count
            && zip(a.labels, b.labels).allSatisfy { x, y in x.count == y.count && zip(x, y).allSatisfy { lower($0) == lower($1) } }
    }

    public func hash(into hasher: inout Hasher) {
        for label in labels {
            hasher.combine(label.count)
            for byte in label { hasher.combine(Self.lower(byte)) }
        }
    }

    static func lower(_ byte: UInt8) -> UInt8 { (0x41...0x5a).contains(byte) ? byte | 0x20 : byte }
}
