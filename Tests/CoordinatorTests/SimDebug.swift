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
                case .heartbeat, .timerFired, .arbitrator: continue
                case .diskSlot(let r): print("  \(s.at / 1_000_000) READ start \(r.startedAt / 1_000_000) counter \(r.counter) \(r.view.role) e\(r.view.epoch) owns=\(r.view.owns) yields=\(r.view.yields)"); continue
                case .slotWritten(let w): print("  \(s.at / 1_000_000) WROTE start \(w.startedAt / 1_000_000) ok=\(w.succeeded) owns=\(w.owns) e\(w.epoch)"); continue
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
