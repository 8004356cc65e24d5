@_spi(BrokenRulesForTesting) import Coordinator
import EventLog

enum Happening {
    case tick(node: Int, boot: Int)
    case heartbeat(to: Int, boot: Int, from: NodeID, heartbeat: NodeDriver.OutgoingHeartbeat)
    case slotWriteDone(node: Int, boot: Int, succeeded: Bool, startedAt: Instant, view: Advertisement)
    /// A read of the peer's slot answers with what the slot held at `sampledAt` (simulation time).
    case slotReadDone(node: Int, boot: Int, readable: Bool, sampledAt: UInt64, startedAt: Instant)
    case arbitratorDone(node: Int, boot: Int)
    case monitor(node: Int, boot: Int)
    case timer(node: Int, boot: Int, token: UInt64)
    /// A start, stop or kill ends with `result`; `endsProcess` when it really stopped the resource.
    case resourceDone(
        node: Int,
        boot: Int,
        resource: Int,
        operation: ResourceOperation,
        epoch: Epoch,
        token: UInt64,
        result: ResourceResult,
        endsProcess: Bool
    )
    case monitorDone(node: Int, boot: Int, resource: Int, epoch: Epoch, result: ResourceResult)
    case fenceDone(node: Int, boot: Int, answer: FenceAnswer)
    case start(node: Int)
    case crash(node: Int)
    /// The host boots again (new clocks), or only the daemon is restarted by systemd (`hostBoot` false).
    case restart(node: Int, hostBoot: Bool)
    case admin(node: Int, verb: AdminVerb)
    case adminOnActive(verb: AdminVerb)
    case cut(channel: Int, cut: Bool)
    case flap(channel: Int, until: UInt64)
    case isolate(node: Int, on: Bool)
    case diskDown(node: Int, on: Bool)
    case stall(on: Bool)
    /// Slot I/O of one node (or of both, the array) issued before `until` stalls for seconds.
    case diskStall(node: Int, both: Bool, until: UInt64)
    case loss(on: Bool)
    case arbitrator(node: Int, reachable: Bool)
    /// The active node dies (the host, or only the daemon when `hostBoot` is false), and comes back after
    /// `restartAfter` if given.
    case crashActive(restartAfter: UInt64?, hostBoot: Bool)
    case monitorFailures(resource: Int, count: Int)
    /// The active node's agents go wrong (and a trigger that makes them run: a monitor failure, a switchover).
    case breakAgents(AgentFaults, trigger: AgentTrigger)
    case healAgents
    case clockJump(node: Int, by: Int64)
    case checkTakeover(survivor: Int, crashedAt: UInt64)
    /// Every fault healed at `healedAt`: the group must run somewhere now.
    case checkRecovery(healedAt: UInt64)
    /// After the last fault healed: is the group running, and has it for `settleTime`?
    case watchRecovery(RecoveryWatch)
    /// The guard's deadline (node `n`'s clock `until`) comes: unless re-armed since, it takes the group down.
    case guardCheck(node: Int, boot: Int, until: Instant)
    case pauseActive(duration: UInt64, host: Bool)
    case fenceDevice(FenceDevice)
}

/// What makes a broken agent run.
enum AgentTrigger {
    /// The resource's monitor fails once: the core restarts it (stop, then start) here.
    case monitorFailure(resource: Int)
    case switchover
}

struct SimulationWorld {
    let seed: UInt64
    private(set) var config: ClusterConfig
    /// When the run ends: the options' duration, or later when the last recovery check comes after it.
    var duration: UInt64
    /// The options' duration: no run ends before.
    let minimumDuration: UInt64
    let long: Bool
    var rng: SplitMix64
    /// The clocks' own random stream (see `SimulatedClock`).
    var clockRNG: SplitMix64
    var faults: [FaultKind] = []
    var nodes: [SimulatedNode]
    var queue = SimulationQueue<Happening>()
    var now: UInt64 = 0
    var violations: [Violation] = []
    var takeovers = 0
    var inputs = 0
    var disk = SimulatedDisk()
    var channelCut: [Bool]
    var isolated = [false, false]
    var lossPerMille: UInt64 = 0
    var diskLatency: UInt64 = 1_000_000
    var checkBound = false
    /// Both nodes run resources right now (an overlap is reported once, when it begins).
    var overlapping = false
    /// How often a guard took a group down (a paused daemon's lease ran out).
    var guardKills = 0
    var guards = true
    var fenceDevice = FenceDevice.works
    /// Both nodes' first ticks come at the same instant (`simultaneous`).
    var lockstepPhase: UInt64?
    /// Every decision with the simulation time it was taken at, in order.
    var timeline: [SimulatedDecision] = []
    let brokenClaimRule: Bool

    static let startDuration: [UInt64] = [3_000_000, 1_000_000, 60_000_000]
    static let stopDuration: [UInt64] = [2_000_000, 1_000_000, 100_000_000]
    static let takeoverBound: UInt64 = 600_000_000
    /// The agents' timeouts as the simulated daemon is configured (shorter than the daemon's defaults, so that a
    /// hang fits in a run).
    static let startTimeout: UInt64 = 2_000_000_000
    static let stopTimeout: UInt64 = 3_000_000_000
    static let fenceTimeout: UInt64 = 4_000_000_000
    /// A fenced host is power-cycled (the fence agents' default action): it boots again this much later.
    static let fenceReboot: UInt64 = 3_000_000_000

    var logs: [[Event]] { nodes.map(\.log) }

    init(options: SimulationOptions) {
        seed = options.seed
        duration = options.durationNanos
        minimumDuration = options.durationNanos
        long = options.faultsPerRun != nil
        brokenClaimRule = options.brokenClaimRule
        rng = SplitMix64(seed: options.seed &* 0x9E37_79B9 &+ 17)
        clockRNG = SplitMix64(seed: (options.clockSeed ?? options.seed) &* 0xD1B5_4A32_D192_ED03 &+ 5)
        let failback: FailbackMode = [.auto, .manual, .never][Int(rng.next() % 3)]
        config = Simulator.config(failback: failback, cluster: options.cluster)
        let resources = config.resources.count
        nodes = [Simulator.nodeA, Simulator.nodeB].map { id in
            SimulatedNode(
                id: id,
                driver: NodeDriver(core: Coordinator(node: id), sequenceStart: 0, slotCounterStart: 0),
                physical: Array(repeating: false, count: resources),
                resourceToken: Array(repeating: 0, count: resources)
            )
        }
        channelCut = Array(repeating: false, count: config.networkChannels.count)
        // Drawn even when the faults are given, so that `--seed S --faults F` replays the run that seed S chose F in.
        let drawn = chooseFaults(count: options.faultsPerRun)
        faults = options.faults ?? drawn
        // A frozen host can run beside its successor unless it is fenced (as on a real pair): runs that freeze a
        // host have fencing configured.
        if faults.contains(.freeze) && options.fencingForFreeze { config.fencing = true }
        if faults.contains(.fenceFailure) || faults.contains(.fenceHang) { config.fencing = true }
        guards = options.guards
        schedule()
    }

    // MARK: - Running

    mutating func run() {
        while let (time, happening) = queue.pop() {
            if time > duration { break }
            now = time
            perform(happening)
            checkSingleActive()  // after every step, not only at starts
        }
        now = duration
        checkEnd()
    }

    func mono(_ n: Int) -> Instant { nodes[n].clock.mono(at: now) }

    func peer(of n: Int) -> Int { 1 - n }

    func live(_ n: Int, _ boot: Int) -> Bool { nodes[n].alive && nodes[n].boot == boot }

    var activeNode: Int? { nodes.indices.first { nodes[$0].alive && nodes[$0].core.state.role == .active } }

    /// The node a happening belongs to, and whether it is the guard's (which a paused daemon does not stop).
    private func owner(of happening: Happening) -> (node: Int, isGuard: Bool)? {
        switch happening {
        case .tick(let n, _), .slotWriteDone(let n, _, _, _, _), .slotReadDone(let n, _, _, _, _),
            .arbitratorDone(let n, _), .monitor(let n, _), .timer(let n, _, _),
            .resourceDone(let n, _, _, _, _, _, _, _),
            .monitorDone(let n, _, _, _, _), .fenceDone(let n, _, _), .admin(let n, _):
            return (n, false)
        case .heartbeat(let to, _, _, _):
            return (to, false)
        case .guardCheck(let n, _, _):
            return (n, true)
        case .start, .crash, .restart, .adminOnActive, .cut, .flap, .isolate, .diskDown, .stall, .diskStall, .loss,
            .arbitrator, .crashActive, .monitorFailures, .breakAgents, .healAgents, .clockJump, .checkTakeover,
            .checkRecovery, .watchRecovery, .pauseActive, .fenceDevice:
            return nil
        }
    }

    private mutating func perform(_ happening: Happening) {
        if let (n, isGuard) = owner(of: happening), let until = nodes[n].pausedUntil {
            if now < until && (!isGuard || nodes[n].hostFrozen) {
                // Stopped: it happens when the node runs again (datagrams wait in the socket's buffer).
                queue.push(happening, at: until)
                return
            }
            if now >= until {
                nodes[n].pausedUntil = nil
                nodes[n].hostFrozen = false
            }
        }
        switch happening {
        case .tick(let n, let boot):
            guard live(n, boot) else { return }
            tick(n)
            queue.push(.tick(node: n, boot: boot), at: now + config.heartbeatInterval)
        case .heartbeat(let to, let boot, let from, let heartbeat):
            guard live(to, boot) else { return }
            nodes[to].lastHeartbeatDelivered = now
            let (at, wall) = stamp(to)
            let effects = nodes[to].driver.received(
                channel: heartbeat.channel,
                from: from,
                sequence: heartbeat.sequence,
                echo: heartbeat.echo,
                view: heartbeat.view,
                at: at,
                wall: wall
            )
            carryOut(to, effects)
        case .slotWriteDone(let n, let boot, let succeeded, let startedAt, let view):
            guard live(n, boot) else { return }
            let (at, wall) = stamp(n)
            carryOut(
                n,
                nodes[n].driver.slotWritten(succeeded: succeeded, startedAt: startedAt, view: view, at: at, wall: wall)
            )
        case .slotReadDone(let n, let boot, let readable, let sampledAt, let startedAt):
            guard live(n, boot) else { return }
            slotRead(n, readable: readable, sampledAt: sampledAt, startedAt: startedAt)
        case .arbitratorDone(let n, let boot):
            guard live(n, boot) else { return }
            observe(n, .arbitrator(reachable: nodes[n].arbitratorOK))
        case .monitor(let n, let boot):
            guard live(n, boot) else { return }
            for r in config.resources.indices where nodes[n].alive {
                let (at, wall) = stamp(n)
                carryOut(n, nodes[n].driver.monitorDue(r, at: at, wall: wall))
            }
            queue.push(.monitor(node: n, boot: boot), at: now + 500_000_000)
        case .monitorDone(let n, let boot, let r, let epoch, let result):
            guard live(n, boot) else { return }
            let outcome = ResourceOutcome(
                resource: r,
                operation: .monitor,
                result: result,
                epoch: epoch,
                tookNanos: 2_000_000
            )
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.agentFinished(outcome, at: at, wall: wall))
        case .timer(let n, let boot, let token):
            guard live(n, boot) else { return }
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.timerFired(token: token, at: at, wall: wall))
        case .resourceDone(let n, let boot, let r, let operation, let epoch, let token, let result, let endsProcess):
            guard live(n, boot), nodes[n].resourceToken[r] == token else { return }
            if endsProcess { nodes[n].physical[r] = false }
            let outcome = ResourceOutcome(resource: r, operation: operation, result: result, epoch: epoch, tookNanos: 0)
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.agentFinished(outcome, at: at, wall: wall))
        case .fenceDone(let n, let boot, let answer):
            guard live(n, boot) else { return }
            nodes[n].fencing = false
            if answer.succeeds {
                // Powered off, then on again (the fence agents' default action is a reboot).
                let p = peer(of: n)
                if nodes[p].alive {
                    crash(p)
                    queue.push(.restart(node: p, hostBoot: true), at: now + Self.fenceReboot)
                }
            }
            observe(n, .fenceOutcome(succeeded: answer.succeeds, detail: answer.detail))
        case .fenceDevice(let device):
            fenceDevice = device
        case .start(let n):
            boot(n, hostBoot: true)
        case .crash(let n):
            crash(n)
        case .restart(let n, let hostBoot):
            if !nodes[n].alive { boot(n, hostBoot: hostBoot) }
        case .crashActive(let restartAfter, let hostBoot):
            let active = activeNode ?? 0
            let survivor = peer(of: active)
            crash(active)
            if let restartAfter { queue.push(.restart(node: active, hostBoot: hostBoot), at: now + restartAfter) }
            if checkBound {
                queue.push(.checkTakeover(survivor: survivor, crashedAt: now), at: now + Self.takeoverBound)
            }
        case .admin(let n, let verb):
            guard nodes[n].alive else { return }
            observe(n, .admin(AdminCommand(verb: verb, source: "simulated operator")))
        case .adminOnActive(let verb):
            if let active = activeNode {
                observe(active, .admin(AdminCommand(verb: verb, source: "simulated operator")))
            }
        case .cut(let channel, let cut):
            channelCut[channel] = cut
        case .flap(let channel, let until):
            channelCut[channel].toggle()
            if now < until {
                queue.push(.flap(channel: channel, until: until), at: now + draw(150_000_000, 400_000_000))
            } else {
                channelCut[channel] = false
            }
        case .isolate(let n, let on):
            isolated[n] = on
            nodes[n].diskDown = on
            nodes[n].arbitratorOK = !on
            if on && checkBound && nodes[n].core.state.role == .active {
                queue.push(.checkTakeover(survivor: peer(of: n), crashedAt: now), at: now + Self.takeoverBound)
            }
        case .diskDown(let n, let on):
            nodes[n].diskDown = on
        case .stall(let on):
            diskLatency = on ? 300_000_000 : 1_000_000
        case .diskStall(let n, let both, let until):
            for stalled in nodes.indices where both || stalled == n { nodes[stalled].diskStalledUntil = until }
        case .loss(let on):
            lossPerMille = on ? 200 : 0
        case .arbitrator(let n, let reachable):
            nodes[n].arbitratorOK = reachable
        case .monitorFailures(let resource, let count):
            if let active = activeNode { nodes[active].monitorFailures = (resource, count) }
        case .breakAgents(let agents, let trigger):
            guard let active = activeNode else { return }
            nodes[active].agents = agents
            switch trigger {
            case .monitorFailure(let resource): nodes[active].monitorFailures = (resource, 1)
            case .switchover: observe(active, .admin(AdminCommand(verb: .switchover, source: "simulated operator")))
            }
        case .healAgents:
            for n in nodes.indices { nodes[n].agents = AgentFaults() }
        case .clockJump(let n, let step):
            nodes[n].clock.stepWall(by: step)
        case .guardCheck(let n, let boot, let until):
            guard guards, live(n, boot), nodes[n].driver.guardDeadline == until, nodes[n].groupUp else { return }
            // No renewal came: the guard removes the addresses and kills the group's processes.
            nodes[n].physical = nodes[n].physical.map { _ in false }
            guardKills += 1
        case .pauseActive(let duration, let host):
            guard let active = activeNode else { return }
            nodes[active].pausedUntil = now + duration
            nodes[active].hostFrozen = host
            // With a fence device that does not answer, no takeover is the right outcome.
            if checkBound && fenceDevice == .works {
                queue.push(.checkTakeover(survivor: peer(of: active), crashedAt: now), at: now + Self.takeoverBound)
            }
        case .checkTakeover(let survivor, let crashedAt):
            checkTakeoverBound(survivor: survivor, lostAt: crashedAt)
        case .checkRecovery(let healedAt):
            checkRecovery(healedAt: healedAt)
        case .watchRecovery(let watch):
            watchSettling(watch)
        }
    }

    /// The next random number in `low..<high`.
    mutating func draw(_ low: UInt64, _ high: UInt64) -> UInt64 {
        low + rng.next() % max(1, high - low)
    }

    // MARK: - Node life

    /// The node's daemon starts: on a host that just booted (new clocks), or restarted by systemd on the same
    /// host (its clocks go on).
    mutating func boot(_ n: Int, hostBoot: Bool) {
        nodes[n].boot += 1
        nodes[n].alive = true
        nodes[n].pausedUntil = nil
        nodes[n].hostFrozen = false
        nodes[n].fencing = false
        if hostBoot {
            nodes[n].clock = SimulatedClock.hostBoot(at: now, firstStart: nodes[n].boot == 1, node: n, rng: &clockRNG)
        }
        var core = Coordinator(node: nodes[n].id, folding: nodes[n].log)
        core.claimsBeforePeerLeaseEnds = brokenClaimRule
        nodes[n].driver = NodeDriver(
            core: core,
            sequenceStart: NodeDriver.sequenceStart(random: rng.next()),
            slotCounterStart: nodes[n].driver.slotCounter
        )
        nodes[n].physical = nodes[n].physical.map { _ in false }
        let boot = nodes[n].boot
        observe(
            n,
            .started(
                NodeStart(node: nodes[n].id, servhaVersion: "sim", bootID: "boot-\(n)-\(boot)", configHash: config.hash)
            )
        )
        observe(n, .configLoaded(config))
        let phase = lockstepPhase ?? draw(0, config.heartbeatInterval)
        queue.push(.tick(node: n, boot: boot), at: now + phase)
        queue.push(.monitor(node: n, boot: boot), at: now + 500_000_000)
    }

    mutating func crash(_ n: Int) {
        guard nodes[n].alive else { return }
        nodes[n].alive = false
        nodes[n].physical = nodes[n].physical.map { _ in false }  // the host died: nothing of it runs
        nodes[n].loseUnsyncedTail(at: now)  // and the log's tail that was not yet on disk
    }

    private mutating func tick(_ n: Int) {
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.tick(at: at, wall: wall))
        nodes[n].ticks += 1
        if nodes[n].ticks % 5 == 0 {
            queue.push(.arbitratorDone(node: n, boot: nodes[n].boot), at: now + 1_000_000)
        }
    }

    private mutating func slotRead(_ n: Int, readable: Bool, sampledAt: UInt64, startedAt: Instant) {
        let p = peer(of: n)
        let slot = disk.slot(p, at: sampledAt)
        if readable && nodes[n].lastCounterSeen != slot.counter {
            nodes[n].lastCounterSeen = slot.counter
            nodes[n].lastCounterChangeSeen = now
        }
        let reading = SlotReading(
            node: nodes[p].id,
            readable: readable,
            counter: slot.counter,
            view: slot.view,
            startedAt: startedAt
        )
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.slotRead(reading, at: at, wall: wall))
    }

    // MARK: - The driver

    /// Node `n`'s clocks now.
    func stamp(_ n: Int) -> (Instant, Int64) { (nodes[n].clock.mono(at: now), nodes[n].clock.wall(at: now)) }

    mutating func observe(_ n: Int, _ input: Input) {
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.observe(input, at: at, wall: wall))
    }
}

/// The last stretch of faults has healed: when the group was first seen running since (nil: not yet), and by when
/// it must run.
struct RecoveryWatch {
    var healedAt: UInt64
    var deadline: UInt64
    var runningSince: UInt64?
}

/// A decision, with the node that took it and the simulation time it was taken at.
struct SimulatedDecision: Hashable {
    var node: Int
    var at: UInt64
    var kind: DecisionKind
    var epoch: Epoch
}
