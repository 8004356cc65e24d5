extension Coordinator {
    /// The immediate reaction to an input, before the periodic evaluation.
    mutating func react(to stamped: StampedInput, into output: inout Output) {
        guard let config = state.config else { return }
        switch stamped.input {
        case .slotWritten(let write):
            if state.role == .acquiring && write.owns && write.epoch == state.epoch {
                if write.succeeded {
                    // Both nodes may have written their claim at once: read the peer's slot again, with a read
                    // that starts after this write finished. Of two overlapping claims at least one node sees
                    // the other's, and backs off.
                    issue(.readPeerSlot, into: &output)
                } else {
                    decide(.acquireFailed, reason: "could not write the lease to shared storage", into: &output)
                    raise(.leaseWriteFailed, .critical, "cannot write the lease to shared storage", into: &output)
                }
            } else if state.role == .releasing && !write.owns && write.succeeded && !state.anyResourceUp {
                decide(.released, reason: "resources stopped and lease released for the peer", into: &output)
            } else if write.succeeded {
                clear(.leaseWriteFailed, into: &output)
            } else if state.owns {
                raise(.leaseWriteFailed, .warning, "cannot renew the lease on shared storage", into: &output)
            }
        case .diskSlot(let reading):
            guard state.role == .acquiring, let written = state.claimWrittenAt, reading.startedAt >= written else {
                break
            }
            if !reading.readable {
                decide(.acquireFailed, reason: "shared storage unreadable while checking the claim", into: &output)
            } else if reading.counter != state.claimPeerCounter && (reading.view.owns || reading.view.resourcesUp != 0)
            {
                // The peer wrote since the takeover was decided, and claims the lease or still runs resources.
                // (A dead peer's slot keeps its last words, but its counter no longer moves.)
                decide(
                    .acquireFailed,
                    reason:
                        "\(peerName) claims the lease too (\(reading.view.role), epoch \(reading.view.epoch)): backing off",
                    into: &output
                )
            } else if let end = state.leaseEnd, let renewal = state.lastRenewal, state.now >= end {
                // The claim took so long (a stalled disk) that the lease it wrote has already run out.
                decide(
                    .acquireFailed,
                    reason:
                        "the claim took \(Self.ms(state.now - renewal)), longer than the lease allows; shared storage too slow",
                    into: &output
                )
            } else {
                decide(
                    .leaseAcquired,
                    reason: "lease written with epoch \(state.epoch) and unchallenged",
                    into: &output
                )
                clear(.leaseWriteFailed, into: &output)
                raise(
                    .tookOver,
                    .critical,
                    "\(config.name(of: state.me)) took over the group (epoch \(state.epoch)): \(state.lastFailover?.reason ?? "")",
                    into: &output
                )
                // Each takeover alone is right; many in a row mean the pair itself is unstable (a link, a disk,
                // timings too tight for this load), which no single took-over alarm says.
                if state.recentAcquisitions.count >= State.flappingAcquisitions, let first = state.recentAcquisitions.first {
                    raise(
                        .ownerFlapping,
                        .critical,
                        "\(config.name(of: state.me)) took the group \(state.recentAcquisitions.count) times in \(DurationText.render(state.now - first)) (now epoch \(state.epoch)): the pair is unstable; see servha replay decisions",
                        into: &output
                    )
                } else {
                    clear(.ownerFlapping, into: &output)
                }
            }
        case .resourceOutcome(let outcome):
            reactToResource(outcome, config: config, into: &output)
        case .fenceOutcome(let succeeded, let detail):
            if succeeded {
                clear(.fenceFailed, into: &output)
            } else {
                raise(.fenceFailed, .critical, "fencing \(peerName) failed: \(detail)", into: &output)
            }
        case .admin(let command):
            handleAdmin(command, config: config, into: &output)
        case .logSpace(let space):
            if space.isLow && state.alarm(.logSpaceLow) == nil {
                let mib = { (bytes: UInt64) in "\(bytes / 1_048_576) MiB" }
                raise(
                    .logSpaceLow,
                    .critical,
                    "the log's file system on \(config.name(of: state.me)) has \(mib(space.freeBytes)) of \(mib(space.totalBytes)) free (below \(LogSpace.alarmPercent)%): when it is full this node stops deciding and gives the group up",
                    into: &output
                )
            } else if space.isClear {
                clear(.logSpaceLow, into: &output)  // (a no-op when none is open)
            }
        case .archived(let outcome):
            if outcome.succeeded {
                clear(.archiveFailed, into: &output)
            } else if state.alarm(.archiveFailed) == nil {
                raise(
                    .archiveFailed,
                    .warning,
                    "log.archive_command failed for \(outcome.segment) on \(config.name(of: state.me)): \(outcome.detail); the segment is kept (retention removes archived segments only) and the command is tried again",
                    into: &output
                )
            }
        case .started, .configLoaded, .heartbeat, .timerFired, .arbitrator, .rejected, .alarmDelivery, .lateRecord:
            break
        }
    }

    var peerName: String { state.config.flatMap { $0.peer(of: state.me)?.name } ?? "peer" }
    var peerID: NodeID? { state.config?.peer(of: state.me)?.id }

    private mutating func reactToResource(_ outcome: ResourceOutcome, config: ClusterConfig, into output: inout Output)
    {
        let name = config.resources[outcome.resource].name
        switch (outcome.operation, outcome.result) {
        case (.start, .succeeded), (.monitor, .succeeded), (.stop, .succeeded), (.stop, .notRunning),
            (.kill, .succeeded), (.kill, .notRunning):
            if !state.anyResourceUp {
                clear(.stopFailed, into: &output)
            }
        case (.start, let result):
            raise(.startFailed, .critical, "\(name) failed to start: \(result)", into: &output)
            if state.role == .active && !state.maintenance {
                decide(
                    .release,
                    reason: "\(name) failed to start (\(result)); stopping the group and handing it to \(peerName)",
                    subject: .cause(.startFailed),
                    into: &output
                )
                // The takeover it announced did not give a running group: the start-failed alarm says what
                // happened instead.
                clear(.tookOver, into: &output)
            }
        case (.monitor, let result):
            guard state.role == .active, !state.maintenance, outcome.epoch == state.epoch else { return }
            let r = outcome.resource
            let recent = state.restartTimes[r].filter { state.now < $0 + config.restartWindow }.count
            if recent < config.maxLocalRestarts {
                raise(
                    .resourceFailed,
                    .warning,
                    "\(name) monitor: \(result); restarting it here (\(recent + 1) of \(config.maxLocalRestarts))",
                    into: &output
                )
                decide(
                    .restartResource,
                    reason: "\(name) monitor: \(result); local restart \(recent + 1) of \(config.maxLocalRestarts)",
                    subject: .resource(r),
                    into: &output
                )
            } else {
                raise(
                    .resourceFailed,
                    .critical,
                    "\(name) keeps failing (\(result)); the group fails over to \(peerName)",
                    into: &output
                )
                decide(
                    .release,
                    reason:
                        "\(name) monitor: \(result) after \(recent) local restarts; failing the group over to \(peerName)",
                    subject: .cause(.groupFailover),
                    into: &output
                )
            }
        case (.stop, let result):
            raise(.stopFailed, .critical, "\(name) failed to stop (\(result)); killing it", into: &output)
        case (.kill, let result):
            raise(
                .stopFailed,
                .critical,
                "\(name) cannot be stopped even by a kill (\(result)); keeping the lease, operator needed",
                into: &output
            )
        }
    }

    // MARK: - Admin

    private mutating func handleAdmin(_ command: AdminCommand, config: ClusterConfig, into output: inout Output) {
        func refuse(_ reason: String) { emit(.commandRefused(command, reason: reason), into: &output) }
        switch command.verb {
        case .switchover:
            guard state.role == .active else {
                return refuse("switchover runs on the active node; this node is \(state.role)")
            }
            if let why = peerNotReady(config) { return refuse("\(peerName) cannot take over: \(why)") }
            decide(
                .release,
                reason: "switchover to \(peerName) requested (\(command.source))",
                subject: .cause(.switchover),
                into: &output
            )
        case .failback:
            guard let preferred = config.preferredNode else { return refuse("no preferred node is configured") }
            if config.failback == .never {
                return refuse("failback mode is never; use switchover to move the group")
            }
            if preferred == state.me {
                if state.role == .active { return refuse("the group already runs on the preferred node") }
                return refuse("run failback on the active node (\(peerName))")
            }
            guard state.role == .active else {
                return refuse("failback runs on the active node; this node is \(state.role)")
            }
            if let why = peerNotReady(config) { return refuse("preferred node \(peerName) is not ready: \(why)") }
            decide(
                .release,
                reason: "failback to preferred node \(peerName) requested (\(command.source))",
                subject: .cause(.failback),
                into: &output
            )
        case .standby:
            guard !state.adminStandby else { return refuse("already in standby") }
            decide(
                .adminMode,
                reason: "standby requested (\(command.source))",
                subject: .modes(standby: true, maintenance: state.maintenance),
                into: &output
            )
            if state.role == .active {
                decide(
                    .release,
                    reason: "standby requested (\(command.source)); handing the group to \(peerName)",
                    subject: .cause(.adminStandby),
                    into: &output
                )
            }
        case .unstandby:
            guard state.adminStandby else { return refuse("not in standby") }
            decide(
                .adminMode,
                reason: "unstandby requested (\(command.source))",
                subject: .modes(standby: false, maintenance: state.maintenance),
                into: &output
            )
        case .maintenanceOn:
            guard !state.maintenance else { return refuse("maintenance is already on") }
            decide(
                .adminMode,
                reason: "maintenance on (\(command.source)): resources left as they are, nothing decided",
                subject: .modes(standby: state.adminStandby, maintenance: true),
                into: &output
            )
        case .maintenanceOff:
            guard state.maintenance else { return refuse("maintenance is not on") }
            decide(
                .adminMode,
                reason: "maintenance off (\(command.source))",
                subject: .modes(standby: state.adminStandby, maintenance: false),
                into: &output
            )
        }
    }

    /// Why the peer cannot take the group now, or nil when it can.
    func peerNotReady(_ config: ClusterConfig) -> String? {
        if state.peerDead { return "it is not heard on any channel" }
        guard let at = state.peerViewAt, state.now < at + config.channelDeadline else {
            return "no recent word from it"
        }
        let view = state.peerView
        if view.maintenance { return "it is in maintenance" }
        if !view.healthy || view.role != .standby { return "it is \(view.role)\(view.healthy ? "" : ", not healthy")" }
        if config.arbitrator && view.arbitratorReachable == false { return "it cannot reach the arbitrator" }
        return nil
    }
}
