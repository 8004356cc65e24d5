import Glibc

/// The three requests the alias needs, as messages (RFC 2136 for the updates), and the reading of their answers.
public struct DNSRecordUpdate: Sendable, Hashable {
    public var zone: DNSName
    public var name: DNSName
    /// This node's address, the record's data.
    public var address: DNSAddress
    public var ttl: UInt32

    public init(zone: DNSName, name: DNSName, address: DNSAddress, ttl: UInt32) {
        self.zone = zone
        self.name = name
        self.address = address
        self.ttl = ttl
    }

    /// Replaces whatever A and AAAA records the name has with this node's, without prerequisites: a takeover must
    /// succeed whatever the name pointed to before (the old active's address, or nothing).
    public func replace(id: UInt16) -> DNSMessage {
        DNSMessage(
            id: id,
            flags: DNSMessage.requestFlags(opcode: DNSMessage.opcodeUpdate),
            questions: [DNSQuestion(name: zone, type: DNSRecord.typeSOA)],
            authority: [
                // RFC 2136 §2.5.2: class ANY, TTL 0, no data deletes the RRset.
                DNSRecord(name: name, type: DNSRecord.typeA, recordClass: DNSRecord.classANY, ttl: 0, data: []),
                DNSRecord(name: name, type: DNSRecord.typeAAAA, recordClass: DNSRecord.classANY, ttl: 0, data: []),
                DNSRecord(name: name, type: address.recordType, recordClass: DNSRecord.classIN, ttl: ttl, data: address.bytes),
            ]
        )
    }

    /// Deletes the name's record only while it is exactly this node's (RFC 2136 §2.4.2, a value-dependent
    /// prerequisite): a node that stops late never removes the record its successor has already written.
    /// The server answers NXRRSET when the record is another's.
    public func remove(id: UInt16) -> DNSMessage {
        DNSMessage(
            id: id,
            flags: DNSMessage.requestFlags(opcode: DNSMessage.opcodeUpdate),
            questions: [DNSQuestion(name: zone, type: DNSRecord.typeSOA)],
            answers: [DNSRecord(name: name, type: address.recordType, recordClass: DNSRecord.classIN, ttl: 0, data: address.bytes)],
            authority: [DNSRecord(name: name, type: address.recordType, recordClass: DNSRecord.classANY, ttl: 0, data: [])]
        )
    }

    /// Asks for the name's records of this node's type (no recursion: the server is authoritative).
    public func query(id: UInt16) -> DNSMessage {
        DNSMessage(
            id: id,
            flags: DNSMessage.requestFlags(opcode: DNSMessage.opcodeQuery),
            questions: [DNSQuestion(name: name, type: address.recordType)]
        )
    }

    /// The addresses an answer to `query` gives the name (empty for NXDOMAIN or no such records).
    public func addresses(in answer: DNSMessage) -> [DNSAddress] {
        answer.answers.compactMap { record in
            guard record.name == name, record.type == address.recordType, record.recordClass == DNSRecord.classIN else {
                return nil
            }
            return DNSAddress(bytes: record.data)
        }
    }
}

/// An IPv4 or IPv6 address as record data (A or AAAA).
public struct DNSAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
        } else {
            return nil
        }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var recordType: UInt16 { bytes.count == 4 ? DNSRecord.typeA : DNSRecord.typeAAAA }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        return String(cString: text)
    }
}
