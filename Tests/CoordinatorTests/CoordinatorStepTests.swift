import EventLog
import Testing

@testable import Coordinator

/// Each transition of the core, asserted on the bare value, step by step, with time advanced by hand.
@Suite struct CoordinatorStepTests {
    @Test func startupStopsUnknownResourcesThenTakesOverAsThePreferredNode() {
        var d = CoreDriver()
        d.bootToActive()
        #expect(d.decisions() == [.becomeStandby, .takeOver, .leaseAcquired])
        #expect(d.state.epoch == 1)
        #expect(d.core.advertisement.owns)
        #expect(d.state.alarm(.tookOver) != nil)
    }

    @Test func theNonPreferredNodeWaitsForThePreferredOne() {
        var d = CoreDriver(config: CoreDriver.defaultConfig(preferred: 2))
        d.boot()
        d.advance(d.config.startupDiscovery)
        _ = d.heartbeat(CoreDriver.view(.standby))
        let actions = d.slot(CoreDriver.view(.standby))
        #expect(d.state.role == .standby)
        #expect(CoreDriver.effects(actions).isEmpty, "node-b is preferred: node-a must not claim the lease")
        // The peer is still starting: wait for its discovery rather than take the group.
        var e = CoreDriver(config: CoreDriver.defaultConfig(preferred: 1))
        e.boot()
        e.advance(e.config.startupDiscovery)
        _ = e.heartbeat(CoreDriver.view(.starting, healthy: false))
        _ = e.slot(CoreDriver.view(.starting, healthy: false))
        #expect(e.state.role == .standby)
    }

    @Test func activeRenewsByEchoesAndSelfFencesWhenEveryRenewalStops() {
        var d = CoreDriver()
        d.bootToActive()
        d.keepAliveAsActive(for: CoreDriver.ms(2000))
        #expect(d.state.role == .active)
        let renewed = d.state.lastRenewal!
        // Disk writes fail and no echo comes back: the lease runs out at renewal + lease - margin.
        let limit = renewed + d.config.leaseDuration - d.config.safetyMargin
        d.now = limit - 1
        #expect(CoreDriver.effects(d.step(.timerFired)).isEmpty)
        #expect(d.state.role == .active)
        d.now = limit
        let fence = CoreDriver.effects(d.step(.timerFired))
        #expect(d.state.role == .fenced)
        // Everything is killed at once, the VIP (the group's first resource) first.
        #expect(
            fence.filter { if case .killResource = $0 { true } else { false } } == [
                .killResource(0, epoch: 1), .killResource(1, epoch: 1),
            ]
        )
        #expect(fence.contains { if case .raiseAlarm(let a) = $0 { a.kind == .selfFenced } else { false } })
        #expect(CoreDriver.effects(d.outcome(0, .kill)).isEmpty)
        _ = d.outcome(1, .kill)
        #expect(d.state.resources == [.stopped, .stopped])
    }

    @Test func aDiskWriteAloneKeepsTheLeaseWhenTheNetworkIsDown() {
        var d = CoreDriver()
        d.bootToActive()
        for _ in 0..<50 {
            d.advance(d.config.heartbeatInterval)
            _ = d.wrote(owns: true, epoch: 1)
            _ = d.slot(CoreDriver.view(.standby))
        }
        #expect(d.state.role == .active)
        #expect(d.decisions().last == .leaseAcquired)
    }

    @Test func echoesAloneKeepTheLeaseWhenTheDiskIsDown() {
        var d = CoreDriver()
        d.bootToActive()
        for _ in 0..<50 {
            d.advance(d.config.heartbeatInterval)
            _ = d.wrote(owns: true, epoch: 1, ok: false)
            _ = d.heartbeat(CoreDriver.view(.standby, ack: true), echo: d.now - 2_000_000)
            _ = d.slot(CoreDriver.view(.standby), readable: false)
        }
        #expect(d.state.role == .active)
        #expect(d.state.alarm(.leaseWriteFailed) != nil)
    }

    @Test func aPeerWithAHigherEpochMakesTheActiveStandDown() {
        var d = CoreDriver()
        d.bootToActive()
        _ = d.heartbeat(CoreDriver.view(.active, epoch: 5, owns: true, up: 3))
        #expect(d.state.role == .fenced)
        #expect(d.decisions().last == .selfFence)
    }
}

/// The standby's side: when it takes over, and when it must not.
@Suite struct TakeoverTests {
    /// A standby watching an active peer that renews on disk and over both channels.
    static func watching() -> CoreDriver {
        var d = CoreDriver(config: CoreDriver.defaultConfig(preferred: 2))
        d.boot()
        d.advance(d.config.startupDiscovery)
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        _ = d.heartbeat(active)
        _ = d.slot(active)
        #expect(d.state.role == .standby)
        for _ in 0..<25 {
            d.advance(d.config.heartbeatInterval)
            _ = d.heartbeat(active, channel: 0)
            _ = d.heartbeat(active, channel: 1)
            _ = d.slot(active)
        }
        return d
    }

    @Test func hostDeathLeadsToTakeoverExactlyWhenTheLeaseHasExpired() {
        var d = Self.watching()
        let lastHeard = d.now
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        // The host dies: no heartbeats; its slot reads stay readable but stop changing.
        let expiry = lastHeard + d.config.leaseDuration + d.config.safetyMargin
        while d.now + d.config.heartbeatInterval < expiry {
            d.advance(d.config.heartbeatInterval)
            #expect(
                CoreDriver.effects(d.slot(active, writes: false)).filter {
                    if case .writeSlot = $0 { true } else { false }
                }.isEmpty
            )
        }
        #expect(d.state.role == .standby)
        #expect(d.state.peerDead, "every channel silent past its deadline")
        d.now = expiry
        let actions = CoreDriver.effects(d.slot(active, writes: false))
        #expect(d.state.role == .acquiring)
        // A takeover raises the epoch above every epoch seen, to the next one of this node's parity (node-a, the
        // lower id, takes odd epochs), so that two claims never share an epoch.
        #expect(actions.contains(.writeSlot(owns: true, epoch: 5)), "a takeover raises the epoch")
        guard case .decision(let decision) = d.log.last(where: { if case .decision = $0 { true } else { false } })
        else {
            Issue.record("no decision")
            return
        }
        #expect(decision.kind == .takeOver)
        #expect(decision.reason.contains("lease"))
        #expect(decision.evidence.channels.allSatisfy { !$0.up })
        #expect(decision.evidence.peerOwns)
        // The claim is checked by a read that starts after it was written; the dead peer's counter is unchanged.
        #expect(CoreDriver.effects(d.wrote(owns: true, epoch: 5)) == [.readPeerSlot])
        let started = CoreDriver.effects(d.slot(active, writes: false))
        #expect(d.state.role == .active)
        #expect(started.last == .startResource(0, epoch: 5))
    }

    @Test func oneChannelLostNeverCausesATakeover() {
        var d = Self.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for _ in 0..<100 {
            d.advance(d.config.heartbeatInterval)
            _ = d.heartbeat(active, channel: 1)
            _ = d.slot(active)
        }
        #expect(d.state.role == .standby)
        #expect(!d.state.channels[0].up && d.state.channels[1].up)
        #expect(d.state.alarm(.channelDown)?.message.contains("udp0") == true)
    }

    @Test func aNetworkPartitionWithTheDiskAliveNeverCausesATakeover() {
        var d = Self.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for _ in 0..<200 {
            d.advance(d.config.heartbeatInterval)
            _ = d.slot(active)  // the peer keeps writing its slot
        }
        #expect(d.state.role == .standby)
        #expect(!d.state.peerDead)
        #expect(d.state.alarm(.channelDown)?.message.contains("partition") == true)
    }

    @Test func diskLostWithTheNetworkAliveNeverCausesATakeover() {
        var d = Self.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for _ in 0..<200 {
            d.advance(d.config.heartbeatInterval)
            _ = d.heartbeat(active)
            _ = d.slot(active, readable: false)
        }
        #expect(d.state.role == .standby)
    }

    @Test func everythingLostButTheDiskUnreadableMeansNoTakeover() {
        var d = Self.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for _ in 0..<100 {
            d.advance(d.config.heartbeatInterval)
            _ = d.slot(active, readable: false)
        }
        #expect(d.state.peerDead)
        #expect(d.state.role == .standby, "without the shared storage the lease can be neither seen nor taken")
    }

    @Test func aFlappingLinkNeverCausesATakeover() {
        var d = Self.watching()
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for i in 0..<300 {
            d.advance(d.config.heartbeatInterval)
            if (i / 7) % 2 == 0 { _ = d.heartbeat(active, channel: 0) }
            _ = d.slot(active)
        }
        #expect(d.state.role == .standby)
        #expect(d.decisions().filter { $0 == .takeOver }.isEmpty)
    }

    @Test func aClaimThatMeetsThePeersClaimBacksOff() {
        var d = CoreDriver()
        d.boot()
        d.advance(d.config.startupDiscovery)
        _ = d.heartbeat(CoreDriver.view(.standby, healthy: false))
        _ = d.slot(CoreDriver.view(.standby, healthy: false))
        #expect(d.state.role == .acquiring)
        _ = d.wrote(owns: true, epoch: 1)
        // The peer claimed at the same moment: its slot changed and says it owns.
        _ = d.slot(CoreDriver.view(.acquiring, epoch: 1, owns: true))
        #expect(d.state.role == .standby)
        #expect(d.decisions().last == .acquireFailed)
        #expect(d.state.contendedUntil != nil)
    }
}

/// Releases: switchover, failback in each mode, step-down, resource failures, admin modes.
@Suite struct ReleaseTests {
    static let standbyPeer = CoreDriver.view(.standby, epoch: 1, ack: true)

    @Test func switchoverStopsInReverseThenReleasesForThePeer() {
        var d = CoreDriver()
        d.bootToActive()
        d.keepAliveAsActive(for: CoreDriver.ms(200))
        let actions = CoreDriver.effects(d.step(.admin(AdminCommand(verb: .switchover, source: "test"))))
        #expect(d.state.role == .releasing)
        #expect(actions == [.stopResource(1, epoch: 1)])
        #expect(CoreDriver.effects(d.outcome(1, .stop)) == [.stopResource(0, epoch: 1)])
        #expect(CoreDriver.effects(d.outcome(0, .stop)) == [.writeSlot(owns: false, epoch: 1)])
        #expect(!d.core.advertisement.owns && d.core.advertisement.yields == false)
        _ = d.wrote(owns: false, epoch: 1)
        #expect(d.state.role == .standby)
        #expect(d.core.advertisement.yields, "the peer takes over only when told so")
    }

    @Test func switchoverWithThePeerDeadIsRefusedAndChangesNothing() {
        var d = CoreDriver()
        d.bootToActive()
        for _ in 0..<50 {  // the peer silent; disk writes alone keep the lease
            d.advance(d.config.heartbeatInterval)
            _ = d.wrote(owns: true, epoch: 1)
        }
        let before = d.state
        let from = d.log.count
        let actions = d.step(.admin(AdminCommand(verb: .switchover, source: "test")))
        #expect(CoreDriver.effects(actions).allSatisfy { if case .raiseAlarm = $0 { true } else { false } })
        #expect(d.refusals(since: from).first?.contains("cannot take over") == true)
        #expect(d.state.role == before.role)
    }

    @Test(arguments: [FailbackMode.auto, .manual, .never])
    func failbackToThePreferredNode(mode: FailbackMode) {
        // This node (node-a) runs the group; node-b is preferred and comes back healthy.
        var d = CoreDriver(config: CoreDriver.defaultConfig(failback: mode, preferred: 2))
        d.boot()
        d.advance(d.config.startupDiscovery)
        _ = d.heartbeat(CoreDriver.view(.fenced, healthy: false))
        _ = d.slot(CoreDriver.view(.fenced, healthy: false))
        _ = d.wrote(owns: true, epoch: 1)
        _ = d.slot(CoreDriver.view(.fenced, healthy: false), writes: false)
        _ = d.outcome(0, .start)
        _ = d.outcome(1, .start)
        #expect(d.state.role == .active)
        d.keepAliveAsActive(for: CoreDriver.ms(1500), peer: Self.standbyPeer)
        switch mode {
        case .auto:
            #expect(d.state.role == .releasing, "healthy for the stability window: fail back")
            #expect(d.decisions().last == .release)
        case .manual:
            #expect(d.state.role == .active)
            _ = d.step(.admin(AdminCommand(verb: .failback, source: "test")))
            #expect(d.state.role == .releasing)
        case .never:
            #expect(d.state.role == .active)
            d.keepAliveAsActive(for: CoreDriver.ms(3000), peer: Self.standbyPeer)
            #expect(d.state.role == .active)
            let from = d.log.count
            _ = d.step(.admin(AdminCommand(verb: .failback, source: "test")))
            #expect(d.refusals(since: from) == ["failback mode is never; use switchover to move the group"])
            #expect(d.state.role == .active)
        }
    }

    @Test func failbackWithoutAPreferredNodeIsRefused() {
        var d = CoreDriver(config: CoreDriver.defaultConfig(preferred: nil))
        d.bootToActive()
        let from = d.log.count
        _ = d.step(.admin(AdminCommand(verb: .failback, source: "test")))
        #expect(d.refusals(since: from) == ["no preferred node is configured"])
        #expect(d.state.role == .active)
    }

    @Test func monitorFailuresRestartLocallyUpToTheLimitThenFailTheGroupOver() {
        var d = CoreDriver()
        d.bootToActive()
        d.keepAliveAsActive(for: CoreDriver.ms(100))
        for attempt in 1...2 {
            let actions = CoreDriver.effects(d.outcome(1, .monitor, .notRunning))
            #expect(d.decisions().last == .restartResource, "restart \(attempt)")
            #expect(actions.last == .stopResource(1, epoch: 1))
            #expect(CoreDriver.effects(d.outcome(1, .stop)) == [.startResource(1, epoch: 1)])
            _ = d.outcome(1, .start)
            #expect(d.state.resources == [.running, .running])
        }
        _ = d.outcome(1, .monitor, .failed(exitCode: 1))
        #expect(d.state.role == .releasing)
        #expect(d.state.alarm(.resourceFailed)?.severity == .critical)
        #expect(!d.state.healthy)
    }

    @Test func aStartFailureReleasesTheGroup() {
        var d = CoreDriver()
        d.boot()
        d.advance(d.config.startupDiscovery)
        _ = d.heartbeat(CoreDriver.view(.standby))
        _ = d.slot(CoreDriver.view(.standby))
        _ = d.wrote(owns: true, epoch: 1)
        _ = d.slot(CoreDriver.view(.standby), writes: false)
        _ = d.outcome(0, .start)
        let actions = CoreDriver.effects(d.outcome(1, .start, .failed(exitCode: 1)))
        #expect(d.state.role == .releasing)
        #expect(actions.contains(.stopResource(1, epoch: 1)))
    }

    /// A database that cannot start on the standby must not be started (and its VIP moved) in a loop while the
    /// peer is dead: the node stays out for the restart window, then tries once more.
    @Test func aGroupThatFailedToStartHereIsNotTakenAgainUntilTheRestartWindowIsOver() {
        var d = TakeoverTests.watching()
        let dead = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        d.now += d.config.leaseDuration + d.config.safetyMargin
        _ = d.slot(dead, writes: false)
        #expect(d.state.role == .acquiring)
        _ = d.wrote(owns: true, epoch: 5)
        _ = d.slot(dead, writes: false)
        _ = d.outcome(0, .start)
        let failed = CoreDriver.effects(d.outcome(1, .start, .failed(exitCode: 1)))
        #expect(failed.contains { if case .raiseAlarm(let a) = $0 { a.kind == .startFailed } else { false } })
        #expect(failed.contains(.clearAlarm(.tookOver)), "no took-over alarm left for a group that is not running")
        #expect(d.state.role == .releasing)
        _ = d.outcome(1, .stop)
        _ = d.outcome(0, .stop)
        _ = d.wrote(owns: false, epoch: 5)
        #expect(d.state.role == .standby)
        #expect(d.state.resources == [.stopped, .stopped])
        #expect(!d.state.healthy)
        let mark = d.log.count
        let window = d.config.restartWindow
        let end = d.now + window - 1_000_000_000
        while d.now < end {
            d.advance(1_000_000_000)
            _ = d.slot(dead, writes: false)
            _ = d.step(.timerFired)
        }
        #expect(!d.decisions(since: mark).contains(.takeOver), "no second try within the restart window")
        d.advance(2_000_000_000)
        _ = d.slot(dead, writes: false)
        #expect(d.decisions(since: mark).filter { $0 == .takeOver }.count == 1, "one more try after it")
    }

    @Test func aStopThatFailsEscalatesToAKillAndAKillThatFailsKeepsTheLease() {
        var d = CoreDriver()
        d.bootToActive()
        _ = d.step(.admin(AdminCommand(verb: .switchover, source: "test")))
        #expect(CoreDriver.effects(d.outcome(1, .stop, .timedOut)).contains(.killResource(1, epoch: 1)))
        _ = d.outcome(1, .kill, .failed(exitCode: 1))
        #expect(d.state.stuck)
        #expect(d.core.advertisement.owns, "a resource that may still run keeps the lease")
        #expect(d.state.alarm(.stopFailed)?.severity == .critical)
    }

    @Test func standbyAndMaintenance() {
        var d = CoreDriver()
        d.bootToActive()
        _ = d.step(.admin(AdminCommand(verb: .maintenanceOn, source: "test")))
        #expect(d.state.maintenance)
        // In maintenance nothing is decided: not even a self-fence when renewals stop. (Detection goes on:
        // the peer's silence is still reported.)
        d.advance(CoreDriver.ms(5000))
        let from = d.log.count
        let quiet = CoreDriver.effects(d.step(.timerFired))
        #expect(quiet.allSatisfy { if case .raiseAlarm = $0 { true } else { false } })
        #expect(d.decisions(since: from).isEmpty)
        #expect(d.state.role == .active && d.state.resources == [.running, .running])
        _ = d.wrote(owns: true, epoch: 1)  // the shell kept writing the slot all along
        _ = d.step(.admin(AdminCommand(verb: .maintenanceOff, source: "test")))
        #expect(d.state.role == .active)
        _ = d.step(.admin(AdminCommand(verb: .standby, source: "test")))
        #expect(d.state.adminStandby && d.state.role == .releasing)
        let later = d.log.count
        _ = d.step(.admin(AdminCommand(verb: .standby, source: "test")))
        #expect(d.refusals(since: later) == ["already in standby"])
    }
}

/// Bad input: recorded as rejected, never a crash, never a state change.
@Suite struct BadInputTests {
    @Test func inputsBeforeAConfigurationAreRejected() {
        var d = CoreDriver()
        _ = d.heartbeat(CoreDriver.view(.active))
        guard case .rejected(_, let reason) = d.log.last else {
            Issue.record("expected a rejected event")
            return
        }
        #expect(reason == "no configuration loaded yet")
        #expect(d.state == State(me: CoreDriver.me))
    }

    @Test func heartbeatsFromStrangersOrReplayedAreRejectedWithoutAStateChange() {
        var d = CoreDriver()
        d.bootToActive()
        let before = d.state
        let from = d.log.count
        _ = d.step(.heartbeat(Heartbeat(channel: 0, from: 9, sequence: 1, view: .unknown, echoOfOwnSentAt: nil)))
        _ = d.step(.heartbeat(Heartbeat(channel: 7, from: 2, sequence: 999, view: .unknown, echoOfOwnSentAt: nil)))
        _ = d.step(.heartbeat(Heartbeat(channel: 0, from: 1, sequence: 999, view: .unknown, echoOfOwnSentAt: nil)))
        _ = d.step(.heartbeat(Heartbeat(channel: 0, from: 2, sequence: 0, view: .unknown, echoOfOwnSentAt: nil)))
        let reasons = d.log[from...].compactMap { if case .rejected(_, let reason) = $0 { reason } else { nil } }
        #expect(reasons.count == 4)
        #expect(reasons[0] == "heartbeat from unknown node 9")
        #expect(reasons[1] == "heartbeat on unknown channel 7")
        #expect(reasons[3].hasPrefix("replayed or reordered heartbeat"))
        #expect(d.state == before)
    }

    @Test func aConfigurationForAnotherClusterOrInvalidIsRejected() {
        var d = CoreDriver()
        d.boot()
        var other = d.config
        other.cluster = "other"
        var broken = d.config
        broken.networkChannels = ["only-one"]
        let before = d.state
        _ = d.step(.configLoaded(other))
        _ = d.step(.configLoaded(broken))
        let reasons = d.log.suffix(2).compactMap { if case .rejected(_, let reason) = $0 { reason } else { nil } }
        #expect(
            reasons == [
                "configuration is for cluster other, not test",
                "invalid configuration: at least 2 network heartbeat channels are needed (found 1)",
            ]
        )
        #expect(d.state == before)
    }

    @Test func rejectionsByTheShellAreRecorded() {
        var d = CoreDriver()
        d.bootToActive()
        let before = d.state
        _ = d.step(.rejected(RejectedInput(reason: "bad HMAC", source: "192.0.2.7:7400")))
        guard case .input(let stamped) = d.log.last, case .rejected(let rejected) = stamped.input else {
            Issue.record("the shell's rejection must be in the log")
            return
        }
        #expect(rejected.source == "192.0.2.7:7400")
        var after = d.state
        after.inputsRecorded = before.inputsRecorded
        after.now = before.now
        after.wall = before.wall
        #expect(after == before)
    }
}

/// The state is a fold over the events: rebuilding from the log gives the same state, and replaying the
/// inputs gives the same events.
@Suite struct FoldTests {
    @Test func foldingTheLogRebuildsTheLiveState() {
        var d = CoreDriver()
        d.bootToActive()
        d.keepAliveAsActive(for: CoreDriver.ms(3000))
        _ = d.step(.admin(AdminCommand(verb: .switchover, source: "test")))
        _ = d.outcome(1, .stop)
        let rebuilt = Coordinator(node: CoreDriver.me, folding: d.log)
        #expect(rebuilt.state == d.state)
        #expect(ReplayCheck.firstDivergence(node: CoreDriver.me, log: d.log) == nil)
    }

    @Test func aRestartWithAStaleLogComesBackAsStartingAndStopsWhatItFinds() {
        var d = CoreDriver()
        d.bootToActive()
        d.keepAliveAsActive(for: CoreDriver.ms(500))
        // The node dies and comes back later; the peer took over meanwhile with epoch 2.
        var restarted = CoreDriver()
        restarted.core = Coordinator(node: CoreDriver.me, folding: d.log)
        #expect(restarted.state.role == .active, "the stale log says active")
        restarted.now = 3_000_000_000
        let actions = CoreDriver.effects(
            restarted.step(
                .started(NodeStart(node: CoreDriver.me, servhaVersion: "test", bootID: "boot-2", configHash: []))
            )
        )
        #expect(restarted.state.role == .starting)
        #expect(actions == [.stopResource(1, epoch: 1)], "unknown after a restart: stopped, top down")
        #expect(restarted.state.resources == [.failed, .stopping])
        _ = restarted.step(.configLoaded(restarted.config))
        _ = restarted.outcome(1, .stop)
        _ = restarted.outcome(0, .stop)
        restarted.advance(restarted.config.startupDiscovery)
        let peerActive = CoreDriver.view(.active, epoch: 2, owns: true, up: 3)
        _ = restarted.heartbeat(peerActive)
        _ = restarted.slot(peerActive)
        #expect(restarted.state.role == .standby)
        #expect(restarted.state.highestEpoch == 2)
    }
}

/// Alarm notices stay pending in the state (and so in the log) until every sink confirmed them.
@Suite struct AlarmNoticeTests {
    @Test func aNoticeIsPendingUntilEverySinkHasIt() {
        var config = CoreDriver.defaultConfig()
        config.alarmSinks = 2
        var d = CoreDriver(config: config)
        d.bootToActive()
        #expect(d.state.pendingNotices.map(\.alarm.kind) == [.tookOver])
        _ = d.step(
            .alarmDelivery(
                AlarmDelivery(kind: .tookOver, raised: true, sink: 1, succeeded: false, attempt: 1, detail: "timeout")
            )
        )
        _ = d.step(
            .alarmDelivery(
                AlarmDelivery(kind: .tookOver, raised: true, sink: 1, succeeded: true, attempt: 2, detail: "")
            )
        )
        #expect(d.state.pendingNotices.first?.delivered == 0b10)
        // A restart folds the log: the notice is still owed to sink 0.
        let restarted = Coordinator(node: CoreDriver.me, folding: d.log)
        #expect(restarted.state.pendingNotices == d.state.pendingNotices)
        _ = d.step(
            .alarmDelivery(
                AlarmDelivery(kind: .tookOver, raised: true, sink: 0, succeeded: true, attempt: 1, detail: "")
            )
        )
        #expect(d.state.pendingNotices.isEmpty)
        // A delivery to a sink that does not exist is rejected and changes nothing.
        let before = d.state
        _ = d.step(
            .alarmDelivery(
                AlarmDelivery(kind: .tookOver, raised: true, sink: 5, succeeded: true, attempt: 1, detail: "")
            )
        )
        #expect(d.state == before)
    }
}

/// The log's file system filling up is an alarm long before the log fails (then the node stops deciding).
@Suite struct LogSpaceTests {
    static func raised(_ actions: [Action]) -> [AlarmKind] {
        actions.compactMap { if case .raiseAlarm(let alarm) = $0 { alarm.kind } else { nil } }
    }

    @Test func lowSpaceRaisesOnceAndClearsWithHysteresis() {
        var d = CoreDriver()
        d.bootToActive()
        let total: UInt64 = 1_000 * 1_048_576
        func sample(_ freePercent: UInt64) -> [Action] {
            CoreDriver.effects(d.step(.logSpace(LogSpace(freeBytes: total / 100 * freePercent, totalBytes: total))))
        }
        #expect(sample(50).isEmpty)
        let low = sample(9)
        #expect(Self.raised(low) == [.logSpaceLow])
        #expect(d.state.alarm(.logSpaceLow)?.severity == .critical)
        #expect(d.state.alarm(.logSpaceLow)?.message.contains("90 MiB of 1000 MiB free") == true)
        #expect(sample(8).isEmpty, "raised once, not on every sample")
        #expect(sample(12).isEmpty, "between the thresholds nothing changes")
        #expect(d.state.alarm(.logSpaceLow) != nil)
        #expect(sample(15) == [.clearAlarm(.logSpaceLow)])
        #expect(d.state.alarm(.logSpaceLow) == nil)
        #expect(sample(20).isEmpty)
        #expect(d.state.role == .active, "an alarm, not a decision")
    }
}

/// The archive command failing is an alarm (retention then keeps the segment); its next success clears it.
@Suite struct ArchiveAlarmTests {
    @Test func aFailedArchiveRaisesOnceAndASuccessClears() {
        var d = CoreDriver()
        d.bootToActive()
        func archived(_ succeeded: Bool) -> [Action] {
            CoreDriver.effects(
                d.step(.archived(ArchiveOutcome(segment: "00000000000000000001.seg", succeeded: succeeded, detail: "exited 1")))
            )
        }
        #expect(archived(true).isEmpty)
        #expect(LogSpaceTests.raised(archived(false)) == [.archiveFailed])
        #expect(d.state.alarm(.archiveFailed)?.message.contains("00000000000000000001.seg") == true)
        #expect(d.state.alarm(.archiveFailed)?.message.contains("the segment is kept") == true)
        #expect(archived(false).isEmpty, "raised once")
        #expect(archived(true) == [.clearAlarm(.archiveFailed)])
        #expect(d.state.role == .active, "an alarm, not a decision")
    }
}
