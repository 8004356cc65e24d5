/// The last failover this node took part in, for `servha status`.
public struct FailoverRecord: Sendable, Hashable {
    public var at: Instant
    public var wall: Int64
    public var kind: DecisionKind
    public var epoch: Epoch
    public var reason: String

    public init(at: Instant, wall: Int64, kind: DecisionKind, epoch: Epoch, reason: String) {
        self.at = at
        self.wall = wall
        self.kind = kind
        self.epoch = epoch
        self.reason = reason
    }
}

extension FailoverRecord {
    init(_ decision: Decision, at: Instant, wall: Int64) {
        self.init(at: at, wall: wall, kind: decision.kind, epoch: decision.epoch, reason: decision.reason)
    }
}

/// A network channel or the disk channel, as this node sees it.
public struct ChannelState: Sendable, Hashable {
    public var up = false
    public var lastHeard: Instant?
    public var lastSequence: UInt64 = 0

    public init(up: Bool = false, lastHeard: Instant? = nil, lastSequence: UInt64 = 0) {
        self.up = up
        self.lastHeard = lastHeard
        self.lastSequence = lastSequence
    }
}

/// The coordinator's whole state: a fold over the events of its log (`apply`), nothing else.
public struct State: Sendable, Hashable {
    public var me: NodeID
    public var config: ClusterConfig?
    public var now: Instant = 0
    public var wall: Int64 = 0
    public var bootID = ""
    public var startedAt: Instant?
    public var role: Role = .starting
    /// When the current role began.
    public var roleSince: Instant = 0
    /// The epoch of this node's current (or last) ownership.
    public var epoch: Epoch = 0
    public var highestEpoch: Epoch = 0
    public var adminStandby = false
    public var maintenance = false
    /// Released the lease for the peer to take over (cleared when the peer owns it, or on takeover).
    public var yields = false

    public var channels: [ChannelState] = []
    public var peerDead = false
    /// Every network channel is silent (the disk may still show the peer alive).
    public var peerSuspected = false
    /// The peer's latest advertisement, from whichever source was newest.
    public var peerView = Advertisement.unknown
    public var peerViewAt: Instant?
    /// The latest readable disk slot of the peer.
    public var peerSlot = Advertisement.unknown
    public var peerSlotAt: Instant?
    public var peerCounter: UInt64?
    public var peerCounterChangedAt: Instant?
    /// Until when the peer may hold a disk-only lease, by the newest slot write of its that this node saw: when it
    /// saw it plus what the write announced (every renewal it counts started before the write). A claim waits
    /// until then plus the margin.
    public var peerDiskOnlyLeaseUntil: Instant?
    /// The last read of the shared storage worked.
    public var diskReadable = false
    public var peerHealthySince: Instant?

    /// This node's lease was last renewed as of this instant (disk write start, or heartbeat echo).
    public var lastRenewal: Instant?
    /// The last renewal by a slot write that announced the disk-only lease (it holds for that long).
    public var lastDiskOnlyRenewal: Instant?
    public var ownSlotWritable = true
    public var arbitratorReachable: Bool?

    public var resources: [ResourceStatus] = []
    /// While set, resources from this index up are stopped and then started again (a local restart).
    public var restartFloor: Int?
    public var restartTimes: [[Instant]] = []
    /// A resource could not be stopped even by a kill: nothing more is attempted until an operator acts.
    public var stuck = false
    public var killFailed: [Bool] = []
    /// After the group failed here (monitors past their local restarts, or a failed start) this node is not
    /// healthy until then: it neither takes the group over nor is a failback target.
    public var unhealthyUntil: Instant?
    public var fencePending = false
    /// The configured fence of the peer succeeded (cleared by a takeover or when the peer is heard again).
    public var peerFenced = false
    /// Failed fences of the peer since it was last heard or fenced, and when the next attempt may come.
    public var fenceFailures = 0
    public var fenceRetryAt: Instant?
    /// A stop was issued for the resource since it last started (a failed stop then escalates to a kill).
    public var stopAttempted: [Bool] = []
    /// While acquiring: when the claim (the slot write with the new epoch) finished, and the peer's slot
    /// counter when the takeover was decided (a claim by the peer shows as a changed counter).
    public var claimWrittenAt: Instant?
    public var claimPeerCounter: UInt64?
    /// After losing a contended claim, no new takeover before this instant.
    public var contendedUntil: Instant?
    /// While releasing: the write that gives up the lease was issued.
    public var releaseWriteIssued = false

    public var alarms: [Alarm] = []
    /// Alarm notices not yet delivered to every sink, oldest first (re-sent after a restart).
    public var pendingNotices: [PendingNotice] = []
    public var inputsRecorded = 0
    public var armedTimer: Instant?
    public var lastFailover: FailoverRecord?
    public var takeovers = 0
    /// When this node acquired the lease lately (within `flappingWindow`), newest last.
    public var recentAcquisitions: [Instant] = []

    /// This many acquisitions by one node within `flappingWindow` is an unstable pair, worth an alarm of its own.
    public static let flappingAcquisitions = 3
    public static let flappingWindow: Nanos = 600_000_000_000

    public init(me: NodeID) { self.me = me }

    @inline(__always)
    public var resourcesUp: UInt64 {
        var bits: UInt64 = 0
        for (i, status) in resources.enumerated() where status.isUp { bits |= 1 << UInt64(i) }
        return bits
    }

    @inline(__always)
    public var anyResourceUp: Bool { resources.contains { $0.isUp } }

    public var networkChannelCount: Int { config?.networkChannels.count ?? 0 }

    /// The newest instant anything was heard from the peer over the network.
    @inline(__always)
    public var lastHeardNetwork: Instant? {
        var newest: Instant?
        for c in 0..<min(networkChannelCount, channels.count) {
            if let heard = channels[c].lastHeard, heard > newest ?? 0 { newest = heard }
        }
        return newest
    }

    /// Whether this node claims the lease: while acquiring, active, or releasing with resources still up.
    @inline(__always)
    public var owns: Bool {
        switch role {
        case .active, .acquiring: true
        case .releasing: anyResourceUp || !releaseWriteIssued
        case .starting, .standby, .fenced: false
        }
    }

    @inline(__always)
    public var healthy: Bool {
        startedAt != nil && role != .starting && role != .fenced && !adminStandby && !maintenance && !stuck
            && (unhealthyUntil.map { now >= $0 } ?? true)
    }

    /// What this node tells its peer.
    public var advertisement: Advertisement {
        Advertisement(
            role: role,
            epoch: epoch,
            owns: owns,
            resourcesUp: resourcesUp,
            arbitratorReachable: arbitratorReachable,
            acknowledgesPeer: acknowledgesPeer,
            yields: yields,
            healthy: healthy,
            maintenance: maintenance,
            diskOnlyRemaining: diskOnlyLeaseRemaining
        )
    }

    /// This node hears its peer over the network now and accepts the peer's ownership (so its heartbeats
    /// renew the peer's lease).
    @inline(__always)
    public var acknowledgesPeer: Bool {
        hearsPeerOnTheNetwork && peerView.owns && peerView.epoch >= epoch && !owns
    }

    public func evidence() -> Evidence {
        Evidence(
            channels: channels.enumerated().map {
                ChannelEvidence(channel: UInt8($0.offset), up: $0.element.up, lastHeard: $0.element.lastHeard)
            },
            peerCounter: peerCounter,
            peerCounterChangedAt: peerCounterChangedAt,
            diskReadable: diskReadable,
            lastRenewal: lastRenewal,
            arbitrator: arbitratorReachable,
            peerArbitrator: peerSlot.arbitratorReachable,
            peerRole: peerView.role,
            peerEpoch: peerView.epoch,
            peerOwns: peerView.owns
        )
    }

    /// When this node's lease ends for itself (the safety margin deducted), from its last renewal.
    /// (The configuration's fields are read through `config?.`: binding the whole configuration copies it, and
    /// these run several times for every input.)
    @inline(__always)
    public var leaseEnd: Instant? {
        guard let lastRenewal, let duration = config?.leaseDuration, let margin = config?.safetyMargin else { return nil }
        let short = lastRenewal + duration
        let long = lastDiskOnlyRenewal.map { $0 + (config?.diskOnlyLeaseLength ?? 0) } ?? 0
        return max(short, long) - margin
    }

    /// Whether some network channel to the peer is up.
    @inline(__always)
    public var hearsPeerOnTheNetwork: Bool {
        guard let count = config?.networkChannels.count else { return false }
        for c in 0..<min(count, channels.count) where channels[c].up { return true }
        return false
    }

    /// What this node announces in its slot: that it may hold the disk-only lease. While it holds (or claims) the group with
    /// its peer silent on every network channel (disk writes are its only renewals, and they renew for the
    /// disk-only lease), and after that until the last such renewal has run out, so that a peer that reads the
    /// slot, even one that has just started, honours every long renewal this node still counts.
    @inline(__always)
    public var announcesDiskOnlyLease: Bool { diskOnlyLeaseRemaining > 0 }

    /// How long this node may still hold a disk-only lease from now: the whole of it while it holds or claims the
    /// group with its peer silent on the network (the next write renews it), else what is left of its last long
    /// renewal. Announced in every slot write and heartbeat.
    /// In whole milliseconds, rounded up: what the slot and the heartbeats carry, exactly (so that a replay of the
    /// log, which reads them back, sees what the live run saw).
    @inline(__always)
    public var diskOnlyLeaseRemaining: Nanos {
        guard role == .active || role == .acquiring, let config else { return 0 }
        let length = config.diskOnlyLeaseLength
        let remaining: Nanos
        if !hearsPeerOnTheNetwork {
            remaining = length
        } else if let last = lastDiskOnlyRenewal, now < last + length {
            remaining = last + length - now
        } else {
            return 0
        }
        return (remaining + 999_999) / 1_000_000 * 1_000_000
    }

    /// Whether this node holds the group under its lease (active, or releasing with resources still up).
    @inline(__always)
    public var holdsGroupUnderLease: Bool {
        switch role {
        case .active: true
        case .releasing: anyResourceUp
        case .starting, .standby, .acquiring, .fenced: false
        }
    }

    /// Whether this node, holding the group, must have stepped down by `instant`. The one rule behind the
    /// self-fence, the timer that enforces it, and the check a node makes on waking before it sends or writes.
    @inline(__always)
    public func leaseRunsOut(by instant: Instant) -> Bool {
        guard config != nil, holdsGroupUnderLease else { return false }
        return instant >= (leaseEnd ?? 0)
    }

    /// A renewal (a slot write's completion, an echo's arrival) observed at `instant` counts only while the
    /// lease it would renew still runs: once it has run out, the peer may already have claimed the group, and a
    /// write that hung through a pause must not bring a dead lease back.
    /// (In maintenance the operator holds the group and the lease is not enforced: renewals always count.)
    @inline(__always)
    func renewalCounts(observedAt instant: Instant) -> Bool {
        guard !maintenance, let end = leaseEnd else { return true }
        return instant < end
    }

    /// The open alarm of a kind, if any.
    public func alarm(_ kind: AlarmKind) -> Alarm? { alarms.first { $0.kind == kind } }
}

/// An alarm notice (raised or cleared) that not every sink has confirmed yet.
public struct PendingNotice: Sendable, Hashable {
    public var alarm: Alarm
    public var raised: Bool
    /// Bit i set: sink i has it.
    public var delivered: UInt64

    public init(alarm: Alarm, raised: Bool, delivered: UInt64) {
        self.alarm = alarm
        self.raised = raised
        self.delivered = delivered
    }

    public func isComplete(sinks: Int) -> Bool {
        sinks >= 64 ? delivered == .max : delivered & ((1 << UInt64(sinks)) - 1) == (1 << UInt64(sinks)) - 1
    }
}
