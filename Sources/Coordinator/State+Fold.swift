extension State {
    /// Applies one event. This is the only way the state changes, live or when a log is folded on restart.
    public mutating func apply(_ event: Event) {
        switch event {
        case .input(let stamped):
            applyInput(stamped)
        case .rejected:
            break
        case .channelChanged(let channel, let up, _):
            if Int(channel) < channels.count { channels[Int(channel)].up = up }
        case .peerSuspected:
            peerSuspected = true
        case .peerDeclaredDead:
            peerDead = true
            peerSuspected = true
            peerHealthySince = nil
        case .peerAlive(let channel):
            peerDead = false
            if Int(channel) < networkChannelCount { peerSuspected = false }
        case .decision(let decision):
            applyDecision(decision)
        case .issued(let action):
            applyAction(action)
        case .commandRefused:
            break
        case .stateDigest, .snapshot:
            break
        }
    }

    private mutating func applyInput(_ stamped: StampedInput) {
        now = max(now, stamped.at)
        wall = stamped.wall
        inputsRecorded += 1
        switch stamped.input {
        case .started(let start):
            // A new boot: instants from before are from another clock, and resources are in an unknown state.
            let sameHostBoot = !bootID.isEmpty && bootID == start.bootID
            now = stamped.at
            bootID = start.bootID
            startedAt = stamped.at
            role = .starting
            roleSince = stamped.at
            yields = false
            fencePending = false
            channels = channels.map { _ in ChannelState() }
            peerDead = false
            peerSuspected = false
            peerView = .unknown
            peerViewAt = nil
            peerSlot = .unknown
            peerSlotAt = nil
            peerCounter = nil
            peerCounterChangedAt = nil
            peerDiskOnlyLeaseUntil = nil
            diskReadable = false
            peerHealthySince = nil
            lastRenewal = nil
            lastDiskOnlyRenewal = nil
            arbitratorReachable = nil
            // Unknown means "may be up": a clean-slate stop follows.
            resources = resources.map { _ in .failed }
            killFailed = killFailed.map { _ in false }
            stopAttempted = stopAttempted.map { _ in false }
            peerFenced = false
            fenceFailures = 0
            fenceRetryAt = nil
            releaseWriteIssued = false
            claimWrittenAt = nil
            claimPeerCounter = nil
            contendedUntil = nil
            restartFloor = nil
            stuck = false
            armedTimer = nil
            unhealthyUntil = nil
            // The instants of earlier acquisitions and local restarts are kept across a restart of the daemon (a
            // daemon that crashes and takes the group again and again is flapping), but not across a reboot of the
            // host: its monotonic clock starts again, and an old instant may lie ahead of the new boot's (`now -
            // first` trapped on the third acquisition after a reboot). Then the count and the window start afresh.
            if !sameHostBoot || recentAcquisitions.contains(where: { $0 > now })
                || restartTimes.contains(where: { $0.contains { $0 > now } })
            {
                recentAcquisitions = []
                restartTimes = restartTimes.map { _ in [] }
            }
        case .configLoaded(let newConfig):
            let resizedResources = newConfig.resources.count != resources.count
            config = newConfig
            if channels.count != newConfig.channelCount {
                channels = Array(repeating: ChannelState(), count: newConfig.channelCount)
            }
            if resizedResources {
                // A changed group: anything not known to be stopped must be stopped.
                resources = Array(repeating: startedAt == nil ? .stopped : .failed, count: newConfig.resources.count)
                restartTimes = Array(repeating: [], count: newConfig.resources.count)
                killFailed = Array(repeating: false, count: newConfig.resources.count)
                stopAttempted = Array(repeating: false, count: newConfig.resources.count)
            }
        case .heartbeat(let heartbeat):
            let c = Int(heartbeat.channel)
            channels[c].lastHeard = stamped.at
            channels[c].lastSequence = heartbeat.sequence
            peerView = heartbeat.view
            peerViewAt = stamped.at
            peerFenced = false
            fenceFailures = 0  // heard: it was not dead, whatever the fence said
            fenceRetryAt = nil
            highestEpoch = max(highestEpoch, heartbeat.view.epoch)
            if heartbeat.view.acknowledgesPeer, owns, heartbeat.view.epoch <= epoch,
                let sent = heartbeat.echoOfOwnSentAt, renewalCounts(observedAt: stamped.at)
            {
                lastRenewal = max(lastRenewal ?? 0, sent)
            }
            trackPeerHealth(at: stamped.at)
        case .timerFired:
            armedTimer = nil
        case .diskSlot(let reading):
            diskReadable = reading.readable
            guard reading.readable else { break }
            if peerCounter != reading.counter {
                // A new write of the peer's says how long it may still hold a disk-only lease from when it was
                // written (before now): the newest write's word is enough, its last long renewal included.
                peerDiskOnlyLeaseUntil = reading.view.diskOnlyLease ? stamped.at + reading.view.diskOnlyRemaining : nil
                peerCounter = reading.counter
                peerCounterChangedAt = stamped.at
                channels[diskChannelIndex].lastHeard = stamped.at
            }
            peerSlot = reading.view
            peerSlotAt = stamped.at
            // A heartbeat is a network delay old; the slot holds the peer's last write that landed, which on a
            // stalled path is seconds old. While the network hears the peer, the slot does not replace its view:
            // a stale view taken between two heartbeats made a node fail back on the fresh one and take the group
            // again on the stale one, over and over (simulator seed 1044, partition + diskStall).
            if !hearsPeerOnTheNetwork && (peerViewAt ?? 0) <= stamped.at {
                peerView = reading.view
                peerViewAt = stamped.at
            }
            highestEpoch = max(highestEpoch, reading.view.epoch)
            if reading.view.owns && reading.view.epoch > epoch { yields = false }
            trackPeerHealth(at: stamped.at)
        case .slotWritten(let write):
            ownSlotWritable = write.succeeded
            if write.succeeded && write.owns && write.epoch == epoch && role == .acquiring && claimWrittenAt == nil {
                claimWrittenAt = stamped.at
            }
            if write.succeeded && write.owns && write.epoch == epoch && owns && renewalCounts(observedAt: stamped.at) {
                lastRenewal = max(lastRenewal ?? 0, write.startedAt)
                // A write renews for the disk-only lease when it announced it and the peer is still not heard: once
                // the network is back, the announcement only covers the long renewals made before.
                if write.diskOnly && !hearsPeerOnTheNetwork {
                    lastDiskOnlyRenewal = max(lastDiskOnlyRenewal ?? 0, write.startedAt)
                }
            }
        case .arbitrator(let reachable):
            arbitratorReachable = reachable
        case .resourceOutcome(let outcome):
            guard outcome.resource < resources.count else { break }
            let r = outcome.resource
            switch (outcome.operation, outcome.result) {
            case (.start, .succeeded):
                if resources[r] == .starting { resources[r] = .running }
                stopAttempted[r] = false
            case (.start, _):
                resources[r] = .failed
            case (.stop, .succeeded), (.stop, .notRunning), (.kill, .succeeded), (.kill, .notRunning):
                resources[r] = .stopped
                stopAttempted[r] = false
                if let floor = restartFloor, resources[floor...].allSatisfy({ $0 == .stopped }) {
                    restartFloor = nil  // the restart's stop half is done; the group starts again from `floor`
                }
            case (.stop, _):
                resources[r] = .failed
            case (.kill, _):
                resources[r] = .failed
                killFailed[r] = true
                stuck = true
            case (.monitor, .succeeded):
                break
            case (.monitor, _):
                // Counted and acted on by the decision that follows; the resource is down until restarted.
                if resources[r] == .running { resources[r] = .failed }
            }
        case .fenceOutcome(let succeeded, _):
            fencePending = false
            peerFenced = succeeded
            if succeeded {
                fenceFailures = 0
                fenceRetryAt = nil
            } else {
                fenceFailures += 1
                fenceRetryAt = stamped.at + (config?.fenceRetry ?? 0)
            }
        case .admin, .logSpace, .lateRecord, .archived:
            break
        case .rejected:
            break
        case .alarmDelivery(let delivery):
            guard delivery.succeeded, delivery.sink < 64 else { break }
            let bit: UInt64 = 1 << UInt64(delivery.sink)
            if let index = pendingNotices.firstIndex(where: {
                $0.alarm.kind == delivery.kind && $0.raised == delivery.raised && $0.delivered & bit == 0
            }) {
                pendingNotices[index].delivered |= bit
                let sinks = config?.alarmSinks ?? 0
                pendingNotices.removeAll { $0.isComplete(sinks: sinks) }
            }
        }
    }

    private var diskChannelIndex: Int { channels.count - 1 }

    /// Queues a notice for the alarm sinks. The queue is bounded: past 1,000 pending notices (sinks down for
    /// days) the oldest are dropped, and the alarms themselves stay open in `alarms`.
    private mutating func notice(_ alarm: Alarm, raised: Bool) {
        guard let sinks = config?.alarmSinks, sinks > 0 else { return }
        pendingNotices.append(PendingNotice(alarm: alarm, raised: raised, delivered: 0))
        if pendingNotices.count > 1000 { pendingNotices.removeFirst(pendingNotices.count - 1000) }
    }

    private mutating func trackPeerHealth(at instant: Instant) {
        let ready = peerView.healthy && peerView.role == .standby && !peerView.maintenance
        if ready {
            if peerHealthySince == nil { peerHealthySince = instant }
        } else {
            peerHealthySince = nil
        }
    }

    private mutating func applyDecision(_ decision: Decision) {
        let before = role
        defer { if role != before { roleSince = now } }
        switch decision.kind {
        case .becomeStandby:
            role = .standby
        case .takeOver:
            role = .acquiring
            peerFenced = false
            claimWrittenAt = nil
            claimPeerCounter = peerCounter
            epoch = decision.epoch
            highestEpoch = max(highestEpoch, decision.epoch)
            yields = false
            lastRenewal = nil
            lastDiskOnlyRenewal = nil
            takeovers += 1
            lastFailover = FailoverRecord(decision, at: now, wall: wall)
        case .leaseAcquired:
            role = .active
            contendedUntil = nil
            recentAcquisitions = (recentAcquisitions + [now]).filter { now < $0 + Self.flappingWindow }
                .suffix(Self.flappingAcquisitions)
        case .acquireFailed:
            role = .standby
            claimWrittenAt = nil
            if let config {
                // The preferred node (or the lower id) tries again first.
                let first = (config.preferredNode ?? config.nodes.map(\.id).min()) == me
                contendedUntil = now + config.heartbeatInterval * (first ? 2 : 6)
            }
        case .release:
            role = .releasing
            if case .cause(let cause) = decision.subject {
                switch cause {
                case .groupFailover, .startFailed:
                    // The group failed here: this node does not take it again (nor is it a failback target)
                    // for a restart window, so that a resource that cannot run here is not started in a loop.
                    unhealthyUntil = now + (config?.restartWindow ?? 0)
                case .switchover, .failback, .arbitratorStepDown, .adminStandby:
                    break
                }
            }
            restartFloor = nil
            releaseWriteIssued = false
            lastFailover = FailoverRecord(decision, at: now, wall: wall)
        case .released:
            role = .standby
            yields = true
        case .selfFence:
            role = .fenced
            restartFloor = nil
            lastFailover = FailoverRecord(decision, at: now, wall: wall)
        case .restartResource:
            guard case .resource(let r) = decision.subject else { break }
            if r >= 0 && r < restartTimes.count {
                let window = config?.restartWindow ?? 0
                restartTimes[r] = restartTimes[r].filter { now < $0 + window } + [now]
            }
            restartFloor = r
        case .fencePeer:
            fencePending = true
        case .adminMode:
            if case .modes(let standby, let maintenance) = decision.subject {
                adminStandby = standby
                self.maintenance = maintenance
            }
        }
    }

    private mutating func applyAction(_ action: Action) {
        switch action {
        case .armTimer(let at):
            armedTimer = at
        case .startResource(let r, _):
            if r < resources.count { resources[r] = .starting }
        case .stopResource(let r, _), .killResource(let r, _):
            if r < resources.count {
                resources[r] = .stopping
                stopAttempted[r] = true
            }
        case .writeSlot(let owns, _):
            if role == .releasing && !owns { releaseWriteIssued = true }
        case .raiseAlarm(let alarm):
            alarms.removeAll { $0.kind == alarm.kind }
            alarms.append(alarm)
            alarms.sort { $0.kind < $1.kind }
            notice(alarm, raised: true)
        case .clearAlarm(let kind):
            if let open = alarms.first(where: { $0.kind == kind }) { notice(open, raised: false) }
            alarms.removeAll { $0.kind == kind }
        case .fencePeer, .readPeerSlot, .announce:
            break
        }
    }
}
