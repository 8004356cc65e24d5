import Coordinator
import EventLog
import EventRecords
import Foundation
import Runtime

/// The seed corpora in Fuzz/Corpus, made from real data: the recorded fixtures, the example configuration, and
/// heartbeats and admin requests as servha writes them. `Fuzz/make-seeds.sh` writes them; each harness binary
/// makes its own (`FuzzHarness.writeSeeds`).
public enum FuzzSeeds {
    /// A seed: a file name and its bytes.
    public struct Seed: Sendable, Hashable {
        public var name: String
        public var bytes: [UInt8]
    }

    /// Segment files the log seeds come from: the daemon recordings (many small batches, raw and LZ4), one
    /// simulated incident and the format 1 fixture (one large LZ4 batch each).
    static let segmentSources = [
        "Fixtures/daemons/host-death-postgresql/node-a", "Fixtures/daemons/host-death-postgresql/node-b",
        "Fixtures/daemons/partition/node-a", "Fixtures/daemons/partition/node-b",
        "Fixtures/daemons/paused-active/node-a", "Fixtures/daemons/paused-active/node-b",
        "Fixtures/incidents/host-death/node-a", "Fixtures/format-v1/host-death/node-a",
    ]

    /// The largest seed made from a log; mutations of larger inputs run slower without reaching more code.
    static let maximumLogSeed = 12000

    public static func make(_ harness: FuzzHarness, root: String) throws -> [Seed] {
        switch harness {
        case .segment: try segmentSeeds(root: root)
        case .batch: try batchSeeds(root: root)
        case .event: try eventSeeds(root: root)
        case .heartbeat: heartbeatSeeds()
        case .config: try configSeeds(root: root)
        case .admin: adminSeeds()
        case .dns: try dnsSeeds(root: root)
        case .http: consoleQuerySeeds()
        }
    }

    /// The answers BIND gave in Fixtures/dns (an update, queries with and without EDNS, NOTAUTH, NXRRSET), each as
    /// received (mode 0) and to be signed by the harness (mode 1).
    static func dnsSeeds(root: String) throws -> [Seed] {
        let text = try String(contentsOfFile: "\(root)/Fixtures/dns/bind-exchanges.jsonl", encoding: .utf8)
        var seeds: [Seed] = []
        for (index, line) in text.split(separator: "\n").enumerated() {
            guard let range = line.range(of: "\"response\": \""), let end = line[range.upperBound...].firstIndex(of: "\"")
            else { continue }
            let hex = Array(line[range.upperBound..<end].utf8)
            let bytes = stride(from: 0, to: hex.count - 1, by: 2).compactMap {
                UInt8(String(decoding: hex[$0...$0 + 1], as: UTF8.self), radix: 16)
            }
            for mode: UInt8 in [0, 1] { seeds.append(Seed(name: "bind-\(index + 1)-mode\(mode)", bytes: [mode] + bytes)) }
        }
        return seeds
    }

    /// Each source segment file's bytes and where its batches lie.
    static func segments(root: String) throws -> [(name: String, bytes: [UInt8], scan: SegmentScan)] {
        try segmentSources.map { directory in
            let path = try LogDirectory("\(root)/\(directory)").segments[0].path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FuzzViolation("cannot read \(path)")
            }
            let bytes = [UInt8](data)
            let scan = try bytes.withUnsafeBytes {
                try SegmentScanner.scan(
                    $0,
                    path: path,
                    isOpen: true,
                    mayEndTorn: true,
                    expectedFirst: nil,
                    expectedPrevious: nil,
                    depth: .chain
                )
            }
            let name = directory.split(separator: "/").dropFirst().joined(separator: "-")
            return (name, bytes, scan)
        }
    }

    static func segmentSeeds(root: String) throws -> [Seed] {
        var seeds: [Seed] = []
        for (name, bytes, scan) in try segments(root: root) {
            // The header and its first batches (up to 8) that fit, whole (checked as found, and with checksums repaired after
            // mutation), then the same with the last of them torn.
            var end = scan.headerLength
            for batch in scan.batches.prefix(8) where batch.offset + batch.length <= maximumLogSeed {
                end = batch.offset + batch.length
            }
            let whole = Array(bytes[0..<end])
            seeds.append(Seed(name: "\(name)-whole", bytes: [0x0C, 0x35] + whole))
            seeds.append(Seed(name: "\(name)-repaired", bytes: [0x0F, 0x80] + whole))
            if let last = scan.batches.last(where: { $0.offset + $0.length <= end }) {
                let torn = Array(bytes[0..<(last.offset + last.length / 2)]) + [UInt8](repeating: 0, count: 64)
                seeds.append(Seed(name: "\(name)-torn", bytes: [0x0C, 0x10] + torn))
            }
        }
        return seeds
    }

    static func batchSeeds(root: String) throws -> [Seed] {
        var seeds: [Seed] = []
        for (name, bytes, scan) in try segments(root: root) {
            var raw = 0
            var compressed = 0
            for batch in scan.batches where batch.length <= maximumLogSeed {
                // Up to two frames of each codec from each file.
                switch batch.header.codec {
                case .raw:
                    guard raw < 2 else { continue }
                    raw += 1
                case .lz4Block:
                    guard compressed < 2 else { continue }
                    compressed += 1
                }
                let frame = Array(bytes[batch.offset..<(batch.offset + batch.length)])
                let label = "\(name)-\(batch.header.firstSequence)-\(batch.header.codec)"
                seeds.append(Seed(name: "\(label)-frame", bytes: [0] + frame))
                var repaired = frame
                LogBytes.repairFrame(&repaired, at: 0, previous: .zero)
                seeds.append(Seed(name: "\(label)-repaired", bytes: [1] + repaired))
                let stored = Array(frame[BatchFrame.headerSize..<(frame.count - 4)])
                let header = batch.header
                var fields: [UInt8] = []
                LogBytes.appendLE(header.count, to: &fields)
                LogBytes.appendLE(header.firstSequence, to: &fields)
                LogBytes.appendLE(header.firstMonotonic, to: &fields)
                LogBytes.appendLE(header.lastMonotonic, to: &fields)
                LogBytes.appendLE(header.firstWall, to: &fields)
                LogBytes.appendLE(header.lastWall, to: &fields)
                let format: UInt8 = header.formatVersion == 1 ? 4 : 0  // BatchFuzzCheck: bit 2 for format 1
                switch header.codec {
                case .raw:
                    seeds.append(Seed(name: "\(label)-body", bytes: [2 | format] + fields + stored))
                case .lz4Block:
                    var length: [UInt8] = []
                    LogBytes.appendLE(header.uncompressedLength, to: &length)
                    seeds.append(Seed(name: "\(label)-lz4", bytes: [3 | format] + fields + length + stored))
                }
            }
        }
        return seeds
    }

    static func eventSeeds(root: String) throws -> [Seed] {
        // The shortest and the longest record of each type (payloads up to 1 KiB) across all the fixtures.
        var shortest: [UInt16: LogRecord] = [:]
        var longest: [UInt16: LogRecord] = [:]
        let listing = try FileManager.default.subpathsOfDirectory(atPath: "\(root)/Fixtures")
        let directories = Set(listing.filter { $0.hasSuffix(".seg.open") || $0.hasSuffix(".seg") }.map {
            (("\(root)/Fixtures/\($0)") as NSString).deletingLastPathComponent
        })
        for directory in directories.sorted() {
            try LogReader(directory: directory).forEachRecord { view in
                guard view.payload.count <= 1024 else { return true }
                if view.payload.count < shortest[view.type]?.payload.count ?? .max { shortest[view.type] = view.record }
                if view.payload.count > longest[view.type]?.payload.count ?? -1 { longest[view.type] = view.record }
                return true
            }
        }
        var seeds: [Seed] = []
        for (label, records) in [("short", shortest), ("long", longest)] {
            for type in records.keys.sorted() {
                let record = records[type]!
                var bytes: [UInt8] = []
                LogBytes.appendLE(record.type, to: &bytes)
                LogBytes.appendLE(record.monotonicNanos, to: &bytes)
                LogBytes.appendLE(record.wallNanos, to: &bytes)
                let kind = EventCodec.RecordType(rawValue: type).map { "\($0)" } ?? "\(type)"
                seeds.append(Seed(name: "\(kind)-\(label)", bytes: bytes + record.payload))
            }
        }
        return seeds
    }

    static func heartbeatSeeds() -> [Seed] {
        let sender = HeartbeatAuthenticator(
            key: HeartbeatFuzzCheck.key,
            cluster: HeartbeatFuzzCheck.cluster,
            thisNode: HeartbeatFuzzCheck.peer,
            peer: HeartbeatFuzzCheck.thisNode,
            channelCount: 2
        )
        let views: [(String, Advertisement)] = [
            ("active", HeartbeatFuzzCheck.firstView),
            (
                "standby",
                Advertisement(
                    role: .standby, epoch: 3, owns: false, resourcesUp: 0, arbitratorReachable: true,
                    acknowledgesPeer: true, yields: false, healthy: true, maintenance: false
                )
            ),
            (
                "disk-only",
                Advertisement(
                    role: .active, epoch: 1_234_567, owns: true, resourcesUp: 0xFFFF, arbitratorReachable: false,
                    acknowledgesPeer: false, yields: true, healthy: false, maintenance: true,
                    diskOnlyRemaining: 3_000_000_000
                )
            ),
        ]
        var seeds: [Seed] = []
        for (index, (label, view)) in views.enumerated() {
            for channel: UInt8 in [0, 1] {
                let sequence = 1001 + UInt64(index) * 2 + UInt64(channel)
                let packet = HeartbeatPacket(
                    cluster: HeartbeatFuzzCheck.cluster,
                    from: HeartbeatFuzzCheck.peer,
                    channel: channel,
                    sequence: sequence,
                    echo: 1_700_000_000_000_000 + sequence,
                    view: view
                )
                let sealed = sender.seal(packet)
                let flags = channel << 1
                // As sent (the harness checks its MAC), and without its MAC (the harness adds a valid one).
                seeds.append(Seed(name: "\(label)-ch\(channel)-sealed", bytes: [flags, 7] + sealed))
                seeds.append(Seed(name: "\(label)-ch\(channel)-body", bytes: [flags | 1, 40] + sealed.dropLast(32)))
                if index == 0 {
                    seeds.append(Seed(name: "\(label)-ch\(channel)-restart", bytes: [flags | 9, 3] + sealed.dropLast(32)))
                }
            }
        }
        return seeds
    }

    static func configSeeds(root: String) throws -> [Seed] {
        guard let data = FileManager.default.contents(atPath: "\(root)/contrib/servha.example.yaml") else {
            throw FuzzViolation("cannot read contrib/servha.example.yaml")
        }
        let example = String(decoding: data, as: UTF8.self)
        // Without comments: the same configuration, a fifth of the size.
        let bare = example.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = code.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
            return trimmed.isEmpty ? nil : trimmed
        }.joined(separator: "\n") + "\n"
        let minimal = """
            cluster: c
            this_node: node-b
            nodes:
              - {name: node-a, id: 1}
              - {name: node-b, id: 2}
            profile: fast
            heartbeat:
              key_file: /k
              channels:
                - {name: lan, port: 7400, addresses: {node-a: 192.0.2.1, node-b: 192.0.2.2}}
                - {name: wan, port: 7401, addresses: {node-a: 192.0.2.3, node-b: 192.0.2.4}}
            shared_storage: /s
            resources:
              - {name: app, type: script, start: /bin/true, stop: /bin/true, monitor: /bin/true}

            """
        return [
            Seed(name: "example", bytes: Array(example.utf8)),
            Seed(name: "example-bare", bytes: Array(bare.utf8)),
            Seed(name: "minimal", bytes: Array(minimal.utf8)),
        ]
    }

    /// What the console's page and its users ask for.
    static func consoleQuerySeeds() -> [Seed] {
        [
            ("empty", ""), ("page", "routine=false&limit=10000"), ("resume", "routine=false&since=1234"),
            ("all", "since=18446744073709551615&limit=1&routine=true"), ("limit", "limit=500"),
        ].map { Seed(name: $0.0, bytes: Array($0.1.utf8)) }
    }

    static func adminSeeds() -> [Seed] {
        let requests = AdminFuzzCheck.known.map { ($0, "\($0)\n") } + [
            ("spaces", " \tstatus-json \t\n"), ("crlf", "switchover\r\n"), ("two-lines", "standby\nfailback\n"),
            ("unknown", "reboot-everything\n"), ("no-newline", "maintenance-on"),
        ]
        return requests.map { Seed(name: $0.0, bytes: Array($0.1.utf8)) }
    }
}

extension FuzzHarness {
    /// Called from each harness binary's `LLVMFuzzerInitialize`: with SERVHA_FUZZ_SEEDS=DIRECTORY in the
    /// environment (and SERVHA_ROOT, the repository, or the current directory), writes this harness's seeds to
    /// DIRECTORY and exits instead of fuzzing.
    public func writeSeedsIfAsked() {
        let environment = ProcessInfo.processInfo.environment
        guard let directory = environment["SERVHA_FUZZ_SEEDS"] else { return }
        let root = environment["SERVHA_ROOT"] ?? FileManager.default.currentDirectoryPath
        do {
            let seeds = try FuzzSeeds.make(self, root: root)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var accepted = 0
            for seed in seeds {
                if try check(seed.bytes).isAccepted { accepted += 1 }
                try Data(seed.bytes).write(to: URL(fileURLWithPath: "\(directory)/\(seed.name)"))
            }
            let bytes = seeds.reduce(0) { $0 + $1.bytes.count }
            print("\(rawValue): \(seeds.count) seeds (\(accepted) accepted), \(bytes) bytes in \(directory)")
            exit(0)
        } catch {
            print("\(rawValue): cannot make seeds: \(error)")
            exit(1)
        }
    }
}
