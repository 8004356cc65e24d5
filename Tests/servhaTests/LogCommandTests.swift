import EventLog
import Foundation
import Testing

/// `servha log ...` as an operator runs it: exit codes, one-line errors, and files left unchanged.
@Suite struct LogCommandTests {
    /// A generated log of `events` events in `dir`.
    func generated(_ events: Int = 3000, segmentBytes: Int = 64 << 10) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let result = try servha([
            "log", "generate", dir.path, "--events", "\(events)", "--segment-bytes", "\(segmentBytes)",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return dir
    }

    func snapshot(_ dir: String) -> [String: Data] {
        var files: [String: Data] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            files[name] = FileManager.default.contents(atPath: dir + "/" + name)
        }
        return files
    }

    /// `log stats --config`: the retention settings, what is kept and what goes next; a log without a snapshot
    /// keeps everything (start-up would need all of it).
    @Test func statsShowWhatRetentionKeepsAndRemovesNext() throws {
        let dir = try generated(3000, segmentBytes: 16 << 10)
        defer { dir.cleanup() }
        let config = dir.path + "/servha.yaml"
        try """
        cluster: c
        this_node: a
        nodes: [ { name: a, id: 1 }, { name: b, id: 2 } ]
        heartbeat:
          key_file: /k
          channels:
            - { name: lan, port: 7400, addresses: { a: 192.0.2.1, b: 192.0.2.2 } }
            - { name: hb, port: 7401, addresses: { a: 192.0.2.3, b: 192.0.2.4 } }
        shared_storage: /s
        resources:
          - { name: svc, type: script, start: /bin/true, stop: /bin/true, monitor: /bin/true }
        log: { retention: { max_age: 30d, max_bytes: 64MiB }, archive_command: "cp %p /archive/%f" }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let before = snapshot(dir.path)
        let result = try servha(["log", "stats", dir.path, "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("retention   max age 30d, max bytes 64 MiB"), "\(result.stdout)")
        #expect(result.stdout.contains("archive: cp %p /archive/%f"))
        #expect(result.stdout.contains("kept        everything: the log holds no state snapshot yet"))
        #expect(snapshot(dir.path) == before, "stats change nothing")
        let bad = try servha(["log", "stats", dir.path, "--config", dir.path + "/missing.yaml"])
        #expect(bad.status != 0 && bad.stderr.contains("missing.yaml"))
    }

    @Test func verifyAnIntactLog() throws {
        let dir = try generated()
        defer { dir.cleanup() }
        let result = try servha(["log", "verify", dir.path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("ok:"))
        #expect(result.stdout.contains("3000 events"))
        let json = try servha(["log", "verify", dir.path, "--json"])
        #expect(json.stdout.hasPrefix("{\"status\":\"ok\""))
    }

    @Test func verifyReportsCorruptionWithFileOffsetAndReason() throws {
        let dir = try generated()
        defer { dir.cleanup() }
        let segment = try LogDirectory(dir.path).segments[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment.path))
        bytes[500] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: segment.path))
        let before = snapshot(dir.path)
        let result = try servha(["log", "verify", dir.path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.hasPrefix("servha: \(segment.path): offset "))
        #expect(result.stderr.contains("[corruption]"))
        #expect(snapshot(dir.path) == before, "verify must not change files")
        let json = try servha(["log", "verify", dir.path, "--json"])
        #expect(json.status == 1)
        #expect(json.stdout.contains("\"status\":\"corrupt\""))
        #expect(json.stdout.contains("\"file\":\"\(segment.path)\""))
    }

    @Test func aTornTailIsRecoverableAndRecoverCutsIt() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        // The generator writes 2000 events durably, then half a batch, then dies by SIGKILL.
        let crashed = try servha(["log", "generate", dir.path, "--events", "5000", "--crash-after", "2000"])
        #expect(crashed.status == 9 || crashed.status == 137 || crashed.status != 0)
        let before = snapshot(dir.path)
        let verify = try servha(["log", "verify", dir.path])
        #expect(verify.status == 1)
        #expect(verify.stderr.contains("torn tail (recoverable)"))
        #expect(!verify.stderr.contains("[corruption]"))
        #expect(verify.stdout.contains("2000 events intact"))
        #expect(snapshot(dir.path) == before, "verify must not cut the tail")
        let json = try servha(["log", "verify", dir.path, "--json"])
        #expect(json.stdout.contains("\"status\":\"torn-tail\""))

        let recover = try servha(["log", "recover", dir.path])
        #expect(recover.status == 0, "\(recover.stderr)")
        #expect(recover.stdout.contains("cut away a torn last batch"))
        #expect(recover.stdout.contains("ends at sequence 2000"))
        #expect(try servha(["log", "verify", dir.path]).status == 0)
    }

    @Test func statsAndDump() throws {
        let dir = try generated(3000, segmentBytes: 8 << 10)
        defer { dir.cleanup() }
        let stats = try servha(["log", "stats", dir.path])
        #expect(stats.status == 0)
        #expect(stats.stdout.contains("events      3000 (sequence 1 to 3000)"))
        #expect(stats.stdout.contains("compression"))
        #expect(stats.stdout.contains("time span"))
        let json = try servha(["log", "stats", dir.path, "--json"])
        #expect(json.stdout.contains("\"events\":3000"))
        #expect(json.stdout.contains("\"node\":\"node-a\""))

        let dump = try servha(["log", "dump", dir.path, "--from", "100", "--limit", "3"])
        #expect(dump.status == 0)
        let lines = dump.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.hasPrefix("100 ") == true)
        #expect(lines.last?.hasPrefix("102 ") == true)
        let dumpJSON = try servha(["log", "dump", dir.path, "--json", "--limit", "2"])
        #expect(dumpJSON.stdout.split(separator: "\n").first?.hasPrefix("{\"seq\":1,\"wall\":\"") == true)
    }

    @Test func aDumpToAnLZ4FileIsReadableByTheLZ4Command() throws {
        let lz4 = ["/usr/bin/lz4", "/bin/lz4"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(lz4 != nil, "the lz4 command is needed (make test installs it)")
        let dir = try generated(1000)
        defer { dir.cleanup() }
        let out = dir.path + "-dump.jsonl.lz4"
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try servha(["log", "dump", dir.path, "--json", "--output", out]).status == 0)
        let plain = try servha(["log", "dump", dir.path, "--json"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lz4!)
        process.arguments = ["-dc", out]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let decoded = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(Array(decoded) == plain.stdoutBytes)
    }

    @Test(arguments: ["verify", "stats", "dump"])
    func badInputsGetOneLineErrors(command: String) throws {
        let missing = try servha(["log", command, "/nonexistent/servha-log"])
        #expect(missing.status == 1)
        #expect(
            missing.stderr == "servha: /nonexistent/servha-log: log directory does not exist\n"
                || missing.stderr.hasPrefix("servha: /nonexistent/servha-log: log directory does not exist")
        )

        let dir = TemporaryDirectory()
        defer { dir.cleanup() }
        let file = dir.file("plain-file")
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let notDir = try servha(["log", command, file])
        #expect(notDir.status == 1)
        #expect(notDir.stderr.contains("\(file): not a directory"))

        let fake = dir.file(SegmentName.open(1))
        FileManager.default.createFile(atPath: fake, contents: Data("this is not a servha log at all".utf8))
        let notSegment = try servha(["log", command, dir.path])
        #expect(notSegment.status == 1)
        #expect(notSegment.stderr.split(separator: "\n").count == 1)
        #expect(notSegment.stderr.contains("\(fake): offset 0: not a servha log segment"))
        #expect(FileManager.default.contents(atPath: fake) == Data("this is not a servha log at all".utf8))
    }

    @Test func aNewerFormatIsNamed() throws {
        let dir = try generated(100)
        defer { dir.cleanup() }
        let segment = try LogDirectory(dir.path).segments[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment.path))
        bytes[16] = 2
        try bytes.write(to: URL(fileURLWithPath: segment.path))
        let result = try servha(["log", "verify", dir.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("format version 2 is newer than this servha reads (1); upgrade servha"))
        let recover = try servha(["log", "recover", dir.path])
        #expect(recover.status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment.path)) == bytes)
    }
}
