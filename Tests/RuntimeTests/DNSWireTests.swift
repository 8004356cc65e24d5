import Foundation
import Testing

@testable import Runtime

private let dnsFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/dns").path

/// One request/response pair recorded between BIND's clients and BIND's server (Fixtures/dns/README.md).
struct RecordedExchange {
    var request: [UInt8]
    var response: [UInt8]
}

func recordedExchanges() throws -> [RecordedExchange] {
    let text = try String(contentsOfFile: dnsFixtures + "/bind-exchanges.jsonl", encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        return RecordedExchange(request: try hexBytes(object["request"]), response: try hexBytes(object["response"]))
    }
}

private func hexBytes(_ text: String?) throws -> [UInt8] {
    let text = try #require(text)
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(try #require(UInt8(text[index..<next], radix: 16)))
        index = next
    }
    return bytes
}

func fixtureKey() throws -> TSIGKey { try TSIGKey.load(path: dnsFixtures + "/servha-key.key") }

/// The TSIG record of a signed message.
private func tsig(of bytes: [UInt8]) throws -> TSIGRecord {
    let message = try DNSMessage(decoding: bytes)
    let last = try #require(message.additional.last)
    #expect(last.type == DNSRecord.typeTSIG)
    return try TSIGRecord(decoding: last.data)
}

private func verify(_ exchange: RecordedExchange, key: TSIGKey, skew: Int64 = 0) throws(TSIGFailure) -> DNSMessage {
    let request = try! tsig(of: exchange.request)
    let signer = TSIGSigner(key: key)
    let id = UInt16(exchange.request[0]) << 8 | UInt16(exchange.request[1])
    return try signer.verify(
        exchange.response, requestMAC: request.mac, requestID: id,
        now: UInt64(Int64(request.timeSigned) + skew)
    )
}

@Suite("DNS wire format and TSIG, against recorded BIND 9 exchanges")
struct DNSWireTests {
    @Test("requests BIND's nsupdate and dig signed carry the MAC servha computes for them")
    func bindRequestsCheckOut() throws {
        let exchanges = try recordedExchanges()
        #expect(exchanges.count == 5)
        let signer = TSIGSigner(key: try fixtureKey())
        for (index, exchange) in exchanges.enumerated() where index != 2 {
            #expect(signer.requestSignatureIsValid(exchange.request), "exchange \(index + 1)")
        }
        // The third was signed with another secret under the same name.
        #expect(!signer.requestSignatureIsValid(exchanges[2].request))
    }

    @Test("BIND's signed answers verify: the update's NOERROR, the query's answer (compressed, with and without EDNS), NXRRSET")
    func bindResponsesVerify() throws {
        let exchanges = try recordedExchanges()
        let key = try fixtureKey()
        let update = try verify(exchanges[0], key: key)
        #expect(update.isResponse && update.opcode == 5 && update.rcode == 0)

        let alias = DNSRecordUpdate(
            zone: DNSName("example.test."), name: DNSName("db.example.test."),
            address: try #require(DNSAddress("192.0.2.100")), ttl: 5
        )
        for index in [1, 3] {
            let answer = try verify(exchanges[index], key: key)
            #expect(answer.rcode == 0)
            #expect(alias.addresses(in: answer) == [alias.address], "exchange \(index + 1)")
            #expect(answer.answers.first?.ttl == 5)
        }
        // dig's EDNS query: the name server's address and the OPT record stay in the additional section, the
        // TSIG record is gone.
        #expect(try verify(exchanges[3], key: key).additional.map(\.type) == [DNSRecord.typeA, 41])
        // BIND compressed the answer's owner name to a pointer at the question.
        #expect(exchanges[1].response.contains(0xc0))

        let prerequisite = try verify(exchanges[4], key: key)
        #expect(prerequisite.rcode == 8)
        #expect(DNSRcode.name(prerequisite.rcode) == "NXRRSET")
    }

    @Test("a refusal of the key (NOTAUTH, BADSIG, no MAC) is reported as the server's words")
    func badSignatureRefusal() throws {
        let exchanges = try recordedExchanges()
        #expect(throws: TSIGFailure.refused(rcode: 9, tsigError: 16)) { try verify(exchanges[2], key: try fixtureKey()) }
        let text = "\(TSIGFailure.refused(rcode: 9, tsigError: 16))"
        #expect(text.contains("NOTAUTH") && text.contains("BADSIG"))
    }

    @Test("the time rule: within the fudge (300 s) either way, BADTIME beyond")
    func timeFudge() throws {
        let exchange = try recordedExchanges()[0]
        let key = try fixtureKey()
        _ = try verify(exchange, key: key, skew: 300)
        _ = try verify(exchange, key: key, skew: -300)
        #expect(throws: TSIGFailure.badTime(skewSeconds: 301)) { try verify(exchange, key: key, skew: 301) }
        #expect(throws: TSIGFailure.badTime(skewSeconds: 301)) { try verify(exchange, key: key, skew: -301) }
    }

    @Test("another secret under the key's name does not verify BIND's answer")
    func wrongKey() throws {
        var key = try fixtureKey()
        key.secret[0] ^= 1
        #expect(throws: TSIGFailure.badSignature) { try verify(try recordedExchanges()[0], key: key) }
    }

    @Test("a MAC shorter than the full 32 bytes is refused, even one that is a true prefix")
    func truncatedMACRefused() throws {
        let exchange = try recordedExchanges()[0]
        var message = try DNSMessage(decoding: exchange.response)
        var record = try tsig(of: exchange.response)
        record.mac = Array(record.mac.prefix(16))
        message.additional[message.additional.count - 1].data = record.encoded()
        let truncated = RecordedExchange(request: exchange.request, response: message.encoded())
        #expect(throws: TSIGFailure.invalid("truncated MAC (16 of 32 bytes) refused")) {
            try verify(truncated, key: try fixtureKey())
        }
    }

    @Test("any change to a signed answer past its id fails the check (the MAC covers it all)")
    func everyByteIsCovered() throws {
        let key = try fixtureKey()
        for exchange in try recordedExchanges() where exchange.response.count > 100 {
            for offset in 2..<exchange.response.count {
                var changed = exchange
                changed.response[offset] ^= 0x01
                #expect(throws: (any Error).self, "offset \(offset)") { try verify(changed, key: key) }
            }
        }
    }

    @Test("servha's signed request verifies as BIND would check it, and its answer the other way round")
    func signRoundTrip() throws {
        let key = try fixtureKey()
        let signer = TSIGSigner(key: key)
        let alias = DNSRecordUpdate(
            zone: DNSName("example.test."), name: DNSName("db.example.test."),
            address: try #require(DNSAddress("2001:db8::7")), ttl: 1
        )
        let request = alias.replace(id: 0x1234)
        let (bytes, mac) = signer.sign(request, now: 1_800_000_000)
        #expect(signer.requestSignatureIsValid(bytes))
        #expect(mac.count == 32)
        var decoded = try DNSMessage(decoding: bytes)
        #expect(decoded.additional.count == 1)
        decoded.additional.removeAll()
        #expect(decoded == request)
        // The update section: delete A, delete AAAA, add AAAA 2001:db8::7 with TTL 1.
        #expect(request.authority.map(\.type) == [1, 28, 28])
        #expect(request.authority.map(\.recordClass) == [255, 255, 1])
        #expect(request.authority[2].data == (try #require(DNSAddress("2001:db8::7"))).bytes)

        // A server's answer, signed over the request's MAC as RFC 8945 §4.3.1 says.
        var response = DNSMessage(id: 0x1234, flags: 0x8000 | 5 << 11)
        var record = TSIGRecord(
            algorithm: TSIGKey.algorithm, timeSigned: 1_800_000_001, fudge: 300, mac: [], originalID: 0x1234,
            error: 0, otherData: []
        )
        var covered: [UInt8] = [0, 32] + mac + response.encoded()
        covered += record.variables(keyName: key.name)
        record.mac = signer.mac(over: covered)
        response.additional = [
            DNSRecord(name: key.name, type: DNSRecord.typeTSIG, recordClass: DNSRecord.classANY, ttl: 0, data: record.encoded())
        ]
        let verified = try signer.verify(response.encoded(), requestMAC: mac, requestID: 0x1234, now: 1_800_000_002)
        #expect(verified.additional.isEmpty && verified.rcode == 0)
        #expect(throws: TSIGFailure.badSignature) {
            try signer.verify(response.encoded(), requestMAC: Array(mac.reversed()), requestID: 0x1234, now: 1_800_000_002)
        }
        #expect(throws: TSIGFailure.invalid("TSIG original id 4660 is not the request's 4661")) {
            try signer.verify(response.encoded(), requestMAC: mac, requestID: 0x1235, now: 1_800_000_002)
        }
    }

    @Test("an unsigned answer to a signed request is refused")
    func unsignedRefused() throws {
        let signer = TSIGSigner(key: try fixtureKey())
        let plain = DNSMessage(id: 7, flags: 0x8000).encoded()
        #expect(throws: TSIGFailure.unsigned(rcode: 0)) { try signer.verify(plain, requestMAC: [], requestID: 7, now: 0) }
        let refused = DNSMessage(id: 7, flags: 0x8000 | 5).encoded()
        #expect(throws: TSIGFailure.unsigned(rcode: 5)) { try signer.verify(refused, requestMAC: [], requestID: 7, now: 0) }
    }
}

@Suite("DNS names and the message parser")
struct DNSParserTests {
    @Test("names: text forms, zone membership, case, limits")
    func names() {
        var problem = ""
        #expect(DNSName("db.example.test", problem: &problem) == DNSName("DB.Example.TEST."))
        #expect(DNSName("db.example.test.").isWithin(DNSName("example.test")))
        #expect(DNSName("example.test.").isWithin(DNSName("example.test.")))
        #expect(!DNSName("db.otherexample.test.").isWithin(DNSName("example.test.")))
        #expect(!DNSName("test.").isWithin(DNSName("example.test.")))
        #expect(DNSName("a..b", problem: &problem) == nil && problem.contains("empty label"))
        #expect(DNSName(String(repeating: "x", count: 64) + ".test", problem: &problem) == nil)
        #expect(problem.contains("63"))
        let long = Array(repeating: String(repeating: "x", count: 60), count: 5).joined(separator: ".")
        #expect(DNSName(long, problem: &problem) == nil && problem.contains("255"))
        #expect(DNSName("db example.test", problem: &problem) == nil)
        #expect(DNSName("db.example.test.").relativeText == "db.example.test")
    }

    @Test("compression pointers are followed backwards only; loops, forward pointers and reserved label types are errors with an offset")
    func compression() throws {
        // Header with one question whose name is a pointer to itself (offset 12).
        let header: [UInt8] = [0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSWireError(offset: 12, problem: "compression pointer to 12 does not point backwards")) {
            try DNSMessage(decoding: header + [0xc0, 12, 0, 1, 0, 1])
        }
        #expect(throws: DNSWireError(offset: 12, problem: "compression pointer to 40 does not point backwards")) {
            try DNSMessage(decoding: header + [0xc0, 40, 0, 1, 0, 1])
        }
        #expect(throws: DNSWireError(offset: 12, problem: "label type 0x1 is not supported")) {
            try DNSMessage(decoding: header + [0x41, 0, 0, 1, 0, 1])
        }
        #expect(throws: DNSWireError(offset: 18, problem: "message ends inside a question")) {
            try DNSMessage(decoding: header + [1, 0x61, 0, 0, 1, 0])
        }
        #expect(throws: DNSWireError(offset: 19, problem: "1 bytes after the last record")) {
            try DNSMessage(decoding: header + [1, 0x61, 0, 0, 1, 0, 1, 9])
        }
        // A pointer chain: "b" + pointer to "a." at 12 reads as b.a.
        let chain: [UInt8] = [0, 1, 0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0] + [1, 0x61, 0, 0, 1, 0, 1] + [1, 0x62, 0xc0, 12, 0, 1, 0, 1]
        let message = try DNSMessage(decoding: chain)
        #expect(message.questions.map(\.name) == [DNSName("a."), DNSName("b.a.")])
    }

    @Test("the parser and the TSIG check never trap: every truncation and random bytes")
    func neverTraps() throws {
        let signer = TSIGSigner(key: try fixtureKey())
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = []
        let exchanges = try recordedExchanges()
        for exchange in exchanges {
            for cut in 0...exchange.response.count { inputs.append(Array(exchange.response.prefix(cut))) }
        }
        let truncations = inputs.count
        for _ in 0..<20_000 {
            let count = Int.random(in: 0..<200, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Plausible headers get further into the parser.
            if bytes.count > 12 {
                bytes[4] = 0
                bytes[5] = UInt8.random(in: 0...2, using: &generator)
                for index in [6, 8, 10] { bytes[index] = 0 }
                for index in [7, 9, 11] { bytes[index] = UInt8.random(in: 0...3, using: &generator) }
            }
            inputs.append(bytes)
        }
        var parsed: [Int] = []
        for (index, input) in inputs.enumerated() {
            if (try? DNSMessage(decoding: input)) != nil { parsed.append(index) }
            #expect((try? signer.verify(input, requestMAC: [], requestID: 0, now: 0)) == nil)
        }
        // Among the truncations only the whole messages parse.
        #expect(parsed.filter { $0 < truncations }.count == exchanges.count)
    }
}

@Suite("TSIG key files")
struct TSIGKeyFileTests {
    private func parse(_ text: String) -> Result<TSIGKey, DNSKeyError> {
        Result { () throws(DNSKeyError) in try TSIGKey.parse(text, path: "/etc/servha/dns.key") }
    }

    @Test("tsig-keygen's output, with comments, reads as the key")
    func reads() throws {
        let key = try TSIGKey.parse(
            """
            # made by tsig-keygen
            key "servha-key" { // the cluster's
                algorithm hmac-sha256;
                /* 32 bytes */ secret "bIQKDvgPtBR18ANZvHmSIRxpcIcCOPh+68EH+r5NOjY=";
            };
            """, path: "k"
        )
        #expect(key.name == DNSName("servha-key."))
        #expect(key.secret.count == 32)
        #expect(try fixtureKey().secret.count == 32)
    }

    @Test("what is wrong is named, with the file and the line")
    func problems() {
        let cases: [(String, String)] = [
            ("key \"k\" { algorithm hmac-md5; secret \"bIQKDvgPtBR18ANZvHmSIRxpcIcCOPh+68EH+r5NOjY=\"; };",
             "key file /etc/servha/dns.key: algorithm hmac-md5 is not supported: use hmac-sha256 (tsig-keygen -a hmac-sha256 NAME)"),
            ("key \"k\" { algorithm hmac-sha256; secret \"AAAA\"; };",
             "key file /etc/servha/dns.key: the secret is 3 bytes; at least 16 (tsig-keygen makes 32)"),
            ("key \"k\" {\n algorithm hmac-sha256;\n secret \"not base64!\"; };",
             "key file /etc/servha/dns.key:3: the secret is not base64"),
            ("key \"k\" { algorithm hmac-sha256; };", "key file /etc/servha/dns.key: the key has no secret"),
            ("secret \"x\";", "key file /etc/servha/dns.key:1: expected 'key', found 'secret'"),
            ("key \"k\" { algorithm hmac-sha256;\n secret \"bIQKDvgPtBR18ANZvHmSIRxpcIcCOPh+68EH+r5NOjY=\"; };\nkey \"l\" { };",
             "key file /etc/servha/dns.key:3: 'key' after the key: one key a file (servha signs with one key)"),
            ("key \"k\" { algorithm hmac-sha256; owner x; };",
             "key file /etc/servha/dns.key:1: unknown statement 'owner' in the key (only algorithm and secret)"),
            ("", "key file /etc/servha/dns.key:1: expected 'key' before the end of the file"),
        ]
        for (text, message) in cases {
            guard case .failure(let error) = parse(text) else {
                Issue.record("accepted: \(text)")
                continue
            }
            #expect(error.description == message)
        }
    }

    @Test("a missing file is one line naming it")
    func missing() {
        #expect(throws: DNSKeyError(path: "/nonexistent/dns.key", line: nil, problem: "does not exist")) {
            try TSIGKey.load(path: "/nonexistent/dns.key")
        }
    }
}
