import Coordinator
import EventLog

/// Encodes every `Event` to and from the log's records: a record type (which event, and for an input which
/// input) and a compact little-endian payload. No Foundation, no reflection: varints (LEB128), zigzag varints
/// for signed values, length-prefixed UTF-8 strings.
///
/// Record types (stable: never reuse or renumber; a retired number stays reserved):
///
///     type  event                       payload after the version byte
///     ----  --------------------------  ----------------------------------------------------------------
///        1  input heartbeat             stamp, channel·2+hasEcho, from, sequence, view, [at − echo],
///                                      echo sequence (version 2 on; 0: none)
///        2  input started               stamp, node, servha version, boot id, config hash
///        3  input config-loaded         stamp, ClusterConfig.encode
///        4  input timer-fired           stamp
///        5  input disk-slot             stamp, node, readable, counter, view, at − started at
///        6  input slot-written          stamp, flags (1 succeeded, 2 owns, 4 disk-only lease), at − started at
///                                      (version 3 on; the instant before), epoch
///        7  input arbitrator            stamp, reachable
///        8  input resource-outcome      stamp, resource, operation, result, epoch, took, output
///        9  input fence-outcome         stamp, succeeded, detail
///       10  input admin                 stamp, verb, source
///       11  input shell-rejected        stamp, reason, source                      (Input.rejected)
///       12  input alarm-delivery        kind, flags (1 raised, 2 succeeded), sink, attempt, detail
///       13  input log-space             stamp, free bytes, total bytes
///       14  input late-record           stamp, text
///       15  input archived              stamp, succeeded, segment name, detail
///    16-31  reserved for further inputs
///       32  rejected                    stamp, input type (1-31), input body, reason (Event.rejected)
///    33-63  reserved
///       64  channel-changed             channel, flags (1 up, 2 heard), [last heard]
///       65  peer-declared-dead          evidence
///       66  peer-alive                  channel
///       67  decision                    kind, epoch, reason, evidence, detail
///       68  issued                      action tag, action fields
///       69  command-refused             verb, source, reason
///       70  state-digest                digest
///       71  peer-suspected              evidence
///       72  snapshot                    the state's canonical encoding (StateSnapshot), as length and bytes
///
/// Every payload starts with `formatVersion`. The *stamp* of an input (its `at` and `wall`) is not in the payload:
/// it is the record's own monotonic and wall time, which the log stores as deltas column by column, so a
/// heartbeat costs a few bytes on disk. Decoding therefore takes the record's times. The heartbeat's echo
/// is stored as its distance back from `at` (a few bytes for a round trip, where the instant itself takes 5-8);
/// its presence rides in the low bit of the channel. A disk slot reading's start is likewise stored back from `at`.
///
/// Version 3 stores the three distances (a heartbeat's echo, a slot reading's and a slot write's start, each back
/// from `at`) as *durations*: a byte with the exponent of the unit (the largest 10^k ns, k ≤ 5, that divides it),
/// then the count of units. The shell stamps to 100 µs, so a round trip takes two bytes where nanoseconds took
/// four, and the same exponent in every record lets the payload filter zero it. Version 3 also stores a slot
/// write's start as a distance, not as an instant.
///
/// Version 2 added the echoed sequence to the heartbeat (so that `replay merge` can pair both nodes' logs
/// exchange by exchange); version 1 records still decode, with no echoed sequence.
///
/// Field encodings: counts, ids, instants, epochs and durations as varints; `Int` fields (resource index,
/// decision detail, exit code) as zigzag varints; enums as their raw byte; `Bool` as a 0/1 byte; optional
/// instants and counters behind presence bits (a `value + 1` varint cannot hold `UInt64.max`); byte strings
/// (digests, config hash) as a varint length and the bytes. `Advertisement` and `ClusterConfig` use their own
/// `encode(into:)`.
///
/// Action tags (in `issued`): 0 arm-timer (at), 1 write-slot (owns, epoch), 2 start-resource, 3 stop-resource,
/// 4 kill-resource (each: resource, epoch), 5 fence-peer (epoch), 6 raise-alarm (kind, severity, message,
/// epoch), 7 clear-alarm (kind), 8 read-peer-slot. Resource results: 0 succeeded, 1 not running, 2 failed (exit
/// code), 3 timed out. Tags, like record types, are never reused or renumbered.
public enum EventCodec {
    public static let formatVersion: UInt8 = 3

    /// The record types, numbered as in the table above.
    public enum RecordType: UInt16, CaseIterable, Sendable, CustomStringConvertible {
        case heartbeat = 1
        case started = 2
        case configLoaded = 3
        case timerFired = 4
        case diskSlot = 5
        case slotWritten = 6
        case arbitrator = 7
        case resourceOutcome = 8
        case fenceOutcome = 9
        case admin = 10
        case shellRejected = 11
        case alarmDelivery = 12
        case logSpace = 13
        case lateRecord = 14
        case archived = 15
        case rejected = 32
        case channelChanged = 64
        case peerDeclaredDead = 65
        case peerAlive = 66
        case decision = 67
        case issued = 68
        case commandRefused = 69
        case stateDigest = 70
        case peerSuspected = 71
        case snapshot = 72

        /// Whether records of this type carry an input (the ones replay feeds to the core).
        public var isInput: Bool { rawValue < 64 }

        public var description: String {
            switch self {
            case .heartbeat: "heartbeat"
            case .started: "started"
            case .configLoaded: "config-loaded"
            case .timerFired: "timer-fired"
            case .diskSlot: "disk-slot"
            case .slotWritten: "slot-written"
            case .arbitrator: "arbitrator"
            case .resourceOutcome: "resource-outcome"
            case .fenceOutcome: "fence-outcome"
            case .admin: "admin"
            case .shellRejected: "shell-rejected"
            case .alarmDelivery: "alarm-delivery"
            case .logSpace: "log-space"
            case .lateRecord: "late-record"
            case .archived: "archived"
            case .rejected: "rejected"
            case .channelChanged: "channel-changed"
            case .peerDeclaredDead: "peer-declared-dead"
            case .peerAlive: "peer-alive"
            case .peerSuspected: "peer-suspected"
            case .decision: "decision"
            case .issued: "issued"
            case .commandRefused: "command-refused"
            case .stateDigest: "state-digest"
            case .snapshot: "snapshot"
            }
        }
    }

    /// More channels than any configuration allows (60 network channels and the disk).
    static let maximumChannels: UInt64 = 64

    // MARK: - Encoding

    /// The log record type of an event (stable numbers; never reuse or renumber).
    public static func recordType(of event: Event) -> UInt16 { kind(of: event).rawValue }

    /// The record type's name (`heartbeat`, `decision`), as exports and the console show it.
    public static func typeName(of event: Event) -> String { kind(of: event).description }

    static func kind(of event: Event) -> RecordType {
        switch event {
        case .input(let stamped): inputKind(of: stamped.input)
        case .rejected: .rejected
        case .channelChanged: .channelChanged
        case .peerDeclaredDead: .peerDeclaredDead
        case .peerAlive: .peerAlive
        case .peerSuspected: .peerSuspected
        case .decision: .decision
        case .issued: .issued
        case .commandRefused: .commandRefused
        case .stateDigest: .stateDigest
        case .snapshot: .snapshot
        }
    }

    static func inputKind(of input: Input) -> RecordType {
        switch input {
        case .heartbeat: .heartbeat
        case .started: .started
        case .configLoaded: .configLoaded
        case .timerFired: .timerFired
        case .diskSlot: .diskSlot
        case .slotWritten: .slotWritten
        case .arbitrator: .arbitrator
        case .resourceOutcome: .resourceOutcome
        case .fenceOutcome: .fenceOutcome
        case .admin: .admin
        case .rejected: .shellRejected
        case .alarmDelivery: .alarmDelivery
        case .logSpace: .logSpace
        case .lateRecord: .lateRecord
        case .archived: .archived
        }
    }

    /// Drafts for a run of events as the core produced them: each derived event takes the time of the input
    /// before it (the input it came from), so a log written from them reads back with every event's stamp.
    public static func drafts(_ events: [Event], node: NodeID) -> [RecordDraft] {
        var at: UInt64 = 0
        var wall: Int64 = 0
        return events.map { event in
            if let stamped = event.stampedInput {
                at = stamped.at
                wall = stamped.wall
            }
            return draft(event, node: node, monotonicNanos: at, wallNanos: wall)
        }
    }

    /// Payload bytes (first byte: formatVersion) for the event.
    public static func payload(of event: Event) -> [UInt8] {
        var out = ByteSink(capacity: 32)
        out.append(formatVersion)
        switch event {
        case .input(let stamped):
            encodeStamped(stamped, into: &out)
        case .rejected(let stamped, let reason):
            out.appendVarint(UInt64(inputKind(of: stamped.input).rawValue))
            encodeStamped(stamped, into: &out)
            out.appendString(reason)
        case .channelChanged(let channel, let up, let lastHeard):
            encodeChannel(channel, up: up, lastHeard: lastHeard, into: &out)
        case .peerDeclaredDead(let evidence), .peerSuspected(let evidence):
            encodeEvidence(evidence, into: &out)
        case .peerAlive(let channel):
            out.append(channel)
        case .decision(let decision):
            out.append(decision.kind.rawValue)
            out.appendVarint(decision.epoch)
            out.appendString(decision.reason)
            encodeEvidence(decision.evidence, into: &out)
            out.appendSignedVarint(Int64(wireDetail(decision.subject)))
        case .issued(let action):
            encodeAction(action, into: &out)
        case .commandRefused(let command, let reason):
            out.append(command.verb.rawValue)
            out.appendString(command.source)
            out.appendString(reason)
        case .stateDigest(let digest), .snapshot(let digest):
            encodeBytes(digest, into: &out)
        }
        return out.bytes
    }

    /// RecordDraft for the writer. monotonicNanos/wallNanos: for `.input`/`.rejected` events use the stamped
    /// input's `at`/`wall`; for derived events the caller passes the instant/wall of the input that produced them.
    public static func draft(_ event: Event, node: NodeID, monotonicNanos: UInt64, wallNanos: Int64) -> RecordDraft {
        let stamped = event.stampedInput
        return RecordDraft(
            monotonicNanos: stamped?.at ?? monotonicNanos,
            wallNanos: stamped?.wall ?? wallNanos,
            node: node,
            type: recordType(of: event),
            payload: payload(of: event)
        )
    }

    private static func encodeStamped(_ stamped: StampedInput, into out: inout ByteSink) {
        switch stamped.input {
        case .heartbeat(let heartbeat):
            out.appendVarint(UInt64(heartbeat.channel) << 1 | (heartbeat.echoOfOwnSentAt == nil ? 0 : 1))
            out.appendVarint(UInt64(heartbeat.from))
            out.appendVarint(heartbeat.sequence)
            heartbeat.view.encode(into: &out)
            if let echo = heartbeat.echoOfOwnSentAt { appendDuration(stamped.at &- echo, into: &out) }
            out.appendVarint(heartbeat.echo)
        case .started(let start):
            out.appendVarint(UInt64(start.node))
            out.appendString(start.servhaVersion)
            out.appendString(start.bootID)
            encodeBytes(start.configHash, into: &out)
        case .configLoaded(let config):
            config.encode(into: &out)
        case .timerFired:
            break
        case .diskSlot(let reading):
            out.appendVarint(UInt64(reading.node))
            out.append(reading.readable ? 1 : 0)
            out.appendVarint(reading.counter)
            reading.view.encode(into: &out)
            appendDuration(stamped.at &- reading.startedAt, into: &out)
        case .slotWritten(let write):
            out.append((write.succeeded ? 1 : 0) | (write.owns ? 2 : 0) | (write.diskOnly ? 4 : 0))
            appendDuration(stamped.at &- write.startedAt, into: &out)
            out.appendVarint(write.epoch)
        case .arbitrator(let reachable):
            out.append(reachable ? 1 : 0)
        case .resourceOutcome(let outcome):
            out.appendSignedVarint(Int64(outcome.resource))
            out.append(outcome.operation.rawValue)
            switch outcome.result {
            case .succeeded: out.append(0)
            case .notRunning: out.append(1)
            case .failed(let exitCode):
                out.append(2)
                out.appendSignedVarint(Int64(exitCode))
            case .timedOut: out.append(3)
            }
            out.appendVarint(outcome.epoch)
            out.appendVarint(outcome.tookNanos)
            out.appendString(outcome.output)
        case .fenceOutcome(let succeeded, let detail):
            out.append(succeeded ? 1 : 0)
            out.appendString(detail)
        case .admin(let command):
            out.append(command.verb.rawValue)
            out.appendString(command.source)
        case .rejected(let rejected):
            out.appendString(rejected.reason)
            out.appendString(rejected.source)
        case .alarmDelivery(let delivery):
            out.append(delivery.kind.rawValue)
            out.append((delivery.raised ? 1 : 0) | (delivery.succeeded ? 2 : 0))
            out.appendVarint(UInt64(max(0, delivery.sink)))
            out.appendVarint(UInt64(max(0, delivery.attempt)))
            out.appendString(delivery.detail)
        case .logSpace(let space):
            out.appendVarint(space.freeBytes)
            out.appendVarint(space.totalBytes)
        case .lateRecord(let text):
            out.appendString(text)
        case .archived(let outcome):
            out.append(outcome.succeeded ? 1 : 0)
            out.appendString(outcome.segment)
            out.appendString(outcome.detail)
        }
    }

    /// The largest unit a stored duration is counted in: 10^5 ns, the resolution of the clock that stamps the
    /// shell's inputs (`StampClock`). Capped so that the unit stays the same from one record to the next (a
    /// distance that happens to be a whole millisecond is still counted in 100 µs), which keeps the payload filter's
    /// differences zero.
    static let largestDurationUnitExponent: UInt8 = 5

    /// A duration (version 3 on): the exponent of its unit (the largest 10^k ns, k ≤ 5, that divides it) as a byte,
    /// then the count of units as a varint. Exact for any duration; two bytes for a round trip stamped to 100 µs,
    /// where nanoseconds take four.
    private static func appendDuration(_ nanos: UInt64, into out: inout ByteSink) {
        var exponent: UInt8 = 0
        var count = nanos
        while exponent < largestDurationUnitExponent, count % 10 == 0, count != 0 {
            count /= 10
            exponent += 1
        }
        if nanos == 0 { exponent = largestDurationUnitExponent }
        out.append(exponent)
        out.appendVarint(count)
    }

    /// A duration as `appendDuration` stores it (version 3 on), or a varint of nanoseconds (versions 1 and 2).
    private static func readDuration(version: UInt8, _ source: inout ByteSource) throws -> UInt64 {
        guard version >= 3 else { return try source.readVarint() }
        let exponent = try source.readByte()
        guard exponent <= 9 else { throw CodecError("invalid duration unit 10^\(exponent) ns") }
        var value = try source.readVarint()
        for _ in 0..<exponent {
            let (product, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { throw CodecError("duration out of range") }
            value = product
        }
        return value
    }

    private static func encodeChannel(_ channel: UInt8, up: Bool, lastHeard: Instant?, into out: inout ByteSink) {
        out.append(channel)
        out.append((up ? 1 : 0) | (lastHeard == nil ? 0 : 2))
        if let lastHeard { out.appendVarint(lastHeard) }
    }

    private static func encodeEvidence(_ evidence: Evidence, into out: inout ByteSink) {
        out.appendVarint(UInt64(evidence.channels.count))
        for channel in evidence.channels {
            encodeChannel(channel.channel, up: channel.up, lastHeard: channel.lastHeard, into: &out)
        }
        var flags: UInt64 = 0
        if evidence.peerCounter != nil { flags |= EvidenceFlag.peerCounter }
        if evidence.peerCounterChangedAt != nil { flags |= EvidenceFlag.peerCounterChangedAt }
        if evidence.lastRenewal != nil { flags |= EvidenceFlag.lastRenewal }
        if evidence.diskReadable { flags |= EvidenceFlag.diskReadable }
        if evidence.peerOwns { flags |= EvidenceFlag.peerOwns }
        if let reachable = evidence.arbitrator {
            flags |= EvidenceFlag.arbitratorKnown | (reachable ? EvidenceFlag.arbitrator : 0)
        }
        if let reachable = evidence.peerArbitrator {
            flags |= EvidenceFlag.peerArbitratorKnown | (reachable ? EvidenceFlag.peerArbitrator : 0)
        }
        out.appendVarint(flags)
        for value in [evidence.peerCounter, evidence.peerCounterChangedAt, evidence.lastRenewal] {
            if let value { out.appendVarint(value) }
        }
        out.append(evidence.peerRole.rawValue)
        out.appendVarint(evidence.peerEpoch)
    }

    private enum EvidenceFlag {
        static let peerCounter: UInt64 = 1 << 0
        static let peerCounterChangedAt: UInt64 = 1 << 1
        static let lastRenewal: UInt64 = 1 << 2
        static let diskReadable: UInt64 = 1 << 3
        static let peerOwns: UInt64 = 1 << 4
        static let arbitratorKnown: UInt64 = 1 << 5
        static let arbitrator: UInt64 = 1 << 6
        static let peerArbitratorKnown: UInt64 = 1 << 7
        static let peerArbitrator: UInt64 = 1 << 8
        static let all: UInt64 = (1 << 9) - 1
    }

    private static func encodeAction(_ action: Action, into out: inout ByteSink) {
        out.append(actionTag(action))
        switch action {
        case .armTimer(let at):
            out.appendVarint(at)
        case .writeSlot(let owns, let epoch):
            out.append(owns ? 1 : 0)
            out.appendVarint(epoch)
        case .startResource(let index, let epoch), .stopResource(let index, let epoch),
            .killResource(let index, let epoch):
            out.appendSignedVarint(Int64(index))
            out.appendVarint(epoch)
        case .fencePeer(let epoch), .announce(let epoch):
            out.appendVarint(epoch)
        case .raiseAlarm(let alarm):
            out.append(alarm.kind.rawValue)
            out.append(alarm.severity.rawValue)
            out.appendString(alarm.message)
            out.appendVarint(alarm.epoch)
        case .clearAlarm(let kind):
            out.append(kind.rawValue)
        case .readPeerSlot:
            break
        }
    }

    /// The tag of an action in an `issued` record's payload.
    private static func actionTag(_ action: Action) -> UInt8 {
        switch action {
        case .armTimer: 0
        case .writeSlot: 1
        case .startResource: 2
        case .stopResource: 3
        case .killResource: 4
        case .fencePeer: 5
        case .raiseAlarm: 6
        case .clearAlarm: 7
        case .readPeerSlot: 8
        case .announce: 9
        }
    }

    private static func encodeBytes(_ bytes: [UInt8], into out: inout ByteSink) {
        out.appendVarint(UInt64(bytes.count))
        out.append(contentsOf: bytes)
    }

    // MARK: - Decoding

    /// Decodes a record back into the event. Throws `CodecError` with a one-line reason naming the record type
    /// for an unknown record type, a payload format version newer than `formatVersion`, a truncated payload,
    /// trailing bytes, and invalid enum raw values or flags. Does not trap on arbitrary bytes, with one exception
    /// outside this file: `ClusterConfig.decode` converts its restart and digest counts with `Int(_:)`, which
    /// traps on a varint above `Int.max` in a damaged config-loaded payload.
    /// `monotonicNanos` and `wallNanos` are the record's times (an input's `at` and `wall`).
    public static func decode(
        type: UInt16,
        payload: UnsafeRawBufferPointer,
        monotonicNanos: UInt64,
        wallNanos: Int64
    ) throws -> Event {
        guard let kind = RecordType(rawValue: type) else { throw CodecError("unknown event record type \(type)") }
        // Built only when refusing, not for every record a replay decodes.
        func label() -> String { "\(kind) record (type \(type))" }
        var source = ByteSource(payload)
        do {
            let version = try source.readByte()
            guard version <= formatVersion else {
                throw CodecError(
                    "event format version \(version) is newer than this servha reads (\(formatVersion)); upgrade servha"
                )
            }
            guard version > 0 else { throw CodecError("event format version 0 is not valid") }
            let event = try decodeBody(kind, version: version, from: &source, at: monotonicNanos, wall: wallNanos)
            guard source.isAtEnd else { throw CodecError("\(source.remaining) trailing byte(s)") }
            return event
        } catch is ByteSource.Underflow {
            throw CodecError("\(label()) cut short")
        } catch let error as CodecError {
            throw CodecError("\(label()): \(error.reason)")
        } catch {
            throw CodecError("\(label()): \(error)")
        }
    }

    public static func decode(_ record: LogRecord) throws -> Event {
        try record.payload.withUnsafeBytes {
            try decode(
                type: record.type,
                payload: $0,
                monotonicNanos: record.monotonicNanos,
                wallNanos: record.wallNanos
            )
        }
    }

    /// Decodes a borrowed record (the replay fast path).
    public static func decode(_ view: RecordView) throws -> Event {
        try decode(
            type: view.type,
            payload: view.payload,
            monotonicNanos: view.monotonicNanos,
            wallNanos: view.wallNanos
        )
    }

    private static func decodeBody(
        _ kind: RecordType,
        version: UInt8,
        from source: inout ByteSource,
        at: Instant,
        wall: Int64
    ) throws -> Event {
        switch kind {
        case .heartbeat, .started, .configLoaded, .timerFired, .diskSlot, .slotWritten, .arbitrator,
            .resourceOutcome, .fenceOutcome, .admin, .shellRejected, .alarmDelivery, .logSpace, .lateRecord, .archived:
            return .input(try decodeStamped(kind, version: version, from: &source, at: at, wall: wall))
        case .rejected:
            let raw = try source.readVarint()
            guard raw <= UInt64(UInt16.max), let inner = RecordType(rawValue: UInt16(raw)), inner.isInput,
                inner != .rejected
            else { throw CodecError("invalid rejected input type \(raw)") }
            let stamped = try decodeStamped(inner, version: version, from: &source, at: at, wall: wall)
            return .rejected(stamped, reason: try readString(&source))
        case .channelChanged:
            let (channel, up, lastHeard) = try decodeChannel(from: &source)
            return .channelChanged(channel: channel, up: up, lastHeard: lastHeard)
        case .peerDeclaredDead:
            return .peerDeclaredDead(try decodeEvidence(from: &source))
        case .peerAlive:
            return .peerAlive(channel: try source.readByte())
        case .peerSuspected:
            return .peerSuspected(try decodeEvidence(from: &source))
        case .decision:
            let decisionKind = try readEnum(DecisionKind.self, "decision kind", &source)
            let epoch = try source.readVarint()
            let reason = try readString(&source)
            let evidence = try decodeEvidence(from: &source)
            let detail = try readInt("decision detail", &source)
            let subject = try subject(of: decisionKind, wireDetail: detail)
            return .decision(
                Decision(kind: decisionKind, epoch: epoch, reason: reason, evidence: evidence, subject: subject)
            )
        case .issued:
            return .issued(try decodeAction(from: &source))
        case .commandRefused:
            let verb = try readEnum(AdminVerb.self, "admin verb", &source)
            let commandSource = try readString(&source)
            return .commandRefused(AdminCommand(verb: verb, source: commandSource), reason: try readString(&source))
        case .stateDigest:
            return .stateDigest(try readBytes(&source))
        case .snapshot:
            return .snapshot(try readBytes(&source))
        }
    }

    private static func decodeStamped(
        _ kind: RecordType,
        version: UInt8,
        from source: inout ByteSource,
        at: Instant,
        wall: Int64
    ) throws -> StampedInput {
        let input: Input
        switch kind {
        case .heartbeat:
            let header = try source.readVarint()
            guard header <= 0x1FF else { throw CodecError("invalid heartbeat channel \(header >> 1)") }
            let from = try readNode(&source)
            let sequence = try source.readVarint()
            let view = try Advertisement.decode(from: &source)
            let echo = header & 1 != 0 ? at &- (try readDuration(version: version, &source)) : nil
            let echoSequence = version >= 2 ? try source.readVarint() : 0
            input = .heartbeat(
                Heartbeat(
                    channel: UInt8(header >> 1),
                    from: from,
                    sequence: sequence,
                    view: view,
                    echoOfOwnSentAt: echo,
                    echo: echoSequence
                )
            )
        case .started:
            let node = try readNode(&source)
            let version = try readString(&source)
            let bootID = try readString(&source)
            let hash = try readBytes(&source)
            input = .started(NodeStart(node: node, servhaVersion: version, bootID: bootID, configHash: hash))
        case .configLoaded:
            input = .configLoaded(try ClusterConfig.decode(from: &source))
        case .timerFired:
            input = .timerFired
        case .diskSlot:
            let node = try readNode(&source)
            let readable = try readBool("readable", &source)
            let counter = try source.readVarint()
            let view = try Advertisement.decode(from: &source)
            let startedAt = at &- (try readDuration(version: version, &source))
            input = .diskSlot(
                SlotReading(node: node, readable: readable, counter: counter, view: view, startedAt: startedAt)
            )
        case .slotWritten:
            let flags = try source.readByte()
            guard flags <= 7 else { throw CodecError("invalid slot write flags \(flags)") }
            // Version 3 stores the write's start back from `at`, as the slot reading does; before, the instant.
            let startedAt = version >= 3 ? at &- (try readDuration(version: version, &source)) : try source.readVarint()
            let epoch = try source.readVarint()
            input = .slotWritten(
                SlotWrite(
                    succeeded: flags & 1 != 0,
                    startedAt: startedAt,
                    owns: flags & 2 != 0,
                    epoch: epoch,
                    diskOnly: flags & 4 != 0
                )
            )
        case .arbitrator:
            input = .arbitrator(reachable: try readBool("reachable", &source))
        case .resourceOutcome:
            let resource = try readInt("resource index", &source)
            let operation = try readEnum(ResourceOperation.self, "resource operation", &source)
            let result: ResourceResult
            switch try source.readByte() {
            case 0: result = .succeeded
            case 1: result = .notRunning
            case 2:
                let code = try source.readSignedVarint()
                guard let exitCode = Int32(exactly: code) else { throw CodecError("invalid exit code \(code)") }
                result = .failed(exitCode: exitCode)
            case 3: result = .timedOut
            case let tag: throw CodecError("invalid resource result \(tag)")
            }
            let epoch = try source.readVarint()
            let took = try source.readVarint()
            let output = try readString(&source)
            input = .resourceOutcome(
                ResourceOutcome(
                    resource: resource,
                    operation: operation,
                    result: result,
                    epoch: epoch,
                    tookNanos: took,
                    output: output
                )
            )
        case .fenceOutcome:
            let succeeded = try readBool("fence succeeded", &source)
            input = .fenceOutcome(succeeded: succeeded, detail: try readString(&source))
        case .admin:
            let verb = try readEnum(AdminVerb.self, "admin verb", &source)
            input = .admin(AdminCommand(verb: verb, source: try readString(&source)))
        case .shellRejected:
            let reason = try readString(&source)
            input = .rejected(RejectedInput(reason: reason, source: try readString(&source)))
        case .alarmDelivery:
            let kind = try readEnum(AlarmKind.self, "alarm kind", &source)
            let flags = try source.readByte()
            guard flags <= 3 else { throw CodecError("invalid alarm delivery flags \(flags)") }
            let sink = try source.readVarint()
            let attempt = try source.readVarint()
            guard sink < 64, attempt <= UInt64(Int32.max) else { throw CodecError("implausible alarm delivery") }
            input = .alarmDelivery(
                AlarmDelivery(
                    kind: kind,
                    raised: flags & 1 != 0,
                    sink: Int(sink),
                    succeeded: flags & 2 != 0,
                    attempt: Int(attempt),
                    detail: try readString(&source)
                )
            )
        case .logSpace:
            let free = try source.readVarint()
            input = .logSpace(LogSpace(freeBytes: free, totalBytes: try source.readVarint()))
        case .lateRecord:
            input = .lateRecord(try readString(&source))
        case .archived:
            let succeeded = try readBool("archive succeeded", &source)
            let segment = try readString(&source)
            input = .archived(ArchiveOutcome(segment: segment, succeeded: succeeded, detail: try readString(&source)))
        case .rejected, .channelChanged, .peerDeclaredDead, .peerSuspected, .peerAlive, .decision, .issued,
            .commandRefused,
            .stateDigest, .snapshot:
            throw CodecError("\(kind) is not an input")
        }
        return StampedInput(at: at, wall: wall, input)
    }

    private static func decodeChannel(from source: inout ByteSource) throws -> (UInt8, Bool, Instant?) {
        let channel = try source.readByte()
        let flags = try source.readByte()
        guard flags <= 3 else { throw CodecError("invalid channel flags \(flags)") }
        let lastHeard = flags & 2 != 0 ? try source.readVarint() : nil
        return (channel, flags & 1 != 0, lastHeard)
    }

    private static func decodeEvidence(from source: inout ByteSource) throws -> Evidence {
        let count = try source.readVarint()
        guard count <= maximumChannels else { throw CodecError("implausible channel evidence count \(count)") }
        var channels: [ChannelEvidence] = []
        channels.reserveCapacity(Int(count))
        for _ in 0..<count {
            let (channel, up, lastHeard) = try decodeChannel(from: &source)
            channels.append(ChannelEvidence(channel: channel, up: up, lastHeard: lastHeard))
        }
        let flags = try source.readVarint()
        guard flags & ~EvidenceFlag.all == 0,
            flags & EvidenceFlag.arbitrator == 0 || flags & EvidenceFlag.arbitratorKnown != 0,
            flags & EvidenceFlag.peerArbitrator == 0 || flags & EvidenceFlag.peerArbitratorKnown != 0
        else { throw CodecError("invalid evidence flags \(flags)") }
        func optional(_ flag: UInt64) throws -> UInt64? { flags & flag != 0 ? try source.readVarint() : nil }
        func optionalBool(known: UInt64, value: UInt64) -> Bool? { flags & known != 0 ? flags & value != 0 : nil }
        let peerCounter = try optional(EvidenceFlag.peerCounter)
        let peerCounterChangedAt = try optional(EvidenceFlag.peerCounterChangedAt)
        let lastRenewal = try optional(EvidenceFlag.lastRenewal)
        let peerRole = try readEnum(Role.self, "peer role", &source)
        let peerEpoch = try source.readVarint()
        return Evidence(
            channels: channels,
            peerCounter: peerCounter,
            peerCounterChangedAt: peerCounterChangedAt,
            diskReadable: flags & EvidenceFlag.diskReadable != 0,
            lastRenewal: lastRenewal,
            arbitrator: optionalBool(known: EvidenceFlag.arbitratorKnown, value: EvidenceFlag.arbitrator),
            peerArbitrator: optionalBool(known: EvidenceFlag.peerArbitratorKnown, value: EvidenceFlag.peerArbitrator),
            peerRole: peerRole,
            peerEpoch: peerEpoch,
            peerOwns: flags & EvidenceFlag.peerOwns != 0
        )
    }

    private static func decodeAction(from source: inout ByteSource) throws -> Action {
        switch try source.readByte() {
        case 0:
            return .armTimer(at: try source.readVarint())
        case 1:
            let owns = try readBool("owns", &source)
            return .writeSlot(owns: owns, epoch: try source.readVarint())
        case let tag where tag >= 2 && tag <= 4:
            let index = try readInt("resource index", &source)
            let epoch = try source.readVarint()
            return tag == 2
                ? .startResource(index, epoch: epoch)
                : tag == 3 ? .stopResource(index, epoch: epoch) : .killResource(index, epoch: epoch)
        case 5:
            return .fencePeer(epoch: try source.readVarint())
        case 6:
            let kind = try readEnum(AlarmKind.self, "alarm kind", &source)
            let severity = try readEnum(AlarmSeverity.self, "alarm severity", &source)
            let message = try readString(&source)
            let epoch = try source.readVarint()
            return .raiseAlarm(Alarm(kind: kind, severity: severity, message: message, epoch: epoch))
        case 7:
            return .clearAlarm(try readEnum(AlarmKind.self, "alarm kind", &source))
        case 8:
            return .readPeerSlot
        case 9:
            return .announce(epoch: try source.readVarint())
        case let tag:
            throw CodecError("invalid action tag \(tag)")
        }
    }

    // MARK: - Decision subjects

    /// A decision's subject on the wire: one signed varint (format version 1 and 2 alike): the resource index,
    /// the release cause's raw value, or the modes as bits (1 standby, 2 maintenance); 0 for none.
    static func wireDetail(_ subject: DecisionSubject) -> Int {
        switch subject {
        case .none: 0
        case .resource(let index): index
        case .cause(let cause): Int(cause.rawValue)
        case .modes(let standby, let maintenance): (standby ? 1 : 0) | (maintenance ? 2 : 0)
        }
    }

    static func subject(of kind: DecisionKind, wireDetail detail: Int) throws -> DecisionSubject {
        switch kind {
        case .restartResource:
            guard detail >= 0 && detail < 64 else { throw CodecError("invalid resource index \(detail) in a restart") }
            return .resource(detail)
        case .release:
            guard let raw = UInt8(exactly: detail), let cause = ReleaseCause(rawValue: raw) else {
                throw CodecError("invalid release cause \(detail)")
            }
            return .cause(cause)
        case .adminMode:
            guard detail >= 0 && detail <= 3 else { throw CodecError("invalid admin modes \(detail)") }
            return .modes(standby: detail & 1 != 0, maintenance: detail & 2 != 0)
        case .becomeStandby, .takeOver, .leaseAcquired, .acquireFailed, .released, .selfFence, .fencePeer:
            guard detail == 0 else { throw CodecError("unexpected detail \(detail) in a \(kind) decision") }
            return .none
        }
    }

    // MARK: - Field readers

    private static func readBool(_ what: String, _ source: inout ByteSource) throws -> Bool {
        let byte = try source.readByte()
        guard byte <= 1 else { throw CodecError("invalid \(what) flag \(byte)") }
        return byte == 1
    }

    private static func readEnum<T: RawRepresentable>(
        _: T.Type,
        _ what: String,
        _ source: inout ByteSource
    ) throws -> T where T.RawValue == UInt8 {
        let raw = try source.readByte()
        guard let value = T(rawValue: raw) else { throw CodecError("invalid \(what) \(raw)") }
        return value
    }

    private static func readNode(_ source: inout ByteSource) throws -> NodeID {
        let raw = try source.readVarint()
        guard let node = NodeID(exactly: raw) else { throw CodecError("invalid node id \(raw)") }
        return node
    }

    private static func readInt(_ what: String, _ source: inout ByteSource) throws -> Int {
        let raw = try source.readSignedVarint()
        guard let value = Int(exactly: raw) else { throw CodecError("invalid \(what) \(raw)") }
        return value
    }

    /// A string no longer than what is left of the payload (a longer length means the payload was cut).
    private static func readString(_ source: inout ByteSource) throws -> String {
        let limit = source.remaining
        return try source.readString(maxLength: limit)
    }

    private static func readBytes(_ source: inout ByteSource) throws -> [UInt8] {
        let count = try source.readVarint()
        guard count <= UInt64(source.remaining) else { throw ByteSource.Underflow(position: source.position) }
        return Array(try source.readBytes(Int(count)))
    }
}
