import EventLog
import Foundation
import Glibc
import Testing

@testable import servha

/// The real crash test: a child process making durable appends is killed with SIGKILL at random moments.
/// Afterwards every append it acknowledged must be in the log, intact, and nothing damaged may be returned.
@Suite struct CrashTests {
    @Test func acknowledgedDurableAppendsSurviveSIGKILL() throws {
        let trials = Int(ProcessInfo.processInfo.environment["SERVHA_CRASH_TRIALS"] ?? "") ?? 60
        let dir = TemporaryDirectory("servha-crash")
        defer { dir.cleanup() }
        var rng = SplitMix64(seed: 20_261_126)
        var acknowledged = Set<UInt64>()
        var tornTails = 0
        for trial in 0..<trials {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try servhaBinary())
            process.arguments = ["log", "torture", dir.path, "--seed", String(trial)]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let fd = pipe.fileHandleForReading.fileDescriptor

            // Kill at a random moment: sometimes right after start (during recovery), mostly after a random
            // number of acknowledgements.
            let killAfter = trial % 5 == 0 ? 0 : Int(rng.next() % 3000)
            var pending: [UInt8] = []
            var acks = 0
            var ready = false
            var buffer = [UInt8](repeating: 0, count: 65536)
            func drain(_ bytes: ArraySlice<UInt8>) {
                pending += bytes
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if line.hasPrefix("ready") {
                        ready = true
                    } else if let sequence = UInt64(line) {
                        acknowledged.insert(sequence)
                        acks += 1
                    }
                }
            }
            while !(ready && acks >= killAfter) {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                drain(buffer[0..<n])
            }
            #expect(ready, "trial \(trial): the child did not start: is the log damaged?")
            kill(process.processIdentifier, SIGKILL)
            // What it acknowledged before dying is still in the pipe.
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                drain(buffer[0..<n])
            }
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "trial \(trial): the child must die by SIGKILL")

            // The reader sees a clean log or a torn tail, never damage.
            let summary = try LogReader(directory: dir.path).verify()
            if summary.tornTail != nil { tornTails += 1 }
            var present = Set<UInt64>()
            var intact = true
            var expected: UInt64 = 1
            try LogReader(directory: dir.path).forEachRecord { view in
                if view.sequence != expected { intact = false }
                expected = view.sequence + 1
                if !TortureRecord.isIntact(Array(view.payload)) { intact = false }
                present.insert(view.sequence)
                return true
            }
            #expect(intact, "trial \(trial): a damaged or out-of-order record was returned")
            let missing = acknowledged.subtracting(present)
            #expect(missing.isEmpty, "trial \(trial): acknowledged but lost: \(missing.sorted().prefix(10))")
        }
        print(
            "crash test: \(trials) SIGKILLs, \(acknowledged.count) acknowledged durable appends all present, \(tornTails) torn tails seen"
        )
        #expect(acknowledged.count > trials * 100, "the child should have made progress")
    }
}
