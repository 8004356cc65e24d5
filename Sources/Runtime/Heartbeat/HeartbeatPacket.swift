import Coordinator
import EventRecords
import Crypto
import EventLog
import Foundation

/// One heartbeat as it travels over a network channel.
///
/// Wire format, version 1 (little-endian, LEB128 varints):
///
///     magic      2 bytes   "SH"
///     version    1 byte    1
///     cluster    8 bytes   the first 8 bytes of SHA-256 of the cluster name
///     from       varint    the sender's node id
///     channel    1 byte    the channel index the sender sent it on
///     sequence   varint    global per sender across channels, strictly increasing
///     echo       varint    the newest sequence the sender received from its peer on any channel (0: none)
///     view       ...       the sender's Advertisement (Advertisement.encode(into:))
///     hmac       32 bytes  HMAC-SHA256 over everything before it
///
/// A heartbeat is 51 bytes at the least; a typical one, with sequences started from the wall clock in microseconds
/// (8-byte varints), is 65 bytes, 93 with the IPv4 and UDP headers. `HeartbeatAuthenticator` seals and opens them.
public struct HeartbeatPacket: Sendable, Hashable {
    /// "SH": tells a servha heartbeat from anything else that reaches the port.
    public static let magic: [UInt8] = [0x53, 0x48]
    /// Raised on any change a version 1 reader would misread.
    public static let version: UInt8 = 1
    public static let clusterIDLength = 8
    public static let macLength = 32
    /// Magic, version and cluster id: the fixed part before the varints.
    public static let headerLength = 2 + 1 + clusterIDLength
    /// The shortest packet the format allows: one-byte varints and the shortest advertisement (4 bytes).
    public static let minimumLength = headerLength + 1 + 1 + 1 + 1 + 4 + macLength

    /// The cluster name. Not sent: only its id is, and the receiver fills in its own name on acceptance.
    public var cluster: String
    public var from: NodeID
    public var channel: UInt8
    /// Strictly increasing for the sender across channels, from a random boot nonce (`NodeDriver.sequenceStart`):
    /// a restarted sender may start below its old sequences, and the receiver starts its replay window afresh
    /// once the sender has been silent for a while (`HeartbeatAuthenticator.restartAfterSilence`).
    public var sequence: UInt64
    /// The newest sequence the sender received from its peer on any channel (0: none yet).
    public var echo: UInt64
    public var view: Advertisement

    public init(cluster: String, from: NodeID, channel: UInt8, sequence: UInt64, echo: UInt64, view: Advertisement) {
        self.cluster = cluster
        self.from = from
        self.channel = channel
        self.sequence = sequence
        self.echo = echo
        self.view = view
    }

    /// The cluster id sent in every heartbeat, so that two clusters sharing a network (and, by mistake, a key)
    /// never take each other's heartbeats.
    public static func clusterID(_ cluster: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(cluster.utf8)).prefix(clusterIDLength))
    }

    /// Everything the HMAC covers: header and fields. `clusterID`: the id of `cluster`, when the caller has it.
    func encodeBody(clusterID: [UInt8]? = nil) -> [UInt8] {
        var out = ByteSink(capacity: 40)
        out.append(contentsOf: Self.magic)
        out.append(Self.version)
        out.append(contentsOf: clusterID ?? Self.clusterID(cluster))
        out.appendVarint(UInt64(from))
        out.append(channel)
        out.appendVarint(sequence)
        out.appendVarint(echo)
        view.encode(into: &out)
        return out.bytes
    }

    /// The fields after the header, as decoded from `source` (positioned at `headerLength`).
    struct Fields {
        var from: UInt64
        var channel: UInt8
        var sequence: UInt64
        var echo: UInt64
        var view: Advertisement
    }

    /// Decodes the fields after the header. Throws `ByteSource.Underflow` when the bytes run out or a varint is
    /// too long, `CodecError` for a value no sender writes.
    static func decodeFields(from source: inout ByteSource) throws -> Fields {
        let from = try source.readVarint()
        let channel = try source.readByte()
        let sequence = try source.readVarint()
        let echo = try source.readVarint()
        let view = try Advertisement.decode(from: &source)
        return Fields(from: from, channel: channel, sequence: sequence, echo: echo, view: view)
    }
}
