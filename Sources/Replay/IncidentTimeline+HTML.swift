import Coordinator

extension IncidentTimeline {
    /// A self-contained HTML page (no scripts, no fetched files) with the incident as an SVG time line: per node
    /// its role, whether it ran the group, its channels' outages, and its marks; at the bottom the client-visible
    /// outage. Every shape has a tooltip with its times; the notable events follow as a table.
    public func html(title: String, events: [String]) -> String {
        let svg = svg()
        let summary =
            outages.isEmpty
            ? "No client-visible outage: the group ran somewhere throughout."
            : outages.map {
                "Client-visible outage of \(millisecondsText($0.to - $0.from)), from \(rfc3339($0.from)) (\(relative($0.from))) to \(rfc3339($0.to))."
            }.joined(separator: " ")
        let table = events.map { "<tr><td>\(escapeHTML($0))</td></tr>" }.joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escapeHTML(title))</title>
            <style>
            body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
            \(Self.styleSheet)
            td { font: 12px ui-monospace, monospace; white-space: pre; padding: 0 0.5em; }
            </style></head><body>
            <h1>\(escapeHTML(title))</h1>
            <p>From \(rfc3339(start)) to \(rfc3339(end)) (\(millisecondsText(end - start))). \(escapeHTML(summary)) Hover over a shape for its times.</p>
            \(svg)
            <h2>Events</h2>
            <table>
            \(table)
            </table>
            </body></html>

            """
    }

    /// The drawing's styles (the console's live page uses them too).
    public static let styleSheet = """
        svg text { font: 11px system-ui, sans-serif; fill: #333; }
        svg text.axis { text-anchor: middle; fill: #666; }
        .grid { stroke: #eee; } .tick { stroke: #ddd; stroke-dasharray: 2 3; }
        .role-starting { fill: #ccc; } .role-standby { fill: #9ecae1; } .role-acquiring { fill: #fdd0a2; }
        .role-active { fill: #31a354; } .role-releasing { fill: #fd8d3c; } .role-fenced { fill: #756bb1; }
        .serving { fill: #2c7fb8; } .down { fill: #de2d26; } .outage { fill: #a50f15; }
        .mark path { stroke: #fff; stroke-width: 0.5; } .suspicion path { fill: #e6550d; }
        .decision path { fill: #111; } .action path { fill: #3182bd; } .alarm path { fill: #d7301f; }
        .admin path { fill: #6a51a3; } .start path { fill: #999; }
        """

    /// A time since the drawing's start, as its axis labels it.
    private func relative(_ time: Int64) -> String {
        let nanos = time - start
        guard nanos >= 1_000_000_000 else { return "+" + millisecondsText(nanos) }
        let millis = nanos / 1_000_000
        let fraction = String(millis % 1000)
        return "+\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) s"
    }

    /// The time line as one SVG element: per node its role, whether it ran the group, its channels' outages and
    /// its marks; at the bottom the client-visible outage. Every shape has a tooltip with its times.
    public func svg() -> String {
        let labelWidth = 170.0
        let width = 1400.0
        let plot = width - labelWidth - 20
        let rowHeight = 18.0
        let span = Double(max(end - start, 1))
        func x(_ time: Int64) -> Double { labelWidth + plot * Double(time - start) / span }

        var rows: [(label: String, body: String)] = []
        for (n, node) in nodes.enumerated() {
            var role = ""
            for s in spans where s.node == n && s.lane == .role {
                role += rect(x(s.from), x(s.to), "role-\(s.label)", "\(node) \(s.label): \(relative(s.from)) to \(relative(s.to))")
            }
            rows.append(("\(node) role", role))
            var serving = ""
            for s in spans where s.node == n && s.lane == .serving {
                serving += rect(x(s.from), x(s.to), "serving", "\(node) runs the group: \(relative(s.from)) to \(relative(s.to)) (\(millisecondsText(s.to - s.from)))")
            }
            rows.append(("\(node) group", serving))
            for (c, channel) in channels[n].enumerated() {
                var down = ""
                for s in spans where s.node == n && s.lane == .channelDown(c) {
                    down += rect(x(s.from), x(s.to), "down", "\(node) \(channel) down: \(relative(s.from)) to \(relative(s.to)) (\(millisecondsText(s.to - s.from)))")
                }
                rows.append(("\(node) \(channel) down", down))
            }
            var marksRow = ""
            for mark in marks where mark.node == n {
                let cx = x(mark.time)
                marksRow +=
                    "<g class=\"mark \(mark.kind.rawValue)\"><title>\(escapeHTML("\(relative(mark.time)) \(node): \(mark.text)"))</title>"
                    + "<path d=\"M\(trimmed(cx)) 2 l5 7 l-5 7 l-5 -7 z\"/></g>"
            }
            rows.append(("\(node) events", marksRow))
        }
        var outageRow = ""
        for gap in outages {
            outageRow += rect(x(gap.from), x(gap.to), "outage", "client-visible outage: \(millisecondsText(gap.to - gap.from)), \(relative(gap.from)) to \(relative(gap.to))")
        }
        rows.append(("client-visible outage", outageRow))

        let height = Double(rows.count) * rowHeight + 40
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
        for (i, row) in rows.enumerated() {
            let y = Double(i) * rowHeight
            svg += "<g transform=\"translate(0 \(trimmed(y)))\"><text x=\"4\" y=\"13\">\(escapeHTML(row.label))</text>"
            svg += "<line class=\"grid\" x1=\"\(trimmed(labelWidth))\" x2=\"\(trimmed(width - 20))\" y1=\"17.5\" y2=\"17.5\"/>"
            svg += row.body + "</g>"
        }
        let axisY = Double(rows.count) * rowHeight + 12
        for tick in 0...10 {
            let time = start + Int64(Double(end - start) * Double(tick) / 10)
            let tx = x(time)
            svg += "<line class=\"tick\" x1=\"\(trimmed(tx))\" x2=\"\(trimmed(tx))\" y1=\"0\" y2=\"\(trimmed(axisY - 8))\"/>"
            svg += "<text class=\"axis\" x=\"\(trimmed(tx))\" y=\"\(trimmed(axisY + 8))\">\(escapeHTML(relative(time)))</text>"
        }
        svg += "</svg>"
        return svg
    }

    private func rect(_ x1: Double, _ x2: Double, _ cls: String, _ tip: String) -> String {
        "<rect class=\"\(cls)\" x=\"\(trimmed(x1))\" y=\"3\" width=\"\(trimmed(max(x2 - x1, 1)))\" height=\"12\"><title>\(escapeHTML(tip))</title></rect>"
    }
}

/// A coordinate with at most one decimal.
private func trimmed(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(abs(tenths % 10))"
}

/// Text made safe inside HTML and SVG elements and attributes.
public func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
