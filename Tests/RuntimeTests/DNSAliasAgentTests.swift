import Foundation
import Testing

@testable import Runtime

private let secondsTimeout: UInt64 = 5_000_000_000

private func spec(server: DNSServerAddress, onStop: DNSAliasSpec.OnStop = .keep) -> DNSAliasSpec {
    DNSAliasSpec(
        server: server, zone: DNSName("example.test."), name: DNSName("db.example.test."), mode: .perNode,
        addresses: [:], ttl: 5, keyFile: "", onStop: onStop, keyFileLocation: ""
    )
}

private func agent(_ address: String, server: DNSServerAddress, key: TSIGKey, onStop: DNSAliasSpec.OnStop = .keep)
    throws -> DNSAliasAgent
{
    DNSAliasAgent(name: "alias", spec: spec(server: server, onStop: onStop), address: try #require(DNSAddress(address)), key: key)
}

/// The addresses the server answers for the name now (A and AAAA), asked with a signed query.
private func answers(_ server: BindServer, type: UInt16 = DNSRecord.typeA) async throws -> [String] {
    let signer = TSIGSigner(key: server.key)
    let query = DNSMessage(id: 99, flags: 0, questions: [DNSQuestion(name: DNSName("db.example.test."), type: type)])
    let (bytes, mac) = signer.sign(query, now: UInt64(Date().timeIntervalSince1970))
    let answer = try await DNSClient(server: server.address).exchange(bytes, id: 99, within: .seconds(5))
    let message = try signer.verify(answer, requestMAC: mac, requestID: 99, now: UInt64(Date().timeIntervalSince1970))
    return message.answers.filter { $0.type == type }.compactMap { DNSAddress(bytes: $0.data)?.description }.sorted()
}

@Suite("The dns resource against a real BIND 9", .serialized)
struct DNSAliasAgentTests {
    @Test("start replaces the record, reads it back; the other node's start moves it; monitors tell which is current")
    func startMonitorTakeover() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        defer { bind.stop() }
        let nodeA = try agent("192.0.2.11", server: bind.address, key: bind.key)
        let nodeB = try agent("192.0.2.75", server: bind.address, key: bind.key)

        let started = await nodeA.perform(.start, timeout: secondsTimeout)
        #expect(started.result == .succeeded, "\(started.output)")
        #expect(started.output.contains("read back"))
        #expect(try await answers(bind) == ["192.0.2.11"])
        #expect(await nodeA.perform(.monitor, timeout: secondsTimeout).result == .succeeded)

        #expect(await nodeB.perform(.start, timeout: secondsTimeout).result == .succeeded)
        #expect(try await answers(bind) == ["192.0.2.75"])
        let stale = await nodeA.perform(.monitor, timeout: secondsTimeout)
        #expect(stale.result == .notRunning)
        #expect(stale.output.contains("points to 192.0.2.75"), "\(stale.output)")
        #expect(await nodeB.perform(.monitor, timeout: secondsTimeout).result == .succeeded)
    }

    @Test("stop: keep leaves the record; remove deletes it only while it is this node's (a late stop spares the successor's)")
    func stopModes() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        defer { bind.stop() }
        let keeper = try agent("192.0.2.11", server: bind.address, key: bind.key)
        #expect(await keeper.perform(.start, timeout: secondsTimeout).result == .succeeded)
        #expect(await keeper.perform(.stop, timeout: secondsTimeout).result == .succeeded)
        #expect(try await answers(bind) == ["192.0.2.11"])

        let late = try agent("192.0.2.11", server: bind.address, key: bind.key, onStop: .remove)
        let successor = try agent("192.0.2.75", server: bind.address, key: bind.key, onStop: .remove)
        #expect(await successor.perform(.start, timeout: secondsTimeout).result == .succeeded)
        let spared = await late.perform(.stop, timeout: secondsTimeout)
        #expect(spared.result == .succeeded)
        #expect(spared.output.contains("NXRRSET"), "\(spared.output)")
        #expect(try await answers(bind) == ["192.0.2.75"])

        let removed = await successor.perform(.stop, timeout: secondsTimeout)
        #expect(removed.output.contains("removed"), "\(removed.output)")
        #expect(try await answers(bind) == [])
        // Monitoring a removed record: not running (a start would write it again).
        #expect(await successor.perform(.monitor, timeout: secondsTimeout).result == .notRunning)
    }

    @Test("a wrong secret: the start fails naming NOTAUTH and BADSIG, and the record is unchanged")
    func wrongKey() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        defer { bind.stop() }
        #expect(await (try agent("192.0.2.11", server: bind.address, key: bind.key)).perform(.start, timeout: secondsTimeout).result == .succeeded)
        var wrong = bind.key
        wrong.secret[5] ^= 0x40
        let outcome = await (try agent("192.0.2.75", server: bind.address, key: wrong)).perform(.start, timeout: secondsTimeout)
        #expect(outcome.result == .failed(exitCode: 6))
        #expect(outcome.output.contains("NOTAUTH") && outcome.output.contains("BADSIG"), "\(outcome.output)")
        #expect(try await answers(bind) == ["192.0.2.11"])

        // A key name the server does not know: BADKEY.
        let stranger = TSIGKey(name: DNSName("someone-else."), secret: bind.key.secret)
        let unknown = await (try agent("192.0.2.75", server: bind.address, key: stranger)).perform(.start, timeout: secondsTimeout)
        #expect(unknown.result == .failed(exitCode: 6))
        #expect(unknown.output.contains("BADKEY"), "\(unknown.output)")
    }

    @Test("an IPv6 address: AAAA written, the A record deleted")
    func ipv6() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        defer { bind.stop() }
        #expect(await (try agent("192.0.2.11", server: bind.address, key: bind.key)).perform(.start, timeout: secondsTimeout).result == .succeeded)
        let six = await (try agent("2001:db8::11", server: bind.address, key: bind.key)).perform(.start, timeout: secondsTimeout)
        #expect(six.result == .succeeded, "\(six.output)")
        #expect(try await answers(bind, type: DNSRecord.typeAAAA) == ["2001:db8::11"])
        #expect(try await answers(bind) == [])
    }

    @Test("a truncated UDP answer is asked again over TCP")
    func tcpFallback() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        defer { bind.stop() }
        let query = DNSMessage(id: 4, flags: 0, questions: [DNSQuestion(name: DNSName("big.example.test."), type: DNSRecord.typeA)])
        let answer = try DNSMessage(decoding: try await DNSClient(server: bind.address).exchange(query.encoded(), id: 4, within: .seconds(5)))
        // 60 records do not fit in 512 bytes: only TCP brings them all, and without TC.
        #expect(answer.answers.count == 60)
        #expect(!answer.isTruncated)
    }

    @Test("no server: the start fails with the reason; the monitor does not fail the group over it")
    func serverDown() async throws {
        let bind = try await BindServer(key: try fixtureKey())
        let address = bind.address
        bind.stop()
        let nodeA = try agent("192.0.2.11", server: address, key: try fixtureKey())
        let clock = ContinuousClock.now
        let start = await nodeA.perform(.start, timeout: 2_000_000_000)
        #expect(start.result == .failed(exitCode: 1))
        #expect(start.output.contains("no answer from 127.0.0.1:\(address.port)"), "\(start.output)")
        #expect(ContinuousClock.now - clock < .seconds(3))
        let monitor = await nodeA.perform(.monitor, timeout: 1_000_000_000)
        #expect(monitor.result == .succeeded)
        #expect(monitor.output.hasPrefix("warning: cannot check"), "\(monitor.output)")
    }
}
