import Testing
@testable import Coordinator

@Test func debugSeed() {
    guard let seedText = ProcessInfo.processInfo.environment["SIM_SEED"], let seed = UInt64(seedText) else { return }
    let faults = ProcessInfo.processInfo.environment["SIM_FAULTS"].map { $0.split(separator: ",").compactMap { FaultKind(rawValue: String($0)) } }
    let report = Simulator.run(SimulationOptions(seed: seed, faults: faults))
    for (i, log) in report.logs.enumerated() {
        print("=== node \(i + 1)")
        for event in log {
            switch event {
            case .input(let s):
                switch s.input {
                case .heartbeat, .diskSlot, .timerFired, .arbitrator: continue
                case .slotWritten(let w) where w.succeeded: continue
                default: print("  \(s.at / 1_000_000) IN \(s.input)")
                }
            case .issued(.armTimer): continue
            default: print("     \(event)".prefix(400))
            }
        }
    }
    for v in report.violations { print("VIOLATION", v) }
}
import Foundation
