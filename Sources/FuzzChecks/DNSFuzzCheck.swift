import Runtime

/// The DNS harness. Input: a server's answer to a signed request, as received (the first byte picks the mode).
///
/// - Mode 0: the bytes as they are, through `DNSMessage(decoding:)` and `TSIGSigner.verify` with the cluster's key
///   and an empty request MAC: nothing may trap, and nothing unsigned or forged may verify.
/// - Mode 1: the bytes decoded, then signed by the harness as the server would (a valid TSIG), so that the fuzzer
///   gets past the MAC to everything after it: the signed message must verify, and come back as the message
///   that was signed.
///
/// Invariants on every message the parser accepts: encoding it again (names uncompressed) and decoding that gives
/// the same message.
enum DNSFuzzCheck {
    static let key = TSIGKey(name: DNSName("servha-key."), secret: Array(0..<32))
    static let signer = TSIGSigner(key: key)

    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        guard let mode = input.first else { return .rejected("empty") }
        let bytes = Array(input.dropFirst())
        let message: DNSMessage
        do {
            message = try DNSMessage(decoding: bytes)
        } catch {
            try require(error.description.hasPrefix("malformed DNS message at offset "), "refusal without its offset: \(error)")
            try require(!error.description.contains("\n"), "refusal of several lines")
            if (try? signer.verify(bytes, requestMAC: [], requestID: 0, now: 0)) != nil {
                throw FuzzViolation("verify accepted bytes the parser refuses")
            }
            return .rejected("malformed")
        }
        do {
            try require(try DNSMessage(decoding: message.encoded()) == message, "re-encoding changes the message")
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation("a parsed message re-encodes to bytes the parser refuses: \(error)")
        }
        if mode & 1 == 0 {
            // Signed with a key nobody told the fuzzer: it cannot forge a MAC.
            if let verified = try? signer.verify(bytes, requestMAC: [], requestID: message.id, now: 0),
                message.additional.last?.type == DNSRecord.typeTSIG
            {
                throw FuzzViolation("a message the harness did not sign verified: \(verified)")
            }
            return .accepted
        }
        var unsigned = message
        unsigned.additional.removeAll { $0.type == DNSRecord.typeTSIG }
        let requestMAC = Array(repeating: UInt8(0x5a), count: 32)
        let signed = signer.signResponse(unsigned, requestMAC: requestMAC, now: 1_800_000_000)
        let verified: DNSMessage
        do {
            verified = try signer.verify(signed, requestMAC: requestMAC, requestID: unsigned.id, now: 1_800_000_100)
        } catch {
            throw FuzzViolation("a response the harness signed does not verify: \(error)")
        }
        try require(verified == unsigned, "verify returned another message than the one signed")
        if let other = try? signer.verify(signed, requestMAC: [], requestID: unsigned.id, now: 1_800_000_100) {
            throw FuzzViolation("a response verified over another request's MAC: \(other)")
        }
        return .accepted
    }
}
