import EventLog
import Testing

@testable import Runtime

@Suite struct StampClockTests {
    @Test func stampsAreWholeTenthsOfAMillisecondWithAWallTimeWithinAMillisecond() {
        for _ in 0..<1000 {
            let before = monotonicNow()
            let (at, wall) = StampClock.now()
            let after = monotonicNow()
            #expect(at % StampClock.resolution == 0)
            #expect(at <= after && at + StampClock.resolution > before)
            // The wall time is the stamp plus the clocks' distance rounded to the millisecond.
            #expect((wall - Int64(at)) % 1_000_000 == 0)
            let trueWall = wallNow() - Int64(monotonicNow() - at)
            #expect(abs(wall - trueWall) <= 600_000, "wall \(wall) against \(trueWall)")
        }
    }
}
