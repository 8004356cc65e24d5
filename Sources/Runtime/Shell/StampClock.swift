import EventLog
import Glibc

/// The clock that stamps what the shell hands the core: CLOCK_MONOTONIC to 100 µs, and the wall time as that
/// instant plus the distance between the two clocks to the millisecond.
///
/// Why coarser than the kernel's nanoseconds: every stamp goes into the log, and the nanoseconds below 100 µs are
/// noise (scheduling jitter, the time between two clock reads) that LZ4 cannot compress: they cost about half of
/// an idle node's log. The core's deadlines are tens of milliseconds with margins of tens of milliseconds, so a
/// stamp up to 100 µs early changes no decision (docs/log-format.md gives the argument). The wall time is for
/// people and for lining up two nodes' logs; tied to the monotonic stamp, it moves only when the clocks drift
/// apart by a millisecond (NTP, a step), so it costs nothing in the log while they run together.
public enum StampClock {
    /// The resolution of the monotonic stamps (ns).
    public static let resolution: UInt64 = 100_000
    /// The resolution of the distance between the wall clock and the monotonic clock (ns).
    static let offsetResolution: Int64 = 1_000_000

    /// Now, on the monotonic clock, rounded down to the resolution.
    public static func monotonic() -> UInt64 { monotonicNow() / resolution * resolution }

    /// The wall time of a monotonic stamp taken just now (the clocks' present distance, to the millisecond).
    public static func wall(at stamp: UInt64) -> Int64 {
        let offset = wallNow() &- Int64(bitPattern: monotonicNow())
        // Round to the nearest millisecond, also for a negative distance (a wall clock set before boot time).
        let rounded = (offset + (offset >= 0 ? 1 : -1) * offsetResolution / 2) / offsetResolution * offsetResolution
        return Int64(bitPattern: stamp) &+ rounded
    }

    /// A stamp for an input observed now.
    public static func now() -> (at: UInt64, wall: Int64) {
        let at = monotonic()
        return (at, wall(at: at))
    }
}
