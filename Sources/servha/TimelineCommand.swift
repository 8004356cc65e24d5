import ArgumentParser
import Foundation
import Replay

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "An incident as a time line: channels, suspicion, decisions, actions and the client-visible outage.",
        discussion: """
            Give one node's log, or both (their shared-storage copies or the local ones): the second node's \
            events are placed on the first node's clock, its offset estimated from their heartbeat exchanges. \
            With --html FILE, also writes a self-contained page with an SVG time line.
            """
    )

    @Argument(help: "One or two log directories (one per node), or DEVICE:NODE.", transform: DeviceLogLocation.directory)
    var directories: [String]
    @Option(help: "Also write the time line as a self-contained HTML page here.") var html: String?

    func validate() throws {
        if directories.isEmpty || directories.count > 2 {
            throw ValidationError("give one log directory, or two (one per node)")
        }
    }

    func run() throws {
        let merged: MergedTimeline
        do {
            merged = try MergedTimeline.merge(directories.map(RecordedLog.load))
        } catch let error as ReplayError {
            throw fail("\(error)")
        }
        let timeline = IncidentTimeline(merged)
        let lines = timeline.lines(merged)
        for line in lines { print(line) }
        guard let html else { return }
        let title =
            "servha incident: cluster \(merged.logs[0].identity.cluster), "
            + merged.logs.map(\.identity.nodeName).joined(separator: " and ")
        let page = timeline.html(title: title, events: lines)
        do {
            // Atomically: a page is either the old one or the whole new one.
            try page.write(toFile: html, atomically: true, encoding: .utf8)
        } catch {
            throw fail("\(html): cannot write the HTML time line: \((error as NSError).localizedDescription)")
        }
        print("HTML time line: \(html)")
    }
}
