import Coordinator
import Crypto
import Foundation
import Glibc
import NIOCore
import Synchronization
import Testing

@testable import Runtime

private let clusterName = "pg-pair"
private let sharedKey = (0..<32).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }

private let activeView = Advertisement(
    role: .active,
    epoch: 7,
    owns: true,
    resourcesUp: 3,
    arbitratorReachable: true,
    acknowledgesPeer: true,
    yields: false,
    healthy: true,
    maintenance: false
)

/// Node `thisNode`'s authenticator in a two-node, two-channel cluster.
private func authenticator(
    _ thisNode: NodeID,
    key: [UInt8] = sharedKey,
    cluster: String = clusterName
) -> HeartbeatAuthenticator {
    HeartbeatAuthenticator(key: key, cluster: cluster, thisNode: thisNode, peer: 3 - thisNode, channelCount: 2)
}

/// A heartbeat from node 1.
private func packet(
    _ sequence: UInt64,
    channel: UInt8 = 0,
    echo: UInt64 = 0,
    from: NodeID = 1,
    cluster: String = clusterName
) -> HeartbeatPacket {
    HeartbeatPacket(cluster: cluster, from: from, channel: channel, sequence: sequence, echo: echo, view: activeView)
}

private func reason(_ verdict: HeartbeatAuthenticator.Verdict) -> String? {
    if case .rejected(let rejected) = verdict { return rejected.reason }
    return nil
}

private let badHMAC = "bad HMAC (wrong key or forged)"

@Suite struct HeartbeatTests {
    /// The seal is RFC 2104's HMAC-SHA256 of the body, for a key shorter and one longer than a hash block, and a
    /// packet of another cluster than the sealer's own carries that cluster's id.
    @Test func aSealIsTheStandardHMAC() throws {
        for key in [sharedKey, (0..<100).map { UInt8(truncatingIfNeeded: $0 * 7) }] {
            for cluster in [clusterName, "another-pair"] {
                let sent = packet(42, echo: 9, cluster: cluster)
                let sealed = authenticator(1, key: key).seal(sent)
                let body = Array(sealed.dropLast(HeartbeatPacket.macLength))
                #expect(body == sent.encodeBody())
                let standard = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key))
                #expect(Array(sealed.suffix(HeartbeatPacket.macLength)) == Array(standard))
            }
        }
    }

    // MARK: Packets

    @Test func aSealedPacketOpensAsItWasSent() {
        let sent = packet(42, channel: 1, echo: 17)
        let bytes = authenticator(1).seal(sent)
        var receiver = authenticator(2)
        #expect(receiver.open(bytes, channel: 1, source: "192.0.2.1:7400") == .accepted(sent))

        let unknownArbitrator = HeartbeatPacket(
            cluster: clusterName,
            from: 1,
            channel: 0,
            sequence: 43,
            echo: 0,
            view: .unknown
        )
        #expect(
            receiver.open(authenticator(1).seal(unknownArbitrator), channel: 0, source: "x")
                == .accepted(unknownArbitrator)
        )
    }

    @Test func packetSizes() {
        let sender = authenticator(1)
        // A sender that started from a boot nonce (`NodeDriver.sequenceStart`) in the middle of its range: 8-byte
        // varints.
        let nonce = NodeDriver.sequenceStart(random: 1 << 63)
        let typical = sender.seal(packet(nonce + 1_000_000, echo: nonce + 999_999))
        #expect(typical.count == 65)
        // Sequences counted from 1: one-byte varints and a four-byte advertisement make the shortest packet.
        #expect(sender.seal(packet(1)).count == HeartbeatPacket.minimumLength)
        #expect(sender.seal(packet(100_000, echo: 99_999)).count == 55)
    }

    @Test func everyTruncationIsRejectedAsTruncated() {
        let bytes = authenticator(1).seal(packet(1_000_000_000_123, echo: 99_999))
        var receiver = authenticator(2)
        for length in 0..<bytes.count {
            let verdict = receiver.open(Array(bytes[..<length]), channel: 0, source: "x")
            #expect(reason(verdict) == "truncated packet (\(length) bytes)")
        }
        #expect(receiver.open(bytes, channel: 0, source: "x") == .accepted(packet(1_000_000_000_123, echo: 99_999)))
    }

    @Test func anySingleFlippedBitIsRejected() {
        let sent = packet(300, channel: 1, echo: 299)
        let bytes = authenticator(1).seal(sent)
        let varintBytes = HeartbeatPacket.headerLength..<(bytes.count - HeartbeatPacket.macLength)
        var receiver = authenticator(2)
        for index in bytes.indices {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[index] ^= 1 << bit
                let why = reason(receiver.open(flipped, channel: 1, source: "x"))
                switch why {
                case badHMAC, "not a servha heartbeat (bad magic)":
                    break
                case let why? where why.hasPrefix("heartbeat format version"):
                    #expect(index == 2)
                case let why? where why.hasPrefix("truncated packet"):
                    // Setting a varint's continuation bit lengthens the framing past the HMAC: the packet then
                    // reads as cut short. Decided without the key, so the reason is no oracle for the HMAC.
                    #expect(bit == 7 && varintBytes.contains(index), "byte \(index) bit \(bit): \(why)")
                default:
                    Issue.record("byte \(index) bit \(bit): \(why ?? "accepted")")
                }
            }
        }
        // Nothing rejected moved the replay window.
        #expect(receiver.open(bytes, channel: 1, source: "x") == .accepted(sent))
    }

    @Test func headerProblemsAreNamed() {
        let bytes = authenticator(1).seal(packet(5))
        var receiver = authenticator(2)
        var newer = bytes
        newer[2] = 2
        #expect(
            reason(receiver.open(newer, channel: 0, source: "x"))
                == "heartbeat format version 2 is newer than this servha reads (1)"
        )
        var foreign = bytes
        foreign[0] = UInt8(ascii: "G")
        #expect(reason(receiver.open(foreign, channel: 0, source: "x")) == "not a servha heartbeat (bad magic)")
        #expect(
            reason(receiver.open(Array("GET / HTTP/1.0\r\n\r\n".utf8), channel: 0, source: "x"))
                == "not a servha heartbeat (bad magic)"
        )
    }

    @Test func aWrongKeyIsABadHMAC() {
        let otherKey = sharedKey.map { $0 ^ 0x80 }
        let bytes = authenticator(1, key: otherKey).seal(packet(5))
        var receiver = authenticator(2)
        let verdict = receiver.open(bytes, channel: 0, source: "192.0.2.1:7400")
        #expect(verdict == .rejected(RejectedInput(reason: badHMAC, source: "192.0.2.1:7400")))
    }

    @Test func anotherClusterIsRefusedEvenWithTheSameKey() {
        let bytes = authenticator(1, cluster: "other-pair").seal(packet(5, cluster: "other-pair"))
        var receiver = authenticator(2)
        #expect(reason(receiver.open(bytes, channel: 0, source: "x")) == "heartbeat from another cluster")
        // Its sequence did not count: the same sequence from our own cluster is still new.
        #expect(receiver.open(authenticator(1).seal(packet(5)), channel: 0, source: "x") == .accepted(packet(5)))
    }

    @Test func aReplayIsRefused() {
        let bytes = authenticator(1).seal(packet(5))
        var receiver = authenticator(2)
        #expect(receiver.open(bytes, channel: 0, source: "x") == .accepted(packet(5)))
        #expect(
            reason(receiver.open(bytes, channel: 0, source: "x")) == "replayed heartbeat (sequence 5, newest seen 5)"
        )
        // Sequence 0 is never sent, so never accepted.
        #expect(
            reason(receiver.open(authenticator(1).seal(packet(0)), channel: 0, source: "x"))
                == "replayed heartbeat (sequence 0, newest seen 5)"
        )
    }

    /// Sequences start from a random boot nonce, not the clock: a peer that restarted may start below its old
    /// sequences. After a silence of `restartAfterSilence` it is heard at once; before, its old sequences are
    /// replays.
    @Test func aPeerThatRestartedWithALowerSequenceIsAcceptedAfterASilence() {
        let sender = authenticator(1)
        var receiver = authenticator(2)
        receiver.restartAfterSilence = 100_000_000
        func open(_ sequence: UInt64, at: Instant) -> String? {
            reason(receiver.open(sender.seal(packet(sequence)), channel: 0, source: "x", at: at))
        }
        #expect(open(1_000_000, at: 1_000_000_000) == nil)
        #expect(open(1_000_001, at: 1_020_000_000) == nil)
        #expect(open(500, at: 1_050_000_000) == "replayed heartbeat (sequence 500, newest seen 1000001)", "no silence")
        #expect(open(500, at: 1_120_000_000) == nil, "silent for 100 ms: a restarted peer")
        #expect(open(501, at: 1_140_000_000) == nil)
        #expect(open(500, at: 1_150_000_000) == "replayed heartbeat (sequence 500, newest seen 501)")
        // Without the setting (or without a time), never.
        var strict = authenticator(2)
        #expect(strict.open(sender.seal(packet(9)), channel: 0, source: "x", at: 0) == .accepted(packet(9)))
        #expect(reason(strict.open(sender.seal(packet(9)), channel: 0, source: "x", at: 10_000_000_000)) != nil)
    }

    @Test func reorderingWithinTheWindowIsAcceptedOlderIsNot() {
        let sender = authenticator(1)
        var receiver = authenticator(2)
        func open(_ sequence: UInt64, channel: UInt8 = 0) -> String? {
            reason(receiver.open(sender.seal(packet(sequence, channel: channel)), channel: Int(channel), source: "x"))
        }
        #expect(open(10) == nil)
        #expect(open(8, channel: 1) == nil)
        #expect(open(9) == nil)
        #expect(open(7, channel: 1) == nil)
        #expect(open(8) == "replayed heartbeat (sequence 8, newest seen 10)")
        #expect(open(100) == nil)
        #expect(open(37) == nil, "63 behind the newest: inside the window")
        #expect(open(37) == "replayed heartbeat (sequence 37, newest seen 100)")
        #expect(open(36) == "replayed heartbeat (sequence 36, newest seen 100)", "64 behind: outside")
        #expect(open(10) == "replayed heartbeat (sequence 10, newest seen 100)")
        #expect(open(99) == nil)
        #expect(open(1_000_000) == nil, "a jump ahead (lost packets) is fine")
        #expect(open(999_999) == nil)
        #expect(open(100) == "replayed heartbeat (sequence 100, newest seen 1000000)")
    }

    @Test func theWindowMatchesASetOfSeenSequences() {
        // Against a plain model: accepted iff unseen and fewer than 64 behind the newest accepted.
        var window = ReplayWindow()
        var seen: Set<UInt64> = [0]
        var newest: UInt64 = 0
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let sequence =
                newest < 80
                ? UInt64.random(in: 0...100, using: &random)
                : newest - 80 + UInt64.random(in: 0...100, using: &random)
            let expected = !seen.contains(sequence) && (sequence > newest || newest - sequence < 64)
            #expect(window.admits(sequence) == expected)
            if expected {
                window.record(sequence)
                seen.insert(sequence)
                newest = max(newest, sequence)
            }
        }
    }

    @Test func onlyThePeerIsHeard() {
        let sender = authenticator(1)
        var receiver = authenticator(2)
        #expect(
            reason(receiver.open(sender.seal(packet(5, from: 7)), channel: 0, source: "x"))
                == "heartbeat from unknown node 7"
        )
        #expect(
            reason(receiver.open(sender.seal(packet(6, from: 2)), channel: 0, source: "x"))
                == "heartbeat from this node's own id 2 (looped back, or both nodes use that id)"
        )
    }

    @Test func theChannelMustMatch() {
        let sender = authenticator(1)
        var receiver = authenticator(2)
        #expect(
            reason(receiver.open(sender.seal(packet(5, channel: 1)), channel: 0, source: "x"))
                == "heartbeat claims channel 1 but arrived on channel 0"
        )
        #expect(
            reason(receiver.open(sender.seal(packet(6, channel: 2)), channel: 2, source: "x"))
                == "heartbeat claims channel 2 but arrived on channel 2"
        )
        // Neither moved the window.
        #expect(
            receiver.open(sender.seal(packet(5, channel: 1)), channel: 1, source: "x")
                == .accepted(packet(5, channel: 1))
        )
    }

    // MARK: Key file

    @Test func keyFileChecks() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key"
        let key = (0..<48).map { UInt8($0) }
        try Data(key).write(to: URL(fileURLWithPath: path))

        #expect(chmod(path, 0o644) == 0)
        #expect(loadKeyProblem(path) == "key file \(path): must not be readable by group or others (chmod 600)")
        #expect(chmod(path, 0o640) == 0)
        #expect(loadKeyProblem(path) == "key file \(path): must not be readable by group or others (chmod 600)")
        #expect(chmod(path, 0o600) == 0)
        #expect(try HeartbeatAuthenticator.loadKey(path: path) == key)

        try Data(key.prefix(10)).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, 0o600) == 0)
        #expect(
            loadKeyProblem(path)
                == "key file \(path): 10 bytes, a key needs at least 32 (head -c 32 /dev/urandom > \(path))"
        )

        #expect(loadKeyProblem(directory + "/missing") == "key file \(directory)/missing: does not exist")
        #expect(chmod(directory, 0o700) == 0)
        #expect(loadKeyProblem(directory) == "key file \(directory): not a regular file")
    }

    private func loadKeyProblem(_ path: String) -> String? {
        do {
            _ = try HeartbeatAuthenticator.loadKey(path: path)
            return nil
        } catch {
            #expect(!error.description.contains("\n"))
            return error.description
        }
    }

    // MARK: Rejection counter

    @Test func rejectionsAreRecordedAtMostOnceASecondPerReason() {
        var counter = RejectionCounter()
        func record(_ reason: String, at now: UInt64) -> Bool { counter.shouldRecord(reason: reason, at: now) }
        let second: UInt64 = 1_000_000_000
        #expect(record(badHMAC, at: 5 * second))
        #expect(!record(badHMAC, at: 5 * second))
        #expect(!record(badHMAC, at: 5 * second + second / 2))
        #expect(record("heartbeat from another cluster", at: 5 * second + second / 2))
        #expect(!record(badHMAC, at: 6 * second - 1))
        #expect(record(badHMAC, at: 6 * second))
        #expect(!record(badHMAC, at: 6 * second + 1))
        // A replay flood carries a new sequence in every reason: still one kind, one record a second.
        #expect(record("replayed heartbeat (sequence 17, newest seen 90)", at: 7 * second))
        #expect(!record("replayed heartbeat (sequence 18, newest seen 90)", at: 7 * second + 1))
        #expect(!record(badHMAC, at: 3 * second), "a clock reading from before: not recorded")

        let counts = counter.counts
        #expect(
            counts.map(\.reason) == [
                badHMAC, "heartbeat from another cluster", "replayed heartbeat (sequence N, newest seen N)",
            ]
        )
        #expect(counts.map(\.count) == [7, 1, 2])
    }

    @Test func theCounterStaysSmallWhateverTheReasons() {
        var counter = RejectionCounter()
        for i in 0..<1000 {
            _ = counter.shouldRecord(reason: "reason \(String(UnicodeScalar(UInt8(65 + i % 50))))", at: 0)
        }
        #expect(counter.counts.count == RejectionCounter.maximumReasons + 1)
        #expect(counter.counts.reduce(0) { $0 + $1.count } == 1000)
    }

    // MARK: Transport over loopback

    @Test func twoNodesHearEachOtherOnBothChannels() async throws {
        // Node 1 on 127.0.0.1, node 2 on 127.0.0.2 (Linux answers for all of 127/8), so that both can bind the
        // channel's one port, as two hosts would.
        let ports = try freeUDPPorts(2)
        let endpoints = [
            ChannelEndpoint(name: "lan", port: ports[0], addresses: [1: "127.0.0.1", 2: "127.0.0.2"]),
            ChannelEndpoint(name: "backup", port: ports[1], addresses: [1: "127.0.0.1", 2: "127.0.0.2"]),
        ]
        let inbox1 = Inbox()
        let inbox2 = Inbox()
        let node1 = HeartbeatTransport(channels: endpoints, thisNode: 1, peer: 2, onDatagram: inbox1.deliver)
        let node2 = HeartbeatTransport(channels: endpoints, thisNode: 2, peer: 1, onDatagram: inbox2.deliver)
        try await node1.start()
        try await node2.start()
        var auth1 = authenticator(1)
        var auth2 = authenticator(2)
        var heardBy1: Set<Int> = []
        var heardBy2: Set<Int> = []
        var sequence: UInt64 = 0
        var newestFrom1: UInt64 = 0
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        // Heartbeats are periodic: send on every channel each round until each side accepted one on each channel.
        while heardBy1.count < 2 || heardBy2.count < 2, clock.now < deadline {
            for channel in 0..<2 {
                sequence += 1
                node1.send(auth1.seal(packet(sequence, channel: UInt8(channel))), channel: channel)
                let reply = packet(sequence, channel: UInt8(channel), echo: newestFrom1, from: 2)
                node2.send(auth2.seal(reply), channel: channel)
            }
            try await Task.sleep(for: .milliseconds(20))
            for datagram in inbox1.take() {
                let verdict = auth1.open(datagram.bytes, channel: datagram.channel, source: datagram.source)
                guard case .accepted(let heard) = verdict else {
                    Issue.record("node 1: \(verdict)")
                    continue
                }
                #expect(heard.from == 2 && Int(heard.channel) == datagram.channel)
                #expect(datagram.source == "127.0.0.2:\(ports[datagram.channel])")
                heardBy1.insert(datagram.channel)
            }
            for datagram in inbox2.take() {
                let verdict = auth2.open(datagram.bytes, channel: datagram.channel, source: datagram.source)
                guard case .accepted(let heard) = verdict else {
                    Issue.record("node 2: \(verdict)")
                    continue
                }
                #expect(heard.from == 1 && heard.view == activeView)
                #expect(datagram.source == "127.0.0.1:\(ports[datagram.channel])")
                newestFrom1 = max(newestFrom1, heard.sequence)
                heardBy2.insert(datagram.channel)
            }
        }
        #expect(heardBy1 == [0, 1])
        #expect(heardBy2 == [0, 1])
        #expect(node1.localAddress(channel: 1)?.port == Int(ports[1]))
        await node1.stop()
        await node2.stop()
        // Stopped: a send is dropped quietly.
        node1.send([1], channel: 0)
    }

    @Test func aPortInUseIsOneLineNamingTheChannel() async throws {
        let port = try freeUDPPorts(1)[0]
        let endpoint = ChannelEndpoint(name: "lan", port: port, addresses: [1: "127.0.0.1", 2: "127.0.0.1"])
        let first = HeartbeatTransport(channels: [endpoint], thisNode: 1, peer: 2) { _, _, _ in }
        try await first.start()
        let second = HeartbeatTransport(channels: [endpoint], thisNode: 1, peer: 2) { _, _, _ in }
        await #expect(
            throws: HeartbeatTransportError(
                "heartbeat channel lan: cannot bind 127.0.0.1:\(port): Address already in use"
            )
        ) {
            try await second.start()
        }
        await second.stop()
        await first.stop()
        // Stopped, the port is free again.
        let third = HeartbeatTransport(channels: [endpoint], thisNode: 1, peer: 2) { _, _, _ in }
        try await third.start()
        await third.stop()
    }

    @Test func anAddressNotOnThisHostCannotBeBound() async throws {
        let free = try freeUDPPorts(1)[0]
        let endpoints = [
            ChannelEndpoint(name: "lan", port: free, addresses: [1: "127.0.0.1", 2: "127.0.0.1"]),
            // TEST-NET-3: documentation addresses, on no real host.
            ChannelEndpoint(name: "backup", port: 7400, addresses: [1: "203.0.113.1", 2: "203.0.113.2"]),
        ]
        let transport = HeartbeatTransport(channels: endpoints, thisNode: 1, peer: 2) { _, _, _ in }
        await #expect(
            throws: HeartbeatTransportError(
                "heartbeat channel backup: cannot bind 203.0.113.1:7400: Cannot assign requested address"
            )
        ) {
            try await transport.start()
        }
        // The channel that had been bound was released.
        let again = HeartbeatTransport(channels: [endpoints[0]], thisNode: 1, peer: 2) { _, _, _ in }
        try await again.start()
        await again.stop()

        let named = HeartbeatTransport(
            channels: [ChannelEndpoint(name: "lan", port: 7400, addresses: [1: "node-a", 2: "127.0.0.1"])],
            thisNode: 1,
            peer: 2
        ) { _, _, _ in }
        await #expect(
            throws: HeartbeatTransportError("heartbeat channel lan: cannot bind node-a:7400: not an IP address")
        ) {
            try await named.start()
        }
    }

    @Test func aSendErrorDoesNotStopReceiving() async throws {
        let ports = try freeUDPPorts(1)
        // From a socket bound to loopback, the peer address 203.0.113.2 cannot be reached: every send fails
        // (EINVAL, or ENETUNREACH without a default route). SwiftNIO's own write path would close the channel.
        let lonely = ChannelEndpoint(name: "lan", port: ports[0], addresses: [1: "127.0.0.1", 2: "203.0.113.2"])
        let inbox = Inbox()
        let problems = Mutex<[String]>([])
        let node1 = HeartbeatTransport(
            channels: [lonely],
            thisNode: 1,
            peer: 2,
            onProblem: { problem in problems.withLock { $0.append(problem) } },
            onDatagram: inbox.deliver
        )
        try await node1.start()
        for _ in 0..<5 { node1.send([1, 2, 3], channel: 0) }
        #expect(problems.withLock { $0 }.count == 1)
        #expect(
            problems.withLock { $0.first?.hasPrefix("heartbeat channel lan: cannot send to 203.0.113.2:\(ports[0]): ") }
                == true
        )

        let probe = try Probe()
        defer { probe.close() }
        #expect(
            await waitFor {
                probe.send([9], to: ports[0])
                return !inbox.take().isEmpty
            }
        )
        await node1.stop()
    }

    /// The daemon hands the transport its shell's thread: datagrams are received there, with no thread between.
    @Test func datagramsArriveOnTheLoopThreadGiven() async throws {
        let ports = try freeUDPPorts(1)
        let endpoint = ChannelEndpoint(name: "lan", port: ports[0], addresses: [1: "127.0.0.1", 2: "127.0.0.1"])
        let loop = ShellExecutor(name: "hb loop test")
        let threads = Mutex<[String]>([])
        let node1 = HeartbeatTransport(channels: [endpoint], thisNode: 1, peer: 2, loop: loop) { _, _, _ in
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            threads.withLock { $0.append(name.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        try await node1.start()
        let probe = try Probe()
        defer { probe.close() }
        #expect(
            await waitFor {
                probe.send([1], to: ports[0])
                return !threads.withLock { $0.isEmpty }
            }
        )
        await node1.stop()
        let seen = threads.withLock { $0 }
        #expect(Set(seen) == ["hb loop test"])
        #expect(node1.localAddress(channel: 0) == nil)
    }
}

// MARK: Helpers

private struct Datagram {
    var channel: Int
    var bytes: [UInt8]
    var source: String
}

/// What a transport received, collected on its event loop thread and taken by the test.
private final class Inbox: Sendable {
    private let datagrams = Mutex<[Datagram]>([])

    var deliver: @Sendable (Int, [UInt8], String) -> Void {
        { channel, bytes, source in
            self.datagrams.withLock { $0.append(Datagram(channel: channel, bytes: bytes, source: source)) }
        }
    }

    func take() -> [Datagram] {
        datagrams.withLock { taken in
            defer { taken = [] }
            return taken
        }
    }
}

/// A plain UDP socket that sends datagrams to 127.0.0.1.
private final class Probe: Sendable {
    private let descriptor: CInt

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw HeartbeatTransportError("socket: \(String(cString: strerror(errno)))") }
    }

    func send(_ bytes: [UInt8], to port: UInt16) {
        guard let target = try? SocketAddress(ipAddress: "127.0.0.1", port: Int(port)) else { return }
        _ = bytes.withUnsafeBytes { buffer in
            target.withSockAddr { address, length in
                sendto(descriptor, buffer.baseAddress, buffer.count, 0, address, socklen_t(length))
            }
        }
    }

    func close() { Glibc.close(descriptor) }
}

/// Distinct UDP ports free on every address right now: bound together at 0.0.0.0 port 0 so that the system picks
/// distinct ones free on all addresses, then released.
private func freeUDPPorts(_ count: Int) throws -> [UInt16] {
    var descriptors: [CInt] = []
    defer { for descriptor in descriptors { close(descriptor) } }
    let any = try SocketAddress(ipAddress: "0.0.0.0", port: 0)
    return try (0..<count).map { _ in
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        descriptors.append(descriptor)
        guard any.withSockAddr({ bind(descriptor, $0, socklen_t($1)) }) == 0 else {
            throw HeartbeatTransportError("bind: \(String(cString: strerror(errno)))")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// Polls `condition` until it holds or `limit` has passed (never a fixed sleep: a fast machine passes fast).
private func waitFor(_ limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

private func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "servha-heartbeat-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
