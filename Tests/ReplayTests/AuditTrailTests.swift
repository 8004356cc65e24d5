import Coordinator
import Testing

@testable import Replay

/// `audit export` and `audit verify`.
@Suite struct AuditTrailTests {
    static func export(_ format: AuditTrail.Format, from: Int64? = nil, to: Int64? = nil) throws -> [Substring] {
        let log = try RecordedLog.load("\(fixtureRoot)/monitor-failures/node-a")
        var lines: [String] = []
        AuditTrail.export(log, format: format, from: from, to: to) { lines.append($0) }
        return lines.map { Substring($0) }
    }

    static func failure(_ lines: [Substring]) -> String? {
        do {
            _ = try AuditTrail.verify(lines: lines, path: "trail")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: AuditTrail.Format.allCases)
    func anExportVerifies(format: AuditTrail.Format) throws {
        let lines = try Self.export(format)
        let log = try RecordedLog.load("\(fixtureRoot)/monitor-failures/node-a")
        let verified = try AuditTrail.verify(lines: lines, path: "trail")
        #expect(verified.events == log.events.count)
        #expect(verified.format == format)
        #expect(lines.count == log.events.count + (format == .csv ? 3 : 2))
    }

    @Test(arguments: AuditTrail.Format.allCases)
    func everyKindOfTamperingNamesTheFirstBrokenLine(format: AuditTrail.Format) throws {
        let lines = try Self.export(format)
        let header = format == .csv ? 1 : 0
        // Line numbers are 1-based: index i is line i + 1.
        var altered = lines
        altered[40] = Substring(altered[40].replacingOccurrences(of: "node-a", with: "node-b"))
        #expect(Self.failure(altered)?.hasPrefix("trail:41: hash does not match") == true)

        var removed = lines
        removed.remove(at: 40)
        #expect(Self.failure(removed)?.hasPrefix("trail:41:") == true)

        var swapped = lines
        swapped.swapAt(40, 41)
        #expect(Self.failure(swapped)?.hasPrefix("trail:41:") == true)

        var duplicated = lines
        duplicated.insert(lines[40], at: 41)
        #expect(Self.failure(duplicated)?.hasPrefix("trail:42:") == true)

        var cut = lines
        cut.removeLast(5)
        #expect(Self.failure(cut)?.contains("without its end record: the file was cut short") == true)

        var appended = lines
        appended.append(lines[header + 3])
        #expect(Self.failure(appended)?.contains("a line after the end record") == true)

        var headless = lines
        headless.remove(at: header)
        #expect(Self.failure(headless) != nil)

        #expect(Self.failure([]) != nil)
        #expect(Self.failure(["not,an,export"])?.contains("not a servha audit export") == true)
    }

    @Test func fromAndToSelectByWallTime() throws {
        let all = try Self.export(.jsonl)
        let log = try RecordedLog.load("\(fixtureRoot)/monitor-failures/node-a")
        let from = log.walls[log.walls.count / 3]
        let to = log.walls[log.walls.count * 2 / 3]
        let window = try Self.export(.jsonl, from: from, to: to)
        let expected = log.walls.filter { $0 >= from && $0 <= to }.count
        #expect(try AuditTrail.verify(lines: window, path: "w").events == expected)
        #expect(window.count < all.count)
        #expect(window[1].contains("\"time\":\"\(rfc3339(from))\""))
    }

    @Test func csvFieldsWithCommasAndQuotesRoundTrip() {
        let text = "a \"quoted\", comma, and more"
        let line = "1," + AuditTrail.csvField(text) + ",x"
        #expect(AuditTrail.csvFields(Substring(line)) == ["1", text, "x"])
    }

    @Test func wallTimesParse() {
        #expect(parseWallTime("1970-01-01T00:00:01Z") == 1_000_000_000)
        #expect(parseWallTime("2026-09-21T14:13:20.5Z").map(rfc3339) == "2026-09-21T14:13:20.500000000Z")
        #expect(parseWallTime("2026-09-21T16:13:20+02:00") == parseWallTime("2026-09-21T14:13:20Z"))
        #expect(parseWallTime("12345") == 12345)
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-09-21T14:13:20", "2026-09-21T14:13:20.Z", ""] {
            #expect(parseWallTime(bad) == nil, "\(bad)")
        }
    }
}
