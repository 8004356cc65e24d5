import Testing

@testable import Coordinator

/// With fencing configured, a standby takes the group from a peer that did not hand it over only once the peer
/// is fenced; a failed fence is retried later, raises an alarm, and never falls through to a takeover.
@Suite struct FencingTests {
    /// A standby watching an active peer (as `TakeoverTests.watching`), with fencing on; then the peer goes silent
    /// and its lease (plus the margin) runs out.
    static func peerLost() -> CoreDriver {
        var config = CoreDriver.defaultConfig(preferred: 2)
        config.fencing = true
        config.fenceRetry = 2_000_000_000
        var d = CoreDriver(config: config)
        d.boot()
        d.advance(d.config.startupDiscovery)
        let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)
        for _ in 0..<10 {
            d.advance(d.config.heartbeatInterval)
            _ = d.heartbeat(active, channel: 0)
            _ = d.heartbeat(active, channel: 1)
            _ = d.slot(active)
        }
        #expect(d.state.role == .standby)
        d.advance(d.config.leaseDuration + d.config.safetyMargin)
        return d
    }

    static let active = CoreDriver.view(.active, epoch: 3, owns: true, up: 3)

    @Test func theStandbyFencesFirstAndTakesOverOnlyOnceTheFenceSucceeded() {
        var d = Self.peerLost()
        let fence = CoreDriver.effects(d.slot(Self.active, writes: false))
        #expect(
            fence.filter { if case .raiseAlarm = $0 { false } else { true } } == [.fencePeer(epoch: 4)],
            "fence, and nothing else yet"
        )
        #expect(d.decisions().last == .fencePeer)
        #expect(d.state.role == .standby && d.state.fencePending)
        // While the fence runs: no second fence, no takeover.
        d.advance(300_000_000)
        #expect(CoreDriver.effects(d.slot(Self.active, writes: false)).isEmpty)
        d.advance(160_000_000)
        _ = d.step(.fenceOutcome(succeeded: true, detail: "fence_ipmilan off node-b: exit 0 in 0.46 s"))
        #expect(d.state.peerFenced)
        // The next read of the shared storage (every interval) finds the lease still unrenewed: take it.
        d.advance(d.config.heartbeatInterval)
        let takeover = CoreDriver.effects(d.slot(Self.active, writes: false))
        #expect(d.state.role == .acquiring)
        #expect(takeover.contains(.writeSlot(owns: true, epoch: 5)))
        #expect(d.decisions().suffix(2) == [.fencePeer, .takeOver])
    }

    @Test func aFailedFenceIsRetriedLaterRaisesAnAlarmAndNeverTakesOver() {
        var d = Self.peerLost()
        _ = d.slot(Self.active, writes: false)
        let failed = CoreDriver.effects(d.step(.fenceOutcome(succeeded: false, detail: "fence_ipmilan off node-b: exit 1: Unable to connect")))
        #expect(d.state.role == .standby, "a failed fence never falls through to a takeover")
        #expect(failed.contains { if case .raiseAlarm(let alarm) = $0 { alarm.kind == .fenceFailed } else { false } })
        #expect(d.state.alarm(.fenceFailed)?.message.contains("Unable to connect") == true)
        #expect(!failed.contains { if case .fencePeer = $0 { true } else { false } }, "not at once")
        #expect(d.state.fenceRetryAt == d.now + d.config.fenceRetry)
        // Until the retry time: nothing, however often it looks.
        for _ in 0..<10 {
            d.advance(d.config.fenceRetry / 11)
            #expect(CoreDriver.effects(d.slot(Self.active, writes: false)).isEmpty)
        }
        d.now = d.state.fenceRetryAt!
        let retry = CoreDriver.effects(d.slot(Self.active, writes: false))
        #expect(retry.contains(.fencePeer(epoch: 4)))
        guard case .decision(let decision) = d.log.last(where: { if case .decision = $0 { true } else { false } }) else {
            Issue.record("no decision")
            return
        }
        #expect(decision.reason.contains("attempt 2"))
        // The second attempt works: the alarm clears and the group is taken.
        let fenced = CoreDriver.effects(d.step(.fenceOutcome(succeeded: true, detail: "ok")))
        #expect(fenced.contains(.clearAlarm(.fenceFailed)))
        d.advance(d.config.heartbeatInterval)
        _ = d.slot(Self.active, writes: false)
        #expect(d.state.role == .acquiring)
    }

    @Test func aPeerHeardAgainIsNotFencedAndItsFailuresAreForgotten() {
        var d = Self.peerLost()
        _ = d.slot(Self.active, writes: false)
        _ = d.step(.fenceOutcome(succeeded: false, detail: "timed out"))
        #expect(d.state.fenceFailures == 1)
        // It was frozen, not dead: it is heard again, renews, and nothing is fenced or taken.
        d.advance(d.config.heartbeatInterval)
        _ = d.heartbeat(Self.active, channel: 0)
        _ = d.slot(Self.active)
        #expect(d.state.fenceFailures == 0 && d.state.fenceRetryAt == nil)
        d.now = d.now + d.config.fenceRetry
        _ = d.heartbeat(Self.active, channel: 0)
        #expect(!d.decisions().suffix(1).contains(.takeOver))
        #expect(d.state.role == .standby)
    }
}
