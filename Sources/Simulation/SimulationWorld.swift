import Coordinator
import EventLog

/// One simulated node: its driver (and the core inside it), its log, and the physical things it drives.
struct SimulatedNode {
    let id: NodeID
    var driver: NodeDriver
    var log: [Event] = []
    var alive = false
    var boot = 0
    /// Monotonic clock = simulation time + offset (wrapping), new on every boot.
    var monoOffset: UInt64 = 0
    var wallOffset: Int64 = 0
    /// Whether each resource is physically up (from the start of its start until the end of its stop).
    var physical: [Bool]
    var resourceToken: [UInt64]
    var diskDown = false
    var arbitratorOK = true
    var monitorFailuresLeft = 0
    /// Simulation time of the last heartbeat delivered to this node, and of the last change of the peer's
    /// slot counter that a read of this node saw.
    var lastHeartbeatDelivered: UInt64?
    var lastCounterChangeSeen: UInt64?
    var lastCounterSeen: UInt64?

    var ticks = 0
    /// While set (simulation time), the daemon is stopped (SIGSTOP, a debugger, the scheduler): nothing it would
    /// do happens before then; its resources and its guard go on.
    var pausedUntil: UInt64?
    /// The whole host is frozen (a paused VM): its guard and its resources stand still too.
    var hostFrozen = false

    var core: Coordinator { driver.core }
    var groupUp: Bool { physical.contains(true) }
}

enum Happening {
    case tick(node: Int, boot: Int)
    case heartbeat(to: Int, boot: Int, from: NodeID, heartbeat: NodeDriver.OutgoingHeartbeat)
    case slotWriteDone(node: Int, boot: Int, succeeded: Bool, startedAt: Instant, counter: UInt64, view: Advertisement)
    case slotReadDone(node: Int, boot: Int, startedAt: Instant)
    case arbitratorDone(node: Int, boot: Int)
    case monitor(node: Int, boot: Int)
    case timer(node: Int, boot: Int, token: UInt64)
    case resourceDone(node: Int, boot: Int, resource: Int, operation: ResourceOperation, epoch: Epoch, token: UInt64)
    case monitorDone(node: Int, boot: Int, resource: Int, epoch: Epoch, result: ResourceResult)
    case fenceDone(node: Int, boot: Int, succeeds: Bool)
    case start(node: Int)
    case crash(node: Int)
    case restart(node: Int)
    case admin(node: Int, verb: AdminVerb)
    case adminOnActive(verb: AdminVerb)
    case cut(channel: Int, cut: Bool)
    case flap(channel: Int, until: UInt64)
    case isolate(node: Int, on: Bool)
    case diskDown(node: Int, on: Bool)
    case stall(on: Bool)
    case loss(on: Bool)
    case arbitrator(node: Int, reachable: Bool)
    case crashActive(restartAfter: UInt64?)
    case monitorFailures(count: Int)
    case checkTakeover(survivor: Int, crashedAt: UInt64)
    /// The guard's deadline (node `n`'s clock `until`) comes: unless re-armed since, it takes the group down.
    case guardCheck(node: Int, boot: Int, until: Instant)
    case pauseActive(duration: UInt64, host: Bool)
    case fenceBroken(Bool)
}

struct SimulationWorld {
    let seed: UInt64
    private(set) var config: ClusterConfig
    let duration: UInt64
    var rng: SplitMix64
    var faults: [FaultKind] = []
    var nodes: [SimulatedNode]
    var queue = SimulationQueue<Happening>()
    var now: UInt64 = 0
    var violations: [Violation] = []
    var takeovers = 0
    var inputs = 0
    /// The shared disk: each node's slot (counter, advertisement).
    var slots: [(counter: UInt64, view: Advertisement)] = [(0, .unknown), (0, .unknown)]
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
    /// The fence device does not answer: every fence fails.
    var fenceBroken = false

    static let startDuration: [UInt64] = [3_000_000, 1_000_000, 60_000_000]
    static let stopDuration: [UInt64] = [2_000_000, 1_000_000, 100_000_000]
    static let takeoverBound: UInt64 = 600_000_000

    var logs: [[Event]] { nodes.map(\.log) }

    init(options: SimulationOptions) {
        seed = options.seed
        duration = options.durationNanos
        rng = SplitMix64(seed: options.seed &* 0x9E37_79B9 &+ 17)
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
        let drawn = chooseFaults()
        faults = options.faults ?? drawn
        // A frozen host can run beside its successor unless it is fenced (as on a real pair): runs that freeze a
        // host have fencing configured.
        if faults.contains(.freeze) && options.fencingForFreeze { config.fencing = true }
        if faults.contains(.fenceFailure) { config.fencing = true }
        guards = options.guards
        schedule()
    }

    private mutating func chooseFaults() -> [FaultKind] {
        let movers: [FaultKind] = [
            .crash, .restart, .partition, .disk, .isolate, .monitor, .switchover, .failback, .standby, .pause, .freeze,
            .fenceFailure, .logFailure,
        ]
        let benign: [FaultKind] = [.channel, .flap, .stall, .loss, .simultaneous]
        let first = (movers + benign)[Int(rng.next() % UInt64(movers.count + benign.count))]
        if rng.next() % 3 == 0 {
            let second = benign[Int(rng.next() % UInt64(benign.count))]
            if second != first { return [first, second] }
        }
        return [first]
    }

    private func random(_ low: UInt64, _ high: UInt64, _ rng: inout SplitMix64) -> UInt64 {
        low + rng.next() % max(1, high - low)
    }

    private mutating func schedule() {
        let simultaneous = faults.contains(.simultaneous)
        queue.push(.start(node: 0), at: 0)
        queue.push(.start(node: 1), at: simultaneous ? 0 : random(1, 300_000_000, &rng))
        checkBound = faults.count == 1
        for fault in faults {
            let at = random(2_000_000_000, 4_000_000_000, &rng)
            let heal = at + random(1_000_000_000, 3_000_000_000, &rng)
            switch fault {
            case .crash:
                queue.push(.crashActive(restartAfter: nil), at: at)
            case .restart:
                queue.push(.crashActive(restartAfter: heal - at), at: at)
            case .partition:
                for c in channelCut.indices {
                    queue.push(.cut(channel: c, cut: true), at: at)
                    queue.push(.cut(channel: c, cut: false), at: heal)
                }
                let loser = Int(rng.next() % 2)
                queue.push(.arbitrator(node: loser, reachable: false), at: at)
                queue.push(.arbitrator(node: loser, reachable: true), at: heal)
            case .channel:
                let c = Int(rng.next() % UInt64(channelCut.count))
                queue.push(.cut(channel: c, cut: true), at: at)
                queue.push(.cut(channel: c, cut: false), at: heal)
            case .flap:
                queue.push(.flap(channel: Int(rng.next() % UInt64(channelCut.count)), until: heal), at: at)
            case .disk:
                let node = Int(rng.next() % 2)
                queue.push(.diskDown(node: node, on: true), at: at)
                queue.push(.diskDown(node: node, on: false), at: heal)
            case .stall:
                queue.push(.stall(on: true), at: at)
                queue.push(.stall(on: false), at: heal)
            case .isolate:
                let node = Int(rng.next() % 2)
                queue.push(.isolate(node: node, on: true), at: at)
                queue.push(.isolate(node: node, on: false), at: heal)
            case .loss:
                queue.push(.loss(on: true), at: at)
                queue.push(.loss(on: false), at: heal)
            case .monitor:
                queue.push(.monitorFailures(count: 1 + Int(rng.next() % UInt64(config.maxLocalRestarts + 2))), at: at)
            case .switchover:
                queue.push(.adminOnActive(verb: .switchover), at: at)
            case .failback:
                queue.push(.crash(node: 0), at: at)
                queue.push(.restart(node: 0), at: at + 1_000_000_000)
                if config.failback == .manual {
                    queue.push(.adminOnActive(verb: .failback), at: at + 3_500_000_000)
                }
            case .standby:
                queue.push(.adminOnActive(verb: .standby), at: at)
                queue.push(.admin(node: 0, verb: .unstandby), at: heal)
                queue.push(.admin(node: 1, verb: .unstandby), at: heal)
            case .simultaneous:
                break
            case .pause:
                queue.push(.pauseActive(duration: heal - at, host: false), at: at)
            case .freeze:
                queue.push(.pauseActive(duration: heal - at, host: true), at: at)
            case .fenceFailure:
                queue.push(.fenceBroken(true), at: at)
                queue.push(.pauseActive(duration: heal - at, host: true), at: at)
                queue.push(.fenceBroken(false), at: heal)
            case .logFailure:
                // As the daemon does: the group down at once, no more heartbeats, exit; systemd restarts it.
                queue.push(.crashActive(restartAfter: 2_000_000_000), at: at)
            }
        }
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

    private func mono(_ n: Int) -> Instant { now &+ nodes[n].monoOffset }

    private func peer(of n: Int) -> Int { 1 - n }

    private func live(_ n: Int, _ boot: Int) -> Bool { nodes[n].alive && nodes[n].boot == boot }

    /// The node a happening belongs to, and whether it is the guard's (which a paused daemon does not stop).
    private func owner(of happening: Happening) -> (node: Int, isGuard: Bool)? {
        switch happening {
        case .tick(let n, _), .slotWriteDone(let n, _, _, _, _, _), .slotReadDone(let n, _, _), .arbitratorDone(let n, _),
            .monitor(let n, _), .timer(let n, _, _), .resourceDone(let n, _, _, _, _, _), .monitorDone(let n, _, _, _, _),
            .fenceDone(let n, _, _), .admin(let n, _):
            return (n, false)
        case .heartbeat(let to, _, _, _):
            return (to, false)
        case .guardCheck(let n, _, _):
            return (n, true)
        case .start, .crash, .restart, .adminOnActive, .cut, .flap, .isolate, .diskDown, .stall, .loss, .arbitrator,
            .crashActive, .monitorFailures, .checkTakeover, .pauseActive, .fenceBroken:
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
        case .slotWriteDone(let n, let boot, let succeeded, let startedAt, let counter, let view):
            guard live(n, boot) else { return }
            if succeeded { slots[n] = (counter, view) }
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.slotWritten(succeeded: succeeded, startedAt: startedAt, view: view, at: at, wall: wall))
        case .slotReadDone(let n, let boot, let startedAt):
            guard live(n, boot) else { return }
            let p = peer(of: n)
            let readable = !nodes[n].diskDown
            let slot = slots[p]
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
            let outcome = ResourceOutcome(resource: r, operation: .monitor, result: result, epoch: epoch, tookNanos: 2_000_000)
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.agentFinished(outcome, at: at, wall: wall))
        case .timer(let n, let boot, let token):
            guard live(n, boot) else { return }
            let (at, wall) = stamp(n)
            carryOut(n, nodes[n].driver.timerFired(token: token, at: at, wall: wall))
        case .resourceDone(let n, let boot, let r, let operation, let epoch, let token):
            guard live(n, boot), nodes[n].resourceToken[r] == token else { return }
            resourceDone(n, r, operation, epoch)
        case .fenceDone(let n, let boot, let succeeds):
            guard live(n, boot) else { return }
            guard succeeds else {
                observe(n, .fenceOutcome(succeeded: false, detail: "simulated: the fence device does not answer"))
                return
            }
            crash(peer(of: n))
            observe(n, .fenceOutcome(succeeded: true, detail: "simulated power off"))
        case .fenceBroken(let broken):
            fenceBroken = broken
        case .start(let n):
            boot(n)
        case .crash(let n):
            crash(n)
        case .restart(let n):
            if !nodes[n].alive { boot(n) }
        case .crashActive(let restartAfter):
            let active = nodes.indices.first { nodes[$0].alive && nodes[$0].core.state.role == .active } ?? 0
            let survivor = peer(of: active)
            crash(active)
            if let restartAfter { queue.push(.restart(node: active), at: now + restartAfter) }
            if checkBound {
                queue.push(.checkTakeover(survivor: survivor, crashedAt: now), at: now + Self.takeoverBound)
            }
        case .admin(let n, let verb):
            guard nodes[n].alive else { return }
            observe(n, .admin(AdminCommand(verb: verb, source: "simulated operator")))
        case .adminOnActive(let verb):
            if let active = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].core.state.role == .active }) {
                observe(active, .admin(AdminCommand(verb: verb, source: "simulated operator")))
            }
        case .cut(let channel, let cut):
            channelCut[channel] = cut
        case .flap(let channel, let until):
            channelCut[channel].toggle()
            if now < until {
                queue.push(.flap(channel: channel, until: until), at: now + random(150_000_000, 400_000_000, &rng))
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
        case .loss(let on):
            lossPerMille = on ? 200 : 0
        case .arbitrator(let n, let reachable):
            nodes[n].arbitratorOK = reachable
        case .monitorFailures(let count):
            if let active = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].core.state.role == .active }) {
                nodes[active].monitorFailuresLeft = count
            }
        case .guardCheck(let n, let boot, let until):
            guard guards, live(n, boot), nodes[n].driver.guardDeadline == until, nodes[n].groupUp else { return }
            // No renewal came: the guard removes the addresses and kills the group's processes.
            nodes[n].physical = nodes[n].physical.map { _ in false }
            guardKills += 1
        case .pauseActive(let duration, let host):
            guard let active = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].core.state.role == .active })
            else { return }
            nodes[active].pausedUntil = now + duration
            nodes[active].hostFrozen = host
            if checkBound && !fenceBroken {  // with a dead fence device, no takeover is the right outcome
                queue.push(.checkTakeover(survivor: peer(of: active), crashedAt: now), at: now + Self.takeoverBound)
            }
        case .checkTakeover(let survivor, let crashedAt):
            let node = nodes[survivor]
            let running = node.core.state.role == .active && node.core.state.resources.allSatisfy { $0 == .running }
            if node.alive && !running {
                violate(
                    "takeover bound",
                    "\(config.name(of: node.id)) does not run the group \(Self.takeoverBound / 1_000_000) ms after the active was lost at \(crashedAt / 1_000_000) ms (role \(node.core.state.role), resources \(node.core.state.resources))"
                )
            }
        }
    }

    // MARK: - Node life

    private mutating func boot(_ n: Int) {
        nodes[n].boot += 1
        nodes[n].alive = true
        nodes[n].monoOffset = 5_000_000_000 &- now &+ UInt64(n) * 777_777_777
        nodes[n].wallOffset = 1_790_000_000_000_000_000 + Int64(n) * 3_000_000
        nodes[n].driver = NodeDriver(
            core: Coordinator(node: nodes[n].id, folding: nodes[n].log),
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
        queue.push(.tick(node: n, boot: boot), at: now + random(0, config.heartbeatInterval, &rng))
        queue.push(.monitor(node: n, boot: boot), at: now + 500_000_000)
    }

    private mutating func crash(_ n: Int) {
        guard nodes[n].alive else { return }
        nodes[n].alive = false
        nodes[n].physical = nodes[n].physical.map { _ in false }  // the host died: nothing of it runs
    }

    private mutating func tick(_ n: Int) {
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.tick(at: at, wall: wall))
        nodes[n].ticks += 1
        if nodes[n].ticks % 5 == 0 {
            queue.push(.arbitratorDone(node: n, boot: nodes[n].boot), at: now + 1_000_000)
        }
    }

    private mutating func latency(_ n: Int) -> UInt64 {
        nodes[n].diskDown ? 20_000_000 : diskLatency + rng.next() % 500_000
    }

    private mutating func resourceDone(_ n: Int, _ r: Int, _ operation: ResourceOperation, _ epoch: Epoch) {
        switch operation {
        case .stop, .kill:
            nodes[n].physical[r] = false
        case .start, .monitor:
            break
        }
        let outcome = ResourceOutcome(resource: r, operation: operation, result: .succeeded, epoch: epoch, tookNanos: 0)
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.agentFinished(outcome, at: at, wall: wall))
    }

    // MARK: - The driver

    /// Node `n`'s clocks now.
    private func stamp(_ n: Int) -> (Instant, Int64) { (mono(n), Int64(bitPattern: now) + nodes[n].wallOffset) }

    private mutating func observe(_ n: Int, _ input: Input) {
        let (at, wall) = stamp(n)
        carryOut(n, nodes[n].driver.observe(input, at: at, wall: wall))
    }

    /// The simulated world's executor: every effect the driver asks for, carried out in simulated time.
    private mutating func carryOut(_ n: Int, _ effects: [NodeDriver.Effect]) {
        let boot = nodes[n].boot
        let p = peer(of: n)
        for effect in effects {
            switch effect {
            case .append(let events, _):
                inputs += events.reduce(0) { $0 + ($1.isInput ? 1 : 0) }
                nodes[n].log.append(contentsOf: events)
                for event in events {
                    guard case .decision(let decision) = event else { continue }
                    switch decision.kind {
                    case .takeOver: checkTakeoverWhileHeard(n, decision)
                    case .leaseAcquired: takeovers += 1
                    case .becomeStandby, .acquireFailed, .release, .released, .selfFence, .restartResource,
                        .fencePeer, .adminMode:
                        break
                    }
                }
            case .send(let heartbeat):
                let lost =
                    channelCut[heartbeat.channel] || isolated[n] || isolated[p]
                    || (lossPerMille > 0 && rng.next() % 1000 < lossPerMille)
                guard !lost, nodes[p].alive else { continue }
                queue.push(
                    .heartbeat(to: p, boot: nodes[p].boot, from: nodes[n].id, heartbeat: heartbeat),
                    at: now + random(100_000, 500_000, &rng)
                )
            case .writeSlot(let counter, let view, let startedAt):
                queue.push(
                    .slotWriteDone(
                        node: n,
                        boot: boot,
                        succeeded: !nodes[n].diskDown,
                        startedAt: startedAt,
                        counter: counter,
                        view: view
                    ),
                    at: now + latency(n)
                )
            case .readSlot(let startedAt):
                queue.push(.slotReadDone(node: n, boot: boot, startedAt: startedAt), at: now + latency(n))
            case .runAgent(let r, .monitor, let epoch):
                var result = ResourceResult.succeeded
                if r == 2 && nodes[n].monitorFailuresLeft > 0 {
                    nodes[n].monitorFailuresLeft -= 1
                    result = .notRunning
                }
                queue.push(.monitorDone(node: n, boot: boot, resource: r, epoch: epoch, result: result), at: now + 2_000_000)
            case .runAgent(let r, let operation, let epoch):
                if operation == .start {
                    nodes[n].physical[r] = true
                    checkSingleActive()
                }
                let duration: UInt64
                switch operation {
                case .start: duration = Self.startDuration[r % 3]
                case .stop: duration = Self.stopDuration[r % 3]
                case .kill, .monitor: duration = 2_000_000
                }
                nodes[n].resourceToken[r] += 1
                queue.push(
                    .resourceDone(
                        node: n,
                        boot: boot,
                        resource: r,
                        operation: operation,
                        epoch: epoch,
                        token: nodes[n].resourceToken[r]
                    ),
                    at: now + duration
                )
            case .wake(let at, let token):
                let current = mono(n)
                queue.push(.timer(node: n, boot: boot, token: token), at: now + (at > current ? at - current : 0))
            case .fence:
                // A fence takes 30 ms; a dead device fails fast or only at the agent's timeout.
                // (The outcome is the device's when asked: a request to a dead device fails, whenever it ends.)
                let took: UInt64 = fenceBroken && rng.next() % 2 == 0 ? 4_000_000_000 : 30_000_000
                queue.push(.fenceDone(node: n, boot: boot, succeeds: !fenceBroken), at: now + took)
            case .guardLease(let until):
                guard let until else { continue }
                let current = mono(n)
                queue.push(.guardCheck(node: n, boot: boot, until: until), at: now + (until > current ? until - current : 0))
            case .announce, .raiseAlarm, .clearAlarm:
                break
            }
        }
    }

    // MARK: - Invariants

    private mutating func violate(_ invariant: String, _ detail: String) {
        violations.append(Violation(seed: seed, atNanos: now, invariant: invariant, detail: detail))
    }

    /// Never two nodes whose resources run. Reported once per overlap, when it begins.
    private mutating func checkSingleActive() {
        let both = nodes[0].groupUp && nodes[1].groupUp
        defer { overlapping = both }
        if both && !overlapping {
            violate(
                "single active",
                "both nodes run resources (node-a \(nodes[0].physical), \(nodes[0].core.state.role) epoch \(nodes[0].core.state.epoch); node-b \(nodes[1].physical), \(nodes[1].core.state.role) epoch \(nodes[1].core.state.epoch))"
            )
        }
    }

    private mutating func checkTakeoverWhileHeard(_ n: Int, _ decision: Decision) {
        guard decision.evidence.peerOwns else { return }  // a takeover after a release is meant to hear the peer
        let window = config.channelDeadline
        let heard = nodes[n].lastHeartbeatDelivered.map { now < $0 + window } ?? false
        let diskChanged = nodes[n].lastCounterChangeSeen.map { now < $0 + window } ?? false
        if heard || diskChanged {
            violate(
                "no takeover while heard",
                "\(config.name(of: nodes[n].id)) took over while hearing its peer (\(heard ? "heartbeat" : "disk slot") within \(window / 1_000_000) ms): \(decision.reason)"
            )
        }
    }

    private mutating func checkEnd() {
        // With failback auto, a move away from the preferred node may be followed by a move back.
        let movers = faults.filter { $0.allowedMoves > 0 }.count
        let allowed = 1 + faults.reduce(0) { $0 + $1.allowedMoves } + (config.failback == .auto ? movers : 0)
        if takeovers > allowed {
            violate("no flapping", "\(takeovers) takeovers for faults \(faults.map(\.rawValue)) (at most \(allowed))")
        }
        // Every fault has healed by now (or a node is dead for good): the group must run somewhere.
        let running = nodes.contains {
            $0.alive && $0.core.state.role == .active && $0.core.state.resources.allSatisfy { $0 == .running }
        }
        let someoneCanRun = nodes.contains { $0.alive && !$0.core.state.adminStandby && !$0.core.state.stuck }
        if !running && someoneCanRun {
            let roles = nodes.map { "\(config.name(of: $0.id)): \($0.alive ? "\($0.core.state.role)" : "dead")" }
                .joined(separator: ", ")
            violate("recovery", "the group runs nowhere at the end (\(roles))")
        }
        checkSingleActive()
    }
}
