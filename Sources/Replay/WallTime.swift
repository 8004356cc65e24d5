import Glibc

/// Wall-clock nanoseconds as RFC 3339 UTC with nanoseconds: `2026-11-26T13:22:30.123456789Z`.
public func rfc3339(_ wallNanos: Int64) -> String { rfc3339(wallNanos, fraction: true) }

/// Wall-clock nanoseconds as RFC 3339 UTC, with nanoseconds or to the second (`2026-11-26T13:22:30Z`).
public func rfc3339(_ wallNanos: Int64, fraction: Bool) -> String {
    var seconds = time_t(wallNanos >= 0 ? wallNanos / 1_000_000_000 : (wallNanos - 999_999_999) / 1_000_000_000)
    let nanos = wallNanos - Int64(seconds) * 1_000_000_000
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let frac = String(nanos)
    return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
        + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
        + (fraction ? "." + String(repeating: "0", count: 9 - frac.count) + frac : "") + "Z"
}

/// Parses the times people give `--from` and `--to`: RFC 3339 (`2026-11-26T13:22:30Z`, with an optional
/// fraction and a `Z` or `±HH:MM` offset), or whole nanoseconds since the epoch. Nil when it is neither.
public func parseWallTime(_ text: String) -> Int64? {
    if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) { return Int64(text) }
    let chars = Array(text.utf8)
    func number(_ from: Int, _ count: Int) -> Int? {
        guard from + count <= chars.count else { return nil }
        var value = 0
        for c in chars[from..<(from + count)] {
            guard c >= 48 && c <= 57 else { return nil }
            value = value * 10 + Int(c - 48)
        }
        return value
    }
    guard chars.count >= 20, chars[4] == 45, chars[7] == 45, chars[10] == 84 || chars[10] == 116 || chars[10] == 32,
        chars[13] == 58, chars[16] == 58,
        let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
        let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
        (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var index = 19
    var nanos: Int64 = 0
    if index < chars.count && chars[index] == 46 {
        index += 1
        var digits = 0
        while index < chars.count, chars[index] >= 48 && chars[index] <= 57 {
            if digits < 9 { nanos = nanos * 10 + Int64(chars[index] - 48) }
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<max(digits, 9) { nanos *= 10 }
    }
    var offsetSeconds = 0
    guard index < chars.count else { return nil }
    if chars[index] == 90 || chars[index] == 122 {
        index += 1
    } else if chars[index] == 43 || chars[index] == 45, let h = number(index + 1, 2), chars.count > index + 3,
        chars[index + 3] == 58, let m = number(index + 4, 2)
    {
        offsetSeconds = (h * 3600 + m * 60) * (chars[index] == 43 ? 1 : -1)
        index += 6
    } else {
        return nil
    }
    guard index == chars.count else { return nil }
    var parts = tm()
    parts.tm_year = Int32(year - 1900)
    parts.tm_mon = Int32(month - 1)
    parts.tm_mday = Int32(day)
    parts.tm_hour = Int32(hour)
    parts.tm_min = Int32(minute)
    parts.tm_sec = Int32(second)
    let seconds = Int64(timegm(&parts)) - Int64(offsetSeconds)
    return seconds * 1_000_000_000 + nanos
}

/// Milliseconds with one decimal, for people: `187.5 ms`.
public func millisecondsText(_ nanos: Int64) -> String {
    let tenths = (abs(nanos) + 50_000) / 100_000
    return "\(nanos < 0 ? "-" : "")\(tenths / 10).\(tenths % 10) ms"
}

private func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
