import Foundation
import Glibc
import Testing

@testable import Runtime

/// A real BIND 9 `named`, authoritative for `example.test.` on 127.0.0.1 at a port of its own, accepting updates
/// of `db.example.test.` signed with `key`. Debian's bind9 package (`make deps-test` installs it).
final class BindServer {
    static let executable = "/usr/sbin/named"
    let directory: String
    let port: Int
    let key: TSIGKey
    private let process: Process

    var address: DNSServerAddress { DNSServerAddress(host: "127.0.0.1", port: port) }

    /// Starts named and waits until it answers; throws (failing the test with the reason) when it cannot.
    init(key: TSIGKey) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw BindServerError("\(Self.executable) is not installed (Debian bind9; make deps-test installs it)")
        }
        self.key = key
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("servha-bind-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = Int.random(in: 20_000...60_000)
        let secret = Data(key.secret).base64EncodedString()
        // 60 addresses for one name: an answer over 512 bytes, truncated over UDP.
        let many = (1...60).map { "big IN A 192.0.2.\($0)" }.joined(separator: "\n")
        try """
        $TTL 60
        @ IN SOA ns.example.test. admin.example.test. 1 60 60 600 60
        @ IN NS ns.example.test.
        ns IN A 127.0.0.1
        \(many)

        """.write(toFile: directory + "/example.test.zone", atomically: true, encoding: .utf8)
        try """
        options {
          directory "\(directory)";
          listen-on port \(port) { 127.0.0.1; };
          listen-on-v6 { none; };
          pid-file "\(directory)/named.pid";
          session-keyfile "\(directory)/session.key";
          recursion no;
          dnssec-validation no;
        };
        controls { };
        key "\(key.name)" { algorithm hmac-sha256; secret "\(secret)"; };
        zone "example.test" {
          type primary;
          file "\(directory)/example.test.zone";
          update-policy { grant \(key.name) name db.example.test. A AAAA; };
        };

        """.write(toFile: directory + "/named.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["-g", "-c", directory + "/named.conf"]
        let output = FileHandle(forWritingAtPath: directory + "/named.out") ?? {
            FileManager.default.createFile(atPath: directory + "/named.out", contents: nil)
            return FileHandle(forWritingAtPath: directory + "/named.out")!
        }()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Ready once it answers a query for the zone's SOA (a condition with a deadline, not a sleep).
        let client = DNSClient(server: address)
        let probe = DNSMessage(id: 1, flags: 0, questions: [DNSQuestion(name: DNSName("example.test."), type: DNSRecord.typeSOA)])
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { break }
            if let answer = try? await client.exchange(probe.encoded(), id: 1, within: .milliseconds(300)),
                (try? DNSMessage(decoding: answer))?.rcode == 0
            {
                return
            }
        }
        let log = (try? String(contentsOfFile: directory + "/named.out", encoding: .utf8)) ?? ""
        stop()
        throw BindServerError("named did not answer on 127.0.0.1:\(port) within 15 s: \(log.suffix(600))")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

struct BindServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
