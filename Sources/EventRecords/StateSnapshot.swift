import Coordinator
import EventLog

/// A snapshot of the core's whole state: the canonical encoding its digests hash (`State.canonicalEncoding`),
/// and its reading back. Folding the events after a snapshot onto the state it holds gives what folding the whole
/// history gives: the reading is the exact inverse of the encoding (every property, in declaration order), and
/// `StateSnapshotTests` checks it at every step of the recorded incidents.
public enum StateSnapshot {
    public static func encode(_ state: State) -> [UInt8] { state.canonicalEncoding() }

    /// The state in `bytes`, or a `CodecError` naming the field where they stop making sense.
    public static func decode(_ bytes: [UInt8]) throws -> State {
        try bytes.withUnsafeBytes { raw in
            var source = ByteSource(raw)
            var reader = SnapshotReader(source: source)
            let state = try reader.state()
            source = reader.source
            guard source.remaining == 0 else {
                throw CodecError("\(source.remaining) bytes after the state snapshot")
            }
            return state
        }
    }
}

private struct SnapshotReader {
    var source: ByteSource

    mutating func state() throws -> State {
        guard let me = NodeID(exactly: try source.readVarint()) else { throw CodecError("invalid node id") }
        var state = State(me: me)
        if try flag("config present") { state.config = try ClusterConfig.decode(from: &source) }
        state.now = try source.readVarint()
        state.wall = Int64(bitPattern: try source.readVarint())
        state.bootID = try string()
        state.startedAt = try optional()
        state.role = try enumeration(Role.self, "role")
        state.roleSince = try source.readVarint()
        state.epoch = try source.readVarint()
        state.highestEpoch = try source.readVarint()
        (state.adminStandby, state.maintenance, state.yields) = try flags3()
        state.channels = try list(limit: 64) {
            let up = try $0.flags1()
            return ChannelState(up: up, lastHeard: try $0.optional(), lastSequence: try $0.source.readVarint())
        }
        (state.peerDead, state.peerSuspected) = try flags2()
        state.peerView = try Advertisement.decode(from: &source)
        state.peerViewAt = try optional()
        state.peerSlot = try Advertisement.decode(from: &source)
        state.peerSlotAt = try optional()
        state.peerCounter = try optional()
        state.peerCounterChangedAt = try optional()
        state.peerDiskOnlyLeaseUntil = try optional()
        state.diskReadable = try flags1()
        state.peerHealthySince = try optional()
        state.lastRenewal = try optional()
        state.lastDiskOnlyRenewal = try optional()
        state.ownSlotWritable = try flags1()
        switch try source.readByte() {
        case 0: state.arbitratorReachable = nil
        case 1: state.arbitratorReachable = false
        case 2: state.arbitratorReachable = true
        case let byte: throw CodecError("invalid arbitrator state \(byte)")
        }
        state.resources = try list(limit: 64) { try $0.enumeration(ResourceStatus.self, "resource status") }
        state.restartFloor = try optional().map { Int(clamping: $0) }
        state.restartTimes = try list(limit: 64) { try $0.list(limit: 1 << 16) { try $0.source.readVarint() } }
        state.stuck = try flags1()
        state.killFailed = try list(limit: 64) { try $0.flags1() }
        state.unhealthyUntil = try optional()
        (state.fencePending, state.peerFenced) = try flags2()
        state.fenceFailures = Int(clamping: try source.readVarint())
        state.fenceRetryAt = try optional()
        state.stopAttempted = try list(limit: 64) { try $0.flags1() }
        state.claimWrittenAt = try optional()
        state.claimPeerCounter = try optional()
        state.contendedUntil = try optional()
        state.releaseWriteIssued = try flags1()
        state.alarms = try list(limit: 1 << 10) { try $0.alarm() }
        state.pendingNotices = try list(limit: 1 << 10) {
            let alarm = try $0.alarm()
            let raised = try $0.flags1()
            return PendingNotice(alarm: alarm, raised: raised, delivered: try $0.source.readVarint())
        }
        state.inputsRecorded = Int(clamping: try source.readVarint())
        state.armedTimer = try optional()
        if try flag("last failover present") {
            let at = try source.readVarint()
            let wall = Int64(bitPattern: try source.readVarint())
            let kind = try enumeration(DecisionKind.self, "decision kind")
            let epoch = try source.readVarint()
            state.lastFailover = FailoverRecord(at: at, wall: wall, kind: kind, epoch: epoch, reason: try string())
        }
        state.takeovers = Int(clamping: try source.readVarint())
        state.recentAcquisitions = try list(limit: 1 << 16) { try $0.source.readVarint() }
        return state
    }

    mutating func alarm() throws -> Alarm {
        let kind = try enumeration(AlarmKind.self, "alarm kind")
        let severity = try enumeration(AlarmSeverity.self, "alarm severity")
        let message = try string()
        return Alarm(kind: kind, severity: severity, message: message, epoch: try source.readVarint())
    }

    mutating func list<T>(limit: UInt64, _ element: (inout SnapshotReader) throws -> T) throws -> [T] {
        let count = try source.readVarint()
        guard count <= limit, count <= UInt64(source.remaining) else {
            throw CodecError("implausible list length \(count) at byte \(source.position)")
        }
        var out: [T] = []
        out.reserveCapacity(Int(count))
        for _ in 0..<count { out.append(try element(&self)) }
        return out
    }

    mutating func optional() throws -> UInt64? {
        try flag("presence") ? try source.readVarint() : nil
    }

    mutating func flag(_ what: String) throws -> Bool {
        let byte = try source.readByte()
        guard byte <= 1 else { throw CodecError("invalid \(what) byte \(byte) at byte \(source.position - 1)") }
        return byte == 1
    }

    /// `appendFlags` with one, two or three flags.
    mutating func flags(_ count: Int) throws -> [Bool] {
        let byte = try source.readByte()
        guard byte >> UInt8(count) == 0 else { throw CodecError("invalid flags \(byte) at byte \(source.position - 1)") }
        return (0..<count).map { byte & (1 << UInt8($0)) != 0 }
    }

    mutating func flags1() throws -> Bool { try flags(1)[0] }

    mutating func flags2() throws -> (Bool, Bool) {
        let f = try flags(2)
        return (f[0], f[1])
    }

    mutating func flags3() throws -> (Bool, Bool, Bool) {
        let f = try flags(3)
        return (f[0], f[1], f[2])
    }

    mutating func enumeration<T: RawRepresentable>(_: T.Type, _ what: String) throws -> T where T.RawValue == UInt8 {
        let raw = try source.readByte()
        guard let value = T(rawValue: raw) else { throw CodecError("invalid \(what) \(raw)") }
        return value
    }

    mutating func string() throws -> String { try source.readString(maxLength: source.remaining) }
}
