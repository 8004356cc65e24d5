import NIOCore
import NIOPosix

/// An authoritative server's address: `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53` or `[2001:db8::53]:53`.
public struct DNSServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 53) {
        self.host = host
        self.port = port
    }

    /// Parses the config's `server:`; nil when it is not an IP address with an optional port.
    public init?(_ text: String) {
        var host = text
        var port = 53
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else { return nil }
                port = value
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let value = Int(text[text.index(after: colon)...]) else { return nil }
            port = value
        }
        guard (1...65_535).contains(port), (try? SocketAddress(ipAddress: host, port: port)) != nil else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why no answer came back.
public struct DNSExchangeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

/// Sends one request to the server and returns its answer: over UDP, sent again while no answer comes (after
/// 250 ms, then twice as long each time, at most 2 s apart), and over TCP when the UDP answer is truncated (TC).
/// The UDP socket is connected to the server, so the kernel drops datagrams from any other source; an answer
/// whose id or QR bit does not match is ignored.
///
/// Runs on SwiftNIO's shared event loops, never on the heartbeat transport's.
public struct DNSClient: Sendable {
    public let server: DNSServerAddress

    public init(server: DNSServerAddress) { self.server = server }

    public func exchange(_ request: [UInt8], id: UInt16, within timeout: Duration) async throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: server.host, port: server.port)
        } catch {
            throw DNSExchangeError("\(server) is not an IP address")
        }
        let answer = try await within(deadline, "over UDP") { try await udp(request, id: id, to: address) }
        guard answer.count > 2, answer[2] & 0x02 != 0 else { return answer }
        return try await within(deadline, "over TCP (the UDP answer was truncated)") {
            try await tcp(request, id: id, to: address)
        }
    }

    private func udp(_ request: [UInt8], id: UInt16, to address: SocketAddress) async throws -> [UInt8] {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    for try await envelope in inbound {
                        let bytes = Array(envelope.data.readableBytesView)
                        if Self.answers(bytes, id: id) { return bytes }
                    }
                    return nil
                }
                group.addTask {
                    var wait = Duration.milliseconds(250)
                    while true {
                        try await outbound.write(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: request)))
                        try await Task.sleep(for: wait)
                        wait = min(wait * 2, .seconds(2))
                    }
                }
                defer { group.cancelAll() }
                guard let answer = try await group.next() ?? nil else {
                    throw DNSExchangeError("\(server) closed the exchange without an answer")
                }
                return answer
            }
        }
    }

    private func tcp(_ request: [UInt8], id: UInt16, to address: SocketAddress) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var framed = ByteBuffer()
            framed.writeInteger(UInt16(request.count))
            framed.writeBytes(request)
            try await outbound.write(framed)
            var received = ByteBuffer()
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                while let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
                    received.readableBytes >= 2 + Int(length)
                {
                    received.moveReaderIndex(forwardBy: 2)
                    let bytes = received.readBytes(length: Int(length)) ?? []
                    if Self.answers(bytes, id: id) { return bytes }
                }
            }
            throw DNSExchangeError("\(server) closed the TCP connection without an answer")
        }
    }

    static func answers(_ bytes: [UInt8], id: UInt16) -> Bool {
        bytes.count >= 12 && (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) == id && bytes[2] & 0x80 != 0
    }

    /// `body`, or a `DNSExchangeError` when `deadline` comes first or it fails (the error named as the server and
    /// the way it was asked).
    private func within(
        _ deadline: ContinuousClock.Instant,
        _ how: String,
        _ body: @escaping @Sendable () async throws -> [UInt8]
    ) async throws -> [UInt8] {
        let server = server
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return nil
                }
                defer { group.cancelAll() }
                guard let answer = try await group.next() ?? nil else {
                    throw DNSExchangeError("no answer from \(server) \(how) in time")
                }
                return answer
            }
        } catch let error as DNSExchangeError {
            throw error
        } catch let error as IOError {
            throw DNSExchangeError("no answer from \(server) \(how): \(error.description)")
        } catch {
            throw DNSExchangeError("no answer from \(server) \(how): \(error)")
        }
    }
}
