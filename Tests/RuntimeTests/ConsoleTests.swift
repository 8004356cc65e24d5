import Coordinator
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import Replay
import Testing

@testable import Runtime

/// The console against a real daemon's log: node-b of the host death recorded in the end-to-end site
/// (Fixtures/daemons), fed event by event as the shell feeds it. What the console says must be what the
/// command-line tools say about the same events.
@Suite struct ConsoleTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/daemons/host-death-postgresql/node-b").path

    static func config() throws -> DaemonConfig {
        try ConfigLoader.parse(
            minimal("http: { listen: 127.0.0.1:7480 }", resources: "  - { name: vip, type: vip, address: 192.0.2.100/24, interface: eth0 }\n  - { name: postgresql, type: script, start: /bin/true, stop: /bin/true, monitor: /bin/true }"),
            file: "t"
        ).get()
    }

    /// The fixture's events fed into a console of `capacity` events (all of them, or a window that rolls).
    static func fed(capacity: Int, through last: UInt64 = .max) throws -> (RecordedLog, ConsoleFeed, ConsoleMetrics, DaemonConfig) {
        var log = try RecordedLog.load(fixture)
        let kept = log.sequences.prefix { $0 <= last }.count
        log.events = Array(log.events.prefix(kept))
        log.sequences = Array(log.sequences.prefix(kept))
        log.walls = Array(log.walls.prefix(kept))
        let config = try config()
        let metrics = ConsoleMetrics(config: config)
        let feed = ConsoleFeed(state: State(me: log.identity.node), capacity: capacity, metrics: metrics)
        var state = State(me: log.identity.node)
        for i in log.events.indices {
            state.apply(log.events[i])
            feed.appended([ConsoleFeed.Entry(sequence: log.sequences[i], wall: log.walls[i], event: log.events[i])], state: state)
            // The pump drains every 50 ms; here every few hundred events, so that batches of all sizes pass.
            if i % 337 == 0 { feed.drain() }
        }
        feed.update(ConsoleFeed.Status(state: state, rejections: [("replayed heartbeat", 3)], loss: [0, nil]))
        feed.drain()
        return (log, feed, metrics, config)
    }

    @Test(arguments: [1_000_000, 500])
    func theLastFailoverIsExplainedAsServhaExplainExplainsIt(capacity: Int) throws {
        let (log, feed, _, _) = try Self.fed(capacity: capacity)
        let index = try #require(Explanation.lastFailover(in: log))
        let expected = Explanation.lines(for: index, in: log)
        let json = ConsoleEvents.explanation(feed.lastIncident, identity: log.identity)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["decision"] as? Int == Int(log.sequences[index]))
        #expect(object["lines"] as? [String] == expected)
        // The last failover of this log: node-b handing the group back when it was stopped (SIGTERM).
        #expect(expected.count > 5 && expected[0].contains("release, epoch 2"), "\(expected)")
        if capacity < log.events.count {
            #expect(feed.recent.entries.count == capacity, "the window rolled")
        }
    }

    @Test func theTimeLineIsTheDrawingOfServhaTimeline() throws {
        let (log, feed, _, _) = try Self.fed(capacity: 1_000_000)
        let expected = IncidentTimeline(try MergedTimeline.merge([log])).svg()
        #expect(ConsoleEvents.timeline(feed.recent, identity: log.identity) == expected)
    }

    @Test func aWindowThatRolledStartsFromTheStateBeforeIt() throws {
        // 200 events up to #1020: after the take-over (#736) and before the release (#1029), so the window holds
        // no role change at all.
        let (log, feed, _, _) = try Self.fed(capacity: 200, through: 1020)
        let window = feed.recent
        #expect(window.base.role == .active, "the events that left the window were folded into its base state")
        let drawn = IncidentTimeline(try MergedTimeline.merge([ConsoleEvents.recordedLog(window, identity: log.identity)]))
        let roles = drawn.spans.filter { $0.lane == .role }.map(\.label)
        #expect(roles == ["active"], "\(roles)")
    }

    static func app(token: String? = nil, fed: (RecordedLog, ConsoleFeed, ConsoleMetrics, DaemonConfig)) -> some ApplicationProtocol {
        let (log, feed, _, config) = fed
        let sources = ConsoleServer.Sources(
            feed: feed, config: config, identity: log.identity,
            logCounters: { var counters = WriterCounters(); counters.records = 10; counters.bytesWritten = 100; counters.uncompressedBytes = 400; return counters },
            mirror: { MirrorStatus() }
        )
        return Application(router: ConsoleServer.router(token: token, sources: sources))
    }

    @Test func statusIsTheAdminSocketsJSON() async throws {
        let fed = try Self.fed(capacity: 1_000_000)
        let status = fed.1.status
        try await Self.app(fed: fed).test(.router) { client in
            try await client.execute(uri: "/api/status", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let body = String(buffer: response.body)
                // The same encoder as `servha status --json` (ages aside, which move with the clock).
                let expected = StatusReport.json(status.state, config: fed.3, rejections: status.rejections, loss: status.loss)
                // Up to the scheduling part, which counts the process's threads (the tests start and end some).
                func withoutAges(_ text: String) -> String {
                    String(text.prefix { $0 != "\u{0}" }.components(separatedBy: ",\"realtime\":")[0])
                        .replacingOccurrences(of: #"_ms_ago":\d+"#, with: "", options: .regularExpression)
                        .replacingOccurrences(of: #""ms_ago":\d+"#, with: "", options: .regularExpression)
                        .replacingOccurrences(of: #""resident_kib":\d+"#, with: "", options: .regularExpression)
                }
                #expect(withoutAges(body) == withoutAges(expected + "\n"))
                let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
                #expect(object["role"] as? String == "standby", "node-b after handing the group back")
                #expect(object["epoch"] as? Int == 2)
            }
        }
    }

    @Test func eventsAreJSONLinesAfterTheGivenSequence() async throws {
        let fed = try Self.fed(capacity: 1_000_000)
        let log = fed.0
        try await Self.app(fed: fed).test(.router) { client in
            try await client.execute(uri: "/api/events?since=100&limit=3", method: .get) { response in
                #expect(response.status == .ok)
                let lines = String(buffer: response.body).split(separator: "\n")
                #expect(lines.count == 3)
                let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
                #expect(objects.map { $0["seq"] as? Int } == [101, 102, 103])
                let index = try #require(log.sequences.firstIndex(of: 101))
                #expect(objects[0]["event"] as? String == EventDescription.line(log.events[index], resources: log.resourceNames))
                #expect(objects[0]["node"] as? String == "node-b")
            }
            try await client.execute(uri: "/api/events?routine=false&limit=10000", method: .get) { response in
                let types = String(buffer: response.body).split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["type"] as? String
                }
                #expect(types.contains("decision"))
                #expect(!types.contains("heartbeat") && !types.contains("timer-fired"), "\(Set(types))")
            }
        }
    }

    @Test(arguments: [
        ("/api/events?since=abc", 400, "since must be a record sequence number (found 'abc')"),
        ("/api/events?since=-1", 400, "since must be"),
        ("/api/events?limit=0", 400, "limit must be a whole number from 1 to 10000"),
        ("/api/events?since=1&since=2", 400, "'since' is given twice"),
        ("/api/events?from=1", 400, "unknown parameter 'from'"),
        ("/api/events/stream?routine=maybe", 400, "routine must be true or false"),
        ("/nothing/here", 404, "no such page: /nothing/here; the console serves /, /api/status"),
        ("/api/status/x", 404, "no such page: /api/status/x"),
    ])
    func badRequestsGetAClearStatusAndOneLine(path: String, status: Int, message: String) async throws {
        let fed = try Self.fed(capacity: 1000)
        try await Self.app(fed: fed).test(.router) { client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status.code == status, "\(path)")
                let body = String(buffer: response.body)
                #expect(body.contains(message), "\(path): \(body)")
                #expect(body.split(separator: "\n").count <= 1)
            }
        }
    }

    @Test func theTokenGuardsEverythingButTheHealthCheckAndThePage() async throws {
        let fed = try Self.fed(capacity: 1000)
        let token = "s3cret-token-of-the-console"
        try await Self.app(token: token, fed: fed).test(.router) { client in
            for path in ["/api/status", "/metrics", "/api/events", "/api/explain", "/api/timeline.svg"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(path)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"servha\"")
                    #expect(String(buffer: response.body).contains("no bearer token"))
                }
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(token)x"]) {
                    #expect($0.status == .unauthorized, "\(path)")
                    #expect(String(buffer: $0.body) == "wrong bearer token\n")
                }
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Basic \(token)"]) {
                    #expect($0.status == .unauthorized, "\(path)")
                }
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(token)"]) {
                    #expect($0.status == .ok, "\(path)")
                }
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                let page = String(buffer: response.body)
                #expect(page.contains("id=\"role\"") && page.contains("id=\"explain\""))
                #expect(!page.contains("src=\"http") && !page.contains("href=\"http"), "the page fetches nothing from elsewhere")
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                // The fixture's feed never saw the shell's loop run: not healthy, and said why.
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "unhealthy: the daemon's loop has not run yet\n")
            }
            fed.1.ticked(at: monotonicNow())
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            fed.1.failed("the event log failed (disk full)")
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("not deciding: the event log failed (disk full)"))
            }
        }
    }

    @Test func metricsCountWhatTheLogSays() async throws {
        let fed = try Self.fed(capacity: 1000)
        let log = fed.0
        let takeOvers = log.events.filter { if case .decision(let d) = $0 { d.kind == .takeOver } else { false } }.count
        let heartbeats = log.events.filter {
            if case .input(let s) = $0, case .heartbeat(let h) = s.input { h.echoOfOwnSentAt != nil && h.channel == 0 } else { false }
        }.count
        try await Self.app(fed: fed).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                func value(_ series: String) -> Double? {
                    text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
                }
                #expect(value(#"servha_failovers_total{kind="take-over"}"#) == Double(takeOvers))
                #expect(takeOvers == 1)
                #expect(value(#"servha_failovers_total{kind="release"}"#) == 1)
                #expect(value(#"servha_heartbeat_round_trip_seconds_count{channel="lan"}"#) == Double(heartbeats))
                #expect(heartbeats > 100)
                var state = State(me: log.identity.node)
                var renewals = 0
                for event in log.events {
                    let before = state.lastRenewal
                    state.apply(event)
                    if state.lastRenewal != nil && state.lastRenewal != before { renewals += 1 }
                }
                #expect(renewals > 100)
                #expect(value("servha_lease_renewals_total") == Double(renewals))
                #expect(value(#"servha_role{role="active"}"#) == 0)
                #expect(value(#"servha_role{role="standby"}"#) == 1)
                #expect(value("servha_epoch") == 2)
                #expect(value("servha_log_events_total") == 10)
                #expect(value("servha_log_compression_ratio") == 4)
            }
        }
    }

    @Test func aMailboxThePumpDoesNotDrainStaysBounded() {
        let feed = ConsoleFeed(state: State(me: 1), capacity: 16)
        let entries = (1...100).map { ConsoleFeed.Entry(sequence: UInt64($0), wall: 0, event: .peerAlive(channel: 0)) }
        feed.appended(Array(entries.prefix(10)), state: State(me: 1))
        #expect(feed.recent.entries.isEmpty, "nothing reaches the window before the pump drains")
        feed.drain()
        #expect(feed.recent.entries.count == 10)
        // 100 at once: more than the mailbox holds (twice the window).
        feed.appended(entries, state: State(me: 1))
        var later = State(me: 1)
        later.epoch = 7
        feed.appended(entries.map { var e = $0; e.sequence += 100; return e }, state: later)
        feed.drain()
        #expect(feed.recent.entries.isEmpty, "a window cannot be folded across a gap: it restarts")
        #expect(feed.recent.base.epoch == 7, "from the state the shell had after the events it lost")
        #expect(feed.droppedEvents == 200)
        let next = ConsoleFeed.Entry(sequence: 201, wall: 0, event: .peerAlive(channel: 1))
        feed.appended([next], state: later)
        feed.drain()
        #expect(feed.recent.entries.map(\.sequence) == [201])
        let (held, truncated) = feed.events(after: 150, limit: 1000)
        #expect(held.count == 1 && truncated)
    }

    @Test func theSharedCopysLagIsInBytesAndSeconds() throws {
        let (_, feed, metrics, _) = try Self.fed(capacity: 100)
        let now = monotonicNow()
        var mirror = MirrorStatus()
        mirror.lagBytes = 4096
        mirror.caughtUpAt = now - 5_000_000_000
        func value(_ text: String, _ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        let behind = metrics.render(state: feed.status.state, log: WriterCounters(), mirror: mirror, streamClients: 0, now: now)
        #expect(value(behind, "servha_log_mirror_lag_bytes") == 4096)
        #expect(value(behind, "servha_log_mirror_lag_seconds") == 5)
        mirror.lagBytes = 0
        mirror.caughtUpAt = now
        let caughtUp = metrics.render(state: feed.status.state, log: WriterCounters(), mirror: mirror, streamClients: 0, now: now + 1)
        #expect(value(caughtUp, "servha_log_mirror_lag_seconds") == 0)
        #expect(value(caughtUp, "servha_log_mirror_healthy") == 1)
    }

    @Test func theStreamCatchesUpThenFollowsAndLetsGoOfAClientThatLeft() async throws {
        let (log, feed, _, config) = try Self.fed(capacity: 1000)
        let newest = try #require(feed.recent.entries.last?.sequence)
        let written = WrittenMessages()
        let follower = Task {
            try await ConsoleEvents.stream(ConsoleQuery(since: newest - 3), feed: feed, identity: log.identity, config: config) {
                message in
                await written.add(message)
                if await written.count >= 6 { throw CancellationError() }  // the client leaves
            }
        }
        // Wait (bounded) for the catch-up of the three held events and the stream's greeting.
        let deadline = monotonicNow() + 5_000_000_000
        while await written.count < 4 && monotonicNow() < deadline { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(feed.subscriberCount == 1)
        let later = ConsoleFeed.Entry(sequence: newest + 1, wall: 0, event: .peerAlive(channel: 0))
        feed.appended([later, ConsoleFeed.Entry(sequence: newest + 2, wall: 0, event: .peerAlive(channel: 1))], state: State(me: 2))
        feed.drain()
        await #expect(throws: CancellationError.self) { try await follower.value }
        let messages = await written.messages
        #expect(messages[0...2].map { $0.hasPrefix("id: \(newest - 2)\n") || $0.hasPrefix("id: \(newest - 1)\n") || $0.hasPrefix("id: \(newest)\n") } == [true, true, true])
        #expect(messages[3].hasPrefix(": servha node-b event stream"))
        #expect(messages[4].hasPrefix("id: \(newest + 1)\ndata: {"))
        #expect(messages[5].hasPrefix("id: \(newest + 2)\ndata: {"))
        #expect(feed.subscriberCount == 0, "a client that left holds nothing")
    }

    @Test(arguments: [
        ("127.0.0.1:7480", "127.0.0.1", 7480), ("0.0.0.0:80", "0.0.0.0", 80), ("[::1]:9000", "::1", 9000),
        ("7481", "127.0.0.1", 7481),
    ])
    func listenAddresses(text: String, host: String, port: Int) {
        #expect(HTTPSettings.parseListen(text)?.host == host)
        #expect(HTTPSettings.parseListen(text)?.port == port)
    }

    @Test func theHTTPSectionIsCheckedWithPlaces() throws {
        #expect(try ConfigLoader.parse(minimal(), file: "t").get().http == nil, "off unless configured")
        let on = try ConfigLoader.parse(minimal("http: {}"), file: "t").get().http
        #expect(on?.host == "127.0.0.1" && on?.port == 7480)
        for bad in ["http: { listen: 'nowhere' }", "http: { listen: '1.2.3.4:99999' }", "http: { listen: ':80' }"] {
            let found = problems(minimal(bad))
            #expect(found.count == 1 && found[0].contains("http.listen must be HOST:PORT"), "\(bad): \(found)")
            #expect(found.first?.hasPrefix("test.yaml:") == true)
        }
        #expect(problems(minimal("http: { listen: 127.0.0.1:1, tokens: x }")).contains { $0.contains("tokens") })
    }

    @Test(arguments: ["", "since=0", "limit=10000", "routine=false&since=18446744073709551615"])
    func goodQueries(text: String) throws {
        _ = try ConsoleQuery.parse(text)
    }

    @Test(arguments: ["since=18446744073709551616", "since=%31", "limit=10001", "routine", "since=1\n", "=1"])
    func badQueriesAreRefusedInOneLine(text: String) {
        do {
            _ = try ConsoleQuery.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(!error.description.contains("\n"))
        }
    }
}

private actor WrittenMessages {
    var messages: [String] = []
    var count: Int { messages.count }
    func add(_ message: String) { messages.append(message) }
}

/// The console's files (token, certificate, key) and HTTPS, over a real socket.
@Suite struct ConsoleCredentialTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "servha-console-\(getpid())-\(Int.random(in: 0...999_999))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String, mode: Int = 0o600) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        return path
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func badTokenFilesAreRefusedNamingTheLineAndTheFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func refusal(_ path: String) -> String? {
            do {
                _ = try ConsoleCredentials.load(HTTPSettings(tokenFile: path, tokenFileLocation: "n.yaml:7:16"))
                return nil
            } catch {
                return error.description
            }
        }
        let missing = refusal(directory + "/none")
        #expect(missing?.hasPrefix("n.yaml:7:16: http.token_file: \(directory)/none") == true, "\(missing ?? "")")
        #expect(refusal(write("open", "abcdefghijklmnopqrstuvwxyz", mode: 0o644))?.contains("chmod 600") == true)
        #expect(refusal(write("short", "abc"))?.contains("n.yaml:7:16: http.token_file:") == true)
        #expect(refusal(write("two-words", "abcdefghij klmnopqrstuvwxyz"))?.contains("one word of 16 to 1024 printable ASCII") == true)
        #expect(refusal(write("short", "abc"))?.hasSuffix("(openssl rand -base64 32 > \(directory)/short)") == true)
        let good = try ConsoleCredentials.load(HTTPSettings(tokenFile: write("good", "abcdefghijklmnopqrstuvwxyz\n")))
        #expect(good.token == "abcdefghijklmnopqrstuvwxyz")
        for refused in [missing, refusal(write("open2", "abcdefghijklmnopqrstuvwxyz", mode: 0o644))] {
            #expect(refused?.contains("\n") == false)
        }
    }

    @Test func httpsServesWithTheConfiguredCertificateAndRefusesABadOne() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
        ])
        try #require(made.status == 0, "openssl (Debian openssl; make deps-test installs it): \(made.output)")
        var settings = HTTPSettings(port: 0)
        settings.tls = HTTPSettings.TLSFiles(certificate: directory + "/cert.pem", key: directory + "/key.pem", location: "n.yaml:9:3")
        let credentials = try ConsoleCredentials.load(settings)
        let fed = try ConsoleTests.fed(capacity: 100)
        fed.1.ticked(at: monotonicNow())
        let (log, feed, _, config) = fed
        let server = try await ConsoleServer.start(
            settings: settings,
            credentials: credentials,
            sources: ConsoleServer.Sources(
                feed: feed, config: config, identity: log.identity,
                logCounters: { WriterCounters() }, mirror: { MirrorStatus() }
            ),
            logger: Logger(label: "test")
        )
        let url = "https://127.0.0.1:\(server.port)/healthz"
        let verified = try run(["curl", "-sS", "--max-time", "5", "--cacert", directory + "/cert.pem", url])
        let plain = try run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:\(server.port)/healthz"])
        await server.stop()
        #expect(verified.status == 0 && verified.output == "ok\n", "\(verified)")
        #expect(plain.status != 0 || !plain.output.contains("ok"), "plain HTTP is not served on an HTTPS console: \(plain)")

        settings.tls?.key = write("garbage.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        #expect(throws: ConsoleStartError.self) { try ConsoleCredentials.load(settings) }
        do {
            _ = try ConsoleCredentials.load(settings)
        } catch {
            #expect(error.description.hasPrefix("n.yaml:9:3: http.tls.key: \(directory)/garbage.pem: not a readable PEM private key"))
            #expect(!error.description.contains("\n"))
        }
    }
}
