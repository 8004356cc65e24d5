import EventLog
import Glibc

/// Unbuffered writes to a file descriptor (stdout is buffered separately by `print`).
enum FileHandleWriter {
    static func write(_ string: String, to descriptor: Int32) {
        var bytes = Array(string.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { return }
            done += n
        }
        bytes.removeAll()
    }
}

/// Builds one JSON object on one line, without Foundation's encoder (and with keys in the order given).
struct JSONLine {
    private var parts: [String] = []

    mutating func add(_ key: String, _ value: String) { parts.append("\(quote(key)):\(quote(value))") }
    mutating func add(_ key: String, _ value: Int) { parts.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { parts.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Int64) { parts.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Bool) { parts.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Double, decimals: Int = 3) {
        parts.append("\(quote(key)):\(value.isFinite ? fixed(value, decimals) : "null")")
    }
    mutating func add(_ key: String, raw json: String) { parts.append("\(quote(key)):\(json)") }
    mutating func addNull(_ key: String) { parts.append("\(quote(key)):null") }

    var text: String { "{" + parts.joined(separator: ",") + "}" }
}

func quote(_ string: String) -> String { jsonQuote(string) }

/// `value` with exactly `decimals` digits after the point.
func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return String(value) }
    let integer = UInt64(scaled)
    let whole = integer / UInt64(scale)
    var fraction = String(integer % UInt64(scale))
    fraction = String(repeating: "0", count: max(0, decimals - fraction.count)) + fraction
    return (negative && integer != 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + fraction : "")
}

/// A duration in nanoseconds for people: `1h 02m 03.456s`, `850.2ms`.
func humanDuration(_ nanos: Int64) -> String {
    let value = abs(nanos)
    if value < 1_000_000 { return fixed(Double(nanos) / 1000, 1) + "µs" }
    if value < 1_000_000_000 { return fixed(Double(nanos) / 1_000_000, 1) + "ms" }
    let totalSeconds = Double(nanos) / 1e9
    if value < 60_000_000_000 { return fixed(totalSeconds, 3) + "s" }
    let minutes = Int(value / 60_000_000_000)
    let seconds = Double(value % 60_000_000_000) / 1e9
    if minutes < 60 { return "\(minutes)m \(fixed(seconds, 3))s" }
    return "\(minutes / 60)h \(minutes % 60)m \(fixed(seconds, 3))s"
}

func humanBytes(_ bytes: Int) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    if bytes < 1 << 20 { return fixed(Double(bytes) / 1024, 1) + " KiB" }
    if bytes < 1 << 30 { return fixed(Double(bytes) / 1_048_576, 1) + " MiB" }
    return fixed(Double(bytes) / 1_073_741_824, 2) + " GiB"
}
