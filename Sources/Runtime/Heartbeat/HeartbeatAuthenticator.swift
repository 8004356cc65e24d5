import Coordinator
import EventRecords
import Crypto
import EventLog
import Foundation
import Glibc

/// A key file that cannot be used, as one line naming the file.
public struct HeartbeatKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "key file \(path): \(problem)" }
}

/// Seals this node's heartbeats and opens the peer's: HMAC-SHA256 with the shared cluster key, then the cluster,
/// the sender, the channel and a replay window. Only what `open` accepts may reach the core; everything else comes
/// back as a one-line `RejectedInput` for the log.
///
/// Nothing of a packet but its length, magic and version is looked at before its HMAC checks out, so a forged
/// packet can neither move the replay window nor pick its own rejection reason beyond "truncated" and "bad HMAC".
public struct HeartbeatAuthenticator: Sendable {
    /// The shortest key accepted: the HMAC-SHA256 output size, below which the key is the weakest link.
    public static let minimumKeyLength = 32
    /// Longer files are not key files (a certificate bundle, a log picked by mistake).
    public static let maximumKeyLength = 4096

    public enum Verdict: Sendable, Hashable {
        case accepted(HeartbeatPacket)
        case rejected(RejectedInput)
    }

    /// HMAC-SHA256 already keyed: each packet's MAC starts from a copy of it (copy on write) instead of deriving
    /// the inner and outer keys again, which cost two SHA-256 blocks and a fifth of a packet's handling.
    private let keyed: KeyedMAC
    public let cluster: String
    private let clusterID: [UInt8]
    public let thisNode: NodeID
    public let peer: NodeID
    public let channelCount: Int
    /// The peer's sequences seen so far (the only sender whose heartbeats are accepted).
    public private(set) var window = ReplayWindow()
    /// When the last packet was accepted (on this node's monotonic clock), for telling a restarted peer from a
    /// replay.
    public private(set) var lastAccepted: Instant?
    /// After this much silence from the peer, an authentic packet whose sequence is behind the window starts the
    /// window afresh: the peer restarted with a new boot nonce (its sequences are not from the clock). nil: never.
    public var restartAfterSilence: Nanos?

    /// - Precondition: `key` is at least 32 bytes (`loadKey(path:)` checks it).
    public init(key: [UInt8], cluster: String, thisNode: NodeID, peer: NodeID, channelCount: Int) {
        precondition(key.count >= Self.minimumKeyLength, "heartbeat key shorter than \(Self.minimumKeyLength) bytes")
        self.keyed = KeyedMAC(key: key)
        self.cluster = cluster
        self.clusterID = HeartbeatPacket.clusterID(cluster)
        self.thisNode = thisNode
        self.peer = peer
        self.channelCount = channelCount
    }

    /// The packet's bytes, HMAC included. The cluster id comes from `packet.cluster`.
    public func seal(_ packet: HeartbeatPacket) -> [UInt8] {
        // The cluster's id is a hash of its name: computed once, not for every packet.
        var bytes = packet.encodeBody(clusterID: packet.cluster == cluster ? clusterID : nil)
        let code = bytes.withUnsafeBytes { keyed.code(for: $0) }
        code.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Checks a datagram that arrived on channel `channel` from `source` (an address, for the rejection record).
    /// An accepted packet advances the replay window; a rejected one changes nothing.
    public mutating func open(_ bytes: [UInt8], channel: Int, source: String, at: Instant? = nil) -> Verdict {
        func reject(_ reason: String) -> Verdict { .rejected(RejectedInput(reason: reason, source: source)) }
        let count = bytes.count
        var truncated: String { "truncated packet (\(count) bytes)" }
        guard count >= 3 else { return reject(truncated) }
        guard bytes[0] == HeartbeatPacket.magic[0], bytes[1] == HeartbeatPacket.magic[1] else {
            return reject("not a servha heartbeat (bad magic)")
        }
        let version = bytes[2]
        if version > HeartbeatPacket.version {
            return reject(
                "heartbeat format version \(version) is newer than this servha reads (\(HeartbeatPacket.version))"
            )
        }
        if version < HeartbeatPacket.version {
            return reject("heartbeat format version \(version) was never written by any servha")
        }
        guard count >= HeartbeatPacket.minimumLength else { return reject(truncated) }

        let macStart = count - HeartbeatPacket.macLength
        let authentic = bytes.withUnsafeBytes { raw in
            keyed.code(for: UnsafeRawBufferPointer(rebasing: raw[..<macStart]))
                .matches(UnsafeRawBufferPointer(rebasing: raw[macStart...]))
        }
        guard authentic else {
            return reject(Self.fieldsOverrun(bytes) ? truncated : "bad HMAC (wrong key or forged)")
        }

        // From here on the packet was sealed with our key: its fields can be believed.
        guard bytes[HeartbeatPacket.magic.count + 1..<HeartbeatPacket.headerLength].elementsEqual(clusterID) else {
            return reject("heartbeat from another cluster")
        }
        let decoded: Result<(HeartbeatPacket.Fields, Int), any Error> = bytes.withUnsafeBytes { raw in
            var source = ByteSource(
                UnsafeRawBufferPointer(rebasing: raw[..<macStart]),
                position: HeartbeatPacket.headerLength
            )
            return Result { (try HeartbeatPacket.decodeFields(from: &source), source.position) }
        }
        let fields: HeartbeatPacket.Fields
        switch decoded {
        case .failure(let error as CodecError): return reject("malformed heartbeat: \(error.reason)")
        case .failure: return reject("malformed heartbeat: fields run into the HMAC")
        case .success(let (decodedFields, end)):
            // Only a sender with the key and a bug gets here: a forger cannot make the HMAC match.
            guard end == macStart else {
                return reject("malformed heartbeat: \(macStart - end) bytes after the fields")
            }
            fields = decodedFields
        }
        guard fields.from == UInt64(peer) else {
            if fields.from == UInt64(thisNode) {
                return reject("heartbeat from this node's own id \(thisNode) (looped back, or both nodes use that id)")
            }
            return reject("heartbeat from unknown node \(fields.from)")
        }
        guard Int(fields.channel) == channel, channel < channelCount else {
            return reject("heartbeat claims channel \(fields.channel) but arrived on channel \(channel)")
        }
        if !window.admits(fields.sequence) {
            guard let at, let quiet = restartAfterSilence, let last = lastAccepted, at >= last + quiet else {
                return reject("replayed heartbeat (sequence \(fields.sequence), newest seen \(window.newest))")
            }
            window = ReplayWindow()  // the peer was silent long enough to have restarted: a new sequence
        }
        window.record(fields.sequence)
        if let at { lastAccepted = max(lastAccepted ?? at, at) }
        return .accepted(
            HeartbeatPacket(
                cluster: cluster,
                from: peer,
                channel: fields.channel,
                sequence: fields.sequence,
                echo: fields.echo,
                view: fields.view
            )
        )
    }

    /// Whether a packet that failed its HMAC is too short for its own fields and an HMAC: a truncated packet
    /// (a short receive buffer, a broken sender) rather than a forged or mis-keyed one. Decided from the packet's
    /// framing alone, never from the key, so that the reason is no oracle for the HMAC of chosen bytes. A bit
    /// flipped into a varint's continuation bit lengthens the framing too, and is reported as truncated.
    static func fieldsOverrun(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var source = ByteSource(raw, position: HeartbeatPacket.headerLength)
            do {
                _ = try HeartbeatPacket.decodeFields(from: &source)
                return source.position + HeartbeatPacket.macLength > raw.count
            } catch let underflow as ByteSource.Underflow {
                return underflow.position >= raw.count
            } catch {
                return false
            }
        }
    }

    /// Reads the cluster key from `path`: a regular file of 32 to 4096 bytes (used as they are, so a random binary
    /// key and a long text passphrase both work) that only its owner can access.
    public static func loadKey(path: String) throws(HeartbeatKeyError) -> [UInt8] {
        func fail(_ problem: String) -> HeartbeatKeyError { HeartbeatKeyError(path: path, problem: problem) }
        let key: [UInt8]
        switch readOwnerOnly(path: path, limit: maximumKeyLength) {
        case .success(let bytes): key = bytes
        case .failure(let problem): throw fail(problem.description)
        }
        guard key.count >= minimumKeyLength else {
            throw fail(
                "\(key.count) bytes, a key needs at least \(minimumKeyLength) (head -c 32 /dev/urandom > \(path))"
            )
        }
        guard key.count <= maximumKeyLength else { throw fail("more than \(maximumKeyLength) bytes: not a key file") }
        return key
    }
}

/// What is wrong with a file that should hold a secret, in a few words ("does not exist", "must not be readable
/// by group or others (chmod 600)").
public struct SecretFileProblem: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Reads a secret (a key, a token) from a regular file that only its owner can access: up to `limit` bytes and
/// one more, so that the caller can tell a file that is too long.
public func readOwnerOnly(path: String, limit: Int) -> Result<[UInt8], SecretFileProblem> {
    func fail(_ problem: String) -> Result<[UInt8], SecretFileProblem> { .failure(SecretFileProblem(description: problem)) }
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT { return fail("does not exist") }
        return fail("cannot read: \(String(cString: strerror(code)))")
    }
    defer { close(fd) }
    // The checks use the opened file, not the path again, so that a swap between check and read changes nothing.
    var info = stat()
    guard fstat(fd, &info) == 0 else { return fail("cannot stat: \(String(cString: strerror(errno)))") }
    guard info.st_mode & S_IFMT == S_IFREG else { return fail("not a regular file") }
    guard info.st_mode & 0o077 == 0 else { return fail("must not be readable by group or others (chmod 600)") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1024)
    while bytes.count <= limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            return fail("cannot read: \(String(cString: strerror(errno)))")
        }
        bytes.append(contentsOf: chunk[..<n])
    }
    return .success(bytes)
}

/// The sequences already accepted from one sender, as in IPsec: the newest, and a bitmap of the 64 sequences up
/// to it. Heartbeats sent on two channels can arrive out of order, so an older sequence not yet seen is still
/// accepted as long as it is within the window; one 64 or more behind the newest is refused, seen or not.
public struct ReplayWindow: Sendable, Hashable {
    public static let size: UInt64 = 64

    public private(set) var newest: UInt64 = 0
    /// Bit i set: sequence `newest - i` was accepted. Bit 0 starts set so that sequence 0 (never sent) is refused.
    private var seen: UInt64 = 1

    public init() {}

    public func admits(_ sequence: UInt64) -> Bool {
        if sequence > newest { return true }
        let behind = newest - sequence
        return behind < Self.size && seen & (1 << behind) == 0
    }

    public mutating func record(_ sequence: UInt64) {
        if sequence > newest {
            let ahead = sequence - newest
            seen = ahead >= Self.size ? 1 : seen << ahead | 1
            newest = sequence
        } else {
            seen |= 1 << (newest - sequence)
        }
    }
}

/// Counts rejected packets by reason and keeps their records to at most one a second per reason, so that a flood
/// of junk (or an attacker) cannot fill the log. The counts are what `status` shows.
///
/// Reasons are grouped with their numbers replaced by N ("truncated packet (N bytes)"): a replay flood carries a
/// new sequence in every reason, and must not get a record, or a counter, per packet.
public struct RejectionCounter: Sendable {
    public static let recordInterval: Nanos = 1_000_000_000
    /// Reasons beyond this many are counted together (they come from a fixed list, so this is a safety net).
    public static let maximumReasons = 32
    static let otherReason = "other"

    private struct Entry {
        var count = 0
        var lastRecorded: Instant?
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// Counts one rejection for `reason` and tells whether to record it: true for the first one of its kind, and
    /// then for at most one a second (`now`: the monotonic clock in nanoseconds).
    public mutating func shouldRecord(reason: String, at now: Instant) -> Bool {
        var kind = Self.kind(of: reason)
        if entries[kind] == nil && entries.count >= Self.maximumReasons { kind = Self.otherReason }
        var entry = entries[kind, default: Entry()]
        entry.count += 1
        var record = true
        if let last = entry.lastRecorded {
            record = now >= last && now - last >= Self.recordInterval
        }
        if record { entry.lastRecorded = now }
        entries[kind] = entry
        return record
    }

    /// Every reason seen so far (with numbers as N) and how many times, sorted by reason.
    public var counts: [(reason: String, count: Int)] {
        entries.map { (reason: $0.key, count: $0.value.count) }.sorted { $0.reason < $1.reason }
    }

    /// `reason` with every run of digits replaced by N.
    static func kind(of reason: String) -> String {
        var out = ""
        var inNumber = false
        for character in reason {
            if character.isASCII && character.isNumber {
                if !inNumber { out.append("N") }
                inNumber = true
            } else {
                out.append(character)
                inNumber = false
            }
        }
        return out
    }
}

/// HMAC-SHA256 (RFC 2104) keyed once: the hash states after the key's inner and outer pads are kept, and each
/// code starts from copies of them. Written on `SHA256` rather than with `HMAC<SHA256>`, whose generic `update`
/// cost more than the hashing itself at a hundred packets a second each way (`aSealIsTheStandardHMAC` checks it
/// against `HMAC<SHA256>`). Sendable by hand: a copy shares a hash state until it is updated, then copies it
/// (swift-crypto's digests are copy on write), so copies never write to shared state.
struct KeyedMAC: @unchecked Sendable {
    private let inner: SHA256
    private let outer: SHA256

    init(key: [UInt8]) {
        let blockSize = SHA256.blockByteCount
        var block = key.count > blockSize ? Array(SHA256.hash(data: key)) : key
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        var inner = SHA256()
        var outer = SHA256()
        block.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update(bufferPointer: $0) }
        block.map { $0 ^ 0x5C }.withUnsafeBytes { outer.update(bufferPointer: $0) }
        (self.inner, self.outer) = (inner, outer)
    }

    func code(for bytes: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hash = inner
        hash.update(bufferPointer: bytes)
        let innerDigest = hash.finalize()
        var mac = outer
        innerDigest.withUnsafeBytes { mac.update(bufferPointer: $0) }
        return mac.finalize()
    }
}

extension SHA256.Digest {
    /// Whether `bytes` are this digest, compared in constant time (every byte looked at, whatever differs).
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == SHA256.byteCount else { return false }
        return withUnsafeBytes { mine in
            var difference: UInt8 = 0
            for index in 0..<SHA256.byteCount { difference |= mine[index] ^ bytes[index] }
            return difference == 0
        }
    }
}

