import FuzzChecks
import Glibc

// One libFuzzer binary for every harness: SERVHA_FUZZ_HARNESS names the one to run (Fuzz/run.sh sets it). SwiftPM
// gives every executable a main of its own (renamed to <module>_main), so libFuzzer's main is not linked in: this
// one hands over to LLVMFuzzerRunDriver. The checks live in the main package's FuzzChecks target.

let name = getenv("SERVHA_FUZZ_HARNESS").map { String(cString: $0) } ?? ""
guard let chosen = FuzzHarness(rawValue: name) else {
    let known = FuzzHarness.allCases.map(\.rawValue).joined(separator: ", ")
    let message = "fuzz: set SERVHA_FUZZ_HARNESS to one of \(known) (found '\(name)')\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
nonisolated(unsafe) let harness = chosen

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    harness.run(data, size)
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

harness.writeSeedsIfAsked()
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv, testOneInput))
