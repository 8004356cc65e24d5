import ArgumentParser
import EventLog
import Glibc
import Replay

/// The small service `make demo` fails over (no PostgreSQL needed), and the client that watches it.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The demo's service and client (used by make demo).",
        shouldDisplay: false,
        subcommands: [DemoServe.self, DemoProbe.self]
    )
}

/// A TCP service that answers every connection with its node's name and closes it.
struct DemoServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer every TCP connection on ADDRESS:PORT with NAME."
    )

    @Option(help: "ADDRESS:PORT to listen on (0.0.0.0:PORT for every address, the VIP included).") var listen: String
    @Option(help: "What to answer (the node's name).") var name: String

    func run() throws {
        let (address, port) = try DemoAddress.parse(listen, option: "--listen")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw fail("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = DemoAddress.sockaddr(address, port)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            throw fail("\(listen): cannot listen: \(String(cString: strerror(errno)))")
        }
        let reply = Array((name + "\n").utf8)
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                throw fail("accept: \(String(cString: strerror(errno)))")
            }
            _ = reply.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }
}

/// Connects to the service every interval and prints what a client sees: who answers, and each stretch without
/// an answer, with how long it lasted.
struct DemoProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Connect to ADDRESS:PORT every interval and print who answers and every outage."
    )

    @Argument(help: "ADDRESS:PORT of the service (the VIP).") var target: String
    @Option(help: "Milliseconds between probes.") var intervalMs = 20
    @Option(help: "Seconds to probe for (0: until killed).") var seconds = 0.0
    @Option(help: "Stop once this node has answered (after an outage).") var until: String?

    func run() throws {
        let (address, port) = try DemoAddress.parse(target, option: "target")
        let started = monotonicNow()
        let deadline = seconds > 0 ? started + UInt64(seconds * 1e9) : UInt64.max
        var lastAnswer: (node: String, at: UInt64)?
        var silent = false
        var longest: UInt64 = 0
        var outages = 0
        // Each line at once, even into a pipe: the demo shows them as they happen.
        func print(_ line: String) {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        }
        while monotonicNow() < deadline {
            let sent = monotonicNow()
            let answer = DemoAddress.ask(address, port, timeoutMs: max(intervalMs, 50))
            let now = monotonicNow()
            let stamp = rfc3339(wallNow()).dropFirst(11).prefix(12)
            if let node = answer {
                if silent, let last = lastAnswer {
                    // The outage runs from the last answer before it to the probe that got this one.
                    let gap = sent - last.at
                    longest = max(longest, gap)
                    outages += 1
                    let moved = last.node == node ? "" : " (it was \(last.node))"
                    print("\(stamp)  client: \(node) answers\(moved), after \(millisecondsText(Int64(gap))) without an answer")
                } else if let last = lastAnswer, last.node != node {
                    print("\(stamp)  client: now \(node) answers (it was \(last.node))")
                } else if lastAnswer == nil {
                    print("\(stamp)  client: \(node) answers")
                }
                silent = false
                lastAnswer = (node, now)
                if let until, node == until, outages > 0 { break }
            } else if !silent && lastAnswer != nil {
                silent = true
                print("\(stamp)  client: no answer from the service")
            }
            let next = sent + UInt64(intervalMs) * 1_000_000
            let after = monotonicNow()
            if next > after { usleep(UInt32((next - after) / 1000)) }
        }
        print(
            "{\"probe\":\"\(target)\",\"outages\":\(outages),\"longest_outage_ms\":\(Double(longest / 100_000) / 10)}"
        )
    }
}

enum DemoAddress {
    static func parse(_ text: String, option: String) throws -> (in_addr, UInt16) {
        let parts = text.split(separator: ":")
        var address = in_addr()
        guard parts.count == 2, let port = UInt16(parts[1]), inet_pton(AF_INET, String(parts[0]), &address) == 1
        else { throw fail("\(option) \(text): expected IPV4ADDRESS:PORT") }
        return (address, port)
    }

    static func sockaddr(_ address: in_addr, _ port: UInt16) -> sockaddr_in {
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = port.bigEndian
        socketAddress.sin_addr = address
        return socketAddress
    }

    /// One connection: the name the service answers with, or nil (refused, unreachable, or no answer in time).
    static func ask(_ address: in_addr, _ port: UInt16, timeoutMs: Int) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var socketAddress = sockaddr(address, port)
        let connected = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init)
    }
}
