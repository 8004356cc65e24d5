import Coordinator

/// The simulated world's executor: every effect the driver asks for, carried out in simulated time.
extension SimulationWorld {
    mutating func carryOut(_ n: Int, _ effects: [NodeDriver.Effect]) {
        let boot = nodes[n].boot
        let p = peer(of: n)
        for effect in effects {
            switch effect {
            case .append(let events, let flush):
                inputs += events.reduce(0) { $0 + ($1.isInput ? 1 : 0) }
                nodes[n].appended(events, flush: flush, at: now)
                for event in events {
                    guard case .decision(let decision) = event else { continue }
                    timeline.append(SimulatedDecision(node: n, at: now, kind: decision.kind, epoch: decision.epoch))
                    switch decision.kind {
                    case .takeOver:
                        checkTakeoverWhileHeard(n, decision)
                        checkTakeoverWhileFencing(n, decision)
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
                    at: now + draw(100_000, 500_000)
                )
            case .writeSlot(let counter, let view, let startedAt):
                let io = slotIO(n, write: true)
                if let lands = io.landsAfter {
                    disk.land(n, counter: counter, view: view, at: now + lands, now: now)
                }
                queue.push(
                    .slotWriteDone(node: n, boot: boot, succeeded: io.succeeded, startedAt: startedAt, view: view),
                    at: now + io.latency
                )
            case .readSlot(let startedAt):
                let io = slotIO(n, write: false)
                queue.push(
                    .slotReadDone(
                        node: n,
                        boot: boot,
                        readable: io.succeeded,
                        sampledAt: now + (io.landsAfter ?? io.latency),
                        startedAt: startedAt
                    ),
                    at: now + io.latency
                )
            case .runAgent(let r, .monitor, let epoch):
                var result = nodes[n].physical[r] ? ResourceResult.succeeded : .notRunning
                if nodes[n].monitorFailures.resource == r && nodes[n].monitorFailures.left > 0 {
                    nodes[n].monitorFailures.left -= 1
                    result = .notRunning
                }
                queue.push(
                    .monitorDone(node: n, boot: boot, resource: r, epoch: epoch, result: result),
                    at: now + 2_000_000
                )
            case .runAgent(let r, let operation, let epoch):
                if operation == .start {
                    nodes[n].physical[r] = true
                    checkSingleActive()
                }
                let run = agentRun(n, r, operation)
                nodes[n].resourceToken[r] += 1
                queue.push(
                    .resourceDone(
                        node: n,
                        boot: boot,
                        resource: r,
                        operation: operation,
                        epoch: epoch,
                        token: nodes[n].resourceToken[r],
                        result: run.result,
                        endsProcess: run.endsProcess
                    ),
                    at: now + run.duration
                )
            case .wake(let at, let token):
                let current = mono(n)
                queue.push(.timer(node: n, boot: boot, token: token), at: now + (at > current ? at - current : 0))
            case .fence:
                nodes[n].fencing = true
                let answer = fenceAnswer()
                queue.push(.fenceDone(node: n, boot: boot, answer: answer), at: now + answer.after)
            case .guardLease(let until):
                guard let until else { continue }
                let current = mono(n)
                queue.push(
                    .guardCheck(node: n, boot: boot, until: until),
                    at: now + (until > current ? until - current : 0)
                )
            case .announce, .raiseAlarm, .clearAlarm:
                break
            }
        }
    }

    /// How one slot operation of node `n` goes: how long it takes, whether it succeeds, and when (after its issue)
    /// a write lands or a read takes its sample (nil: a failed write that never landed).
    private mutating func slotIO(_ n: Int, write: Bool) -> (latency: UInt64, succeeded: Bool, landsAfter: UInt64?) {
        if nodes[n].diskDown { return (20_000_000, false, write ? nil : 20_000_000) }
        if write && now < nodes[n].writesFailUntil { return (1_000_000, false, nil) }
        if now < nodes[n].diskStalledUntil {
            // Seconds, longer than the disk-only lease; a fifth fail at the end, and a failed write may have landed.
            let latency = draw(1_000_000_000, 5_000_000_001)
            let fails = rng.next() % 5 == 0
            let lands = !fails || rng.next() % 2 == 0
            return (latency, !fails, lands ? draw(0, latency + 1) : nil)
        }
        let latency = diskLatency + rng.next() % 500_000
        return (latency, true, draw(0, latency + 1))
    }

    /// How a start, stop or kill of node `n`'s resource `r` ends, and when.
    private mutating func agentRun(
        _ n: Int,
        _ r: Int,
        _ operation: ResourceOperation
    )
        -> (duration: UInt64, result: ResourceResult, endsProcess: Bool)
    {
        switch operation {
        case .start:
            guard nodes[n].agents.brokenStart == r else { return (Self.startDuration[r % 3], .succeeded, false) }
            // A failed start may leave processes behind: the resource stays up until a stop or kill ends it.
            return rng.next() % 2 == 0
                ? (Self.startDuration[r % 3], .failed(exitCode: 1), false) : (Self.startTimeout, .timedOut, false)
        case .stop:
            switch nodes[n].agents.stops {
            case .none: return (Self.stopDuration[r % 3], .succeeded, true)
            case .fail: return (Self.stopDuration[r % 3], .failed(exitCode: 1), false)
            case .hang:
                return rng.next() % 2 == 0 ? (Self.stopTimeout, .timedOut, false) : (Self.stopTimeout, .succeeded, true)
            }
        case .kill, .monitor:
            return (2_000_000, .succeeded, true)
        }
    }

    /// How the fence device answers a request made now (the outcome is the device's when asked).
    private mutating func fenceAnswer() -> FenceAnswer {
        switch fenceDevice {
        case .works: .powerCycled
        case .dead: rng.next() % 2 == 0 ? .timedOut : .refused
        case .hangs: rng.next() % 2 == 0 ? .hungUntilTimeout : .powerCycledLate
        }
    }
}

/// What a fence request comes back with, and when.
enum FenceAnswer {
    case powerCycled
    /// A dead device: no answer until the agent's timeout, or a refusal at once.
    case timedOut
    case refused
    /// A hanging agent: nothing until its timeout, then a failure, or a late success.
    case hungUntilTimeout
    case powerCycledLate

    var succeeds: Bool {
        switch self {
        case .powerCycled, .powerCycledLate: true
        case .timedOut, .refused, .hungUntilTimeout: false
        }
    }

    var after: UInt64 {
        switch self {
        case .powerCycled, .refused: 30_000_000
        case .timedOut, .hungUntilTimeout, .powerCycledLate: SimulationWorld.fenceTimeout
        }
    }

    var detail: String {
        switch self {
        case .powerCycled: "simulated power cycle"
        case .timedOut: "simulated: the fence device does not answer (timed out)"
        case .refused: "simulated: the fence device refuses"
        case .hungUntilTimeout: "simulated: the fence agent hung until its timeout"
        case .powerCycledLate: "simulated: the fence device answered late, power cycled"
        }
    }
}
