import EventLog
import Testing

@testable import Runtime

@Suite struct ChannelLossTests {
    /// A partition is silence, not loss: once it heals, the figure is about the heartbeats since.
    @Test func aLongSilenceStartsAFreshWindow() {
        var loss = ChannelLoss()
        var sequence: UInt64 = 1
        for _ in 0..<300 {
            loss.received(sequence, channels: 2)
            sequence += 2
        }
        sequence += 2 * 1_500  // 30 s partitioned: nothing arrives
        for _ in 0..<100 {
            loss.received(sequence, channels: 2)
            sequence += 2
        }
        #expect(loss.fraction == 0, "\(loss.fraction ?? -1)")
    }

    @Test func lossIsMeasuredFromTheSendersSequenceNumbers() {
        // Two channels: this one carries every other sequence number (1, 3, 5, ...).
        var clean = ChannelLoss()
        #expect(clean.fraction == nil)
        for sequence in stride(from: 1 as UInt64, through: 401, by: 2) { clean.received(sequence, channels: 2) }
        #expect(clean.fraction == 0)
        var lossy = ChannelLoss()
        for (i, sequence) in stride(from: 1 as UInt64, through: 2001, by: 2).enumerated() where i % 5 != 0 {
            lossy.received(sequence, channels: 2)
        }
        let fraction = lossy.fraction ?? -1
        #expect(fraction > 0.15 && fraction < 0.25, "a fifth lost: \(fraction)")
    }
}

@Suite struct ReassertTests {
    @Test func aVIPReassertsByAnnouncingAgain() async {
        let driver = DryRunVIPDriver()
        let agent = VIPAgent(
            name: "vip",
            address: "192.0.2.100",
            prefixLength: 24,
            interface: "eth0",
            garpCount: 1,
            garpInterval: 0,
            driver: driver
        )
        _ = await agent.perform(.start, timeout: 5_000_000_000)
        let afterStart = driver.lines.filter { $0.contains("gratuitous") || $0.contains("announce") }.count
        await agent.reassert()
        let afterReassert = driver.lines.filter { $0.contains("gratuitous") || $0.contains("announce") }.count
        #expect(afterStart >= 1)
        #expect(afterReassert == afterStart + 1, "\(driver.lines)")
        // Other resources have nothing to re-assert.
        await ScriptAgent(name: "s", start: "true", stop: "true", monitor: "true").reassert()
    }

    static func announcements(_ driver: DryRunVIPDriver) -> Int {
        driver.actions.filter { if case .announce = $0 { true } else { false } }.count
    }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = monotonicNow() + UInt64(seconds * 1e9)
        while monotonicNow() < deadline {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        return condition()
    }

    /// The repeats after a start go out only while the group is held here: released (or taken over under
    /// another epoch), the next repeat is not sent; stopped, none is.
    @Test func repeatsStopTheMomentTheGroupIsNoLongerHeldHere() async {
        let driver = DryRunVIPDriver()
        let hold = GroupHold()
        hold.set(3)
        let agent = VIPAgent(
            name: "vip",
            address: "192.0.2.100",
            prefixLength: 24,
            interface: "eth0",
            garpCount: 5,
            garpInterval: 40_000_000,
            driver: driver,
            hold: hold
        )
        _ = await agent.perform(.start, timeout: 5_000_000_000)
        #expect(Self.announcements(driver) == 1, "the first at once")
        #expect(await Self.waitUntil(2) { Self.announcements(driver) >= 2 }, "the repeats follow while held")
        hold.set(nil)  // released
        let sent = Self.announcements(driver)
        try? await Task.sleep(nanoseconds: 200_000_000)
        #expect(Self.announcements(driver) <= sent + 1, "at most one already past its check: \(driver.lines)")
        #expect(Self.announcements(driver) < 5)

        // Held again at another epoch: a re-announcement asked under epoch 4 stops when epoch 5 holds.
        hold.set(4)
        let before = Self.announcements(driver)
        let reassert = Task { await agent.reassert() }
        #expect(await Self.waitUntil(2) { Self.announcements(driver) > before })
        hold.set(5)
        await reassert.value
        #expect(Self.announcements(driver) < before + 5, "stopped when the epoch changed: \(driver.lines)")

        // A stop cancels the repeats at once, and a re-announcement with nothing held sends nothing.
        let again = Task { await agent.reassert() }
        _ = await agent.perform(.stop, timeout: 5_000_000_000)
        await again.value
        let afterStop = Self.announcements(driver)
        hold.set(nil)
        await agent.reassert()
        #expect(Self.announcements(driver) == afterStop)
    }
}
