import Testing

@testable import Coordinator

/// The lease fits its evidence: short while the peer echoes heartbeats (fast failover), the disk-only lease
/// while disk writes are the only renewals (a survivor does not flap on a slow disk), and a peer that reads the
/// announcement in the slot honours it before it claims.
@Suite struct DiskOnlyLeaseTests {
    /// node-a active, node-b gone silent on every network channel past the deadline; node-a keeps writing.
    static func survivor() -> CoreDriver {
        var d = CoreDriver()
        d.bootToActive()
        #expect(!d.core.advertisement.diskOnlyLease, "the peer answers: the short lease")
        for _ in 0..<10 {
            d.advance(d.config.heartbeatInterval)
            _ = d.wrote(owns: true, epoch: 1, diskOnly: d.core.advertisement.diskOnlyLease)
        }
        #expect(!d.state.hearsPeerOnTheNetwork)
        #expect(d.core.advertisement.diskOnlyLease, "peer silent on the network: the disk-only lease is announced")
        _ = d.wrote(owns: true, epoch: 1, diskOnly: true)
        return d
    }

    @Test func aSurvivorHoldsThroughASlowWrite() {
        var d = Self.survivor()
        let renewal = d.now
        #expect(d.state.leaseEnd == renewal + d.config.diskOnlyLease - d.config.safetyMargin)
        // The next write takes a whole second (a busy disk): far past the short lease, well within the long one.
        d.advance(1_000_000_000)
        #expect(CoreDriver.effects(d.step(.timerFired)).isEmpty)
        #expect(d.state.role == .active)
        _ = d.wrote(owns: true, epoch: 1, startedAt: renewal + 20_000_000, diskOnly: true)
        #expect(d.state.lastRenewal == renewal + 20_000_000, "a slow write is not a failed write")
        // A disk that stalls past the disk-only lease still ends in a self-fence.
        d.now = d.state.leaseEnd!
        _ = d.step(.timerFired)
        #expect(d.state.role == .fenced)
        #expect(d.decisions().last == .selfFence)
    }

    @Test func aWriteThatDidNotAnnounceItRenewsOnlyTheShortLease() {
        var d = CoreDriver()
        d.bootToActive()
        for _ in 0..<10 {  // the peer's channels go down; these writes do not announce the long lease
            d.advance(d.config.heartbeatInterval)
            _ = d.wrote(owns: true, epoch: 1, diskOnly: false)
        }
        #expect(!d.state.hearsPeerOnTheNetwork && d.state.role == .active)
        #expect(d.state.leaseEnd == d.now + d.config.leaseDuration - d.config.safetyMargin)
    }

    @Test func theAnnouncementOutlivesTheLongRenewalsWhenThePeerReturns() {
        var d = Self.survivor()
        let lastLong = d.now
        // node-b is heard again: writes no longer renew for long, but the slot keeps announcing it until the last
        // long renewal has run out, so that node-b (even freshly started) honours it.
        d.advance(d.config.heartbeatInterval)
        _ = d.heartbeat(CoreDriver.view(.standby, epoch: 1, ack: true), channel: 0, echo: d.now - 1_000_000)
        #expect(d.state.hearsPeerOnTheNetwork)
        _ = d.wrote(owns: true, epoch: 1, diskOnly: d.core.advertisement.diskOnlyLease)
        #expect(d.state.lastDiskOnlyRenewal == lastLong)
        #expect(d.core.advertisement.diskOnlyLease)
        #expect(
            d.core.advertisement.diskOnlyRemaining == (lastLong + d.config.diskOnlyLease - d.now + 999_999) / 1_000_000 * 1_000_000,
            "what is left of the last long renewal, no more"
        )
        d.keepAliveAsActive(for: d.config.diskOnlyLease - (d.now - lastLong) + 20_000_000)
        #expect(!d.core.advertisement.diskOnlyLease, "announced no longer once the long renewals have run out")
        #expect(d.state.leaseEnd! < d.now + d.config.leaseDuration, "back to the short lease")
    }

    /// node-b's side: node-a announced the disk-only lease in its slot, then went silent (paused, or dead).
    /// A write that announces only what is left of the owner's last long renewal binds the standby that long.
    @Test func aStandbyWaitsWhatTheNewestWriteAnnouncedNoMore() {
        var d = TakeoverTests.watching()
        var fading = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        fading.diskOnlyRemaining = 400_000_000
        d.advance(d.config.heartbeatInterval)
        _ = d.slot(fading)
        let seen = d.now
        #expect(d.state.peerDiskOnlyLeaseUntil == seen + 400_000_000)
        // node-a goes silent on everything; node-b claims once the announced remainder plus the margin is over.
        d.now = seen + 400_000_000 + d.config.safetyMargin - 1
        _ = d.slot(fading, writes: false)
        #expect(d.state.role == .standby)
        d.now += 1
        _ = d.slot(fading, writes: false)
        #expect(d.state.role == .acquiring)
    }

    @Test func aStandbyHonoursTheAnnouncedDiskOnlyLeaseBeforeItClaims() {
        var d = TakeoverTests.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        var long = active
        long.diskOnlyRemaining = d.config.diskOnlyLease
        // The network goes quiet; node-a's slot keeps changing and announces the disk-only lease.
        for _ in 0..<10 {
            d.advance(d.config.heartbeatInterval)
            _ = d.slot(long)
        }
        let lastChange = d.now
        #expect(d.state.peerDiskOnlyLeaseUntil == lastChange + d.config.diskOnlyLease)
        // Then node-a is silent on the disk too. After the short lease nothing happens ...
        d.advance(d.config.leaseDuration + d.config.safetyMargin + d.config.heartbeatInterval)
        _ = d.slot(long, writes: false)
        #expect(d.state.role == .standby, "node-a may still hold its disk-only lease")
        #expect(d.decisions().last != .takeOver)
        // ... and the timer is armed for when the disk-only lease is over.
        let over = lastChange + d.config.diskOnlyLease + d.config.safetyMargin
        #expect(d.state.armedTimer.map { $0 <= over } == true)
        d.now = over - 1
        _ = d.slot(long, writes: false)
        #expect(d.state.role == .standby)
        d.now = over
        _ = d.slot(long, writes: false)
        #expect(d.state.role == .acquiring)
        guard case .decision(let decision) = d.log.last(where: { if case .decision = $0 { true } else { false } }) else {
            Issue.record("no decision")
            return
        }
        #expect(decision.kind == .takeOver)
        #expect(decision.reason.contains("disk-only lease"), "\(decision.reason)")
    }
}

/// Each takeover alone can be right; three by one node within ten minutes is an unstable pair: an alarm of its own.
@Suite struct OwnerFlappingTests {
    @Test func aThirdAcquisitionWithinTheWindowRaisesOwnerFlapping() {
        var d = CoreDriver()
        d.boot()
        _ = d.slot(CoreDriver.view(.starting, healthy: false))  // the peer's slot, as it was left: it is dead
        d.advance(d.config.startupDiscovery)
        _ = d.step(.timerFired)
        #expect(d.state.peerDead && d.state.role == .standby)
        var raised: [AlarmKind] = []
        for round in 1...3 {
            // The peer is silent; its slot says nobody holds the lease: take it.
            let claim = CoreDriver.effects(d.slot(CoreDriver.view(.starting, healthy: false), writes: false))
            guard case .writeSlot(true, let epoch)? = claim.first(where: { if case .writeSlot = $0 { true } else { false } }) else {
                Issue.record("round \(round): no claim: \(claim), role \(d.state.role)")
                return
            }
            _ = d.wrote(owns: true, epoch: epoch, diskOnly: d.core.advertisement.diskOnlyLease)
            let acquired = d.slot(CoreDriver.view(.starting, healthy: false), writes: false)
            #expect(d.state.role == .active, "round \(round)")
            raised += acquired.compactMap { if case .raiseAlarm(let alarm) = $0 { alarm.kind } else { nil } }
            // Its disk stalls past the lease: self-fence, kill, and back to standby.
            d.now = d.state.leaseEnd!
            _ = d.step(.timerFired)
            #expect(d.state.role == .fenced)
            _ = d.outcome(0, .kill)
            _ = d.outcome(1, .kill)
            d.advance(d.config.heartbeatInterval)
            _ = d.slot(CoreDriver.view(.starting, healthy: false), writes: false)
            #expect(d.state.role == .standby, "round \(round)")
            d.advance(d.config.heartbeatInterval * 8)  // past the contention back-off
        }
        #expect(raised.filter { $0 == .ownerFlapping }.count == 1, "\(raised)")
        #expect(d.state.alarm(.ownerFlapping)?.message.contains("took the group 3 times") == true)
    }
}
