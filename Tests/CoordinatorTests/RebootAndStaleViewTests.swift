import Testing

@testable import Coordinator

/// Found by the simulator once each host boot drew its own monotonic clock (and disk I/O could stall for seconds).
@Suite struct RebootAndStaleViewTests {
    /// The peer is dead and its slot says nobody holds the lease: claim, acquire; then the disk stalls past the
    /// lease: self-fence, kill, back to standby. Returns the alarms raised on acquiring.
    static func acquireAndLose(_ d: inout CoreDriver, round: Int) -> [AlarmKind] {
        let dead = CoreDriver.view(.starting, healthy: false)
        let claim = CoreDriver.effects(d.slot(dead, writes: false))
        guard
            case .writeSlot(true, let epoch)? = claim.first(where: { if case .writeSlot = $0 { true } else { false } })
        else {
            Issue.record("round \(round): no claim: \(claim), role \(d.state.role)")
            return []
        }
        _ = d.wrote(owns: true, epoch: epoch, diskOnly: d.core.advertisement.diskOnlyLease)
        let acquired = d.slot(dead, writes: false)
        #expect(d.state.role == .active, "round \(round)")
        d.now = d.state.leaseEnd!
        _ = d.step(.timerFired)
        #expect(d.state.role == .fenced, "round \(round)")
        _ = d.outcome(0, .kill)
        _ = d.outcome(1, .kill)
        d.advance(d.config.heartbeatInterval)
        _ = d.slot(dead, writes: false)
        #expect(d.state.role == .standby, "round \(round)")
        d.advance(d.config.heartbeatInterval * 8)  // past the contention back-off
        return acquired.compactMap { if case .raiseAlarm(let alarm) = $0 { alarm.kind } else { nil } }
    }

    /// From start to a standby whose peer is dead, at the driver's current time.
    static func startAlone(_ d: inout CoreDriver, boot: String) {
        var actions = d.step(
            .started(NodeStart(node: CoreDriver.me, servhaVersion: "test", bootID: boot, configHash: d.config.hash))
        )
        actions += d.step(.configLoaded(d.config))
        // The clean slate: whatever may run from before is stopped, from the top down.
        #expect(CoreDriver.effects(actions).contains(.stopResource(1, epoch: d.state.epoch)), "\(actions)")
        _ = d.outcome(1, .stop)
        _ = d.outcome(0, .stop)
        #expect(d.state.resources == [.stopped, .stopped])
        _ = d.slot(CoreDriver.view(.starting, healthy: false))
        d.advance(d.config.startupDiscovery)
        _ = d.step(.timerFired)
        #expect(d.state.peerDead && d.state.role == .standby)
    }

    /// Two acquisitions on a host up for 400 days, a reboot (the monotonic clock starts again near zero), and a
    /// third acquisition: the instants of the first two are from another clock. The core used to subtract them
    /// from the new clock's reading (`now - first`) and trapped; now a boot starts the flapping count afresh.
    @Test func aRebootStartsTheFlappingCountWithTheNewClock() {
        var d = CoreDriver()
        d.now = 34_560_000_000_000_000
        Self.startAlone(&d, boot: "boot-1")
        var raised: [AlarmKind] = []
        for round in 1...2 { raised += Self.acquireAndLose(&d, round: round) }
        #expect(d.state.recentAcquisitions.count == 2)
        d.now = 5_000_000_000
        Self.startAlone(&d, boot: "boot-2")
        #expect(d.state.recentAcquisitions.isEmpty)
        #expect(d.state.restartTimes.allSatisfy { $0.isEmpty })
        raised += Self.acquireAndLose(&d, round: 3)
        #expect(d.state.recentAcquisitions.count == 1)
        #expect(!raised.contains(.ownerFlapping), "\(raised)")
    }

    /// A daemon that restarts on the same host boot (its clock goes on) keeps counting: two acquisitions, a restart
    /// of the daemon, a third acquisition within ten minutes: the owner is flapping.
    @Test func aDaemonRestartOnTheSameBootKeepsTheFlappingCount() {
        var d = CoreDriver()
        d.now = 34_560_000_000_000_000
        Self.startAlone(&d, boot: "boot-1")
        var raised: [AlarmKind] = []
        for round in 1...2 { raised += Self.acquireAndLose(&d, round: round) }
        d.advance(5_000_000_000)
        Self.startAlone(&d, boot: "boot-1")
        #expect(d.state.recentAcquisitions.count == 2)
        raised += Self.acquireAndLose(&d, round: 3)
        #expect(raised.contains(.ownerFlapping), "\(raised)")
    }

    /// While the network hears the peer, a read of its slot (seconds old on a stalled path: here it still says
    /// the peer cannot reach the arbitrator) does not replace the view the heartbeats give; once the network is
    /// silent, the slot is the only word and is taken.
    @Test func aSlotReadDoesNotReplaceTheViewTheNetworkGives() {
        var d = CoreDriver()
        d.bootToActive()
        let fresh = CoreDriver.view(.standby, epoch: d.state.epoch, ack: true, arbitrator: true)
        let stale = CoreDriver.view(.standby, epoch: d.state.epoch, arbitrator: false)
        d.keepAliveAsActive(for: d.config.heartbeatInterval * 3, peer: fresh)
        #expect(d.state.hearsPeerOnTheNetwork)
        d.advance(1_000_000)
        _ = d.slot(stale)
        #expect(d.state.peerView == fresh, "the stale slot replaced the heartbeat's view")
        #expect(d.state.peerSlot == stale)
        // The network goes silent: past the channel deadline, the slot's view stands.
        d.advance(d.config.channelDeadline)
        _ = d.wrote(owns: true, epoch: d.state.epoch)
        _ = d.step(.timerFired)
        #expect(!d.state.hearsPeerOnTheNetwork)
        _ = d.slot(stale)
        #expect(d.state.peerView == stale)
    }
}
