import ArgumentParser
import EventLog
import Glibc

/// Writes a synthetic log, optionally dying mid-write: for the demo and for tests of recovery.
struct LogGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a synthetic heartbeat-heavy log (for demos and tests).",
        shouldDisplay: false
    )

    @OptionGroup var log: LogDirectoryArgument
    @Option(help: "Events to write.") var events = 10_000
    @Option(help: "Seed of the synthetic workload.") var seed: UInt64 = 1
    @Option(help: "Segment size in bytes.") var segmentBytes = 64 << 20
    @Option(help: "After this many events, write half of one more batch and die with SIGKILL.")
    var crashAfter: Int?

    func run() async throws {
        var options = WriterOptions()
        options.segmentBytes = segmentBytes
        let identity = LogIdentity.synthetic(cluster: "demo")
        do {
            let writer = try EventLogWriter(directory: log.directory, identity: identity, options: options)
            var mix = HeartbeatMix(seed: seed)
            let total = crashAfter.map { min($0, events) } ?? events
            for _ in 0..<total { try writer.append(mix.next()) }
            try await writer.flush()
            if crashAfter != nil {
                // Simulate the kernel having written only part of the next batch when the power went.
                var body = BatchBody()
                for i in 0..<50 { body.append(mix.next(), sequence: writer.nextSequence + UInt64(i)) }
                var scratch: [UInt8] = []
                let (frame, _) = BatchFrame.encode(body, previous: .zero, compress: true, scratch: &scratch)
                // Where the data ends (the zero fill follows), found the way any reader finds it.
                let summary = try LogReader(directory: log.directory).forEachBatch(from: .max, depth: .checksums) { _ in
                }
                let last = summary.scans.last!
                let fd = open(last.path, O_WRONLY)
                let half = Array(frame.prefix(frame.count / 2))
                _ = half.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(last.validEnd)) }
                fsync(fd)
                print("wrote \(total) events durably, then half of a batch of 50; dying with SIGKILL")
                kill(getpid(), SIGKILL)
            }
            try writer.close()
            print("wrote \(total) events to \(log.directory)")
        } catch {
            throw fail("\(EventLogError.wrap(error, path: log.directory))")
        }
    }
}

/// The child of the crash test: durable appends from several producers, printing each acknowledged sequence
/// number, until it is killed.
struct LogTorture: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture",
        abstract: "Append durably until killed, printing each acknowledged sequence (crash tests).",
        shouldDisplay: false
    )

    @OptionGroup var log: LogDirectoryArgument
    @Option(help: "Concurrent producers.") var producers = 4
    @Option(help: "Seed of the payloads.") var seed: UInt64 = 1

    func run() async throws {
        var options = WriterOptions()
        options.segmentBytes = 256 << 10  // rotate often, so kills land in seals too
        let identity = LogIdentity.synthetic(cluster: "torture")
        let writer: EventLogWriter
        do {
            writer = try EventLogWriter(directory: log.directory, identity: identity, options: options)
        } catch {
            throw fail("\(EventLogError.wrap(error, path: log.directory))")
        }
        FileHandleWriter.write("ready \(writer.nextSequence)\n", to: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var rng = SplitMix64(seed: seed &+ UInt64(producer))
                    while true {
                        let draft = TortureRecord.make(producer: producer, rng: &rng)
                        let sequence = try await writer.appendDurable(draft)
                        FileHandleWriter.write("\(sequence)\n", to: 1)
                    }
                }
            }
            try await group.next()
        }
    }
}

/// Records that check themselves: the payload ends with the CRC-32C of the rest, so a reader can tell a record
/// that came back intact from one that did not, independently of the log's own checks.
enum TortureRecord {
    static func make(producer: Int, rng: inout SplitMix64) -> RecordDraft {
        let length = Int(rng.next() % 300)
        var payload = [UInt8(producer)] + (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let crc = CRC32C.checksum(payload)
        withUnsafeBytes(of: crc.littleEndian) { payload.append(contentsOf: $0) }
        return RecordDraft(monotonicNanos: monotonicNow(), wallNanos: wallNow(), node: 1, type: 9, payload: payload)
    }

    static func isIntact(_ payload: [UInt8]) -> Bool {
        guard payload.count >= 5 else { return false }
        let body = Array(payload.dropLast(4))
        let stored = payload.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        return CRC32C.checksum(body) == stored
    }
}
