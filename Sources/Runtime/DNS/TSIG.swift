import Crypto
import Foundation

/// A TSIG key (RFC 8945) as BIND's `tsig-keygen` writes it, HMAC-SHA256 only.
public struct TSIGKey: Sendable, Hashable {
    public var name: DNSName
    public var secret: [UInt8]

    public static let algorithm = DNSName("hmac-sha256.")
    /// RFC 8945 §6: a key shorter than half the hash output is too weak to be worth a signature.
    public static let minimumSecretLength = 16

    public init(name: DNSName, secret: [UInt8]) {
        self.name = name
        self.secret = secret
    }

    /// Reads the key file at `path`; the error names the file and, for its text, the line.
    public static func load(path: String) throws(DNSKeyError) -> TSIGKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw DNSKeyError(path: path, line: nil, problem: reason)
        }
        guard data.count <= 65_536, let text = String(data: data, encoding: .utf8) else {
            throw DNSKeyError(path: path, line: nil, problem: "is not a BIND key file (not text, or over 64 KiB)")
        }
        return try parse(text, path: path)
    }

    /// Parses `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` (comments as BIND allows them).
    public static func parse(_ text: String, path: String) throws(DNSKeyError) -> TSIGKey {
        var tokens = KeyFileTokens(text)
        func fail(_ problem: String, line: Int? = nil) -> DNSKeyError {
            DNSKeyError(path: path, line: line ?? tokens.line, problem: problem)
        }
        func expect(_ word: String) throws(DNSKeyError) {
            let token = tokens.next()
            guard token?.text == word, token?.quoted == false else {
                throw fail("expected '\(word)'" + (token.map { ", found '\($0.text)'" } ?? " before the end of the file"))
            }
        }
        try expect("key")
        guard let nameToken = tokens.next(), !["{", ";"].contains(nameToken.text) || nameToken.quoted else {
            throw fail("expected the key's name after 'key'")
        }
        var problem = ""
        guard let name = DNSName(nameToken.text, problem: &problem) else { throw fail("key name: \(problem)") }
        try expect("{")
        var algorithm: String?
        var secret: [UInt8]?
        while let token = tokens.next() {
            if token.text == "}" && !token.quoted { break }
            guard let value = tokens.next() else { throw fail("'\(token.text)' has no value") }
            try expect(";")
            switch token.text {
            case "algorithm": algorithm = value.text.lowercased()
            case "secret":
                guard let decoded = Data(base64Encoded: value.text) else { throw fail("the secret is not base64") }
                secret = Array(decoded)
            default: throw fail("unknown statement '\(token.text)' in the key (only algorithm and secret)")
            }
        }
        try expect(";")
        if let extra = tokens.next() {
            throw fail("'\(extra.text)' after the key: one key a file (servha signs with one key)")
        }
        guard let algorithm else { throw fail("the key has no algorithm", line: 0) }
        guard algorithm == "hmac-sha256" || algorithm == "hmac-sha256." else {
            throw fail("algorithm \(algorithm) is not supported: use hmac-sha256 (tsig-keygen -a hmac-sha256 NAME)", line: 0)
        }
        guard let secret else { throw fail("the key has no secret", line: 0) }
        guard secret.count >= minimumSecretLength else {
            throw fail("the secret is \(secret.count) bytes; at least \(minimumSecretLength) (tsig-keygen makes 32)", line: 0)
        }
        return TSIGKey(name: name, secret: secret)
    }
}

/// A key file servha cannot use, in one line naming the file (and the line, where the text is at fault).
public struct DNSKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    /// nil: the file as a whole; 0: the key as a whole.
    public var line: Int?
    public var problem: String

    public var description: String {
        if let line, line > 0 { return "key file \(path):\(line): \(problem)" }
        return "key file \(path): \(problem)"
    }
}

/// The words of a BIND configuration fragment: quoted strings, `{`, `}`, `;` and bare words; comments (`#`,
/// `//`, `/* */`) skipped.
struct KeyFileTokens {
    struct Token {
        var text: String
        var quoted: Bool
    }

    private let characters: [Character]
    private var index = 0
    private(set) var line = 1

    init(_ text: String) { characters = Array(text) }

    mutating func next() -> Token? {
        while index < characters.count {
            let character = characters[index]
            if character == "\n" {
                line += 1
                index += 1
            } else if character.isWhitespace {
                index += 1
            } else if character == "#" || (character == "/" && peek(1) == "/") {
                while index < characters.count && characters[index] != "\n" { index += 1 }
            } else if character == "/" && peek(1) == "*" {
                index += 2
                while index < characters.count && !(characters[index] == "*" && peek(1) == "/") {
                    if characters[index] == "\n" { line += 1 }
                    index += 1
                }
                index += 2
            } else {
                break
            }
        }
        guard index < characters.count else { return nil }
        let character = characters[index]
        if "{};".contains(character) {
            index += 1
            return Token(text: String(character), quoted: false)
        }
        if character == "\"" {
            index += 1
            var text = ""
            while index < characters.count && characters[index] != "\"" {
                text.append(characters[index])
                index += 1
            }
            index += 1
            return Token(text: text, quoted: true)
        }
        var text = ""
        while index < characters.count, !characters[index].isWhitespace, !"{};\"".contains(characters[index]) {
            text.append(characters[index])
            index += 1
        }
        return Token(text: text, quoted: false)
    }

    private func peek(_ ahead: Int) -> Character? {
        index + ahead < characters.count ? characters[index + ahead] : nil
    }
}

/// TSIG's RDATA (RFC 8945 §4.2).
public struct TSIGRecord: Sendable, Hashable {
    public var algorithm: DNSName
    /// Seconds since the epoch, 48 bits on the wire.
    public var timeSigned: UInt64
    public var fudge: UInt16
    public var mac: [UInt8]
    public var originalID: UInt16
    public var error: UInt16
    public var otherData: [UInt8]

    public init(
        algorithm: DNSName, timeSigned: UInt64, fudge: UInt16, mac: [UInt8], originalID: UInt16, error: UInt16,
        otherData: [UInt8]
    ) {
        self.algorithm = algorithm
        self.timeSigned = timeSigned
        self.fudge = fudge
        self.mac = mac
        self.originalID = originalID
        self.error = error
        self.otherData = otherData
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        algorithm.write(to: &bytes)
        appendTime(to: &bytes)
        bytes.appendBigEndian(fudge)
        bytes.appendBigEndian(UInt16(mac.count))
        bytes.append(contentsOf: mac)
        bytes.appendBigEndian(originalID)
        bytes.appendBigEndian(error)
        bytes.appendBigEndian(UInt16(otherData.count))
        bytes.append(contentsOf: otherData)
        return bytes
    }

    init(decoding data: [UInt8]) throws(DNSWireError) {
        var reader = DNSReader(data)
        algorithm = try reader.name()
        timeSigned = UInt64(try reader.u16("the TSIG record")) << 32 | UInt64(try reader.u32("the TSIG record"))
        fudge = try reader.u16("the TSIG record")
        mac = try reader.take(Int(try reader.u16("the TSIG record")), "the TSIG MAC")
        originalID = try reader.u16("the TSIG record")
        error = try reader.u16("the TSIG record")
        otherData = try reader.take(Int(try reader.u16("the TSIG record")), "the TSIG other data")
        guard reader.offset == data.count else {
            throw DNSWireError(offset: reader.offset, problem: "bytes after the TSIG record's other data")
        }
    }

    /// The TSIG variables of RFC 8945 §4.3.3 that follow the message in the MAC.
    func variables(keyName: DNSName) -> [UInt8] {
        var bytes: [UInt8] = []
        keyName.write(to: &bytes, canonical: true)
        bytes.appendBigEndian(DNSRecord.classANY)
        bytes.appendBigEndian(UInt32(0))
        algorithm.write(to: &bytes, canonical: true)
        appendTime(to: &bytes)
        bytes.appendBigEndian(fudge)
        bytes.appendBigEndian(error)
        bytes.appendBigEndian(UInt16(otherData.count))
        bytes.append(contentsOf: otherData)
        return bytes
    }

    private func appendTime(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: timeSigned >> 32))
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: timeSigned))
    }
}

/// Signs requests and checks the signatures of their responses (RFC 8945 §5).
public struct TSIGSigner: Sendable {
    public let key: TSIGKey
    /// How far the two clocks may differ (RFC 8945 recommends 300 s).
    public var fudge: UInt16 = 300

    public init(key: TSIGKey) { self.key = key }

    /// The request with its TSIG record appended, and the MAC (which the response's MAC covers).
    public func sign(_ message: DNSMessage, now: UInt64) -> (bytes: [UInt8], mac: [UInt8]) {
        var record = TSIGRecord(
            algorithm: TSIGKey.algorithm, timeSigned: now, fudge: fudge, mac: [], originalID: message.id, error: 0,
            otherData: []
        )
        record.mac = mac(over: message.encoded() + record.variables(keyName: key.name))
        var signed = message
        signed.additional.append(
            DNSRecord(name: key.name, type: DNSRecord.typeTSIG, recordClass: DNSRecord.classANY, ttl: 0, data: record.encoded())
        )
        return (signed.encoded(), record.mac)
    }

    /// `message` signed as a server signs its response to a request whose MAC was `requestMAC` (RFC 8945 §4.3.1:
    /// the request's MAC first): for tests, and the fuzz harness that needs valid signatures to get past them.
    public func signResponse(_ message: DNSMessage, requestMAC: [UInt8], now: UInt64) -> [UInt8] {
        var record = TSIGRecord(
            algorithm: TSIGKey.algorithm, timeSigned: now, fudge: fudge, mac: [], originalID: message.id, error: 0,
            otherData: []
        )
        var covered: [UInt8] = []
        covered.appendBigEndian(UInt16(requestMAC.count))
        covered += requestMAC + message.encoded() + record.variables(keyName: key.name)
        record.mac = mac(over: covered)
        var signed = message
        signed.additional.append(
            DNSRecord(name: key.name, type: DNSRecord.typeTSIG, recordClass: DNSRecord.classANY, ttl: 0, data: record.encoded())
        )
        return signed.encoded()
    }

    /// Checks the response to a request whose MAC was `requestMAC`, received at `now`: returns the message
    /// without its TSIG record, or why it cannot be trusted. A server that could not check the request's
    /// signature (BADSIG, BADKEY) answers unsigned: that answer is returned as the server's refusal.
    public func verify(_ bytes: [UInt8], requestMAC: [UInt8], requestID: UInt16, now: UInt64) throws(TSIGFailure)
        -> DNSMessage
    {
        let message: DNSMessage
        let tsigStart: Int
        do { (message, tsigStart) = try DNSMessage.decode(bytes) } catch { throw .malformed(error) }
        guard let last = message.additional.last, last.type == DNSRecord.typeTSIG else { throw .unsigned(rcode: message.rcode) }
        guard message.additional.dropLast().allSatisfy({ $0.type != DNSRecord.typeTSIG }) else {
            throw .invalid("more than one TSIG record")
        }
        let record: TSIGRecord
        do { record = try TSIGRecord(decoding: last.data) } catch { throw .malformed(error) }
        guard last.name == key.name else { throw .invalid("signed with key \(last.name), not \(key.name)") }
        // Class ANY and TTL 0 are fixed (RFC 8945 §4.2), and the MAC does not cover them: anything else is forged.
        guard last.recordClass == DNSRecord.classANY, last.ttl == 0 else {
            throw .invalid("class \(last.recordClass) and TTL \(last.ttl) (must be ANY and 0)")
        }
        guard record.algorithm == TSIGKey.algorithm else { throw .invalid("signed with algorithm \(record.algorithm)") }
        guard record.originalID == requestID else {
            throw .invalid("TSIG original id \(record.originalID) is not the request's \(requestID)")
        }
        if record.mac.isEmpty && record.error != 0 {
            // BADSIG, BADKEY: the server's refusal carries no MAC (it has nothing it could sign with).
            throw .refused(rcode: message.rcode, tsigError: record.error)
        }
        guard record.mac.count == SHA256.byteCount else {
            throw .invalid("truncated MAC (\(record.mac.count) of \(SHA256.byteCount) bytes) refused")
        }
        let covered = Self.covered(bytes, tsigStart: tsigStart, record: record, keyName: key.name, requestMAC: requestMAC)
        guard HMAC<SHA256>.isValidAuthenticationCode(record.mac, authenticating: covered, using: SymmetricKey(data: key.secret))
        else { throw .badSignature }
        if record.error != 0 { throw .refused(rcode: message.rcode, tsigError: record.error) }
        let skew = now > record.timeSigned ? now - record.timeSigned : record.timeSigned - now
        guard skew <= UInt64(record.fudge) else { throw .badTime(skewSeconds: skew) }
        var stripped = message
        stripped.additional.removeLast()
        return stripped
    }

    /// What a MAC covers (RFC 8945 §4.3): for a response, the request's MAC with its length; then the message as it
    /// was before the TSIG record was added (ARCOUNT one less, the original id); then the TSIG variables.
    static func covered(
        _ bytes: [UInt8], tsigStart: Int, record: TSIGRecord, keyName: DNSName, requestMAC: [UInt8]?
    ) -> [UInt8] {
        var covered: [UInt8] = []
        if let requestMAC {
            covered.appendBigEndian(UInt16(requestMAC.count))
            covered += requestMAC
        }
        var unsigned = Array(bytes[..<tsigStart])
        unsigned[0] = UInt8(record.originalID >> 8)
        unsigned[1] = UInt8(truncatingIfNeeded: record.originalID)
        let count = (UInt16(unsigned[10]) << 8 | UInt16(unsigned[11])) &- 1
        unsigned[10] = UInt8(count >> 8)
        unsigned[11] = UInt8(truncatingIfNeeded: count)
        return covered + unsigned + record.variables(keyName: keyName)
    }

    /// Whether a signed request carries a valid MAC of this key (what the server checks; for tests against
    /// requests other implementations signed).
    func requestSignatureIsValid(_ bytes: [UInt8]) -> Bool {
        guard let (message, tsigStart) = try? DNSMessage.decode(bytes), let last = message.additional.last,
            last.type == DNSRecord.typeTSIG, let record = try? TSIGRecord(decoding: last.data)
        else { return false }
        let covered = Self.covered(bytes, tsigStart: tsigStart, record: record, keyName: last.name, requestMAC: nil)
        return mac(over: covered) == record.mac
    }

    func mac(over bytes: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: key.secret)))
    }
}

/// Why a response is not accepted.
public enum TSIGFailure: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed(DNSWireError)
    /// No TSIG record: with an error RCODE, a server that refused before it looked at the signature.
    case unsigned(rcode: UInt16)
    case invalid(String)
    /// The MAC does not check out with our key.
    case badSignature
    /// The server answered with a TSIG error (BADSIG, BADKEY, BADTIME) and the response's RCODE.
    case refused(rcode: UInt16, tsigError: UInt16)
    case badTime(skewSeconds: UInt64)

    public var description: String {
        switch self {
        case .malformed(let error): "\(error)"
        case .unsigned(let rcode):
            rcode == 0 ? "the response is not signed (a signed request must get a signed answer)"
                : "\(DNSRcode.name(rcode)), unsigned (the server refused before checking the key)"
        case .invalid(let why): "the response's TSIG record is not valid: \(why)"
        case .badSignature: "the response's TSIG signature does not check out with our key (BADSIG)"
        case .refused(let rcode, let error):
            "\(DNSRcode.name(rcode)) (TSIG error \(DNSRcode.name(error)): \(DNSRcode.tsigHint(error)))"
        case .badTime(let skew): "the response was signed \(skew) s away from our clock (BADTIME)"
        }
    }
}

/// RCODE and TSIG error names (RFC 1035, 2136, 8945).
public enum DNSRcode {
    public static func name(_ code: UInt16) -> String {
        switch code {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        case 6: "YXDOMAIN"
        case 7: "YXRRSET"
        case 8: "NXRRSET"
        case 9: "NOTAUTH"
        case 10: "NOTZONE"
        case 16: "BADSIG"
        case 17: "BADKEY"
        case 18: "BADTIME"
        case 22: "BADTRUNC"
        default: "RCODE \(code)"
        }
    }

    static func tsigHint(_ error: UInt16) -> String {
        switch error {
        case 16: "the server does not accept the key's signature: the secret differs from the server's"
        case 17: "the server does not know the key's name or algorithm"
        case 18: "the clocks of this node and the server differ by more than the fudge (300 s)"
        default: "see RFC 8945"
        }
    }
}
