import Foundation
import Testing

@testable import EventLog

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "servha-test") {
        let template = NSTemporaryDirectory() + "\(name)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let result = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

let testIdentity = LogIdentity(
    cluster: "test-cluster",
    nodeName: "node-a",
    node: 1,
    servhaVersion: "test",
    configHash: [UInt8](repeating: 7, count: 32)
)

/// A deterministic mix of heartbeat-like and larger records.
func sampleDrafts(_ count: Int, seed: UInt64 = 1) -> [RecordDraft] {
    var rng = SplitMix64(seed: seed)
    var mono: UInt64 = 1_000_000_000
    var drafts: [RecordDraft] = []
    for i in 0..<count {
        mono += 50_000_000 + rng.next() % 20_000
        let isHeartbeat = rng.next() % 10 != 0
        let payload: [UInt8] =
            isHeartbeat
            ? [UInt8(i % 2), 2, UInt8(truncatingIfNeeded: i / 2), UInt8(truncatingIfNeeded: i / 512), 1, 3, 0x0F]
            : (0..<(40 + Int(rng.next() % 160))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        drafts.append(
            RecordDraft(
                monotonicNanos: mono,
                wallNanos: 1_790_000_000_000_000_000 + Int64(mono),
                node: 1,
                type: isHeartbeat ? 1 : UInt16(2 + rng.next() % 5),
                payload: payload
            )
        )
    }
    return drafts
}

func readFile(_ path: String) -> [UInt8] {
    Array(FileManager.default.contents(atPath: path) ?? Data())
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// Writes `drafts` through a real writer and closes it; returns the records with their sequences.
func writeLog(
    _ directory: String,
    _ drafts: [RecordDraft],
    options: WriterOptions = WriterOptions()
) throws -> [LogRecord] {
    let writer = try EventLogWriter(directory: directory, identity: testIdentity, options: options)
    var records: [LogRecord] = []
    for draft in drafts {
        records.append(LogRecord(sequence: try writer.append(draft), draft: draft))
    }
    try writer.close()
    return records
}
