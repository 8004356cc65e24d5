import Foundation
import Glibc
import Synchronization
import Testing

/// The servha executable built next to this test bundle (or $SERVHA_BIN).
func servhaBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["SERVHA_BIN"] { return path }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [here, here.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("servha").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    struct Missing: Error, CustomStringConvertible {
        var description: String { "servha binary not found next to the tests; build it first or set SERVHA_BIN" }
    }
    throw Missing()
}

/// The result of running servha to completion.
struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutBytes: [UInt8]
}

/// Runs servha with `arguments` and waits for it.
@discardableResult
func servha(_ arguments: [String]) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try servhaBinary())
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes fully before waiting, so a large output cannot block the child.
    let errData = Mutex<Data>(Data())
    let errReader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
    errReader.start()
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while errReader.isExecuting || !errReader.isFinished { usleep(100) }
    let stderrData = errData.withLock { $0 }
    return Outcome(
        status: process.terminationStatus,
        stdout: String(decoding: stdoutData, as: UTF8.self),
        stderr: String(decoding: stderrData, as: UTF8.self),
        stdoutBytes: Array(stdoutData)
    )
}

struct TemporaryDirectory {
    let path: String

    init(_ name: String = "servha-cli") {
        let template = NSTemporaryDirectory() + "\(name)-XXXXXX"
        var bytes = Array(template.utf8CString)
        _ = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}
