/// Durations as people write them in the configuration: `200ms`, `3s`, `1.5s`, `2m`, `1h`, `365d`, `500us`.
public enum DurationText {
    /// Nanoseconds, or a one-line reason why `text` is not a duration.
    public static func parse(_ text: String) -> Result<UInt64, DurationError> {
        let trimmed = text.trimmingWhitespace
        let units: [(String, Double)] = [
            ("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = String(trimmed.dropLast(suffix.count))
            guard let value = Double(number), value.isFinite, value >= 0, !number.isEmpty,
                number.allSatisfy({ $0.isNumber || $0 == "." })
            else { return .failure(DurationError(text: text)) }
            let nanos = value * scale
            guard nanos < 1e18 else { return .failure(DurationError(text: text)) }
            return .success(UInt64(nanos.rounded()))
        }
        return .failure(DurationError(text: text))
    }

    /// `200ms`, `3s`, `1m30s`-free rendering for documentation and `check-config` output.
    public static func render(_ nanos: UInt64) -> String {
        if nanos % 86_400_000_000_000 == 0 && nanos > 0 { return "\(nanos / 86_400_000_000_000)d" }
        if nanos % 3_600_000_000_000 == 0 && nanos > 0 { return "\(nanos / 3_600_000_000_000)h" }
        if nanos % 60_000_000_000 == 0 && nanos > 0 { return "\(nanos / 60_000_000_000)m" }
        if nanos % 1_000_000_000 == 0 && nanos > 0 { return "\(nanos / 1_000_000_000)s" }
        if nanos % 1_000_000 == 0 { return "\(nanos / 1_000_000)ms" }
        if nanos % 1_000 == 0 { return "\(nanos / 1_000)us" }
        return "\(nanos)ns"
    }

    public struct DurationError: Error, Hashable, Sendable {
        public var text: String
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
