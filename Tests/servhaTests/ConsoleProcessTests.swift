import Foundation
import Glibc
import Synchronization
import Testing

/// The console of a real daemon, over a real socket: served, and never in the way of heartbeats.
@Suite(.serialized) struct ConsoleProcessTests {
    @Test func aFloodedConsoleNeverDelaysHeartbeats() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        let port = cluster.servicePort + 3
        try cluster.config(for: "node-a", extra: "http: { listen: 127.0.0.1:\(port) }").write(
            toFile: cluster.root + "/node-a.yaml", atomically: true, encoding: .utf8
        )
        try cluster.start("node-a")
        try cluster.start("node-b")
        #expect(
            cluster.waitUntil("a active, b ready") { cluster.role("node-a") == "active" && cluster.peerHealthy("node-b") }
        )
        #expect(cluster.waitUntil("the console answers") { httpGet(port: port, "/healthz")?.status == 200 })
        let page = try #require(httpGet(port: port, "/"))
        #expect(page.status == 200 && page.body.contains("id=\"role\""))
        #expect(httpGet(port: port, "/api/status")?.body.contains("\"role\":\"active\"") == true)
        #expect(httpGet(port: port, "/no/such/page")?.status == 404)
        #expect(httpGet(port: port, "/api/events?since=x")?.status == 400)
        let epoch = cluster.status("node-a").firstMatch(of: /"epoch":(\d+)/)?.1

        // 32 clients asking as fast as they can for the heaviest pages, for 6 s.
        let served = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let paths = ["/api/status", "/metrics", "/api/timeline.svg", "/api/events?limit=10000", "/api/explain", "/"]
        let clients = (0..<32).map { n in
            let thread = Thread {
                var i = n
                while !stop.load(ordering: .relaxed) {
                    if httpGet(port: port, paths[i % paths.count])?.status == 200 { served.add(1, ordering: .relaxed) }
                    i += 1
                }
            }
            thread.start()
            return thread
        }
        _ = clients
        let worst = cluster.worstHeard(by: "node-b", seconds: 6) { _ in
            #expect(cluster.role("node-a") == "active")
        }
        stop.store(true, ordering: .relaxed)
        usleep(500_000)
        let requests = served.load(ordering: .relaxed)
        #expect(requests > 300, "the flood was a flood: \(requests) requests served in 6 s")
        #expect(worst < 100, "node-b heard node-a at worst \(worst) ms ago while node-a served \(requests) requests")
        #expect(cluster.status("node-a").firstMatch(of: /"epoch":(\d+)/)?.1 == epoch, "no failover")
        print("console flood: \(requests) requests in 6 s (\(requests / 6)/s); node-b heard node-a at worst \(worst) ms ago")
    }

    @Test func aConsoleThatCannotBindStopsTheStartWithOneLine() throws {
        let cluster = try LoopbackCluster()
        defer { cluster.tearDown() }
        // The port is taken by a listener of this test.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(fd, 1)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: bound.sin_port))
        try cluster.config(for: "node-a", extra: "http: { listen: 127.0.0.1:\(port) }").write(
            toFile: cluster.root + "/node-a.yaml", atomically: true, encoding: .utf8
        )
        let outcome = try servha(["daemon", "--config", cluster.root + "/node-a.yaml", "--dry-run-vip"])
        #expect(outcome.status == 2)
        let lines = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("servha:") }
        #expect(lines.count == 1 && lines[0].contains("http.listen 127.0.0.1:\(port): cannot serve the console"), "\(outcome.stderr)")
        #expect(lines.first?.contains("ddress already in use") == true, "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cluster.root + "/node-a.sock"), "nothing left half-started")
    }
}

/// One GET over a fresh connection to 127.0.0.1 (status and body), or nil when nothing answered in 5 s.
func httpGet(port: Int, _ path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: servha\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else { return nil }
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}
