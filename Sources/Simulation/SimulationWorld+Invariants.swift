import Coordinator

/// The invariants, checked after every step (single active), at every decision (takeovers), at the bounds, and
/// at the end.
extension SimulationWorld {
    mutating func violate(_ invariant: String, _ detail: String) {
        violations.append(Violation(seed: seed, atNanos: now, invariant: invariant, detail: detail))
    }

    /// Never two nodes whose resources run (physically: a paused or frozen node's resources, a failed or hung
    /// stop's process, all count until really stopped, killed or powered off). Reported once per overlap.
    mutating func checkSingleActive() {
        let both = nodes[0].groupUp && nodes[1].groupUp
        defer { overlapping = both }
        if both && !overlapping {
            violate(
                "single active",
                "both nodes run resources (node-a \(nodes[0].physical), \(nodes[0].core.state.role) epoch \(nodes[0].core.state.epoch); node-b \(nodes[1].physical), \(nodes[1].core.state.role) epoch \(nodes[1].core.state.epoch))"
            )
        }
    }

    /// No takeover from an owner that this node still hears, on the network or by its slot counter moving.
    mutating func checkTakeoverWhileHeard(_ n: Int, _ decision: Decision) {
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

    /// No takeover while this node's fence of the peer has not answered (a hung fence agent is no success).
    mutating func checkTakeoverWhileFencing(_ n: Int, _ decision: Decision) {
        guard nodes[n].fencing else { return }
        violate(
            "no takeover while fencing",
            "\(config.name(of: nodes[n].id)) took over while its fence of the peer was still in flight: \(decision.reason)"
        )
    }

    /// After a lost active (a single fault), the survivor runs the group within `takeoverBound`.
    mutating func checkTakeoverBound(survivor: Int, lostAt: UInt64) {
        let node = nodes[survivor]
        let running = node.core.state.role == .active && node.core.state.resources.allSatisfy { $0 == .running }
        if node.alive && !running {
            violate(
                "takeover bound",
                "\(config.name(of: node.id)) does not run the group \(Self.takeoverBound / 1_000_000) ms after the active was lost at \(lostAt / 1_000_000) ms (role \(node.core.state.role), resources \(node.core.state.resources))"
            )
        }
    }

    /// Whether some live node runs the whole group, by its core's account.
    var groupRuns: Bool {
        nodes.contains {
            $0.alive && $0.core.state.role == .active && $0.core.state.resources.allSatisfy { $0 == .running }
        }
    }

    /// Whether the group is expected to run: some live node may run it (not in admin standby, not unhealthy after
    /// the group failed there) and no node is stuck with a resource that not even a kill stopped (an operator must
    /// act then).
    var groupShouldRun: Bool {
        let stuck = nodes.contains { $0.alive && $0.core.state.stuck }
        let someoneCanRun = nodes.indices.contains { n in
            let state = nodes[n].core.state
            return nodes[n].alive && !state.adminStandby && (state.unhealthyUntil.map { $0 <= mono(n) } ?? true)
        }
        return someoneCanRun && !stuck
    }

    /// Every fault healed `healedAt`, and the recovery bound has passed: the group runs somewhere.
    mutating func checkRecovery(healedAt: UInt64) {
        guard !groupRuns && groupShouldRun else { return }
        violate(
            "recovery bound",
            "the group runs nowhere \((now - healedAt) / 1_000_000) ms after the faults healed at \(healedAt / 1_000_000) ms (\(roles))"
        )
    }

    /// Polls the group after the last fault healed. The run ends once the group has run for the settle time; at
    /// the bound, when the group does not run (a violation if it should), or has only just begun to.
    mutating func watchSettling(_ watch: RecoveryWatch) {
        var watch = watch
        let running = groupRuns
        watch.runningSince = running ? (watch.runningSince ?? now) : nil
        let settledRunning = watch.runningSince.map { now >= $0 + Self.settleTime } ?? false
        if settledRunning || now >= watch.deadline + Self.settleTime || (now >= watch.deadline && !running) {
            if !running { checkRecovery(healedAt: watch.healedAt) }
            duration = max(minimumDuration, now)
            return
        }
        queue.push(.watchRecovery(watch), at: now + Self.settlePoll)
    }

    var roles: String {
        nodes.map { "\(config.name(of: $0.id)): \($0.alive ? "\($0.core.state.role)" : "dead")" }.joined(
            separator: ", "
        )
    }

    mutating func checkEnd() {
        // With failback auto, a move away from the preferred node may be followed by a move back.
        let movers = faults.filter { $0.allowedMoves > 0 }.count
        let allowed = 1 + faults.reduce(0) { $0 + $1.allowedMoves } + (config.failback == .auto ? movers : 0)
        if takeovers > allowed {
            violate("no flapping", "\(takeovers) takeovers for faults \(faults.map(\.rawValue)) (at most \(allowed))")
        }
        // Every fault has healed by now (or a node is dead for good): the group must run somewhere.
        if !groupRuns && groupShouldRun { violate("recovery", "the group runs nowhere at the end (\(roles))") }
        checkSingleActive()
    }
}
