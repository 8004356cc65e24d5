/// A DNS message (RFC 1035 §4; RFC 2136 §2 for UPDATE, whose four sections are zone, prerequisite, update and
/// additional), as servha writes and reads it. Names are written uncompressed and read with compression.
public struct DNSMessage: Sendable, Hashable {
    public var id: UInt16
    /// QR, opcode, AA, TC, RD, RA, Z and RCODE as on the wire.
    public var flags: UInt16
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authority: [DNSRecord]
    public var additional: [DNSRecord]

    public init(
        id: UInt16,
        flags: UInt16,
        questions: [DNSQuestion] = [],
        answers: [DNSRecord] = [],
        authority: [DNSRecord] = [],
        additional: [DNSRecord] = []
    ) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
    }

    public var isResponse: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8((flags >> 11) & 0xf) }
    public var isTruncated: Bool { flags & 0x0200 != 0 }
    public var rcode: UInt16 { flags & 0xf }

    public static let opcodeQuery: UInt16 = 0
    public static let opcodeUpdate: UInt16 = 5

    /// A request's flags: the opcode, and for a query "recursion desired" off (servha asks the authoritative
    /// server about its own zone).
    public static func requestFlags(opcode: UInt16) -> UInt16 { opcode << 11 }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        bytes.appendBigEndian(id)
        bytes.appendBigEndian(flags)
        for count in [questions.count, answers.count, authority.count, additional.count] {
            bytes.appendBigEndian(UInt16(count))
        }
        for question in questions {
            question.name.write(to: &bytes)
            bytes.appendBigEndian(question.type)
            bytes.appendBigEndian(question.recordClass)
        }
        for record in answers + authority + additional { record.write(to: &bytes) }
        return bytes
    }

    /// Parses `bytes`; throws a `DNSWireError` naming the offset of what is wrong. Trailing bytes are an error.
    public init(decoding bytes: [UInt8]) throws(DNSWireError) {
        self = try Self.decode(bytes).message
    }

    /// The message, and where its last record starts (a TSIG record is cut off there to check the MAC).
    static func decode(_ bytes: [UInt8]) throws(DNSWireError) -> (message: DNSMessage, lastRecordStart: Int) {
        var reader = DNSReader(bytes)
        let id: UInt16, flags: UInt16
        id = try reader.u16("the header")
        flags = try reader.u16("the header")
        let counts = [
            try reader.u16("the header"), try reader.u16("the header"), try reader.u16("the header"),
            try reader.u16("the header"),
        ]
        var questions: [DNSQuestion] = []
        for _ in 0..<counts[0] {
            let name = try reader.name()
            questions.append(DNSQuestion(name: name, type: try reader.u16("a question"), recordClass: try reader.u16("a question")))
        }
        var sections: [[DNSRecord]] = [[], [], []]
        var lastRecordStart = reader.offset
        for section in 0..<3 {
            for _ in 0..<counts[section + 1] {
                lastRecordStart = reader.offset
                sections[section].append(try reader.record())
            }
        }
        guard reader.offset == bytes.count else {
            throw DNSWireError(offset: reader.offset, problem: "\(bytes.count - reader.offset) bytes after the last record")
        }
        let message = DNSMessage(
            id: id, flags: flags, questions: questions, answers: sections[0], authority: sections[1],
            additional: sections[2]
        )
        return (message, lastRecordStart)
    }
}

public struct DNSQuestion: Sendable, Hashable {
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16

    public init(name: DNSName, type: UInt16, recordClass: UInt16 = DNSRecord.classIN) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

/// A resource record. The rdata is kept as bytes: the types servha reads (A, AAAA, TSIG) hold no names that a
/// server may compress, except TSIG's algorithm name, which RFC 8945 §4.2 forbids to compress.
public struct DNSRecord: Sendable, Hashable {
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16
    public var ttl: UInt32
    public var data: [UInt8]

    public init(name: DNSName, type: UInt16, recordClass: UInt16, ttl: UInt32, data: [UInt8]) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    public static let typeA: UInt16 = 1
    public static let typeSOA: UInt16 = 6
    public static let typeAAAA: UInt16 = 28
    public static let typeTSIG: UInt16 = 250
    public static let classIN: UInt16 = 1
    public static let classNONE: UInt16 = 254
    public static let classANY: UInt16 = 255

    func write(to bytes: inout [UInt8]) {
        name.write(to: &bytes)
        bytes.appendBigEndian(type)
        bytes.appendBigEndian(recordClass)
        bytes.appendBigEndian(ttl)
        bytes.appendBigEndian(UInt16(data.count))
        bytes.append(contentsOf: data)
    }
}

/// What is wrong with a message from a server, and where (the byte offset in the message).
public struct DNSWireError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var problem: String

    public var description: String { "malformed DNS message at offset \(offset): \(problem)" }
}

/// Reads a message front to back, following compression pointers for names.
struct DNSReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8(_ what: String) throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw DNSWireError(offset: offset, problem: "message ends inside \(what)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16(_ what: String) throws(DNSWireError) -> UInt16 {
        UInt16(try u8(what)) << 8 | UInt16(try u8(what))
    }

    mutating func u32(_ what: String) throws(DNSWireError) -> UInt32 {
        UInt32(try u16(what)) << 16 | UInt32(try u16(what))
    }

    mutating func take(_ count: Int, _ what: String) throws(DNSWireError) -> [UInt8] {
        guard count <= bytes.count - offset else {
            throw DNSWireError(offset: offset, problem: "message ends inside \(what) (\(count) bytes announced)")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A name at the current offset, which moves past it (past its first pointer, when it has one). Pointers
    /// must point backwards, so a loop cannot be built; the name's length is bounded as on the wire.
    mutating func name() throws(DNSWireError) -> DNSName {
        var labels: [[UInt8]] = []
        var position = offset
        var resume: Int?
        var length = 1
        while true {
            guard position < bytes.count else { throw DNSWireError(offset: position, problem: "message ends inside a name") }
            let byte = bytes[position]
            switch byte & 0xc0 {
            case 0:
                if byte == 0 {
                    offset = resume ?? position + 1
                    return DNSName(labels: labels)
                }
                let count = Int(byte)
                guard position + 1 + count <= bytes.count else {
                    throw DNSWireError(offset: position, problem: "message ends inside a name's label")
                }
                length += 1 + count
                guard length <= 255 else { throw DNSWireError(offset: position, problem: "name longer than 255 bytes") }
                labels.append(Array(bytes[position + 1..<position + 1 + count]))
                position += 1 + count
            case 0xc0:
                guard position + 1 < bytes.count else {
                    throw DNSWireError(offset: position, problem: "message ends inside a compression pointer")
                }
                let target = Int(byte & 0x3f) << 8 | Int(bytes[position + 1])
                guard target < position else {
                    throw DNSWireError(offset: position, problem: "compression pointer to \(target) does not point backwards")
                }
                if resume == nil { resume = position + 2 }
                position = target
            default:
                throw DNSWireError(offset: position, problem: "label type 0x\(String(byte >> 6, radix: 16)) is not supported")
            }
        }
    }

    mutating func record() throws(DNSWireError) -> DNSRecord {
        let name = try name()
        let type = try u16("a record")
        let recordClass = try u16("a record")
        let ttl = try u32("a record")
        let length = Int(try u16("a record"))
        return DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: try take(length, "a record's data"))
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendBigEndian(_ value: UInt32) {
        appendBigEndian(UInt16(value >> 16))
        appendBigEndian(UInt16(truncatingIfNeeded: value))
    }
}
