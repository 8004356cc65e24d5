import Coordinator

/// Which faults a run gets, when each begins and heals, and when recovery is checked.
extension SimulationWorld {
    /// One fault as scheduled: from `start` until `healed`, when it and everything it set off (restarts, an
    /// operator's commands) are over. A fault that does not heal (a crash for good) has healed when it began: the
    /// cluster must recover from it all the same.
    struct FaultSpan {
        var kind: FaultKind
        var start: UInt64
        var healed: UInt64
    }

    /// The faults of a run: in the standard sweep one, and a third of the time a benign second one; in a long
    /// sweep `count` different ones.
    mutating func chooseFaults(count: ClosedRange<Int>?) -> [FaultKind] {
        if let count {
            var pool = FaultKind.allCases
            let wanted = min(pool.count, count.lowerBound + Int(rng.next() % UInt64(count.count)))
            var chosen: [FaultKind] = []
            while chosen.count < wanted {
                chosen.append(pool.remove(at: Int(rng.next() % UInt64(pool.count))))
            }
            return chosen
        }
        let movers: [FaultKind] = [
            .crash, .restart, .partition, .disk, .isolate, .monitor, .switchover, .failback, .standby, .pause, .freeze,
            .fenceFailure, .fenceHang, .logFailure, .startFailure, .stopFailure, .stopHang,
        ]
        let benign: [FaultKind] = [.channel, .flap, .stall, .diskStall, .loss, .simultaneous, .clockJump]
        let first = (movers + benign)[Int(rng.next() % UInt64(movers.count + benign.count))]
        if rng.next() % 3 == 0 {
            let second = benign[Int(rng.next() % UInt64(benign.count))]
            if second != first { return [first, second] }
        }
        return [first]
    }

    mutating func schedule() {
        if faults.contains(.simultaneous) { lockstepPhase = draw(0, config.heartbeatInterval) }
        queue.push(.start(node: 0), at: 0)
        queue.push(.start(node: 1), at: lockstepPhase != nil ? 0 : draw(1, 300_000_000))
        checkBound = faults.count == 1
        var spans: [FaultSpan] = []
        for fault in faults {
            // Standard runs: every fault within a few seconds of the others, once the pair has settled (the
            // disk-only lease node-a announced alone, before node-b started, has run out). Long runs: anywhere in
            // the first two thirds, lasting up to 8 s, so that they overlap now and then.
            let at =
                long
                ? draw(2_000_000_000, max(3_000_000_000, duration * 2 / 3)) : draw(1_500_000_000, 3_500_000_000)
            let heal = at + (long ? draw(1_000_000_000, 8_000_000_000) : draw(1_000_000_000, 3_000_000_000))
            let healed = schedule(fault, at: at, heal: heal)
            // A simultaneous start is at the start, whatever time was drawn.
            spans.append(FaultSpan(kind: fault, start: fault == .simultaneous ? 0 : at, healed: healed))
        }
        scheduleRecoveryChecks(spans)
    }

    /// Schedules one fault; returns when it has healed.
    private mutating func schedule(_ fault: FaultKind, at: UInt64, heal: UInt64) -> UInt64 {
        switch fault {
        case .crash:
            queue.push(.crashActive(restartAfter: nil, hostBoot: true), at: at)
            return at
        case .restart:
            queue.push(.crashActive(restartAfter: heal - at, hostBoot: true), at: at)
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
        case .diskStall:
            // One node's path, or the array (both nodes).
            let which = rng.next() % 3
            queue.push(.diskStall(node: Int(which % 2), both: which == 2, until: heal), at: at)
        case .isolate:
            let node = Int(rng.next() % 2)
            queue.push(.isolate(node: node, on: true), at: at)
            queue.push(.isolate(node: node, on: false), at: heal)
        case .loss:
            queue.push(.loss(on: true), at: at)
            queue.push(.loss(on: false), at: heal)
        case .monitor:
            queue.push(
                .monitorFailures(resource: 2, count: 1 + Int(rng.next() % UInt64(config.maxLocalRestarts + 2))),
                at: at
            )
            return at
        case .switchover:
            queue.push(.adminOnActive(verb: .switchover), at: at)
            return at
        case .failback:
            queue.push(.crash(node: 0), at: at)
            queue.push(.restart(node: 0, hostBoot: true), at: at + 1_000_000_000)
            guard config.failback == .manual else { return at + 1_000_000_000 }
            queue.push(.adminOnActive(verb: .failback), at: at + 3_500_000_000)
            return at + 3_500_000_000
        case .standby:
            queue.push(.adminOnActive(verb: .standby), at: at)
            queue.push(.admin(node: 0, verb: .unstandby), at: heal)
            queue.push(.admin(node: 1, verb: .unstandby), at: heal)
        case .simultaneous:
            // Both start at 0 in lockstep (see `schedule()`). Half the time the network comes up only after the
            // discovery and the first slot writes fail: each sees the other silent everywhere, and both claim the
            // lease at the same instant.
            guard rng.next() % 2 == 0 else { return 0 }
            let networkUp = draw(400_000_000, 1_200_000_000)
            let writesWork = draw(300_000_000, 600_000_000)
            for c in channelCut.indices {
                queue.push(.cut(channel: c, cut: true), at: 0)
                queue.push(.cut(channel: c, cut: false), at: networkUp)
            }
            for n in nodes.indices { nodes[n].writesFailUntil = writesWork }
            return networkUp
        case .clockJump:
            // NTP steps one node's wall clock by up to two hours, either way.
            let step = Int64(draw(1_000_000_000, 7_200_000_000_000))
            queue.push(.clockJump(node: Int(rng.next() % 2), by: rng.next() % 2 == 0 ? step : -step), at: at)
            return at
        case .pause:
            queue.push(.pauseActive(duration: heal - at, host: false), at: at)
        case .freeze:
            queue.push(.pauseActive(duration: heal - at, host: true), at: at)
        case .fenceFailure, .fenceHang:
            queue.push(.fenceDevice(fault == .fenceHang ? .hangs : .dead), at: at)
            queue.push(.pauseActive(duration: heal - at, host: true), at: at)
            queue.push(.fenceDevice(.works), at: heal)
        case .logFailure:
            // As the daemon does: the group down at once, no more heartbeats, exit; systemd restarts it.
            queue.push(.crashActive(restartAfter: 2_000_000_000, hostBoot: false), at: at)
            return at + 2_000_000_000
        case .startFailure:
            let resource = Int(rng.next() % UInt64(config.resources.count))
            queue.push(
                .breakAgents(AgentFaults(brokenStart: resource), trigger: .monitorFailure(resource: resource)),
                at: at
            )
            queue.push(.healAgents, at: heal)
        case .stopFailure, .stopHang:
            let agents = AgentFaults(stops: fault == .stopFailure ? .fail : .hang)
            let trigger: AgentTrigger =
                rng.next() % 2 == 0
                ? .switchover : .monitorFailure(resource: Int(rng.next() % UInt64(config.resources.count)))
            queue.push(.breakAgents(agents, trigger: trigger), at: at)
            queue.push(.healAgents, at: heal)
        }
        return heal
    }

    // MARK: - Recovery

    /// How long after every fault has healed the group may take to run again, without any fault that adds to it:
    /// - the peer found lost after the disk-only lease it may have announced, plus the margin and an interval;
    /// - a claim that fails (the write or its check read not back within the disk-only lease less the margin),
    ///   the contention back-off, and a claim that works;
    /// - a restarted node's discovery, and the wait for a peer that is still starting (twice the discovery);
    /// - the group's stops and starts;
    /// - an automatic failback (the stability time, then a move), which must be over by then, not in progress.
    func baseRecoveryBound() -> UInt64 {
        let detection = config.diskOnlyLeaseLength + config.safetyMargin + config.heartbeatInterval
        let claims = 2 * (config.diskOnlyLeaseLength - config.safetyMargin) + 6 * config.heartbeatInterval
        let discovery = 3 * config.startupDiscovery
        let agents = Self.startDuration.reduce(0, +) + Self.stopDuration.reduce(0, +)
        let failback = config.failbackStability + Self.startDuration.reduce(0, +) + Self.stopDuration.reduce(0, +)
        return detection + claims + discovery + agents + failback + config.heartbeatInterval * 10
    }

    /// How long the group must have run, polled every `settlePoll`, before a run ends: longer than the
    /// automatic failback's stability time plus its move, so that no move the faults set off is still to come.
    static let settleTime: UInt64 = 1_500_000_000
    static let settlePoll: UInt64 = 100_000_000

    /// What a fault adds to the bound: what it may leave in flight after it healed.
    func extraRecovery(_ fault: FaultKind) -> UInt64 {
        switch fault {
        // A slot operation issued just before the heal takes up to 5 s.
        case .diskStall: 5_000_000_000
        case .stall: 600_000_000
        // A fence request in flight at the heal answers at the agent's timeout; a fenced host reboots.
        case .fenceFailure, .fenceHang: Self.fenceTimeout + Self.fenceReboot + config.startupDiscovery
        case .freeze: Self.fenceReboot + config.startupDiscovery
        // A stop issued just before the heal hangs until its timeout; a start until its own.
        case .stopHang: Self.stopTimeout
        case .startFailure: Self.startTimeout
        case .crash, .restart, .partition, .channel, .flap, .disk, .isolate, .loss, .monitor, .switchover, .failback,
            .standby, .simultaneous, .clockJump, .pause, .logFailure, .stopFailure:
            0
        }
    }

    /// After every stretch of time with faults, once the last of them healed: a check that the group runs, at the
    /// bound (the base, plus what each of the stretch's faults adds), unless another fault begins before. The run
    /// lasts at least until the last check.
    private mutating func scheduleRecoveryChecks(_ spans: [FaultSpan]) {
        let sorted = spans.sorted { $0.start < $1.start }
        var index = 0
        // A stretch whose check was overtaken by the next fault hands what it added on to the next check.
        var extra: UInt64 = 0
        while index < sorted.count {
            var healed = sorted[index].healed
            extra += extraRecovery(sorted[index].kind)
            index += 1
            while index < sorted.count && sorted[index].start <= healed {
                healed = max(healed, sorted[index].healed)
                extra += extraRecovery(sorted[index].kind)
                index += 1
            }
            let check = healed + baseRecoveryBound() + extra
            if index < sorted.count && sorted[index].start <= check { continue }
            if index < sorted.count {
                queue.push(.checkRecovery(healedAt: healed), at: check)
            } else {
                // The last stretch: once what it may have left in flight is over, watch the group settle; the run
                // ends when it has (see `watchSettling`), at the bound at the latest.
                let watch = RecoveryWatch(healedAt: healed, deadline: check, runningSince: nil)
                queue.push(.watchRecovery(watch), at: healed + extra)
                duration = max(duration, check + Self.settleTime + 1)
            }
            extra = 0
        }
    }
}
