import Testing

@testable import Coordinator

/// The driver step by step: each observation, the whole list of effects it returns, and time moved by hand.
@Suite struct NodeDriverTests {
    static let wall: Int64 = 1_790_000_000_000_000_000

    /// An active node (CoreDriver's boot), now with the driver around its core.
    static func activeDriver() -> (NodeDriver, Instant) {
        var d = CoreDriver()
        d.bootToActive()
        return (NodeDriver(core: d.core, sequenceStart: 1000, slotCounterStart: 50), d.now)
    }

    /// The effects without the log appends (asserted separately where they matter).
    static func outside(_ effects: [NodeDriver.Effect]) -> [NodeDriver.Effect] {
        effects.filter { if case .append = $0 { false } else { true } }
    }

    static func decisions(_ effects: [NodeDriver.Effect]) -> [DecisionKind] {
        effects.flatMap { effect -> [DecisionKind] in
            guard case .append(let events, _) = effect else { return [] }
            return events.compactMap { if case .decision(let d) = $0 { d.kind } else { nil } }
        }
    }

    @Test func aTickSendsOnEveryChannelWritesAndReadsOnceAtATime() {
        var (driver, now) = Self.activeDriver()
        let view = driver.core.advertisement
        now += 20_000_000
        let first = driver.tick(at: now, wall: Self.wall)
        #expect(
            Self.outside(first) == [
                .send(.init(channel: 0, sequence: 1001, echo: 0, view: view)),
                .send(.init(channel: 1, sequence: 1002, echo: 0, view: view)),
                .writeSlot(counter: 51, view: view, startedAt: now),
                .readSlot(startedAt: now),
            ]
        )
        // The disk is slow: the next tick sends, but starts no second write or read.
        let second = driver.tick(at: now + 20_000_000, wall: Self.wall)
        #expect(
            Self.outside(second) == [
                .send(.init(channel: 0, sequence: 1003, echo: 0, view: view)),
                .send(.init(channel: 1, sequence: 1004, echo: 0, view: view)),
            ]
        )
        // When the write is back, the one asked for meanwhile starts, with the view as of then.
        let back = driver.slotWritten(succeeded: true, startedAt: now, view: view, at: now + 30_000_000, wall: Self.wall)
        #expect(Self.outside(back).contains(.writeSlot(counter: 52, view: view, startedAt: now + 30_000_000)))
        #expect(driver.state.lastRenewal == now, "a write renews as of its start")
    }

    @Test func anEchoRenewsAsOfTheSendTimeOfTheHeartbeatItEchoes() {
        var (driver, now) = Self.activeDriver()
        now += 20_000_000
        _ = driver.tick(at: now, wall: Self.wall)  // sequences 1001 and 1002, sent at `now`
        let ack = CoreDriver.view(.standby, epoch: 1, ack: true)
        _ = driver.received(channel: 0, from: 2, sequence: 77, echo: 1002, view: ack, at: now + 1_000_000, wall: Self.wall)
        #expect(driver.state.lastRenewal == now)
        #expect(driver.newestReceived == 77)
        // An echo of a sequence this node never sent (or sent too long ago) renews nothing.
        _ = driver.received(channel: 1, from: 2, sequence: 78, echo: 999, view: ack, at: now + 2_000_000, wall: Self.wall)
        #expect(driver.state.lastRenewal == now)
        // The next heartbeats echo the newest sequence received.
        let sends = Self.outside(driver.tick(at: now + 20_000_000, wall: Self.wall)).compactMap { effect -> UInt64? in
            if case .send(let heartbeat) = effect { heartbeat.echo } else { nil }
        }
        #expect(sends == [78, 78])
    }

    /// While the pair hears each other both ways, a slot that would only repeat itself is written every other
    /// tick at the default timings; a silent peer, a peer that does not accept the ownership, or a changed view
    /// brings back a write every tick.
    @Test func routineSlotWritesHalveWhileThePairHearsEachOther() {
        var (driver, now) = Self.activeDriver()
        let config = driver.state.config!
        #expect(NodeDriver.quietWriteInterval(config) == 2 * config.heartbeatInterval)
        let ack = CoreDriver.view(.standby, epoch: 1, ack: true)
        var peerSequence: UInt64 = 500
        /// Completes the slot writes and reads among `effects` at once; whether there was a write.
        func complete(_ effects: [NodeDriver.Effect]) -> Bool {
            var wrote = false
            for effect in effects {
                if case .writeSlot(_, let view, let startedAt) = effect {
                    wrote = true
                    _ = driver.slotWritten(succeeded: true, startedAt: startedAt, view: view, at: now, wall: Self.wall)
                } else if case .readSlot(let startedAt) = effect {
                    let reading = SlotReading(node: 2, readable: true, counter: peerSequence, view: ack, startedAt: startedAt)
                    _ = driver.slotRead(reading, at: now, wall: Self.wall)
                }
            }
            return wrote
        }
        /// One tick (the peer's heartbeat echoing it arrives a millisecond later when `heard`); whether it wrote.
        func tick(heard: Bool, view peerView: Advertisement = ack) -> Bool {
            now += config.heartbeatInterval
            let wrote = complete(driver.tick(at: now, wall: Self.wall))
            if heard {
                peerSequence += 1
                _ = driver.received(
                    channel: 0, from: 2, sequence: peerSequence, echo: driver.sendSequence, view: peerView,
                    at: now + 1_000_000, wall: Self.wall
                )
            }
            return wrote
        }
        #expect(tick(heard: true), "nothing written yet")
        let steady = (0..<8).map { _ in tick(heard: true) }
        #expect(steady == [false, true, false, true, false, true, false, true])
        // Heard, but the peer does not accept the ownership: the writes are the renewals, every tick.
        let unacknowledged = CoreDriver.view(.standby, epoch: 1, ack: false)
        let notAccepted = (0..<4).map { _ in tick(heard: true, view: unacknowledged) }
        #expect(notAccepted.dropFirst() == [true, true, true], "from the first such heartbeat on")
        #expect([tick(heard: true), tick(heard: true), tick(heard: true)].contains(false), "every other tick again")
        // A changed view is written at once, whatever the interval.
        let before = driver.core.advertisement
        let command = driver.observe(.admin(AdminCommand(verb: .maintenanceOn, source: "test")), at: now, wall: Self.wall)
        #expect(driver.core.advertisement != before)
        #expect(complete(command) || tick(heard: true), "maintenance changes the view")
        _ = complete(driver.observe(.admin(AdminCommand(verb: .maintenanceOff, source: "test")), at: now, wall: Self.wall))
        #expect([tick(heard: true), tick(heard: true), tick(heard: true)].contains(false), "every other tick again")
        // The peer goes silent: within half a channel deadline every tick writes again.
        let silent = (0..<6).map { _ in tick(heard: false) }
        #expect(silent.suffix(4) == [true, true, true, true])
        #expect(driver.state.role == .active)
    }

    @Test func onlyTheNewestTimerFires() {
        var (driver, now) = Self.activeDriver()
        now += 20_000_000
        let effects = driver.tick(at: now, wall: Self.wall)
        _ = effects
        let token = driver.timerToken
        #expect(driver.timerFired(token: token &- 1, at: now + 1, wall: Self.wall).isEmpty, "a stale wake-up")
        #expect(!driver.timerFired(token: token, at: now + 1, wall: Self.wall).isEmpty)
    }

    @Test func oneMonitorAtATimeAndAResultForAStoppedResourceIsDropped() {
        var (driver, now) = Self.activeDriver()
        let epoch = driver.state.epoch
        #expect(Self.outside(driver.monitorDue(1, at: now, wall: Self.wall)) == [.runAgent(resource: 1, operation: .monitor, epoch: epoch)])
        #expect(Self.outside(driver.monitorDue(1, at: now, wall: Self.wall)).isEmpty, "the first is still running")
        // Switchover: the group stops from the top; resource 1 stops while its monitor runs.
        _ = driver.observe(.admin(AdminCommand(verb: .switchover, source: "test")), at: now, wall: Self.wall)
        now += 1_000
        let stopped = ResourceOutcome(resource: 1, operation: .stop, result: .succeeded, epoch: epoch, tookNanos: 1)
        _ = driver.agentFinished(stopped, at: now, wall: Self.wall)
        #expect(driver.state.resources[1] == .stopped)
        let inputs = driver.state.inputsRecorded
        let late = ResourceOutcome(resource: 1, operation: .monitor, result: .notRunning, epoch: epoch, tookNanos: 1)
        #expect(driver.agentFinished(late, at: now + 1, wall: Self.wall).isEmpty)
        #expect(driver.state.inputsRecorded == inputs, "the stale result never reached the core")
    }

    /// The paused active: nothing woke it while its lease ran out. On its first tick it steps down before it
    /// sends anything, and what it sends no longer claims the group.
    @Test func aNodeWokenPastItsLeaseStepsDownBeforeItSendsOrWrites() {
        var (driver, now) = Self.activeDriver()
        let config = driver.state.config!
        now += 3_000_000_000  // SIGSTOP for 3 s
        let effects = driver.tick(at: now, wall: Self.wall)
        guard case .append(let events, let flush)? = effects.first else {
            Issue.record("the first effect must be the self-fence, in the log")
            return
        }
        #expect(flush, "durable before the kills")
        #expect(events.contains { if case .decision(let d) = $0 { d.kind == .selfFence } else { false } })
        #expect(driver.state.role == .fenced)
        for effect in effects {
            switch effect {
            case .send(let heartbeat): #expect(!heartbeat.view.owns)
            case .writeSlot(_, let view, _): #expect(!view.owns)
            case .append, .readSlot, .runAgent, .wake, .announce, .fence, .guardLease, .raiseAlarm, .clearAlarm: break
            }
        }
        #expect(effects.contains(.runAgent(resource: 1, operation: .kill, epoch: 1)))
        _ = config
    }

    /// A write that hung through a pause and completes after the lease ran out brings nothing back.
    @Test func aWriteThatCompletesAfterTheLeaseEndedDoesNotRenewIt() {
        var (driver, now) = Self.activeDriver()
        let view = driver.core.advertisement
        let renewal = driver.state.lastRenewal!
        let end = driver.state.leaseEnd!
        let effects = driver.slotWritten(succeeded: true, startedAt: end - 1, view: view, at: end + 1, wall: Self.wall)
        #expect(driver.state.lastRenewal == renewal)
        #expect(Self.decisions(effects) == [.selfFence])
        now = end + 1
        _ = now
    }

    @Test func aRestartedPeerIsHeardAtOnceWhateverItsSequence() {
        var (driver, now) = Self.activeDriver()
        let ack = CoreDriver.view(.standby, epoch: 1, ack: true)
        now += 1_000_000
        _ = driver.received(channel: 0, from: 2, sequence: 900_000, echo: 0, view: ack, at: now, wall: Self.wall)
        // The peer restarts with a lower boot nonce; by the time it is back, the channel has gone quiet.
        now += driver.state.config!.channelDeadline + 1
        _ = driver.timerFired(token: driver.timerToken, at: now, wall: Self.wall)
        #expect(!driver.state.channels[0].up)
        let effects = driver.received(channel: 0, from: 2, sequence: 5, echo: 0, view: ack, at: now + 1, wall: Self.wall)
        let rejected = effects.contains { effect in
            guard case .append(let events, _) = effect else { return false }
            return events.contains { if case .rejected = $0 { true } else { false } }
        }
        #expect(!rejected)
        #expect(driver.state.channels[0].lastSequence == 5)
        // While the channel is up, an older sequence is still a replay.
        let replay = driver.received(channel: 0, from: 2, sequence: 4, echo: 0, view: ack, at: now + 2, wall: Self.wall)
        #expect(replay.contains { effect in
            guard case .append(let events, _) = effect else { return false }
            return events.contains { if case .rejected = $0 { true } else { false } }
        })
    }
}
