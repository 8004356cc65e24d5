import Coordinator
import Crypto
import Runtime

/// The heartbeat harness. Input: one parameter byte, one byte that picks a byte to flip, then a datagram.
///
/// Parameter bits: 1 append a valid HMAC (computed here over the datagram with the cluster key) so that the
/// fuzzer gets past authentication to the field parser; 2-4 the channel it arrived on (0-3, two configured);
/// 8 the peer may have restarted (restart after 1 s of silence, packets stamped 10 s).
/// The authenticator has already accepted one heartbeat (sequence 1000) before each input.
///
/// Invariants: a datagram whose HMAC does not check out is rejected; a rejected one changes no state (replay
/// window, last acceptance); an accepted one comes from the peer, on the channel it arrived on, with a sequence
/// the window then holds; the same datagram again is rejected as a replay; the datagram with any one byte
/// flipped is rejected; sealing the accepted packet again gives a datagram that opens to an equal packet.
enum HeartbeatFuzzCheck {
    static let key: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 5) }
    static let cluster = "fuzz-pair"
    static let thisNode: NodeID = 1
    static let peer: NodeID = 2
    static let stamp: Instant = 10_000_000_000
    static let firstView = Advertisement(
        role: .active,
        epoch: 3,
        owns: true,
        resourcesUp: 1,
        arbitratorReachable: nil,
        acknowledgesPeer: true,
        yields: false,
        healthy: true,
        maintenance: false
    )

    /// The receiving node's authenticator after one accepted heartbeat.
    static func receiver(restarts: Bool) throws(FuzzViolation) -> HeartbeatAuthenticator {
        var receiver = HeartbeatAuthenticator(key: key, cluster: cluster, thisNode: thisNode, peer: peer, channelCount: 2)
        if restarts { receiver.restartAfterSilence = 1_000_000_000 }
        let first = HeartbeatPacket(cluster: cluster, from: peer, channel: 0, sequence: 1000, echo: 7, view: firstView)
        let sealed = receiver.seal(first)
        guard case .accepted = receiver.open(sealed, channel: 0, source: "fuzz", at: restarts ? 1_000 : nil) else {
            throw FuzzViolation("the harness's own first heartbeat is refused")
        }
        return receiver
    }

    static func mac(_ body: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key)))
    }

    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        var parameters = FuzzParameters(input)
        let flags = parameters.byte()
        let flip = Int(parameters.byte())
        var datagram = parameters.rest
        if flags & 1 != 0 { datagram += mac(datagram) }
        let channel = Int((flags >> 1) & 3)
        let restarts = flags & 8 != 0
        let at: Instant? = restarts ? stamp : nil

        let authentic =
            datagram.count >= 32 && mac(Array(datagram[..<(datagram.count - 32)])) == Array(datagram.suffix(32))
        var receiver = try receiver(restarts: restarts)
        let before = (receiver.window, receiver.lastAccepted)
        let verdict = receiver.open(datagram, channel: channel, source: "fuzz", at: at)
        switch verdict {
        case .rejected(let rejection):
            try require(
                receiver.window == before.0 && receiver.lastAccepted == before.1,
                "a rejected heartbeat changed the authenticator's state (\(rejection.reason))"
            )
            try require(!rejection.reason.contains("\n"), "heartbeat rejection is not one line: \(rejection.reason)")
            return .rejected(rejection.reason)
        case .accepted(let packet):
            try require(authentic, "a heartbeat with a wrong HMAC was accepted")
            try require(packet.from == peer, "accepted a heartbeat from node \(packet.from), not the peer")
            try require(Int(packet.channel) == channel, "accepted channel \(packet.channel) on channel \(channel)")
            try require(packet.cluster == cluster, "accepted packet names cluster \(packet.cluster)")
            try require(
                !receiver.window.admits(packet.sequence),
                "the window still admits accepted sequence \(packet.sequence)"
            )
            try Self.requireRefusedUnchanged(
                &receiver, datagram, channel: channel, at: at,
                accepted: "the same heartbeat (sequence \(packet.sequence)) was accepted twice",
                changed: "a replayed heartbeat changed the authenticator's state"
            )

            var flipped = datagram
            flipped[flip % flipped.count] ^= 0x01 << (flip / flipped.count % 8)
            var fresh = try Self.receiver(restarts: restarts)
            try Self.requireRefusedUnchanged(
                &fresh, flipped, channel: channel, at: at,
                accepted: "a heartbeat with byte \(flip % flipped.count) flipped was accepted",
                changed: "a heartbeat with a flipped byte changed the authenticator's state"
            )

            var other = try Self.receiver(restarts: restarts)
            let resealed = other.seal(packet)
            guard case .accepted(let reopened) = other.open(resealed, channel: channel, source: "fuzz", at: at) else {
                throw FuzzViolation("an accepted heartbeat, sealed again, is refused")
            }
            try require(reopened == packet, "an accepted heartbeat, sealed again, opens to another packet")
            return .accepted
        }
    }

    /// `datagram` is refused, and refusing it changed nothing the authenticator keeps (window, last acceptance).
    static func requireRefusedUnchanged(
        _ receiver: inout HeartbeatAuthenticator,
        _ datagram: [UInt8],
        channel: Int,
        at: Instant?,
        accepted: String,
        changed: String
    ) throws(FuzzViolation) {
        let before = (receiver.window, receiver.lastAccepted)
        guard case .rejected = receiver.open(datagram, channel: channel, source: "fuzz", at: at) else {
            throw FuzzViolation(accepted)
        }
        try require(receiver.window == before.0 && receiver.lastAccepted == before.1, changed)
    }
}
