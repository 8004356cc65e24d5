import Coordinator
import EventLog
import EventRecords
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import Replay
import ServiceLifecycle
import Synchronization

/// The read-only console (`http:`): `/` (the live page), `/api/status`, `/api/events`, `/api/events/stream`,
/// `/api/explain`, `/api/timeline.svg`, `/metrics` and `/healthz`. Control stays on the root-only admin socket.
///
/// It never delays the shell: requests are served from the `ConsoleFeed` (copies the shell hands over), on an
/// event loop and a handler thread of its own, both at normal priority while the shell runs at real-time
/// priority.
public final class ConsoleServer: Sendable {
    public struct Sources: Sendable {
        /// What the shell logged, and the metrics drawn from it (`feed.metrics`).
        public var feed: ConsoleFeed
        public var config: DaemonConfig
        public var identity: LogIdentity
        public var logCounters: @Sendable () -> WriterCounters
        public var mirror: @Sendable () -> MirrorStatus

        public init(
            feed: ConsoleFeed,
            config: DaemonConfig,
            identity: LogIdentity,
            logCounters: @escaping @Sendable () -> WriterCounters,
            mirror: @escaping @Sendable () -> MirrorStatus
        ) {
            self.feed = feed
            self.config = config
            self.identity = identity
            self.logCounters = logCounters
            self.mirror = mirror
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let task: Task<Void, Never>
    private let pump: ConsolePump
    /// The port it listens on (the configured one, or the one the kernel chose for port 0).
    public let port: Int

    private let services: ServiceGroup
    private let feed: ConsoleFeed

    private init(
        group: MultiThreadedEventLoopGroup,
        task: Task<Void, Never>,
        services: ServiceGroup,
        feed: ConsoleFeed,
        pump: ConsolePump,
        port: Int
    ) {
        self.services = services
        self.feed = feed
        self.pump = pump
        self.group = group
        self.task = task
        self.port = port
    }

    /// Binds and starts serving. Throws a one-line error naming the configured address when it cannot bind.
    public static func start(
        settings: HTTPSettings,
        credentials: ConsoleCredentials,
        sources: Sources,
        logger: Logger
    ) async throws -> ConsoleServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try? await group.next().submit { RealtimeScheduling.keepNormal() }.get()
        let executor = ConsoleExecutor()
        var consoleLogger = logger
        consoleLogger.logLevel = .warning  // a request is not a log line; failures to serve are
        let (bound, binding) = AsyncStream.makeStream(of: Result<Int, any Error>.self)
        let server: HTTPServerBuilder
        do {
            server = try credentials.tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        } catch {
            throw ConsoleStartError("\(settings.tls?.location ?? "http"): http.tls: \(oneLine(error))")
        }
        let app = Application(
            router: router(token: credentials.token, sources: sources),
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(settings.host, port: settings.port),
                serverName: "servha/\(Daemon.version)"
            ),
            onServerRunning: { channel in binding.yield(.success(channel.localAddress?.port ?? settings.port)) },
            eventLoopGroupProvider: .shared(group),
            logger: consoleLogger
        )
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [], logger: consoleLogger)
        )
        let task = Task {
            do {
                try await withTaskExecutorPreference(executor) { try await services.run() }
                binding.yield(.failure(ConsoleStartError("the server stopped")))
            } catch {
                binding.yield(.failure(error))
            }
        }
        var iterator = bound.makeAsyncIterator()
        switch await iterator.next() ?? .failure(ConsoleStartError("the server did not start")) {
        case .success(let port):
            return ConsoleServer(
                group: group, task: task, services: services, feed: sources.feed, pump: ConsolePump(feed: sources.feed),
                port: port
            )
        case .failure(let error):
            task.cancel()
            try? await group.shutdownGracefully()
            throw ConsoleStartError("http.listen \(settings.host):\(settings.port): cannot serve the console: \(oneLine(error))")
        }
    }

    /// Stops serving: open event streams end, requests in flight are answered (for at most two seconds), then
    /// the sockets close.
    public func stop() async {
        pump.stop()
        feed.endStreams()
        await services.triggerGracefulShutdown()
        let task = task
        let deadline = Task {
            try? await Task.sleep(nanoseconds: 2_000_000_000)
            task.cancel()
        }
        await task.value
        deadline.cancel()
        try? await group.shutdownGracefully()
    }

    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// The console's routes (separate from the server so that tests drive them without a socket).
    public static func router(token: String?, sources: Sources) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: PlainErrors())
        if let token { router.add(middleware: BearerTokenCheck(token: token)) }
        let feed = sources.feed
        let config = sources.config
        router.get("/healthz") { _, _ -> Response in
            if let problem = feed.unhealthy(now: monotonicNow(), tickInterval: config.cluster.heartbeatInterval) {
                return text("unhealthy: \(problem)\n", status: .serviceUnavailable)
            }
            return text("ok\n")
        }
        router.get("/metrics") { _, _ -> Response in
            guard let metrics = feed.metrics else { throw HTTPError(.notFound) }
            let body = metrics.render(
                state: feed.status.state,
                log: sources.logCounters(),
                mirror: sources.mirror(),
                streamClients: feed.subscriberCount,
                now: monotonicNow()
            )
            return text(body, type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/api/status") { _, _ -> Response in
            let status = feed.status
            let json = StatusReport.json(status.state, config: config, rejections: status.rejections, loss: status.loss)
            return text(json + "\n", type: "application/json")
        }
        router.get("/api/events") { request, _ -> Response in
            let query = try parseQuery(request)
            let (entries, truncated) = feed.events(after: query.since, limit: query.limit)
            var body = ""
            for entry in entries where query.routine || !ConsoleEvents.isRoutine(entry.event) {
                body += ConsoleEvents.json(entry, identity: sources.identity, config: config) + "\n"
            }
            var response = text(body, type: "application/x-ndjson")
            // The client asked for events older than the console holds: the log has them (`servha log dump`).
            if truncated { response.headers[HTTPField.Name("X-Servha-Truncated")!] = "true" }
            return response
        }
        router.get("/api/events/stream") { request, _ -> Response in
            var asked = try parseQuery(request)
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(UInt64.init) { asked.since = last }
            let query = asked
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    try await ConsoleEvents.stream(query, feed: feed, identity: sources.identity, config: config) {
                        try await writer.write(ByteBuffer(string: $0))
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/api/explain") { _, _ -> Response in
            text(ConsoleEvents.explanation(feed.lastIncident, identity: sources.identity) + "\n", type: "application/json")
        }
        router.get("/api/timeline.svg") { _, _ -> Response in
            text(ConsoleEvents.timeline(feed.recent, identity: sources.identity), type: "image/svg+xml")
        }
        router.get("/") { _, _ -> Response in
            text(ConsolePage.html(node: config.thisNodeName, cluster: config.cluster.cluster), type: "text/html; charset=utf-8")
        }
        return router
    }

    private static func parseQuery(_ request: Request) throws -> ConsoleQuery {
        do {
            return try ConsoleQuery.parse(request.uri.query ?? "")
        } catch {
            throw HTTPError(.badRequest, message: error.description)
        }
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: type, .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}

/// Drains the feed (`ConsoleFeed.drain`) every 50 ms on a thread of its own at normal priority: what the shell
/// logged reaches the window, the metrics and the streams within that, and never on the shell's time.
final class ConsolePump: Sendable {
    private let running = Atomic<Bool>(true)
    static let interval: useconds_t = 50_000

    init(feed: ConsoleFeed) {
        let thread = Thread { [self] in
            RealtimeScheduling.keepNormal()
            while running.load(ordering: .relaxed) {
                feed.drain()
                usleep(Self.interval)
            }
        }
        thread.name = "servha console pump"
        thread.start()
    }

    func stop() { running.store(false, ordering: .relaxed) }
}

public struct ConsoleStartError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Every refusal as one line of plain text naming what was wrong (Hummingbird's default is a JSON object, or
/// nothing at all for an unknown path).
struct PlainErrors<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let reason =
                error.body
                ?? (error.status == .notFound
                    ? "no such page: \(ConsoleQuery.shown(request.uri.path)); the console serves /, /api/status, /api/events, /api/events/stream, /api/explain, /api/timeline.svg, /metrics and /healthz"
                    : error.status.reasonPhrase)
            return ConsoleServer.text(reason + "\n", status: error.status)
        }
    }
}

/// `Authorization: Bearer TOKEN` on every request but `/healthz` (which load balancers probe without secrets) and
/// the page itself.
/// Compared in constant time; a missing or wrong token is 401 with a one-line reason.
struct BearerTokenCheck<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    /// Served without the token: the health check, and the page, which holds no data (it asks for the token).
    static var open: Set<String> { ["/healthz", "/"] }

    init(token: String) { self.token = Array(token.utf8) }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.open.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            return refuse("no bearer token: send 'Authorization: Bearer TOKEN' (the token is in http.token_file)")
        }
        guard header.hasPrefix("Bearer "), Self.equal(Array(header.utf8.dropFirst(7)), token) else {
            return refuse("wrong bearer token")
        }
        return try await next(request, context)
    }

    private func refuse(_ reason: String) -> Response {
        var response = ConsoleServer.text("\(reason)\n", status: .unauthorized)
        response.headers[.wwwAuthenticate] = "Bearer realm=\"servha\""
        return response
    }

    /// Equal bytes, in a time that depends on the lengths only.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
