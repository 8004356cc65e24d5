import EventLog
@testable import EventRecords
import Testing

@testable import Coordinator

@Suite struct EventCodecTests {
    // MARK: - Examples

    static let view = Advertisement(
        role: .active,
        epoch: 7,
        owns: true,
        resourcesUp: 0b111,
        arbitratorReachable: true,
        acknowledgesPeer: true,
        yields: false,
        healthy: true,
        maintenance: false
    )

    static var config: ClusterConfig {
        var config = ClusterConfig(
            cluster: "prod-db",
            nodes: [NodeConfig(id: 1, name: "alpha"), NodeConfig(id: 2, name: "beta")],
            networkChannels: ["eth0", "eth1"],
            resources: [ResourceConfig(name: "vip"), ResourceConfig(name: "postgres")]
        )
        config.preferredNode = 1
        config.failback = .auto
        config.fencing = true
        return config
    }

    static let fullEvidence = Evidence(
        channels: [
            ChannelEvidence(channel: 0, up: true, lastHeard: 5_000_000_000),
            ChannelEvidence(channel: 1, up: false, lastHeard: nil),
            ChannelEvidence(channel: 255, up: true, lastHeard: .max),
        ],
        peerCounter: .max,
        peerCounterChangedAt: 0,
        diskReadable: true,
        lastRenewal: 4_999_000_000,
        arbitrator: false,
        peerArbitrator: true,
        peerRole: .fenced,
        peerEpoch: .max,
        peerOwns: true
    )

    static let halfEvidence = Evidence(
        channels: [],
        peerCounter: 12,
        peerCounterChangedAt: nil,
        diskReadable: false,
        lastRenewal: nil,
        arbitrator: true,
        peerArbitrator: nil,
        peerRole: .standby,
        peerEpoch: 3,
        peerOwns: false
    )

    static func heartbeat(
        at: Instant = 5_000_000_000,
        wall: Int64 = 1_790_000_000_123_456_789,
        echo: Instant?
    ) -> Event {
        .input(
            StampedInput(
                at: at,
                wall: wall,
                .heartbeat(Heartbeat(channel: 0, from: 2, sequence: 123_456, view: view, echoOfOwnSentAt: echo))
            )
        )
    }

    /// One input of every kind, with edge values spread among them.
    static var inputs: [StampedInput] {
        var inputs: [StampedInput] = [
            StampedInput(
                at: 1,
                wall: 1_790_000_000_000_000_000,
                .started(
                    NodeStart(node: 1, servhaVersion: "0.1.0", bootID: "b0a1-77", configHash: Array(0..<32))
                )
            ),
            StampedInput(
                at: 0,
                wall: 0,
                .started(NodeStart(node: .max, servhaVersion: "", bootID: "", configHash: []))
            ),
            StampedInput(at: 2, wall: -1, .configLoaded(config)),
            StampedInput(
                at: 2,
                wall: .min,
                .configLoaded(ClusterConfig(cluster: "", nodes: [], networkChannels: [], resources: []))
            ),
            StampedInput(at: .max, wall: .max, .timerFired),
            StampedInput(at: 0, wall: .min, .timerFired),
            StampedInput(
                at: 40_000_000,
                wall: 1_790_000_000_040_000_000,
                .diskSlot(SlotReading(node: 2, readable: true, counter: 99, view: view, startedAt: 39_000_000))
            ),
            StampedInput(
                at: 0,
                wall: -5,
                .diskSlot(SlotReading(node: 0, readable: false, counter: .max, view: .unknown, startedAt: .max))
            ),
            StampedInput(
                at: 50,
                wall: 60,
                .slotWritten(SlotWrite(succeeded: true, startedAt: 40, owns: true, epoch: 9))
            ),
            StampedInput(
                at: 50,
                wall: 60,
                .slotWritten(SlotWrite(succeeded: false, startedAt: .max, owns: false, epoch: .max))
            ),
            StampedInput(at: 70, wall: 80, .arbitrator(reachable: true)),
            StampedInput(at: 70, wall: 80, .arbitrator(reachable: false)),
            StampedInput(at: 90, wall: 100, .fenceOutcome(succeeded: true, detail: "")),
            StampedInput(at: 90, wall: 100, .fenceOutcome(succeeded: false, detail: "ipmitool: timeout ✗")),
            StampedInput(at: 1, wall: 2, .rejected(RejectedInput(reason: "bad MAC", source: "10.0.0.2:7400"))),
            StampedInput(at: 1, wall: 2, .rejected(RejectedInput(reason: "", source: ""))),
            StampedInput(
                at: 1,
                wall: 2,
                .alarmDelivery(
                    AlarmDelivery(kind: .tookOver, raised: true, sink: 0, succeeded: true, attempt: 1, detail: "")
                )
            ),
            StampedInput(at: 3, wall: 4, .logSpace(LogSpace(freeBytes: 123_456_789, totalBytes: 987_654_321_000))),
            StampedInput(at: 5, wall: 6, .lateRecord("the event log failed (ENOSPC) at 2026-11-30T08:26:38Z")),
            StampedInput(at: 7, wall: 8, .archived(ArchiveOutcome(segment: "00000000000000000001.seg", succeeded: true, detail: ""))),
            StampedInput(
                at: 9, wall: 10,
                .archived(ArchiveOutcome(segment: "00000000000000000002.seg", succeeded: false, detail: "exited 1: no space"))
            ),
            StampedInput(
                at: .max,
                wall: -2,
                .alarmDelivery(
                    AlarmDelivery(
                        kind: .sharedStorage,
                        raised: false,
                        sink: 63,
                        succeeded: false,
                        attempt: 9,
                        detail: "curl: (7)"
                    )
                )
            ),
        ]
        let results: [ResourceResult] = [
            .succeeded, .notRunning, .failed(exitCode: -1), .failed(exitCode: .min), .failed(exitCode: .max),
            .timedOut,
        ]
        for (i, operation) in allCases(ResourceOperation.self).enumerated() {
            for (j, result) in results.enumerated() {
                let outcome = ResourceOutcome(
                    resource: [0, 1, 63, -1, .max, .min][(i + j) % 6],
                    operation: operation,
                    result: result,
                    epoch: UInt64(j),
                    tookNanos: j == 0 ? .max : 1_234_567,
                    output: j.isMultiple(of: 2) ? "" : "pg_ctl: server started\n"
                )
                inputs.append(StampedInput(at: 100, wall: 200, .resourceOutcome(outcome)))
            }
        }
        for verb in allCases(AdminVerb.self) {
            let source = verb.rawValue == 0 ? "" : "uid 0 pid 4242 via /run/servha/admin.sock"
            inputs.append(StampedInput(at: 300, wall: 400, .admin(AdminCommand(verb: verb, source: source))))
        }
        for (at, echo) in [(5_000_000_000, nil), (5_000_000_000, 4_999_000_000), (0, .max), (.max, 0)]
            as [(Instant, Instant?)]
        {
            guard case .input(let stamped) = heartbeat(at: at, echo: echo) else { continue }
            inputs.append(stamped)
        }
        let edgeHeartbeat = Heartbeat(
            channel: 255,
            from: .max,
            sequence: .max,
            view: Advertisement(
                role: .releasing,
                epoch: .max,
                owns: false,
                resourcesUp: .max,
                arbitratorReachable: false,
                acknowledgesPeer: false,
                yields: true,
                healthy: false,
                maintenance: true
            ),
            echoOfOwnSentAt: .max
        )
        inputs.append(StampedInput(at: .max, wall: .min, .heartbeat(edgeHeartbeat)))
        for role in allCases(Role.self) {
            var view = Advertisement.unknown
            view.role = role
            let heartbeat = Heartbeat(channel: 1, from: 1, sequence: 0, view: view, echoOfOwnSentAt: nil)
            inputs.append(StampedInput(at: 3, wall: 4, .heartbeat(heartbeat)))
        }
        return inputs
    }

    static var actions: [Action] {
        var actions: [Action] = [
            .armTimer(at: 0),
            .armTimer(at: .max),
            .writeSlot(owns: true, epoch: 7),
            .writeSlot(owns: false, epoch: .max),
            .readPeerSlot,
            .startResource(0, epoch: 1),
            .startResource(.max, epoch: .max),
            .stopResource(1, epoch: 2),
            .stopResource(-1, epoch: 0),
            .killResource(63, epoch: 3),
            .killResource(.min, epoch: 3),
            .fencePeer(epoch: 8),
            .announce(epoch: 8),
        ]
        for kind in allCases(AlarmKind.self) {
            for severity in allCases(AlarmSeverity.self) {
                let message = severity == .warning ? "" : "\(kind) on node beta"
                actions.append(.raiseAlarm(Alarm(kind: kind, severity: severity, message: message, epoch: 4)))
            }
            actions.append(.clearAlarm(kind))
        }
        return actions
    }

    static func subjects(_ kind: DecisionKind) -> [DecisionSubject] {
        switch kind {
        case .restartResource: [.resource(0), .resource(3), .resource(63)]
        case .release: [.cause(.switchover), .cause(.adminStandby)]
        case .adminMode:
            [.modes(standby: true, maintenance: false), .modes(standby: false, maintenance: true), .modes(standby: true, maintenance: true), .modes(standby: false, maintenance: false)]
        case .becomeStandby, .takeOver, .leaseAcquired, .acquireFailed, .released, .selfFence, .fencePeer: [.none]
        }
    }

    static var decisions: [Decision] {
        var decisions: [Decision] = []
        for (i, kind) in allCases(DecisionKind.self).enumerated() {
            decisions.append(
                Decision(
                    kind: kind,
                    epoch: UInt64(i),
                    reason: i.isMultiple(of: 2) ? "" : "peer silent on all channels for 180 ms",
                    evidence: [Evidence.none, fullEvidence, halfEvidence][i % 3],
                    subject: Self.subjects(kind)[i % Self.subjects(kind).count]
                )
            )
        }
        for cause in allCases(ReleaseCause.self) {
            decisions.append(
                Decision(kind: .release, epoch: 5, reason: "\(cause)", evidence: .none, subject: .cause(cause))
            )
        }
        return decisions
    }

    /// At least one example of every event, input, action, decision kind, alarm kind and release cause.
    static var examples: [Event] {
        var events: [Event] = inputs.map { .input($0) }
        for (i, stamped) in inputs.enumerated() {
            events.append(.rejected(stamped, reason: i.isMultiple(of: 2) ? "" : "no configuration yet"))
        }
        events += [
            .channelChanged(channel: 0, up: true, lastHeard: 123),
            .channelChanged(channel: 2, up: false, lastHeard: nil),
            .channelChanged(channel: 255, up: true, lastHeard: .max),
            .peerDeclaredDead(.none),
            .peerDeclaredDead(fullEvidence),
            .peerDeclaredDead(halfEvidence),
            .peerSuspected(halfEvidence),
            .peerAlive(channel: 0),
            .peerAlive(channel: 255),
            .stateDigest(Array(repeating: 0xAB, count: 32)),
            .stateDigest([]),
            .snapshot(StateSnapshot.encode(State(me: 2))),
        ]
        events += decisions.map { .decision($0) }
        events += actions.map { .issued($0) }
        for verb in allCases(AdminVerb.self) {
            events.append(.commandRefused(AdminCommand(verb: verb, source: "uid 1000"), reason: "not active"))
        }
        events.append(.commandRefused(AdminCommand(verb: .failback, source: ""), reason: ""))
        return events
    }

    static func allCases<T: RawRepresentable>(_: T.Type) -> [T] where T.RawValue == UInt8 {
        (0...UInt8.max).compactMap { T(rawValue: $0) }
    }

    // Exhaustive switches: a new case fails to compile here until it has an example above.

    static func name(_ event: Event) -> String {
        switch event {
        case .input(let stamped): "input " + name(stamped.input)
        case .rejected: "rejected"
        case .channelChanged: "channelChanged"
        case .peerDeclaredDead: "peerDeclaredDead"
        case .peerAlive: "peerAlive"
        case .peerSuspected: "peerSuspected"
        case .decision: "decision"
        case .issued(let action): "issued " + name(action)
        case .commandRefused: "commandRefused"
        case .stateDigest: "stateDigest"
        case .snapshot: "snapshot"
        }
    }

    static func name(_ input: Input) -> String {
        switch input {
        case .started: "started"
        case .configLoaded: "configLoaded"
        case .heartbeat: "heartbeat"
        case .timerFired: "timerFired"
        case .diskSlot: "diskSlot"
        case .slotWritten: "slotWritten"
        case .arbitrator: "arbitrator"
        case .resourceOutcome: "resourceOutcome"
        case .fenceOutcome: "fenceOutcome"
        case .admin: "admin"
        case .alarmDelivery: "alarmDelivery"
        case .logSpace: "logSpace"
        case .lateRecord: "lateRecord"
        case .archived: "archived"
        case .rejected: "rejected"
        }
    }

    static func name(_ action: Action) -> String {
        switch action {
        case .armTimer: "armTimer"
        case .writeSlot: "writeSlot"
        case .readPeerSlot: "readPeerSlot"
        case .startResource: "startResource"
        case .stopResource: "stopResource"
        case .killResource: "killResource"
        case .fencePeer: "fencePeer"
        case .announce: "announce"
        case .raiseAlarm: "raiseAlarm"
        case .clearAlarm: "clearAlarm"
        }
    }

    /// Decodes with the record times of the examples' inputs (`heartbeat(...)` defaults).
    static func decode(
        type: UInt16,
        _ payload: [UInt8],
        at: UInt64 = 5_000_000_000,
        wall: Int64 = 1_790_000_000_123_456_789
    ) throws -> Event {
        try payload.withUnsafeBytes {
            try EventCodec.decode(type: type, payload: $0, monotonicNanos: at, wallNanos: wall)
        }
    }

    /// The reason of the CodecError that decoding throws (nil if it decodes, or throws something else).
    static func failure(type: UInt16, _ payload: [UInt8]) -> String? {
        do {
            _ = try decode(type: type, payload)
            return nil
        } catch let error as CodecError {
            return error.reason
        } catch {
            return nil
        }
    }

    // MARK: - Tests

    @Test func examplesCoverEveryCase() {
        let events = Self.examples
        let names = Set(events.map(Self.name))
        let inputNames = Set(Self.inputs.map { Self.name($0.input) })
        #expect(inputNames.count == 15)
        #expect(Set(Self.actions.map(Self.name)).count == 10)
        #expect(names.count == 15 + 9 + 10)  // inputs, other events, issued actions
        #expect(Set(events.map(EventCodec.recordType)) == Set(EventCodec.RecordType.allCases.map(\.rawValue)))
        let decisionKinds = events.compactMap { event -> DecisionKind? in
            if case .decision(let decision) = event { decision.kind } else { nil }
        }
        #expect(Set(decisionKinds) == Set(Self.allCases(DecisionKind.self)))
        let alarmKinds = events.compactMap { event -> AlarmKind? in
            if case .issued(.raiseAlarm(let alarm)) = event { alarm.kind } else { nil }
        }
        #expect(Set(alarmKinds) == Set(Self.allCases(AlarmKind.self)))
        let causes = events.compactMap { event -> ReleaseCause? in
            guard case .decision(let decision) = event, case .cause(let cause) = decision.subject else { return nil }
            return cause
        }
        #expect(Set(causes) == Set(Self.allCases(ReleaseCause.self)))
    }

    @Test func aDecisionSubjectThatDoesNotFitItsKindIsAnError() throws {
        for (kind, detail) in [(DecisionKind.release, 99), (.restartResource, -1), (.adminMode, 4), (.takeOver, 1)] {
            #expect(throws: CodecError.self) { try EventCodec.subject(of: kind, wireDetail: detail) }
        }
    }

    @Test func everyExampleRoundTrips() throws {
        for event in Self.examples {
            let payload = EventCodec.payload(of: event)
            #expect(payload.first == EventCodec.formatVersion)
            let type = EventCodec.recordType(of: event)
            let decoded = try Self.decode(
                type: type,
                payload,
                at: event.stampedInput?.at ?? 0,
                wall: event.stampedInput?.wall ?? 0
            )
            #expect(decoded == event, "\(Self.name(event))")

            let draft = EventCodec.draft(event, node: 2, monotonicNanos: 777, wallNanos: -777)
            #expect(draft.type == type)
            #expect(draft.payload == payload)
            #expect(draft.node == 2)
            if let stamped = event.stampedInput {
                #expect(draft.monotonicNanos == stamped.at && draft.wallNanos == stamped.wall)
            } else {
                #expect(draft.monotonicNanos == 777 && draft.wallNanos == -777)
            }
            let record = LogRecord(sequence: 41, draft: draft)
            #expect(try EventCodec.decode(record) == event)
        }
    }

    @Test func recordTypesAreStable() {
        #expect(EventCodec.recordType(of: Self.heartbeat(echo: nil)) == 1)
        let numbers = Dictionary(uniqueKeysWithValues: EventCodec.RecordType.allCases.map { ("\($0)", $0.rawValue) })
        #expect(
            numbers == [
                "heartbeat": 1, "started": 2, "config-loaded": 3, "timer-fired": 4, "disk-slot": 5, "slot-written": 6,
                "arbitrator": 7, "resource-outcome": 8, "fence-outcome": 9, "admin": 10, "shell-rejected": 11,
                "alarm-delivery": 12, "log-space": 13, "late-record": 14, "archived": 15,
                "rejected": 32, "channel-changed": 64, "peer-declared-dead": 65, "peer-alive": 66, "decision": 67,
                "issued": 68, "command-refused": 69, "state-digest": 70, "peer-suspected": 71, "snapshot": 72,
            ]
        )
    }

    @Test func heartbeatPayloadIsSmall() throws {
        // version 1, channel 1, from 1, sequence 3, view 4, echo sequence 1; the times are the record's own.
        let plain = EventCodec.payload(of: Self.heartbeat(echo: nil))
        #expect(plain.count <= 11)
        // The echo of a heartbeat sent 1 ms earlier adds 3 bytes.
        let echoed = EventCodec.payload(of: Self.heartbeat(echo: 4_999_000_000))
        #expect(echoed.count <= 14)
        #expect(try Self.decode(type: 1, echoed) == Self.heartbeat(echo: 4_999_000_000))
    }

    @Test func durationsOfAnyPrecisionRoundTrip() throws {
        // Version 3 stores each distance in the largest unit up to 10^5 ns that divides it: exact at any precision.
        let at: Instant = 9_000_000_000_000
        for distance: UInt64 in [0, 1, 999, 100_000, 700_000, 1_234_567, 10_000_000, 3_000_000_000_000, at] {
            let events: [Event] = [
                Self.heartbeat(at: at, wall: 5, echo: at - distance),
                .input(StampedInput(at: at, wall: 5, .diskSlot(SlotReading(node: 2, readable: true, counter: 9, view: Self.view, startedAt: at - distance)))),
                .input(StampedInput(at: at, wall: 5, .slotWritten(SlotWrite(succeeded: true, startedAt: at - distance, owns: true, epoch: 3)))),
            ]
            for event in events {
                let payload = EventCodec.payload(of: event)
                #expect(try Self.decode(type: EventCodec.recordType(of: event), payload, at: at, wall: 5) == event)
            }
        }
        // A round trip stamped to 100 µs: a unit byte and one byte of count.
        let plain = EventCodec.payload(of: Self.heartbeat(at: at, echo: nil))
        #expect(EventCodec.payload(of: Self.heartbeat(at: at, echo: at - 700_000)).count == plain.count + 2)
    }

    @Test func aVersionTwoSlotWriteStillDecodesItsInstant() throws {
        // Version 2 stored the write's start as an instant (varint), not as a distance back from `at`.
        let payload: [UInt8] = [2, 3, 0xC0, 0x84, 0x3D, 7]  // succeeded and owns, started at 1,000,000, epoch 7
        #expect(
            try Self.decode(type: 6, payload, at: 5_000_000)
                == .input(StampedInput(at: 5_000_000, wall: 1_790_000_000_123_456_789, .slotWritten(SlotWrite(succeeded: true, startedAt: 1_000_000, owns: true, epoch: 7))))
        )
    }

    @Test func aVersionOneHeartbeatStillDecodesWithoutItsEchoSequence() throws {
        // Version 1 (the first fixtures) ended after the echo's distance; version 2 appends the echoed sequence.
        guard case .input(var stamped) = Self.heartbeat(echo: 4_999_000_000),
            case .heartbeat(var heartbeat) = stamped.input
        else { return }
        heartbeat.echo = 77
        stamped.input = .heartbeat(heartbeat)
        var payload = EventCodec.payload(of: .input(stamped))
        #expect(Array(payload.suffix(3)) == [5, 10, 77])  // version 3: the echo 1 ms back as 10 × 10^5 ns
        // Version 1 stored the echo's distance in nanoseconds, and nothing after it.
        payload.removeLast(3)
        payload += [0xC0, 0x84, 0x3D]  // 1,000,000 as a varint
        payload[0] = 1
        heartbeat.echo = 0
        stamped.input = .heartbeat(heartbeat)
        #expect(try Self.decode(type: 1, payload) == .input(stamped))
    }

    @Test func everyTruncationAndTrailingGarbageThrows() {
        for event in Self.examples {
            let type = EventCodec.recordType(of: event)
            let payload = EventCodec.payload(of: event)
            for length in 0..<payload.count {
                let reason = Self.failure(type: type, Array(payload[..<length]))
                #expect(reason != nil, "\(Self.name(event)) cut to \(length) of \(payload.count) bytes decoded")
                if let reason { #expect(reason.contains("(type \(type))"), "\(reason)") }
            }
            for garbage: [UInt8] in [[0], [0xFF], [1, 2, 3]] {
                let reason = Self.failure(type: type, payload + garbage)
                #expect(reason?.contains("trailing") == true, "\(Self.name(event)) + garbage: \(reason ?? "-")")
            }
        }
    }

    @Test func damagedPayloadsNeverCrash() {
        var rng = SplitMix64(seed: 17)
        let examples = Self.examples
        for round in 0..<20_000 {
            let event = examples[round % examples.count]
            var payload = EventCodec.payload(of: event)
            for _ in 0...(rng.next() % 3) where !payload.isEmpty {
                payload[Int(rng.next() % UInt64(payload.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            let type = round.isMultiple(of: 10) ? UInt16(rng.next() % 72) : EventCodec.recordType(of: event)
            do {
                _ = try Self.decode(type: type, payload)
            } catch {
                #expect(error is CodecError)
            }
        }
        for _ in 0..<20_000 {
            let bytes = (0..<(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let type = UInt16(rng.next() % 72)
            do {
                _ = try Self.decode(type: type, [1] + bytes)
            } catch {
                #expect(error is CodecError)
            }
        }
    }

    @Test func invalidEnumValuesThrow() {
        // A decision whose kind byte is not a DecisionKind.
        var payload = EventCodec.payload(of: .decision(Self.decisions[0]))
        payload[1] = 200
        #expect(Self.failure(type: 67, payload)?.contains("decision kind 200") == true)
        // An action tag that does not exist.
        #expect(Self.failure(type: 68, [1, 99])?.contains("action tag 99") == true)
        // A Bool that is neither 0 nor 1.
        var arbitrator = EventCodec.payload(of: .input(StampedInput(at: 0, wall: 0, .arbitrator(reachable: true))))
        arbitrator[arbitrator.count - 1] = 2
        #expect(Self.failure(type: 7, arbitrator) != nil)
        // A rejected input whose inner type is not an input.
        #expect(Self.failure(type: 32, [1, 64])?.contains("rejected input type 64") == true)
    }

    @Test func newerFormatVersionThrows() {
        let heartbeat = Self.heartbeat(echo: nil)
        var payload = EventCodec.payload(of: heartbeat)
        payload[0] = 4
        let reason = Self.failure(type: 1, payload)
        #expect(reason?.contains("newer") == true)
        #expect(reason?.contains("event format version 4 is newer than this servha reads (3); upgrade servha") == true)
        #expect(reason?.contains("heartbeat") == true)
        #expect(Self.failure(type: 70, [0xFF])?.contains("version 255 is newer") == true)
    }

    @Test func unknownRecordTypeThrows() {
        for type: UInt16 in [0, 16, 31, 33, 63, 73, 999, .max] {
            let reason = Self.failure(type: type, [1])
            #expect(reason == "unknown event record type \(type)")
        }
    }
}
