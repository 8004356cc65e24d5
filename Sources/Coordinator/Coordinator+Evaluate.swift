extension Coordinator {
    /// Re-derives everything that depends on time and on what is known: channel health, peer death, lease,
    /// takeover, step-down, failback, the resources' next action, and the next timer.
    mutating func evaluate(into output: inout Output) {
        guard let config = state.config, let startedAt = state.startedAt else { return }
        let now = state.now
        detectChannels(config, startedAt: startedAt, into: &output)
        if !state.maintenance {
            switch state.role {
            case .starting:
                if !state.anyResourceUp && now >= startedAt + config.startupDiscovery {
                    decide(.becomeStandby, reason: discoverySummary(config), into: &output)
                }
            case .standby:
                considerTakeover(config, startedAt: startedAt, into: &output)
            case .acquiring:
                // The lease write or its verification read never came back.
                if let decided = state.lastFailover?.at, now >= decided + Self.acquireTimeout(config, state) {
                    decide(
                        .acquireFailed,
                        reason:
                            "the lease write or its check did not finish within \(Self.ms(Self.acquireTimeout(config, state)))",
                        into: &output
                    )
                }
            case .active:
                if !checkLease(config, into: &output) {
                    considerStepDown(config, into: &output)
                    considerFailback(config, into: &output)
                }
            case .releasing:
                if !checkLease(config, into: &output) && !state.anyResourceUp && !state.releaseWriteIssued {
                    issue(.writeSlot(owns: false, epoch: state.epoch), into: &output)
                }
            case .fenced:
                let diskFresh =
                    state.diskReadable && state.peerSlotAt.map { now < $0 + config.channelDeadline } ?? false
                if !state.anyResourceUp && (diskFresh || !state.peerDead) {
                    decide(.becomeStandby, reason: "resources killed; rejoining as standby", into: &output)
                }
            }
            reconcileResources(config, into: &output)
        }
        armNextTimer(config, startedAt: startedAt, into: &output)
    }

    // MARK: - Detection

    private mutating func detectChannels(_ config: ClusterConfig, startedAt: Instant, into output: inout Output) {
        let now = state.now
        for c in 0..<config.channelCount {
            let channel = state.channels[c]
            var up = channel.lastHeard.map { now < $0 + config.channelDeadline } ?? false
            if c == config.diskChannel && !state.diskReadable { up = false }
            if up != channel.up {
                emit(.channelChanged(channel: UInt8(c), up: up, lastHeard: channel.lastHeard), into: &output)
            }
        }
        var firstUp: Int?
        var networkUp = false
        for c in state.channels.indices where state.channels[c].up {
            if firstUp == nil { firstUp = c }
            if c < config.diskChannel { networkUp = true }
        }
        if let firstUp {
            if state.peerDead || (state.peerSuspected && networkUp) {
                emit(.peerAlive(channel: UInt8(firstUp)), into: &output)
                clear(.peerLost, into: &output)
                // Switches may have learnt the peer's MAC for the group's addresses while it was gone.
                if state.role == .active && state.anyResourceUp { issue(.announce(epoch: state.epoch), into: &output) }
            }
            if !networkUp && !state.peerSuspected && now >= startedAt + config.channelDeadline {
                emit(.peerSuspected(state.evidence()), into: &output)
            }
            // Hysteresis: a channel is reported down only after a second of silence, so that a slow disk or a
            // flapping link does not raise and clear the alarm every few heartbeats.
            var down: [Int] = []
            for c in state.channels.indices where !state.channels[c].up {
                if now >= (state.channels[c].lastHeard ?? startedAt) + Self.channelAlarmDelay { down.append(c) }
            }
            if down.isEmpty {
                if state.channels.allSatisfy(\.up) { clear(.channelDown, into: &output) }
            } else if now >= startedAt + config.startupDiscovery {
                let names = down.map { config.channelName($0) }.joined(separator: ", ")
                let note =
                    networkUp
                    ? "" : " (all network paths down: a partition; the disk slot keeps \(peerName) known alive)"
                raise(.channelDown, .warning, "heartbeat channel down: \(names)\(note)", into: &output)
            }
        } else if !state.peerDead && now >= startedAt + config.channelDeadline {
            emit(.peerDeclaredDead(state.evidence()), into: &output)
            raise(
                .peerLost,
                .critical,
                "\(peerName) is silent on every channel (\(channelSummary(config)))",
                into: &output
            )
        }
        if config.arbitrator, let reachable = state.arbitratorReachable {
            if reachable {
                clear(.arbitratorUnreachable, into: &output)
            } else if state.alarm(.arbitratorUnreachable) == nil {
                raise(
                    .arbitratorUnreachable,
                    .warning,
                    "the arbitrator does not answer from \(config.name(of: state.me))",
                    into: &output
                )
            }
        }
    }

    private func channelSummary(_ config: ClusterConfig) -> String {
        (0..<config.channelCount).map { c in
            let heard = state.channels[c].lastHeard.map { "last heard \(Self.ms(state.now - $0)) ago" } ?? "never heard"
            return "\(config.channelName(c)) \(heard)"
        }.joined(separator: ", ")
    }

    private func discoverySummary(_ config: ClusterConfig) -> String {
        if state.peerSlot.owns { return "discovery over: \(peerName) holds the lease (epoch \(state.peerSlot.epoch))" }
        guard state.peerViewAt != nil else { return "discovery over: resources stopped, \(peerName) never heard" }
        return "discovery over: resources stopped, \(peerName) is \(state.peerView.role)"
    }

    static let channelAlarmDelay: Nanos = 1_000_000_000

    /// Before this instant the peer may still hold a disk-only lease (see `State.peerDiskOnlyLeaseUntil`), and the
    /// standby does not claim.
    static func peerDiskOnlyLeaseEnd(_ config: ClusterConfig, _ state: State) -> Instant {
        state.peerDiskOnlyLeaseUntil.map { $0 + config.safetyMargin } ?? 0
    }

    /// How long a claim of the lease (its write and the check read after it) may take before it is given up:
    /// within the lease the claim renews (the disk-only lease when it announced it: a slow disk then gets
    /// seconds for the claim too, rather than giving up and claiming again with a new epoch each time).
    static func acquireTimeout(_ config: ClusterConfig, _ state: State) -> Nanos {
        let short = 4 * config.leaseDuration
        return state.announcesDiskOnlyLease ? max(short, config.diskOnlyLeaseLength - config.safetyMargin) : short
    }

    static func ms(_ nanos: Nanos) -> String {
        let tenths = nanos / 100_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    // MARK: - Lease

    /// Self-fences an owner whose lease has run out, or that sees a peer with a higher epoch. Returns true when
    /// it did.
    private mutating func checkLease(_ config: ClusterConfig, into output: inout Output) -> Bool {
        guard state.holdsGroupUnderLease else { return false }
        let now = state.now
        let peerFresh = state.peerViewAt.map { now < $0 + config.channelDeadline } ?? false
        if peerFresh && state.peerView.owns && state.peerView.epoch > state.epoch {
            decide(
                .selfFence,
                reason:
                    "\(peerName) holds the lease with epoch \(state.peerView.epoch) (this node: \(state.epoch)); killing the resources",
                into: &output
            )
            raise(.selfFenced, .critical, "two owners seen; this node (epoch \(state.epoch)) stood down", into: &output)
            return true
        }
        if state.leaseRunsOut(by: now) {
            let since = state.lastRenewal.map { "last renewed \(Self.ms(now - $0)) ago" } ?? "never renewed"
            let limit = (state.leaseEnd ?? now) - (state.lastRenewal ?? 0)
            let disk = state.ownSlotWritable ? "no slot write renewed it in time" : "slot writes failing"
            decide(
                .selfFence,
                reason:
                    "lease not renewed in time (\(since); limit \(Self.ms(limit))): \(disk) and no heartbeat echo from \(peerName)",
                into: &output
            )
            raise(.selfFenced, .critical, "lease lost: resources killed on \(config.name(of: state.me))", into: &output)
            return true
        }
        return false
    }

    // MARK: - Takeover

    /// How long the peer must have been silent on the network and its slot unchanged before this node claims the
    /// lease it held: the lease plus the margin (the holder stops a margin before its lease ends, so the two are
    /// apart by twice the margin). Shortened only by the test-only `claimsBeforePeerLeaseEnds`.
    func claimWait(_ config: ClusterConfig) -> Nanos {
        claimsBeforePeerLeaseEnds ? config.leaseDuration / 2 : config.leaseDuration + config.safetyMargin
    }

    private mutating func considerTakeover(_ config: ClusterConfig, startedAt: Instant, into output: inout Output) {
        guard !state.adminStandby, !state.stuck, !state.fencePending, let peer = peerID else { return }
        let now = state.now
        if let until = state.contendedUntil, now < until { return }
        // After the group failed here (a failed start, or monitors past their restarts), not before the restart
        // window is over: a database that cannot start here would otherwise be started, and its VIP moved, in a
        // loop. The start-failed or resource-failed alarm stays raised meanwhile.
        if let until = state.unhealthyUntil, now < until { return }
        // Without a fresh read of the shared storage this node can neither see nor take the lease.
        guard state.diskReadable, let slotAt = state.peerSlotAt, now < slotAt + config.channelDeadline else { return }
        let expiry = claimWait(config)
        if state.peerSlot.owns {
            let networkQuiet = now >= (state.lastHeardNetwork ?? startedAt) + expiry
            let diskQuiet = state.peerCounterChangedAt.map { now >= $0 + expiry } ?? false
            let diskOnlyLeaseOver = now >= Self.peerDiskOnlyLeaseEnd(config, state)
            guard networkQuiet && diskQuiet && diskOnlyLeaseOver else { return }
            if config.fencing && !state.peerFenced {
                // A failed fence is tried again later, never skipped: the peer may be frozen, not dead.
                if let at = state.fenceRetryAt, now < at { return }
                let attempt = state.fenceFailures == 0 ? "" : " (attempt \(state.fenceFailures + 1); the last failed)"
                decide(
                    .fencePeer,
                    reason: "\(peerName) lost while holding the lease: fencing it before taking over\(attempt)",
                    into: &output
                )
                issue(.fencePeer(epoch: state.highestEpoch + 1), into: &output)
                return
            }
            takeOver(
                reason:
                    "\(peerName) lost: no heartbeat on any network channel for \(Self.ms(now - (state.lastHeardNetwork ?? startedAt))), "
                    + "disk slot unchanged for \(Self.ms(now - (state.peerCounterChangedAt ?? now))) (lease \(Self.ms(config.leaseDuration)) + margin \(Self.ms(config.safetyMargin)) expired"
                    + (state.peerDiskOnlyLeaseUntil.map {
                        now < $0 + config.safetyMargin + config.heartbeatInterval
                            ? "; the disk-only lease it may have held ran out too" : ""
                    } ?? "") + ")",
                config: config,
                into: &output
            )
            return
        }
        // Nobody holds the lease (per the disk). Never while the peer says otherwise or still runs resources.
        if let at = state.peerViewAt, now < at + config.channelDeadline, state.peerView.owns { return }
        if state.peerSlot.resourcesUp != 0 && !state.peerDead { return }
        let reason: String
        if config.arbitrator && !state.peerDead, let mine = state.arbitratorReachable,
            let theirs = state.peerView.arbitratorReachable, mine != theirs
        {
            // Exactly one node reaches the arbitrator: that one takes the group.
            guard mine else { return }
            reason = "nobody holds the lease and only this node reaches the arbitrator"
        } else if state.peerSlot.yields && !state.yields {
            if config.arbitrator && state.arbitratorReachable == false {
                raise(
                    .arbitratorUnreachable,
                    .critical,
                    "\(peerName) handed the group over, but this node cannot reach the arbitrator either",
                    into: &output
                )
                return
            }
            reason = "\(peerName) released the lease for this node (epoch \(state.peerSlot.epoch))"
        } else if !state.peerDead && state.peerView.role == .starting
            && now < state.roleSince + 2 * config.startupDiscovery
        {
            return  // the peer is about to finish its own discovery: let the designation below decide then
        } else if state.peerDead || !state.peerView.healthy {
            reason =
                state.peerDead
                ? "nobody holds the lease and \(peerName) is silent on every channel"
                : "nobody holds the lease and \(peerName) is not ready (\(state.peerView.role))"
        } else {
            let preferred = config.preferredNode ?? min(state.me, peer)
            let designated = (state.yields && !state.peerSlot.yields) ? peer : preferred
            guard designated == state.me else { return }
            reason =
                "nobody holds the lease; \(config.name(of: state.me)) is \(config.preferredNode == nil ? "the lower node id" : "the preferred node")"
        }
        takeOver(reason: reason, config: config, into: &output)
    }

    private mutating func takeOver(reason: String, config: ClusterConfig, into output: inout Output) {
        // Epochs are odd for the lower node id and even for the higher one, so two claims never share one.
        let lowest = config.nodes.map(\.id).min() ?? state.me
        let parity: Epoch = state.me == lowest ? 1 : 0
        var epoch = max(state.highestEpoch, state.epoch) + 1
        if epoch % 2 != parity { epoch += 1 }
        decide(.takeOver, epoch: epoch, reason: reason, into: &output)
        issue(.writeSlot(owns: true, epoch: epoch), into: &output)
    }

    // MARK: - Step-down and failback

    private mutating func considerStepDown(_ config: ClusterConfig, into output: inout Output) {
        guard config.arbitrator, state.arbitratorReachable == false, state.peerSlot.arbitratorReachable == true else {
            return
        }
        let networkDown = state.channels.prefix(config.networkChannels.count).allSatisfy { !$0.up }
        let diskAlive = state.channels[config.diskChannel].up
        guard networkDown && diskAlive else { return }
        decide(
            .release,
            reason:
                "network heartbeats lost while \(peerName)'s disk slot is alive; this node cannot reach the arbitrator and \(peerName) can: stepping down",
            subject: .cause(.arbitratorStepDown),
            into: &output
        )
    }

    private mutating func considerFailback(_ config: ClusterConfig, into output: inout Output) {
        guard config.failback == .auto, let preferred = config.preferredNode, preferred != state.me,
            let since = state.peerHealthySince, state.now >= since + config.failbackStability,
            peerNotReady(config) == nil, state.resources.allSatisfy({ $0 == .running })
        else { return }
        decide(
            .release,
            reason:
                "failback: preferred node \(peerName) healthy for \(Self.ms(state.now - since)) (stability \(Self.ms(config.failbackStability)))",
            subject: .cause(.failback),
            into: &output
        )
    }

    // MARK: - Resources

    /// Issues the next resource action, one at a time: stops from the top down, then starts from the bottom up.
    private mutating func reconcileResources(_ config: ClusterConfig, into output: inout Output) {
        guard !state.stuck else { return }
        let count = state.resources.count
        if state.role == .fenced {
            // A self-fence is a fence, not a stop: every resource is killed at once, without waiting for the one
            // before, and in group order, so that the addresses (the group's first resources) go first.
            for i in 0..<count where state.resources[i] != .stopped && state.resources[i] != .stopping {
                issue(.killResource(i, epoch: state.epoch), into: &output)
            }
            return
        }
        if state.resources.contains(where: { $0 == .starting || $0 == .stopping }) { return }
        // Resources from `floor` up must come down (all of them unless active); a failed one always must.
        let floor: Int = state.role == .active ? (state.restartFloor ?? count) : 0
        for i in stride(from: count - 1, through: 0, by: -1) {
            let status = state.resources[i]
            guard status == .running || status == .failed else { continue }
            guard i >= floor || status == .failed else { continue }
            let kill = status == .failed && state.stopAttempted[i]
            issue(kill ? .killResource(i, epoch: state.epoch) : .stopResource(i, epoch: state.epoch), into: &output)
            return
        }
        guard state.role == .active, !state.fencePending, state.restartFloor == nil else { return }
        for i in 0..<count {
            switch state.resources[i] {
            case .running:
                continue
            case .stopped:
                issue(.startResource(i, epoch: state.epoch), into: &output)
                return
            case .starting, .stopping, .failed:
                return
            }
        }
    }

    // MARK: - Timer

    private mutating func armNextTimer(_ config: ClusterConfig, startedAt: Instant, into output: inout Output) {
        let now = state.now
        var next = Instant.max
        func consider(_ at: Instant) { if at > now && at < next { next = at } }
        for channel in state.channels where channel.up {
            if let heard = channel.lastHeard { consider(heard + config.channelDeadline) }
        }
        if state.peerDead == false { consider(startedAt + config.channelDeadline) }
        if let slotAt = state.peerSlotAt { consider(slotAt + config.channelDeadline) }
        switch state.role {
        case .starting:
            consider(startedAt + config.startupDiscovery)
        case .standby:
            let expiry = claimWait(config)
            consider(Self.peerDiskOnlyLeaseEnd(config, state))
            if let at = state.fenceRetryAt { consider(at) }
            consider((state.lastHeardNetwork ?? startedAt) + expiry)
            if let changed = state.peerCounterChangedAt { consider(changed + expiry) }
        case .acquiring:
            if let decided = state.lastFailover?.at { consider(decided + Self.acquireTimeout(config, state)) }
        case .active, .releasing:
            if let end = state.leaseEnd { consider(end) }
            if config.failback == .auto, let since = state.peerHealthySince {
                consider(since + config.failbackStability)
            }
        case .fenced:
            break
        }
        if let until = state.unhealthyUntil { consider(until) }
        if let until = state.contendedUntil { consider(until) }
        guard next != .max else { return }
        // A timer armed for earlier stays: firing before anything is due costs one evaluation (which arms the next
        // one), while moving it later on every heartbeat cost two log records a tick for nothing.
        if let armed = state.armedTimer, armed > now, armed <= next { return }
        if state.armedTimer != next {
            issue(.armTimer(at: next), into: &output)
        }
    }
}
