import Coordinator
import EventLog

/// A node's two clocks as its daemon reads them, each off from simulation time by an offset of its own.
///
/// The monotonic clock counts from the host's boot: a reading means nothing on the peer (one host may have been up
/// for months, the other for seconds), and it starts again on every host boot (not on a daemon restart). The wall
/// clock is kept by NTP a few milliseconds from the peer's (node-b's 3 ms ahead of node-a's, so that a test of
/// `replay merge` knows the offset it must find), and the `clockJump` fault steps it, backwards too.
/// The core may compare only its own monotonic readings and must use the wall clock for records alone; the
/// simulator draws every offset from a random stream of its own (`SimulationOptions.clockSeed`), so that a test can
/// run one seed under other clocks and expect the same decisions at the same moments.
struct SimulatedClock {
    /// Added (wrapping) to simulation time; the sum is the host's uptime, which never wraps.
    private(set) var monoOffset: UInt64 = 0
    private(set) var wallOffset: Int64 = 0

    /// 2026-09-21, about when the simulated clusters run.
    static let epoch: Int64 = 1_790_000_000_000_000_000

    func mono(at now: UInt64) -> Instant { now &+ monoOffset }
    func wall(at now: UInt64) -> Int64 { Int64(bitPattern: now) &+ wallOffset }

    /// How far each node's NTP-kept wall clock is from simulation time (node index 0, 1).
    static func ntpOffset(node index: Int) -> Int64 { Int64(index) * 3_000_000 }

    /// The host boots at `now`. A cluster's first start may be on a host that has been up for up to 400 days;
    /// after a reboot the daemon starts seconds after the kernel (and after NTP has set the wall clock).
    static func hostBoot(at now: UInt64, firstStart: Bool, node index: Int, rng: inout SplitMix64) -> SimulatedClock {
        let longUp = firstStart && rng.next() % 2 == 0
        let uptime = 3_000_000_000 + rng.next() % (longUp ? 34_560_000_000_000_000 : 60_000_000_000)
        return SimulatedClock(monoOffset: uptime &- now, wallOffset: epoch &+ ntpOffset(node: index))
    }

    /// NTP steps the wall clock (the monotonic clock never moves).
    mutating func stepWall(by step: Int64) { wallOffset &+= step }
}
