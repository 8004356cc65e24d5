import Coordinator
import Simulation

/// A year of one node's inputs without a year of simulation: the inputs of a healthy simulated pair's node-a, its
/// start and first minutes (the prologue), then one steady period of them (about an hour) repeated, each
/// repetition shifted by the period in time and by what the period adds to every counter (the peer's heartbeat
/// sequences, its echoes of this node's, its slot counter), so that the repetitions join as the next hour of the
/// simulation would have: no input is refused, no channel goes down.
///
/// The period holds a multiple of the core's `digestEvery` inputs, so that every repetition derives the same
/// events (state digests at the same places) and a run of skipped repetitions can be counted exactly.
struct YearLogHistory {
    var config: ClusterConfig
    let node: NodeID = Simulator.nodeA
    var prologue: [StampedInput]
    var period: [StampedInput]
    /// From the first input of one repetition to the first of the next (monotonic and wall clock alike: the
    /// simulated clocks do not drift).
    var periodNanos: UInt64
    /// Added to every wall time, so that the year ends about when the command runs.
    var wallOffset: Int64 = 0
    /// What one period adds to the peer's heartbeat sequence (per channel), to its echoes of this node's heartbeat
    /// sequence, and to its slot counter.
    var sequenceStep: [UInt8: UInt64] = [:]
    var echoStep: UInt64 = 0
    var counterStep: UInt64 = 0

    /// Simulates the pair (seed `seed`, no faults) for `warmUpNanos` and one period of about `periodNanos`, and
    /// cuts it into a prologue and a period. Memory: the simulator's events of both nodes over that time.
    init(seed: UInt64, warmUpNanos: UInt64, periodNanos target: UInt64) throws {
        var options = SimulationOptions(seed: seed, faults: [])
        // A little more than asked: the first inputs after the period tell how far each counter moves in one.
        options.durationNanos = warmUpNanos + target + 60_000_000_000
        options.checkReplay = false
        let report = Simulator.run(options)
        config = report.config
        guard report.violations.isEmpty else {
            throw fail("the simulated pair broke an invariant: \(report.violations[0])")
        }
        let inputs = report.logs[Int(node) - 1].compactMap { event -> StampedInput? in
            if case .input(let stamped) = event { stamped } else { nil }
        }
        guard let origin = inputs.first?.at else { throw fail("the simulated node recorded no input") }
        let every = config.digestEvery
        let start = inputs.firstIndex { $0.at >= origin + warmUpNanos } ?? inputs.count
        let inWindow = inputs[start...].prefix { $0.at < inputs[start].at + target }.count
        let count = inWindow / every * every
        guard count > 0, start + count < inputs.count else { throw fail("the simulation is too short for a period") }
        prologue = Array(inputs[..<start])
        period = Array(inputs[start..<start + count])
        periodNanos = inputs[start + count].at - inputs[start].at
        // Each counter's step: its first value after the period minus its first value in it.
        let after = inputs[(start + count)...]
        func first<T>(_ slice: ArraySlice<StampedInput>, _ pick: (Input) -> T?) -> T? {
            for stamped in slice { if let value = pick(stamped.input) { return value } }
            return nil
        }
        for channel in 0..<UInt8(config.networkChannels.count) {
            let sequence = { (input: Input) -> UInt64? in
                if case .heartbeat(let h) = input, h.channel == channel { h.sequence } else { nil }
            }
            guard let a = first(period[...], sequence), let b = first(after, sequence) else {
                throw fail("no heartbeat on channel \(channel) in the period")
            }
            sequenceStep[channel] = b - a
        }
        let echo = { (input: Input) -> UInt64? in if case .heartbeat(let h) = input { h.echo } else { nil } }
        let counter = { (input: Input) -> UInt64? in if case .diskSlot(let r) = input { r.counter } else { nil } }
        guard let e0 = first(period[...], echo), let e1 = first(after, echo), let c0 = first(period[...], counter),
            let c1 = first(after, counter)
        else { throw fail("the period holds no heartbeat or slot reading") }
        (echoStep, counterStep) = (e1 - e0, c1 - c0)
        for stamped in period {
            switch stamped.input {
            case .heartbeat, .timerFired, .diskSlot, .slotWritten, .resourceOutcome, .arbitrator: continue
            default: throw fail("the steady period holds an input it cannot repeat: \(stamped.input)")
            }
        }
    }

    /// The prologue's input `index`, with the wall offset.
    func prologueInput(_ index: Int) -> StampedInput {
        var stamped = prologue[index]
        stamped.wall &+= wallOffset
        return stamped
    }

    /// The period's input `index` in repetition `k` (0: as simulated).
    func input(_ index: Int, repetition k: UInt64) -> StampedInput {
        let source = period[index]
        let shift = k &* periodNanos
        var stamped = StampedInput(
            at: source.at &+ shift,
            wall: source.wall &+ wallOffset &+ Int64(bitPattern: shift),
            source.input
        )
        switch source.input {
        case .heartbeat(var h):
            h.sequence &+= k &* (sequenceStep[h.channel] ?? 0)
            h.echo &+= k &* echoStep
            h.echoOfOwnSentAt = h.echoOfOwnSentAt.map { $0 &+ shift }
            stamped.input = .heartbeat(h)
        case .diskSlot(var reading):
            reading.counter &+= k &* counterStep
            reading.startedAt &+= shift
            stamped.input = .diskSlot(reading)
        case .slotWritten(var write):
            write.startedAt &+= shift
            stamped.input = .slotWritten(write)
        default:
            break
        }
        return stamped
    }
}

extension State {
    /// The state `m` more periods on, extrapolated from two states one period apart (`previous`, then `self`):
    /// every instant and counter moves on by `m` times what it moved in that period; everything else stays as in
    /// `self`. Only used where `extrapolated(from: S0, by: 1) == S2` was checked for three states one period
    /// apart, so that a property this leaves out, or one that does not move steadily, is caught rather than
    /// carried on wrongly.
    func extrapolated(from previous: State, by m: UInt64) -> State {
        func move(_ a: UInt64, _ b: UInt64) -> UInt64 { b &+ m &* (b &- a) }
        func move(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
            guard let a, let b else { return b }
            return move(a, b)
        }
        func move(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
            a.count == b.count ? zip(a, b).map { move($0, $1) } : b
        }
        var next = self
        next.now = move(previous.now, now)
        next.wall = Int64(bitPattern: move(UInt64(bitPattern: previous.wall), UInt64(bitPattern: wall)))
        next.startedAt = move(previous.startedAt, startedAt)
        next.roleSince = move(previous.roleSince, roleSince)
        if previous.channels.count == channels.count {
            for c in channels.indices {
                next.channels[c].lastHeard = move(previous.channels[c].lastHeard, channels[c].lastHeard)
                next.channels[c].lastSequence = move(previous.channels[c].lastSequence, channels[c].lastSequence)
            }
        }
        next.peerViewAt = move(previous.peerViewAt, peerViewAt)
        next.peerSlotAt = move(previous.peerSlotAt, peerSlotAt)
        next.peerCounter = move(previous.peerCounter, peerCounter)
        next.peerCounterChangedAt = move(previous.peerCounterChangedAt, peerCounterChangedAt)
        next.peerDiskOnlyLeaseUntil = move(previous.peerDiskOnlyLeaseUntil, peerDiskOnlyLeaseUntil)
        next.peerHealthySince = move(previous.peerHealthySince, peerHealthySince)
        next.lastRenewal = move(previous.lastRenewal, lastRenewal)
        next.lastDiskOnlyRenewal = move(previous.lastDiskOnlyRenewal, lastDiskOnlyRenewal)
        if previous.restartTimes.count == restartTimes.count {
            next.restartTimes = zip(previous.restartTimes, restartTimes).map { move($0, $1) }
        }
        next.unhealthyUntil = move(previous.unhealthyUntil, unhealthyUntil)
        next.fenceRetryAt = move(previous.fenceRetryAt, fenceRetryAt)
        next.claimWrittenAt = move(previous.claimWrittenAt, claimWrittenAt)
        next.claimPeerCounter = move(previous.claimPeerCounter, claimPeerCounter)
        next.contendedUntil = move(previous.contendedUntil, contendedUntil)
        next.inputsRecorded = Int(move(UInt64(previous.inputsRecorded), UInt64(inputsRecorded)))
        next.armedTimer = move(previous.armedTimer, armedTimer)
        next.recentAcquisitions = move(previous.recentAcquisitions, recentAcquisitions)
        return next
    }
}
