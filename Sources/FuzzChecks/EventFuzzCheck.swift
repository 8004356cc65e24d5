import Coordinator
import EventLog
import EventRecords

/// The event harness. Input: record type (u16), monotonic and wall time (8 bytes each), then the payload.
///
/// Invariants for every payload `EventCodec.decode` accepts: the event's record type is the one it was read as;
/// its encoding decodes, under the same type and times, to an equal event; and encoding that again gives the same
/// bytes (the encoding of a decoded event is a fixed point; the input itself need not be canonical: version 1
/// payloads, long varints and invalid UTF-8 in strings all decode). A refusal is a one-line `CodecError` that
/// names the record type.
enum EventFuzzCheck {
    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        var parameters = FuzzParameters(input)
        let type = parameters.le(UInt16.self)
        let monotonic = parameters.le(UInt64.self)
        let wall = parameters.le(Int64.self)
        let payload = parameters.rest
        let event: Event
        do {
            event = try decode(type: type, payload: payload, monotonic: monotonic, wall: wall)
        } catch {
            guard let error = error as? CodecError else {
                throw FuzzViolation("EventCodec.decode threw \(Swift.type(of: error)) instead of CodecError: \(error)")
            }
            try require(!error.reason.contains("\n"), "event refusal is not one line: \(error.reason)")
            try require(
                error.reason.contains("type \(type)"),
                "event refusal does not name the record type \(type): \(error.reason)"
            )
            return .rejected(error.reason)
        }
        try require(
            EventCodec.recordType(of: event) == type,
            "a type \(type) record decodes to an event of type \(EventCodec.recordType(of: event))"
        )
        let encoded = EventCodec.payload(of: event)
        let again: Event
        do {
            again = try decode(type: type, payload: encoded, monotonic: monotonic, wall: wall)
        } catch {
            throw FuzzViolation("the encoding of a decoded type \(type) event does not decode: \(error)")
        }
        try require(again == event, "a type \(type) event re-encodes and decodes to another event")
        try require(EventCodec.payload(of: again) == encoded, "type \(type) event encoding is not a fixed point")
        return .accepted
    }

    static func decode(type: UInt16, payload: [UInt8], monotonic: UInt64, wall: Int64) throws -> Event {
        try payload.withUnsafeBytes {
            try EventCodec.decode(type: type, payload: $0, monotonicNanos: monotonic, wallNanos: wall)
        }
    }
}
