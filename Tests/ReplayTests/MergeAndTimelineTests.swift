import Coordinator
import Foundation
import FoundationXML
import Testing

@testable import Replay

/// `replay merge` and `timeline` on the recorded incidents.
@Suite struct MergeAndTimelineTests {
    static func merged(_ incident: String) throws -> MergedTimeline {
        try MergedTimeline.merge(["node-a", "node-b"].map { try RecordedLog.load("\(fixtureRoot)/\(incident)/\($0)") })
    }

    @Test func theClockOffsetComesFromTheHeartbeatExchanges() throws {
        // The simulator runs node-b's wall clock 3 ms ahead of node-a's.
        let merged = try Self.merged("host-death")
        let offset = merged.offsets[1]
        #expect(offset.exchanges > 50)
        #expect(abs(offset.nanos - 3_000_000) <= max(offset.uncertainty, 100_000), "\(offset)")
        #expect(merged.entries.count == merged.logs[0].events.count + merged.logs[1].events.count)
        #expect(zip(merged.entries, merged.entries.dropFirst()).allSatisfy { $0.time <= $1.time })
        // Each node's own order is kept.
        for l in 0..<2 {
            let indices = merged.entries.filter { $0.log == l }.map(\.index)
            #expect(indices == Array(indices.indices))
        }
        let lines = merged.lines(all: false)
        #expect(lines[1].hasPrefix("clock offset of node-b: +3.0 ms ahead of node-a"))
        #expect(!lines.contains { $0.contains("input heartbeat") }, "heartbeats only with --all")
    }

    @Test func theDeathIsSeenBeforeTheTakeoverOnOneTimeLine() throws {
        let lines = try Self.merged("host-death").lines(all: false)
        let dead = try #require(lines.firstIndex { $0.contains("node-b") && $0.contains("peer declared dead") })
        let takeover = try #require(lines.firstIndex { $0.contains("node-b") && $0.contains("decision take-over") })
        let lastOfA = try #require(lines.lastIndex { $0.contains("  node-a  ") })
        #expect(lastOfA < dead && dead < takeover)
    }

    @Test func logsOfTwoClustersOrOfOneNodeTwiceAreRefused() throws {
        let a = try RecordedLog.load("\(fixtureRoot)/host-death/node-a")
        var other = try RecordedLog.load("\(fixtureRoot)/host-death/node-b")
        other.identity.cluster = "elsewhere"
        #expect(throws: ReplayError.self) { try MergedTimeline.merge([a, other]) }
        do {
            _ = try MergedTimeline.merge([a, other])
        } catch {
            #expect("\(error)".contains("logs of two different clusters cannot be merged"))
        }
        do {
            _ = try MergedTimeline.merge([a, a])
            Issue.record("the same node twice was merged")
        } catch {
            #expect("\(error)".contains("are both logs of node-a"))
        }
    }

    @Test func firstFormatLogsSayTheOffsetIsUnknown() throws {
        let root = URL(fileURLWithPath: fixtureRoot).deletingLastPathComponent().appendingPathComponent("format-v1").path
        let merged = try MergedTimeline.merge(["node-a", "node-b"].map { try RecordedLog.load("\(root)/host-death/\($0)") })
        #expect(merged.offsets[1].exchanges == 0)
        #expect(merged.lines(all: false)[1].contains("unknown"))
    }

    @Test func theHostDeathTimelineShowsOneOutageUntilTheStandbyRunsTheGroup() throws {
        let merged = try Self.merged("host-death")
        let timeline = IncidentTimeline(merged)
        let serving = timeline.spans.filter { $0.lane == .serving }.sorted { $0.from < $1.from }
        #expect(serving.map(\.node) == [0, 1])
        #expect(serving[1].to == timeline.end, "node-b runs the group to the end")
        #expect(timeline.outages.count == 1)
        let outage = try #require(timeline.outages.first)
        #expect(outage.from == serving[0].to && outage.to == serving[1].from)
        // Death to takeover takes about lease + margin + an interval, and the start of the group after it; the
        // dead node's log ends up to half a second (its writer's bound) before its death.
        #expect((150_000_000...950_000_000).contains(outage.to - outage.from), "\(outage.to - outage.from)")
        let lines = timeline.lines(merged)
        #expect(lines.contains { $0.hasPrefix("  client-visible outage: ") })
        // Channels went down on node-b when node-a died.
        #expect(timeline.spans.contains { $0.node == 1 && $0.lane == .channelDown(0) })
    }

    @Test func aFlappingLinkIsNoOutage() throws {
        let timeline = IncidentTimeline(try Self.merged("flapping-link"))
        #expect(timeline.outages.isEmpty)
        #expect(timeline.spans.contains { $0.lane == .channelDown(0) || $0.lane == .channelDown(1) })
    }

    @Test func theHTMLPageIsSelfContainedAndWellFormed() throws {
        let merged = try Self.merged("switchover")
        let timeline = IncidentTimeline(merged)
        let page = timeline.html(title: "switchover <test>", events: timeline.lines(merged))
        #expect(page.hasPrefix("<!doctype html>"))
        #expect(page.contains("<title>switchover &lt;test&gt;</title>"))
        #expect(!page.contains("<script") && !page.contains("src=") && !page.contains("href="), "nothing fetched")
        let svgStart = try #require(page.range(of: "<svg"))
        let svgEnd = try #require(page.range(of: "</svg>"))
        let svg = String(page[svgStart.lowerBound..<svgEnd.upperBound])
        // Every element opened is closed (the SVG is XML).
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(svg.contains("client-visible outage"))
        #expect(svg.contains("class=\"serving\""))
        #expect(svg.contains("decision"))
    }
}
