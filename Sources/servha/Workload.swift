import EventLog

/// A synthetic log of what a node records in steady state: 90 % heartbeats received (two UDP channels, every
/// 50 ms each, with up to 100 µs of arrival jitter) and 10 % larger records (disk-slot readings, monitor
/// results, decisions with their reasons). Payload shapes follow what the coordinator records.
struct HeartbeatMix {
    static let heartbeatType: UInt16 = 1
    private var rng: SplitMix64
    private var monotonic: UInt64 = 1_000_000_000_000
    private var wallOffset: Int64 = 1_790_000_000_000_000_000 - 1_000_000_000_000
    private var peerSequence: UInt64 = 100_000
    private var channel: UInt8 = 0
    private var count = 0
    let node: UInt16

    init(seed: UInt64, node: UInt16 = 1) {
        rng = SplitMix64(seed: seed)
        self.node = node
    }

    mutating func next() -> RecordDraft {
        count += 1
        let isHeartbeat = rng.next() % 10 != 0
        // Two channels every 50 ms: a record every 25 ms on average, arrival jitter up to 100 µs.
        monotonic += 25_000_000 + rng.next() % 100_000
        if count % 100_000 == 0 { wallOffset += Int64(rng.next() % 2000) - 1000 }  // NTP slew, rarely
        let wall = Int64(bitPattern: monotonic) + wallOffset
        if isHeartbeat {
            channel ^= 1
            if channel == 0 { peerSequence += 1 }
            var payload = ByteSink(capacity: 12)
            payload.append(channel)  // channel
            payload.append(2)  // peer node id
            payload.appendVarint(peerSequence)  // peer's heartbeat sequence
            payload.append(1)  // peer's role: active
            payload.appendVarint(7)  // peer's epoch
            payload.appendVarint(0b111)  // peer's resources: vip, hostname, postgresql running
            payload.append(2)  // peer's view of us: standby, healthy
            return RecordDraft(
                monotonicNanos: monotonic,
                wallNanos: wall,
                node: node,
                type: Self.heartbeatType,
                payload: payload.bytes
            )
        }
        let kind = rng.next() % 4
        var payload = ByteSink(capacity: 200)
        payload.appendVarint(7)  // epoch
        switch kind {
        case 0:
            payload.appendVarint(peerSequence &* 3)  // disk slot counter
            payload.append(2)
            payload.appendVarint(rng.next() % 200_000_000)  // slot age ns
        case 1:
            payload.appendString("postgresql")
            payload.append(0)  // monitor ok
            payload.appendVarint(12_000_000 + rng.next() % 4_000_000)  // took ns
        case 2:
            payload.appendString(
                "channel udp\(rng.next() % 2) silent for \(150 + rng.next() % 50) ms (deadline 150 ms); "
                    + "disk slot counter \(peerSequence) age \(rng.next() % 60) ms; arbitrator 192.0.2.1 reachable"
            )
            payload.append(UInt8(truncatingIfNeeded: rng.next() % 3))
        default:
            payload.appendString("start postgresql")
            payload.appendString("ocf:heartbeat:pgsql")
            payload.appendVarint(rng.next() % 3_000_000_000)
            payload.appendString("pg_ctl: server started; waiting for server to start.... done")
        }
        return RecordDraft(
            monotonicNanos: monotonic,
            wallNanos: wall,
            node: node,
            type: UInt16(2 + kind),
            payload: payload.bytes
        )
    }
}

extension LogIdentity {
    /// The identity of logs written by the demo, the tests' helper commands and the benchmarks.
    static func synthetic(cluster: String) -> LogIdentity {
        LogIdentity(
            cluster: cluster,
            nodeName: "node-a",
            node: 1,
            servhaVersion: ServhaVersion.current,
            configHash: [UInt8](repeating: 0, count: 32)
        )
    }
}
