import Coordinator
import Glibc
import NIOCore
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
/// Receiving is polled by the thread given as `loop`, the node's shell thread in the daemon: a datagram then wakes
/// the thread that acts on it, and no other (an event loop thread of its own cost a second thread switch per
/// datagram, a sixth of an idle daemon's CPU). Nothing on that thread blocks (disk I/O and resource scripts run
/// elsewhere), so a slow disk or agent does not delay a heartbeat. `onDatagram` is called on that thread and
/// must hand the bytes on quickly. Without a `loop`, the transport polls on a thread of its own.
///
/// Both directions use the socket directly, without blocking: `recvfrom` and `sendto` with MSG_DONTWAIT. An
/// error on one datagram (a send refused by a firewall rule, a route gone, an ICMP error reported on the socket)
/// affects that datagram only: receiving goes on, on every channel (`aSendErrorDoesNotStopReceiving` in the tests).
public final class HeartbeatTransport: Sendable {
    public let channels: [ChannelEndpoint]
    public let thisNode: NodeID
    public let peer: NodeID
    private let onDatagram: @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void
    private let onProblem: @Sendable (String) -> Void
    private let state = Mutex(State())
    private let loop: ShellExecutor

    private struct State {
        var phase = Phase.idle
        var slots: [Slot] = []
    }

    private enum Phase { case idle, running, stopped }

    private struct Slot {
        var name: String
        /// The bound socket, for sending and receiving.
        var descriptor: CInt
        var peer: SocketAddress
        var peerText: String
        /// The errno of the last failed send (0: the last send went out), so that a path that is down is
        /// reported once, and again when it comes back, rather than at every heartbeat.
        var sendErrno: CInt = 0
        /// The same for receiving.
        var receiveErrno: CInt = 0
    }

    /// - Parameters:
    ///   - loop: The thread that polls the sockets and calls `onDatagram` (nil: a thread of the transport's own).
    ///   - onProblem: Told, as one line, when sending or receiving on a channel starts or stops failing.
    ///   - onDatagram: Every datagram received, with its channel index and source address (`ip:port`), on the
    ///     `loop` thread.
    init(
        channels: [ChannelEndpoint],
        thisNode: NodeID,
        peer: NodeID,
        loop: ShellExecutor?,
        onProblem: @escaping @Sendable (String) -> Void = { _ in },
        onDatagram: @escaping @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void
    ) {
        self.channels = channels
        self.thisNode = thisNode
        self.peer = peer
        self.loop = loop ?? ShellExecutor(name: "servha hb in")
        self.onProblem = onProblem
        self.onDatagram = onDatagram
    }

    public convenience init(
        channels: [ChannelEndpoint],
        thisNode: NodeID,
        peer: NodeID,
        onProblem: @escaping @Sendable (String) -> Void = { _ in },
        onDatagram: @escaping @Sendable (_ channel: Int, _ bytes: [UInt8], _ source: String) -> Void
    ) {
        self.init(
            channels: channels, thisNode: thisNode, peer: peer, loop: nil, onProblem: onProblem,
            onDatagram: onDatagram
        )
    }

    /// Binds every channel's socket. On failure nothing stays bound, and the error names the channel and the
    /// address ("heartbeat channel lan: cannot bind 192.0.2.1:7400: Address already in use").
    public func start() async throws {
        try state.withLock { state throws(HeartbeatTransportError) in
            guard state.phase == .idle else {
                throw HeartbeatTransportError("heartbeat transport can only be started once")
            }
            state.phase = .running
        }
        var slots: [Slot] = []
        do {
            for endpoint in channels { slots.append(try Self.openSocket(endpoint, thisNode: thisNode, peer: peer)) }
        } catch {
            for slot in slots { close(slot.descriptor) }
            state.withLock { $0.phase = .stopped }
            throw error
        }
        let stoppedMeanwhile = state.withLock { state in
            guard state.phase == .running else { return true }
            state.slots = slots
            return false
        }
        if stoppedMeanwhile {
            for slot in slots { close(slot.descriptor) }
            throw HeartbeatTransportError("heartbeat transport stopped while it was starting")
        }
        for (index, slot) in slots.enumerated() {
            loop.watch(slot.descriptor) { [weak self] in self?.receive(channel: index, descriptor: slot.descriptor) }
        }
    }

    /// Reads what has arrived on one channel (on the loop thread), at most a few dozen datagrams at a time so that
    /// a flood on one channel cannot hold the others and the timers back.
    private func receive(channel index: Int, descriptor: CInt) {
        let scratch = scratch
        for _ in 0..<64 {
            var source = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = scratch.buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &source) { address in
                    address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &length)
                    }
                }
            }
            let code = count < 0 ? errno : 0
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            noteReceive(code, channel: index)
            guard count >= 0 else { return }  // an ICMP error reported on the socket: the next heartbeat tells
            onDatagram(index, Array(scratch.buffer[0..<count]), scratch.text(of: source, channel: index))
        }
    }

    /// Receiving's buffer, and the text of each channel's last source address (the peer's, datagram after datagram).
    private let scratch = ReceiveScratch()

    private func noteReceive(_ code: CInt, channel index: Int) {
        let problem: String? = state.withLock { state in
            guard state.slots.indices.contains(index), state.slots[index].receiveErrno != code else { return nil }
            state.slots[index].receiveErrno = code
            let name = state.slots[index].name
            if code == 0 { return "heartbeat channel \(name): receiving works again" }
            return "heartbeat channel \(name): receive error: \(String(cString: strerror(code)))"
        }
        if let problem { onProblem(problem) }
    }

    /// Sends one datagram to the peer on channel `channel`, without blocking; dropped if it cannot go out now.
    public func send(_ bytes: [UInt8], channel: Int) {
        let problem: String? = state.withLock { state in
            guard state.phase == .running, state.slots.indices.contains(channel) else { return nil }
            let slot = state.slots[channel]
            let code = bytes.withUnsafeBytes { buffer in
                slot.peer.withSockAddr { address, length in
                    let sent = sendto(
                        slot.descriptor,
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

    /// Stops receiving and closes every socket; `onDatagram` is not called after this returns (unless this is
    /// called from `onDatagram` itself).
    public func stop() async {
        let slots = state.withLock { state in
            let taken = state.slots
            state.phase = .stopped
            state.slots = []
            return taken
        }
        for slot in slots { loop.unwatch(slot.descriptor) }
        // Closed under the lock, so that no `send` is using one.
        state.withLock { _ in for slot in slots { close(slot.descriptor) } }
    }

    /// The address a channel's socket is bound to (nil before `start` and after `stop`).
    public func localAddress(channel: Int) -> SocketAddress? {
        state.withLock { state in
            guard state.slots.indices.contains(channel) else { return nil }
            let descriptor = state.slots[channel].descriptor
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let got = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            guard got == 0 else { return nil }
            // Parsed back from its text: the port bound may differ from the configured one (port 0).
            let text = Self.describe(address)
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                return nil
            }
            let host = text[..<colon].filter { $0 != "[" && $0 != "]" }
            return try? SocketAddress(ipAddress: host, port: port)
        }
    }

    // MARK: Sockets

    /// Creates and binds the socket of one channel; the caller owns its descriptor.
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
            descriptor: descriptor,
            peer: remote,
            peerText: hostPort(peerText, endpoint.port)
        )
    }

    /// `ip:port`, with brackets around an IPv6 address.
    static func hostPort(_ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// A received datagram's source as `ip:port`.
    static func describe(_ address: sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = address
        return withUnsafePointer(to: &copy) { pointer in
            switch Int32(address.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                    var ip = inet.pointee.sin_addr
                    inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
                    return hostPort(String(cString: text), UInt16(bigEndian: inet.pointee.sin_port))
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { inet6 in
                    var ip = inet6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
                    return hostPort(String(cString: text), UInt16(bigEndian: inet6.pointee.sin6_port))
                }
            default:
                return "an address of family \(address.ss_family)"
            }
        }
    }
}

/// What receiving reuses from one datagram to the next. Touched only on the loop thread (one `receive` at a time).
/// The source text is kept per channel: the peer sends each channel from another address or port, so one cache
/// for all of them missed on every datagram.
private final class ReceiveScratch: @unchecked Sendable {
    var buffer = [UInt8](repeating: 0, count: 2048)
    private var last: [(source: sockaddr_storage, text: String)?] = []

    func text(of source: sockaddr_storage, channel: Int) -> String {
        if channel >= last.count { last += Array(repeating: nil, count: channel + 1 - last.count) }
        if let entry = last[channel] {
            var (seen, now) = (entry.source, source)
            if memcmp(&seen, &now, MemoryLayout<sockaddr_storage>.size) == 0 { return entry.text }
        }
        let text = HeartbeatTransport.describe(source)
        last[channel] = (source, text)
        return text
    }
}
