import Coordinator
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// Why the heartbeat transport could not start, as one line naming the channel.
public struct HeartbeatTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The network heartbeat channels: one UDP socket per channel, bound to this node's address and the channel's
/// port, sending to the peer's address and the same port.
///
/// Receiving runs on an event loop thread of its own, so that nothing else the daemon does (a slow disk, a
/// resource script) delays a heartbeat; `onDatagram` is called on that thread and must hand the bytes on quickly.
///
/// Sending does not go through SwiftNIO's write path: a datagram channel that hits a send error other than
/// EMSGSIZE or EHOSTUNREACH (ENETUNREACH when a route goes away, EPERM from a firewall rule, EINVAL) closes
/// itself, and would stop receiving on that channel for good: one path failing one way would silence it both
/// ways (`aSendErrorDoesNotStopReceiving` in the tests covers this). Instead each socket
/// is created here and handed to SwiftNIO for receiving, and a duplicate descriptor of it sends with
/// `sendto(MSG_DONTWAIT)` from the caller's thread: it never blocks, a failure drops that one datagram, and the
/// source address and port are the channel's own.
public final class HeartbeatTransport: Sendable {
    public let channels: [ChannelEndpoint]
    public let thisNode: NodeID
    public let peer: NodeID
    private let onDatagram: @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void
    private let onProblem: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// How long to wait before registering a socket again after SwiftNIO closed it (a fatal receive error).
    static let reopenDelay = TimeAmount.seconds(1)

    private struct State {
        var phase = Phase.idle
        var group: MultiThreadedEventLoopGroup?
        var slots: [Slot] = []
    }

    private enum Phase { case idle, running, stopped }

    private struct Slot {
        var name: String
        /// The bound socket, kept for sending and for registering again; SwiftNIO receives on a duplicate of it.
        var sendDescriptor: CInt
        var peer: SocketAddress
        var peerText: String
        /// Nil while the socket is being registered again.
        var receiver: (any Channel)?
        /// The errno of the last failed send (0: the last send went out), so that a path that is down is
        /// reported once, and again when it comes back, rather than at every heartbeat.
        var sendErrno: CInt = 0
    }

    /// - Parameters:
    ///   - onProblem: Told, as one line, when sending on a channel starts or stops failing and when a receiving
    ///     socket had to be registered again.
    ///   - onDatagram: Every datagram received, with its channel index and source address (`ip:port`), on the
    ///     transport's event loop thread.
    public init(
        channels: [ChannelEndpoint],
        thisNode: NodeID,
        peer: NodeID,
        onProblem: @escaping @Sendable (String) -> Void = { _ in },
        onDatagram: @escaping @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void
    ) {
        self.channels = channels
        self.thisNode = thisNode
        self.peer = peer
        self.onProblem = onProblem
        self.onDatagram = onDatagram
    }

    /// Binds every channel's socket. On failure nothing stays bound, and the error names the channel and the
    /// address ("heartbeat channel lan: cannot bind 192.0.2.1:7400: Address already in use").
    public func start() async throws {
        let group = try state.withLock { state throws(HeartbeatTransportError) -> MultiThreadedEventLoopGroup in
            guard state.phase == .idle else {
                throw HeartbeatTransportError("heartbeat transport can only be started once")
            }
            state.phase = .running
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            state.group = group
            return group
        }
        var slots: [Slot] = []
        do {
            for (index, endpoint) in channels.enumerated() {
                var slot = try Self.openSocket(endpoint, thisNode: thisNode, peer: peer)
                slots.append(slot)
                let receiver = try await register(channel: index, duplicate: dup(slot.sendDescriptor), group: group)
                slot.receiver = receiver
                slots[index] = slot
                watch(receiver, channel: index)
            }
        } catch {
            for slot in slots {
                try? await slot.receiver?.close()
                close(slot.sendDescriptor)
            }
            state.withLock { state in
                state.phase = .stopped
                state.group = nil
            }
            try? await group.shutdownGracefully()
            throw error
        }
        let stoppedMeanwhile = state.withLock { state in
            guard state.phase == .running else { return true }
            state.slots = slots
            return false
        }
        if stoppedMeanwhile {
            for slot in slots {
                try? await slot.receiver?.close()
                close(slot.sendDescriptor)
            }
            throw HeartbeatTransportError("heartbeat transport stopped while it was starting")
        }
    }

    /// Sends one datagram to the peer on channel `channel`, without blocking; dropped if it cannot go out now.
    public func send(_ bytes: [UInt8], channel: Int) {
        let problem: String? = state.withLock { state in
            guard state.phase == .running, state.slots.indices.contains(channel) else { return nil }
            let slot = state.slots[channel]
            let code = bytes.withUnsafeBytes { buffer in
                slot.peer.withSockAddr { address, length in
                    let sent = sendto(
                        slot.sendDescriptor,
                        buffer.baseAddress,
                        buffer.count,
                        Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL),
                        address,
                        socklen_t(length)
                    )
                    return sent < 0 ? errno : 0
                }
            }
            // A full socket buffer is a momentary condition, not a path going down: not worth a report.
            guard code != EAGAIN, code != EWOULDBLOCK, code != state.slots[channel].sendErrno else { return nil }
            state.slots[channel].sendErrno = code
            if code == 0 { return "heartbeat channel \(slot.name): sending to \(slot.peerText) works again" }
            return "heartbeat channel \(slot.name): cannot send to \(slot.peerText): \(String(cString: strerror(code)))"
        }
        if let problem { onProblem(problem) }
    }

    /// Closes every socket and stops the event loop thread; `onDatagram` is not called after this returns.
    public func stop() async {
        let (slots, group) = state.withLock { state in
            let taken = (state.slots, state.group)
            state.phase = .stopped
            state.slots = []
            state.group = nil
            // Closed under the lock, so that no `send` is using one.
            for slot in taken.0 { close(slot.sendDescriptor) }
            return taken
        }
        for slot in slots { try? await slot.receiver?.close() }
        try? await group?.shutdownGracefully()
    }

    /// The address a channel's socket is bound to (nil before `start`, after `stop`, or while registering again).
    public func localAddress(channel: Int) -> SocketAddress? {
        state.withLock { $0.slots.indices.contains(channel) ? $0.slots[channel].receiver?.localAddress : nil }
    }

    /// The receiving channel, for tests that simulate SwiftNIO closing it.
    func receiver(channel: Int) -> (any Channel)? {
        state.withLock { $0.slots.indices.contains(channel) ? $0.slots[channel].receiver : nil }
    }

    // MARK: Sockets

    /// Creates and binds the socket of one channel; the caller owns `sendDescriptor`.
    private static func openSocket(_ endpoint: ChannelEndpoint, thisNode: NodeID, peer: NodeID) throws -> Slot {
        func fail(_ problem: String) -> HeartbeatTransportError {
            HeartbeatTransportError("heartbeat channel \(endpoint.name): \(problem)")
        }
        guard let localText = endpoint.addresses[thisNode] else { throw fail("no address for this node (\(thisNode))") }
        guard let peerText = endpoint.addresses[peer] else { throw fail("no address for the peer (\(peer))") }
        let localShown = hostPort(localText, endpoint.port)
        guard let local = try? SocketAddress(ipAddress: localText, port: Int(endpoint.port)) else {
            throw fail("cannot bind \(localShown): not an IP address")
        }
        guard let remote = try? SocketAddress(ipAddress: peerText, port: Int(endpoint.port)) else {
            throw fail("peer address \(peerText) is not an IP address")
        }
        guard local.protocol == remote.protocol else {
            throw fail("this node's address \(localText) and the peer's \(peerText) are not both IPv4 or both IPv6")
        }
        let descriptor = socket(local.protocol.rawValue, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw fail("cannot create a socket: \(String(cString: strerror(errno)))") }
        let bound = local.withSockAddr { address, length in bind(descriptor, address, socklen_t(length)) }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw fail("cannot bind \(localShown): \(String(cString: strerror(code)))")
        }
        return Slot(
            name: endpoint.name,
            sendDescriptor: descriptor,
            peer: remote,
            peerText: hostPort(peerText, endpoint.port)
        )
    }

    /// Hands `duplicate` (a duplicate of a channel's socket) to SwiftNIO for receiving; SwiftNIO owns it from here.
    private func register(
        channel index: Int,
        duplicate: CInt,
        group: MultiThreadedEventLoopGroup
    ) async throws -> any Channel {
        let name = channels[index].name
        guard duplicate >= 0 else {
            throw HeartbeatTransportError(
                "heartbeat channel \(name): cannot duplicate its socket: \(String(cString: strerror(errno)))"
            )
        }
        let onDatagram = onDatagram
        let bootstrap = DatagramBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Receiver(channel: index, deliver: onDatagram))
            }
        }
        do {
            return try await bootstrap.withBoundSocket(duplicate).get()
        } catch {
            throw HeartbeatTransportError("heartbeat channel \(name): cannot receive: \(error)")
        }
    }

    /// Registers the socket again if SwiftNIO closes it while the transport runs.
    private func watch(_ receiver: any Channel, channel index: Int) {
        receiver.closeFuture.whenComplete { _ in
            let lost = self.state.withLock { state in
                guard state.phase == .running, state.slots.indices.contains(index),
                    let current = state.slots[index].receiver, current === receiver
                else { return false }
                state.slots[index].receiver = nil
                self.scheduleReopen(channel: index, state: state)
                return true
            }
            guard lost else { return }
            self.onProblem(
                "heartbeat channel \(self.channels[index].name): receiving stopped; registering its socket again"
            )
        }
    }

    /// Called under the lock, so that `stop` cannot shut the event loop down in between.
    private func scheduleReopen(channel index: Int, state: borrowing State) {
        guard state.phase == .running, let group = state.group else { return }
        group.next().scheduleTask(in: Self.reopenDelay) {
            Task { await self.reopen(channel: index, group: group) }
        }
    }

    private func reopen(channel index: Int, group: MultiThreadedEventLoopGroup) async {
        // Duplicated under the lock: `stop` closes the socket under it, and its number could then be reused.
        let duplicate: CInt? = state.withLock { state in
            guard state.phase == .running, state.slots.indices.contains(index) else { return nil }
            return dup(state.slots[index].sendDescriptor)
        }
        guard let duplicate else { return }
        do {
            let receiver = try await register(channel: index, duplicate: duplicate, group: group)
            let kept = state.withLock { state in
                guard state.phase == .running, state.slots[index].receiver == nil else { return false }
                state.slots[index].receiver = receiver
                return true
            }
            guard kept else {
                try? await receiver.close()
                return
            }
            watch(receiver, channel: index)
            onProblem("heartbeat channel \(channels[index].name): receiving again")
        } catch {
            let retrying = state.withLock { state in
                scheduleReopen(channel: index, state: state)
                return state.phase == .running
            }
            if retrying { onProblem("\(error); retrying") }
        }
    }

    /// `ip:port`, with brackets around an IPv6 address.
    static func hostPort(_ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return hostPort(ip, UInt16(clamping: port))
    }
}

/// Passes each datagram of one channel on, as bytes and a source address.
private final class Receiver: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let channel: Int
    let deliver: @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void

    init(channel: Int, deliver: @escaping @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void) {
        self.channel = channel
        self.deliver = deliver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        deliver(channel, Array(envelope.data.readableBytesView), HeartbeatTransport.describe(envelope.remoteAddress))
    }

    /// Non-fatal receive errors (an ICMP error reported on the socket) are nothing to act on: the next heartbeat
    /// tells. Fatal ones close the channel, and the transport registers the socket again.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}
