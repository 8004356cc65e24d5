import EventLog
import Testing

@testable import Coordinator

/// Drives one bare core by hand: every input is built here with an explicit time, and each step returns the
/// whole action list for the test to assert.
struct CoreDriver {
    var core: Coordinator
    var now: Instant = 1_000_000_000
    var log: [Event] = []
    let config: ClusterConfig
    var peerSequence: UInt64 = 0
    var peerCounter: UInt64 = 0

    static let me: NodeID = 1
    static let peer: NodeID = 2

    static func defaultConfig(failback: FailbackMode = .manual, preferred: NodeID? = 1) -> ClusterConfig {
        var config = ClusterConfig(
            cluster: "test",
            nodes: [NodeConfig(id: me, name: "node-a"), NodeConfig(id: peer, name: "node-b")],
            networkChannels: ["udp0", "udp1"],
            resources: [ResourceConfig(name: "vip"), ResourceConfig(name: "db")]
        )
        config.preferredNode = preferred
        config.failback = failback
        config.failbackStability = 1_000_000_000
        config.maxLocalRestarts = 2
        return config
    }

    init(config: ClusterConfig = CoreDriver.defaultConfig()) {
        self.config = config
        core = Coordinator(node: Self.me)
    }

    var state: State { core.state }

    static func ms(_ value: UInt64) -> Nanos { value * 1_000_000 }

    /// Feeds one input at the current time and returns the actions.
    @discardableResult
    mutating func step(_ input: Input) -> [Action] {
        let output = core.handle(StampedInput(at: now, wall: 1_790_000_000_000_000_000 + Int64(now), input))
        log += output.events
        return output.actions
    }

    mutating func advance(_ nanos: Nanos) { now += nanos }

    /// The actions, without timer re-arming (which most steps do and few tests care about).
    static func effects(_ actions: [Action]) -> [Action] {
        actions.filter { if case .armTimer = $0 { false } else { true } }
    }

    /// Decisions emitted since `from` in the log.
    func decisions(since from: Int = 0) -> [DecisionKind] {
        log[from...].compactMap { if case .decision(let d) = $0 { d.kind } else { nil } }
    }

    func refusals(since from: Int = 0) -> [String] {
        log[from...].compactMap { if case .commandRefused(_, let reason) = $0 { reason } else { nil } }
    }

    static func view(
        _ role: Role,
        epoch: Epoch = 0,
        owns: Bool = false,
        up: UInt64 = 0,
        ack: Bool = false,
        yields: Bool = false,
        healthy: Bool = true,
        arbitrator: Bool? = true
    ) -> Advertisement {
        Advertisement(
            role: role,
            epoch: epoch,
            owns: owns,
            resourcesUp: up,
            arbitratorReachable: arbitrator,
            acknowledgesPeer: ack,
            yields: yields,
            healthy: healthy,
            maintenance: false
        )
    }

    mutating func heartbeat(_ view: Advertisement, channel: UInt8 = 0, echo: Instant? = nil) -> [Action] {
        peerSequence += 1
        return step(
            .heartbeat(
                Heartbeat(channel: channel, from: Self.peer, sequence: peerSequence, view: view, echoOfOwnSentAt: echo)
            )
        )
    }

    /// A read of the peer's slot; `writes` says whether the peer wrote since the last read (counter moves).
    mutating func slot(
        _ view: Advertisement,
        writes: Bool = true,
        readable: Bool = true,
        startedAt: Instant? = nil
    ) -> [Action] {
        if writes { peerCounter += 1 }
        return step(
            .diskSlot(
                SlotReading(
                    node: Self.peer,
                    readable: readable,
                    counter: peerCounter,
                    view: view,
                    startedAt: startedAt ?? now
                )
            )
        )
    }

    mutating func wrote(
        owns: Bool,
        epoch: Epoch,
        ok: Bool = true,
        startedAt: Instant? = nil,
        diskOnly: Bool = false
    ) -> [Action] {
        step(
            .slotWritten(
                SlotWrite(succeeded: ok, startedAt: startedAt ?? now, owns: owns, epoch: epoch, diskOnly: diskOnly)
            )
        )
    }

    mutating func outcome(
        _ resource: Int,
        _ operation: ResourceOperation,
        _ result: ResourceResult = .succeeded
    ) -> [Action] {
        step(
            .resourceOutcome(
                ResourceOutcome(
                    resource: resource,
                    operation: operation,
                    result: result,
                    epoch: state.epoch,
                    tookNanos: 1_000
                )
            )
        )
    }

    /// Start, load the config, and stop the unknown resources (the clean slate), as a daemon does.
    mutating func boot() {
        step(.started(NodeStart(node: Self.me, servhaVersion: "test", bootID: "boot-1", configHash: config.hash)))
        let actions = step(.configLoaded(config))
        #expect(Self.effects(actions) == [.stopResource(1, epoch: 0)])
        #expect(Self.effects(outcome(1, .stop)) == [.stopResource(0, epoch: 0)])
        #expect(Self.effects(outcome(0, .stop)).isEmpty)
        #expect(state.resources == [.stopped, .stopped])
        #expect(state.role == .starting)
    }

    /// From boot to active with both resources running, the peer a healthy standby.
    mutating func bootToActive() {
        boot()
        advance(config.startupDiscovery)
        _ = heartbeat(Self.view(.standby))
        #expect(decisions().last == .becomeStandby)
        let claim = slot(Self.view(.standby))
        #expect(state.role == .acquiring)
        #expect(Self.effects(claim) == [.writeSlot(owns: true, epoch: 1)])
        #expect(Self.effects(wrote(owns: true, epoch: 1)) == [.readPeerSlot])
        let acquired = Self.effects(slot(Self.view(.standby), writes: false))
        #expect(state.role == .active)
        #expect(acquired.last == .startResource(0, epoch: 1))
        #expect(acquired.contains { if case .raiseAlarm(let a) = $0 { a.kind == .tookOver } else { false } })
        #expect(Self.effects(outcome(0, .start)) == [.startResource(1, epoch: 1)])
        #expect(Self.effects(outcome(1, .start)).isEmpty)
        #expect(state.resources == [.running, .running])
    }

    /// Keeps an active node's lease and the peer's channels alive for `duration`, one heartbeat interval at a
    /// time (disk write, heartbeats with echoes on both channels, slot read).
    mutating func keepAliveAsActive(for duration: Nanos, peer: Advertisement? = nil) {
        let view = peer ?? Self.view(.standby, epoch: state.epoch, ack: true)
        var elapsed: Nanos = 0
        while elapsed < duration {
            advance(config.heartbeatInterval)
            elapsed += config.heartbeatInterval
            _ = wrote(owns: true, epoch: state.epoch)
            _ = heartbeat(view, channel: 0, echo: now - 1_000_000)
            _ = heartbeat(view, channel: 1, echo: now - 1_000_000)
            _ = slot(view)
        }
    }
}
