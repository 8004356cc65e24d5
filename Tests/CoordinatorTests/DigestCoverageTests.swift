import Testing

@testable import Coordinator

/// The state digest covers the whole state: for every stored property of `State` there is a change here, and each
/// change moves the digest. A property added to `State` without a row below fails `everyPropertyHasARow`; a row
/// whose change leaves the digest as it was (the property is missing from `canonicalEncoding`) fails
/// `everyChangeMovesTheDigest`.
@Suite struct DigestCoverageTests {
    /// A state with something in every list, so that a change inside a list element shows too.
    static var base: State {
        var state = State(me: 1)
        state.config = CoreDriver.defaultConfig()
        state.channels = [ChannelState(), ChannelState(), ChannelState()]
        state.resources = [.running, .stopped]
        state.restartTimes = [[5], []]
        state.killFailed = [false, false]
        state.stopAttempted = [false, false]
        state.alarms = [Alarm(kind: .peerLost, severity: .critical, message: "m", epoch: 1)]
        state.pendingNotices = [
            PendingNotice(alarm: Alarm(kind: .tookOver, severity: .critical, message: "t", epoch: 1), raised: true, delivered: 0)
        ]
        return state
    }

    static let changes: [(property: String, change: @Sendable (inout State) -> Void)] = [
        ("me", { $0.me = 2 }),
        ("config", { $0.config?.leaseDuration += 1 }),
        ("now", { $0.now = 7 }),
        ("wall", { $0.wall = 7 }),
        ("bootID", { $0.bootID = "b" }),
        ("startedAt", { $0.startedAt = 0 }),
        ("role", { $0.role = .active }),
        ("roleSince", { $0.roleSince = 3 }),
        ("epoch", { $0.epoch = 3 }),
        ("highestEpoch", { $0.highestEpoch = 3 }),
        ("adminStandby", { $0.adminStandby = true }),
        ("maintenance", { $0.maintenance = true }),
        ("yields", { $0.yields = true }),
        ("channels", { $0.channels[1].lastSequence = 9 }),
        ("peerDead", { $0.peerDead = true }),
        ("peerSuspected", { $0.peerSuspected = true }),
        ("peerView", { $0.peerView.epoch = 4 }),
        ("peerViewAt", { $0.peerViewAt = 0 }),
        ("peerSlot", { $0.peerSlot.yields = true }),
        ("peerSlotAt", { $0.peerSlotAt = 0 }),
        ("peerCounter", { $0.peerCounter = 0 }),
        ("peerCounterChangedAt", { $0.peerCounterChangedAt = 0 }),
        ("peerDiskOnlyLeaseUntil", { $0.peerDiskOnlyLeaseUntil = 0 }),
        ("diskReadable", { $0.diskReadable = true }),
        ("peerHealthySince", { $0.peerHealthySince = 0 }),
        ("lastRenewal", { $0.lastRenewal = 0 }),
        ("lastDiskOnlyRenewal", { $0.lastDiskOnlyRenewal = 0 }),
        ("ownSlotWritable", { $0.ownSlotWritable = false }),
        ("arbitratorReachable", { $0.arbitratorReachable = false }),
        ("resources", { $0.resources[1] = .failed }),
        ("restartFloor", { $0.restartFloor = 0 }),
        ("restartTimes", { $0.restartTimes[1] = [6] }),
        ("stuck", { $0.stuck = true }),
        ("killFailed", { $0.killFailed[1] = true }),
        ("unhealthyUntil", { $0.unhealthyUntil = 0 }),
        ("fencePending", { $0.fencePending = true }),
        ("peerFenced", { $0.peerFenced = true }),
        ("fenceFailures", { $0.fenceFailures = 2 }),
        ("fenceRetryAt", { $0.fenceRetryAt = 0 }),
        ("stopAttempted", { $0.stopAttempted[0] = true }),
        ("claimWrittenAt", { $0.claimWrittenAt = 0 }),
        ("claimPeerCounter", { $0.claimPeerCounter = 0 }),
        ("contendedUntil", { $0.contendedUntil = 0 }),
        ("releaseWriteIssued", { $0.releaseWriteIssued = true }),
        ("alarms", { $0.alarms[0].severity = .warning }),
        ("pendingNotices", { $0.pendingNotices[0].alarm.epoch = 2 }),
        ("inputsRecorded", { $0.inputsRecorded = 1 }),
        ("armedTimer", { $0.armedTimer = 0 }),
        ("lastFailover", { $0.lastFailover = FailoverRecord(at: 0, wall: 0, kind: .takeOver, epoch: 1, reason: "") }),
        ("takeovers", { $0.takeovers = 1 }),
        ("recentAcquisitions", { $0.recentAcquisitions = [1] }),
    ]

    @Test func everyPropertyHasARow() {
        let stored = Mirror(reflecting: State(me: 1)).children.compactMap(\.label)
        #expect(stored == Self.changes.map(\.property), "a stored property of State without a row here")
    }

    @Test(arguments: changes.indices)
    func everyChangeMovesTheDigest(row: Int) {
        let (property, change) = Self.changes[row]
        var changed = Self.base
        change(&changed)
        #expect(changed != Self.base, "the row for \(property) changes nothing")
        #expect(changed.digest() != Self.base.digest(), "\(property) is missing from State.canonicalEncoding")
    }

    @Test func theLogCarriesADigestAfterEveryDecision() {
        var d = CoreDriver()
        d.bootToActive()
        for (index, event) in d.log.enumerated() {
            guard case .decision = event else { continue }
            let rest = d.log[(index + 1)...].prefix { if case .input = $0 { false } else { true } }
            #expect(rest.contains { if case .stateDigest = $0 { true } else { false } }, "no digest after \(event)")
        }
    }
}
