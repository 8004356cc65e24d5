import Coordinator
import Foundation
import Testing

@testable import Runtime

@Suite("The dns resource's configuration")
struct DNSAliasConfigTests {
    private let vip = "  - { name: vip, type: vip, address: 192.0.2.100/24, interface: eth0 }"

    private func alias(_ config: DaemonConfig, _ name: String = "alias") throws -> DNSAliasSpec {
        let spec = try #require(config.resources.first { $0.name == name })
        guard case .dns(let alias) = spec.kind else { throw BindServerError("\(name) is not a dns resource") }
        return alias
    }

    @Test("address: vip takes the group's VIP for both nodes; defaults: port 53, TTL 5 s, on_stop keep")
    func vipMode() throws {
        let yaml = minimal(resources: """
            \(vip)
              - name: alias
                type: dns
                server: 192.0.2.53
                zone: example.test.
                hostname: db.example.test
                address: vip
                key_file: /etc/servha/dns.key
            """)
        let config = try ConfigLoader.parse(yaml, file: "t.yaml").get()
        let spec = try alias(config)
        #expect(spec.addresses == ["a": "192.0.2.100", "b": "192.0.2.100"])
        #expect(spec.server == DNSServerAddress(host: "192.0.2.53", port: 53))
        #expect(spec.name == DNSName("db.example.test."))
        #expect(spec.ttl == 5 && spec.onStop == .keep)
        #expect(spec.keyFileLocation == "t.yaml:26:15")
        #expect(config.alias == "db.example.test")
    }

    @Test("address: self takes each node's own address (IPv4 or IPv6); a server port and TTL may be given")
    func selfMode() throws {
        let yaml = minimal(resources: """
              - name: alias
                type: dns
                server: "[2001:db8::53]:5353"
                zone: example.test
                hostname: db.example.test.
                address: self
                addresses: { a: 192.0.2.11, b: "2001:db8::75" }
                ttl: 1s
                on_stop: remove
                key_file: /etc/servha/dns.key
            """)
        let spec = try alias(try ConfigLoader.parse(yaml, file: "t.yaml").get())
        #expect(spec.addresses == ["a": "192.0.2.11", "b": "2001:db8::75"])
        #expect(spec.server == DNSServerAddress(host: "2001:db8::53", port: 5353))
        #expect(spec.ttl == 1 && spec.onStop == .remove)
    }

    @Test("every mistake is one line with its place")
    func mistakes() {
        func dns(_ lines: String, withVIP: Bool = true) -> [String] {
            problems(minimal(resources: (withVIP ? vip + "\n" : "") + """
                  - name: alias
                    type: dns
                    key_file: /k
                \(lines)
                """))
        }
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.other.test\n    address: vip")
            == ["test.yaml:25:15: resources[].hostname: db.other.test. is not in the zone example.test."])
        #expect(dns("    server: dns.example.test\n    zone: example.test\n    hostname: db.example.test\n    address: vip")
            == ["test.yaml:23:13: resources[].server must be an IP address with an optional port, like 192.0.2.53 or 192.0.2.53:5353 (found 'dns.example.test')"])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: self")
            == ["test.yaml:26:5: resources[].address: self needs 'addresses:' with each node's address"])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: self\n    addresses: { a: 192.0.2.1, c: 192.0.2.9 }")
            == [
                "test.yaml:27:5: resources[].addresses: no address for node b",
                "test.yaml:27:32: resources[].addresses.c: not a node of this cluster",
            ])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: vip", withVIP: false)
            == ["test.yaml:18:1: resource alias: address: vip needs exactly one vip resource in the group (found 0); name one with vip:RESOURCE"])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: vip:nothere")
            == ["test.yaml:18:1: resource alias: address: vip:nothere: no vip resource named nothere"])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: vip\n    ttl: 1500ms")
            == ["test.yaml:27:10: resources[].ttl must be whole seconds from 0s to 1d (DNS counts TTLs in seconds)"])
        #expect(dns("    server: 192.0.2.53\n    zone: example.test\n    hostname: db.example.test\n    address: 192.0.2.7")
            == ["test.yaml:26:14: resources[].address must be vip (the group's VIP), vip:RESOURCE, or self (with addresses:) (found '192.0.2.7')"])
    }

    @Test("scripts and OCF agents of the group get SERVHA_ALIAS")
    func aliasInTheEnvironment() async throws {
        var script = ScriptAgent(name: "svc", start: "test \"$SERVHA_ALIAS\" = db.example.test", stop: "true", monitor: "true")
        #expect(await script.perform(.start, timeout: 5_000_000_000).result == .failed(exitCode: 1))
        script.alias = "db.example.test"
        #expect(await script.perform(.start, timeout: 5_000_000_000).result == .succeeded)
        var ocf = OCFAgent(name: "db", agent: "heartbeat/pgsql", parameters: [:])
        ocf.alias = "db.example.test"
        #expect(ocf.environment(timeout: 1_000_000_000)["SERVHA_ALIAS"] == "db.example.test")
    }
}

@Suite("The log section: retention and the archive command")
struct LogSectionConfigTests {
    @Test("defaults: a year, a quarter of the file system, no archive")
    func defaults() throws {
        let config = try ConfigLoader.parse(minimal(), file: "t.yaml").get()
        #expect(config.retention == .default)
        #expect(config.retention.maxAge == 365 * 86_400_000_000_000)
        #expect(config.retention.byteLimit(fileSystemBytes: 100 << 30) == 25 << 30)
    }

    @Test("sizes, shares and durations as written; the archive command with %p and %f")
    func values() throws {
        let config = try ConfigLoader.parse(
            minimal("log: { retention: { max_age: 90d, max_bytes: 20GiB }, archive_command: 'cp %p /archive/%f' }"),
            file: "t.yaml"
        ).get()
        #expect(config.retention.maxAge == 90 * 86_400_000_000_000)
        #expect(config.retention.maxBytes == .bytes(20 << 30))
        #expect(config.retention.archiveCommand == "cp %p /archive/%f")
        let share = try ConfigLoader.parse(minimal("log: { retention: { max_bytes: 40% } }"), file: "t.yaml").get()
        #expect(share.retention.maxBytes == .share(percent: 40))
    }

    @Test("mistakes are one line with their place")
    func mistakes() {
        #expect(problems(minimal("log: { retention: { max_bytes: 10MiB } }")).first?.contains("at least 64MiB") == true)
        #expect(problems(minimal("log: { retention: { max_bytes: 95% } }")).first?.contains("from 1% to 90%") == true)
        #expect(problems(minimal("log: { retention: { max_age: 30m } }")).first?.contains("at least 1h") == true)
        #expect(problems(minimal("log: { archive_command: 'cp /tmp/x /archive' }")).first?.contains("%p") == true)
        #expect(problems(minimal("log: { keep: 1 }")) == ["test.yaml:20:8: unknown key 'keep' in 'log'"])
    }
}
