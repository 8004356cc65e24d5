/// The fuzz harnesses, one per decoder that reads bytes from outside (the one libFuzzer binary, Fuzz/Sources/fuzz,
/// runs the one SERVHA_FUZZ_HARNESS names). Each runs the same check on one input here, in that binary, and in
/// FuzzChecksTests (which replays the stored seeds and crashes without fuzzing).
public enum FuzzHarness: String, CaseIterable, Sendable {
    /// A log segment's bytes: header, frames, decompression, digest chain and record columns (`SegmentScanner`).
    case segment
    /// One batch frame, its LZ4 or raw body, and its record columns (`BatchFrame`, `LZ4Block`, `DecodedBatch`).
    case batch
    /// One event record's payload (`EventCodec.decode`), every record type.
    case event
    /// One heartbeat datagram (`HeartbeatAuthenticator.open`), as received and with a valid HMAC.
    case heartbeat
    /// The daemon's YAML configuration (`ConfigLoader.parse`).
    case config
    /// One admin-socket request (`AdminRequest.parse`).
    case admin
    /// A DNS server's answer (`DNSMessage`, name compression, `TSIGSigner.verify`).
    case dns
    /// The query of a request to the console's event API (`ConsoleQuery.parse`).
    case http

    /// Decodes `input` and checks the decoder's invariants. A trap inside a decoder is a crash; a broken
    /// invariant throws.
    public func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        switch self {
        case .segment: try SegmentFuzzCheck.check(input)
        case .batch: try BatchFuzzCheck.check(input)
        case .event: try EventFuzzCheck.check(input)
        case .heartbeat: try HeartbeatFuzzCheck.check(input)
        case .config: try ConfigFuzzCheck.check(input)
        case .admin: try AdminFuzzCheck.check(input)
        case .dns: try DNSFuzzCheck.check(input)
        case .http: try ConsoleQueryFuzzCheck.check(input)
        }
    }

    /// The libFuzzer entry point's body: runs `check`, and stops the process on a broken invariant so that
    /// libFuzzer stores the input.
    public func run(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        do {
            _ = try check(input)
        } catch {
            fatalError("\(rawValue) harness: \(error.message)")
        }
    }
}

/// What a harness made of one input: the decoder accepted it, or refused it with a reason.
public enum FuzzOutcome: Sendable, Hashable {
    case accepted
    case rejected(String)

    public var isAccepted: Bool {
        switch self {
        case .accepted: true
        case .rejected: false
        }
    }
}

/// A broken invariant: what the decoder did that it must not.
public struct FuzzViolation: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Throws a violation unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzViolation) {
    if !condition { throw FuzzViolation(message()) }
}

/// A little-endian reader over the fuzzer's bytes that yields zeros past the end, for harnesses that take a few
/// parameters from the front of the input.
struct FuzzParameters {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }

    mutating func le<T: FixedWidthInteger>(_: T.Type) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: byte()) << (8 * i) }
        return value
    }

    var rest: [UInt8] { position < bytes.count ? Array(bytes[position...]) : [] }
}
