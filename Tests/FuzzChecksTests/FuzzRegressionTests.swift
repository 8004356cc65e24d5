import Foundation
import Testing

@testable import FuzzChecks

/// The repository's Fuzz/ folder: seed corpora and the inputs that once crashed a harness.
private let fuzzRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fuzz")

/// The files in Fuzz/KIND/HARNESS, sorted (none when the folder does not exist).
private func inputs(_ kind: String, _ harness: FuzzHarness) -> [(name: String, bytes: [UInt8])] {
    let directory = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(harness.rawValue)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted().map { name in
        (name, [UInt8](FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data()))
    }
}

/// Replays, without fuzzing, every input the fuzz harnesses keep (docs/fuzzing.md): each goes through the same
/// check as in the libFuzzer binary, so a decoder that traps again crashes this test, and a broken invariant fails
/// it. CI runs this; it does not fuzz.
@Suite struct FuzzRegressionTests {
    /// Every input that once crashed a harness (or broke an invariant) now passes its check.
    @Test(arguments: FuzzHarness.allCases)
    func storedCrashesPass(_ harness: FuzzHarness) throws {
        for input in inputs("Crashes", harness) {
            #expect(throws: Never.self, "\(harness.rawValue)/\(input.name)") { _ = try harness.check(input.bytes) }
        }
    }

    /// Every seed passes its check, and the seeds made from real data are accepted by their decoder, so the
    /// fuzzer starts deep inside it (the admin seeds include unknown requests on purpose).
    @Test(arguments: FuzzHarness.allCases)
    func seedsPassAndReachTheDecoder(_ harness: FuzzHarness) throws {
        let seeds = inputs("Corpus", harness)
        #expect(seeds.count >= 3, "Fuzz/Corpus/\(harness.rawValue) has \(seeds.count) seeds; run Fuzz/make-seeds.sh")
        var accepted = 0
        for seed in seeds {
            let outcome = try harness.check(seed.bytes)
            if outcome.isAccepted { accepted += 1 }
            if harness != .admin {
                #expect(outcome == .accepted, "\(harness.rawValue)/\(seed.name) is refused")
            }
        }
        #expect(accepted > 0)
    }

    /// The harnesses catch what they are there to catch (so that a harness that checks nothing cannot pass).
    @Test func theHarnessesRefuseBrokenInputs() throws {
        // A heartbeat seed with its MAC damaged is rejected, and the raw datagram check notices the MAC.
        let sealed = try #require(inputs("Corpus", .heartbeat).first { $0.name.hasSuffix("-sealed") })
        var forged = sealed.bytes
        forged[forged.count - 1] ^= 0xFF
        #expect(try FuzzHarness.heartbeat.check(forged) != .accepted)
        // A segment seed with one body byte flipped is refused (its CRC no longer matches) ...
        let segment = try #require(inputs("Corpus", .segment).first { $0.name.hasSuffix("-whole") })
        var damaged = segment.bytes
        damaged[damaged.count - 10] ^= 0x40
        #expect(try FuzzHarness.segment.check(damaged) != .accepted)
        // ... and the independent chain check agrees with the scanner's on a good one.
        #expect(try FuzzHarness.segment.check(segment.bytes) == .accepted)
        // An event payload cut short is refused with a reason naming its type.
        let event = try #require(inputs("Corpus", .event).first { $0.name.hasSuffix("-long") })
        guard case .rejected(let reason) = try FuzzHarness.event.check(Array(event.bytes.dropLast())) else {
            Issue.record("a cut-short event payload was accepted")
            return
        }
        #expect(reason.contains("type"))
    }
}
